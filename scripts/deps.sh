#!/usr/bin/env bash
# Install the Debian packages ragfs needs to build, run and test. Idempotent:
# packages already present are skipped, so a second run does no network work.
set -euo pipefail
pkgs=(meson ninja-build pkg-config gcc libfuse3-dev fuse3 libcjson-dev
      libopenblas-dev libcurl4-openssl-dev libssl-dev zlib1g-dev
      python3 rsync valgrind)
# Readers: PDF (poppler-glib, in ragfs-pdftext), DOCX/ODT (libzip, libxml2);
# the reader tests make their files with groff + ps2pdf (ghostscript) and pandoc.
pkgs+=(libpoppler-glib-dev libzip-dev libxml2-dev groff ghostscript pandoc)
# scripts/tsan.sh: gcc's ThreadSanitizer runtime.
pkgs+=(libtsan2)
# scripts/bench-ann.sh: hnswlib beside ragfs's HNSW graph (FAISS comes with scripts/bench).
pkgs+=(python3-hnswlib)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	sudo_cmd=""
	[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo_cmd apt-get update -qq || true
	$sudo_cmd apt-get install -y -qq "${missing[@]}"
fi
