#!/usr/bin/env bash
# scripts/bench-ann.sh - ragfs's HNSW graph beside hnswlib and FAISS HNSW.
#
#   scripts/bench-ann.sh        # 100k x 384; ~15 minutes here (FAISS's build alone ~8)
#
# scripts/bench runs it last (ANN_SIZES="" skips it there). Builds
# bench/annbench.c against libstore.a of $BUILD (default
# /tmp/ragfs-bench-build, never build/), which generates the benchmark's
# clustered 384-d rows (bench/benchdata.h: the generator and seed of
# bench/vecbench.c) and 1000 queries, their exact top-10, builds the graph
# (M=32, ef_construction=200) and measures build time, latency and recall@10 at
# ef 64/128/256, QPS, the exact scan for scale, and the graph file. Then
# hnswlib and FAISS IndexHNSWFlat (Debian's python3-hnswlib and
# python3-faiss, installed with apt-get if missing and root) on the same
# rows and queries (bench/annpeers.py), and ragfs through a mount (the graph
# built by the daemon, "mode": "ann" queries through query/ files, the time a
# remount needs to map the graph file). Writes bench/ann_results.md and
# .tsv. Env: ANN_SIZES="100000", ANN_PEERS="hnswlib faiss", SECS=3, BUILD, WORK;
# ANN_MOUNT=0 skips the mount part (at 1M it writes a million files and
# waits for the daemon's build); ANN_OUT=bench/ann_results_1m (without .md)
# writes elsewhere, e.g. to keep the 100k table.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-/tmp/ragfs-bench-build}
ANN_SIZES=${ANN_SIZES:-100000}
ANN_PEERS=${ANN_PEERS-hnswlib faiss}
ANN_MOUNT=${ANN_MOUNT:-1}
ANN_OUT=${ANN_OUT:-bench/ann_results}
SECS=${SECS:-3}
DIM=384
WORK=${WORK:-$(mktemp -d /tmp/ragfs-bench-ann.XXXXXX)}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" -Dwerror=true >/dev/null
meson compile -C "$BUILD" >/dev/null
gcc -O2 -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -I. \
	$(pkg-config --cflags openblas) bench/annbench.c "$BUILD/store/libstore.a" \
	$(pkg-config --libs openblas libcjson libcrypto zlib) -lpthread -lm -o "$WORK/annbench"
for mod in hnswlib faiss numpy; do
	if ! "$PY" -c "import $mod" 2>/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get install -y "python3-$mod" >/dev/null 2>&1 || true
	fi
done

TSV=$WORK/ann.tsv
: >"$TSV"
echo -e "note\tmachine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load before: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$TSV"
for n in $ANN_SIZES; do
	echo "== ANN N=$n" >&2
	"$WORK/annbench" "$n" "$DIM" "$WORK" "$SECS" | tee -a "$TSV"
	for p in $ANN_PEERS; do
		"$PY" bench/annpeers.py "$p" "$WORK" "$n" "$DIM" | tee -a "$TSV"
	done
	if [ "$ANN_MOUNT" = 0 ]; then
		echo -e "skip\tmount\tmount part skipped (ANN_MOUNT=0)" >>"$TSV"
	elif [ -w /dev/fuse ] || [ "$(id -u)" = 0 ]; then
		"$PY" bench/annpeers.py mount "$WORK" "$n" "$DIM" "$BUILD/fs/ragfs" | tee -a "$TSV" ||
			echo -e "skip\tmount\tmount run failed" >>"$TSV"
	else
		echo -e "skip\tmount\tmount skipped: no access to /dev/fuse" >>"$TSV"
	fi
	rm -f "$WORK"/ann_data.f32 "$WORK"/ann_queries.f32 "$WORK"/ann_truth.i32
done
echo -e "note\tload after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$TSV"
"$PY" bench/annpeers.py report "$TSV" "$ANN_OUT.md"
cp "$TSV" "$ANN_OUT.tsv"
echo "wrote $ANN_OUT.md" >&2
[ -n "${KEEP:-}" ] || rm -rf "$WORK"
