#!/usr/bin/env bash
# scripts/bench-cold.sh - cold start: a mount over a large store answers its
# first query in about the time it takes to read the store's bytes.
#
#   scripts/bench-cold.sh [OUT.md]     # SIZES="1000000" DIM=384 REPS=3
#
# For each size, bench/coldstart.py builds a store of random vectors through
# a mount (once per WORK dir; 1M x 384 takes a few minutes), then measures
# with a warm and (as root) a cold page cache: reading every segment file
# (the physical limit: the matrix is most of those bytes) against starting
# ragfs, mounting and answering the first query; and the daemon's peak RSS
# against the matrix size. Writes a markdown table to OUT.md (default
# bench/coldstart.md). Needs /dev/fuse and python3-numpy.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/coldstart.md}
BUILD=${BUILD:-/tmp/ragfs-bench-build}
SIZES=${SIZES:-1000000}
DIM=${DIM:-384}
REPS=${REPS:-3}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if ! "$PY" -c 'import numpy' 2>/dev/null && [ "$(id -u)" = 0 ]; then
	apt-get install -y python3-numpy >/dev/null 2>&1 || true
fi
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" -Dwerror=true >/dev/null
meson compile -C "$BUILD" >/dev/null
TSV=$(mktemp)
for n in $SIZES; do
	WORK=${WORK_BASE:-/tmp/ragfs-bench-cold}-$n-$DIM
	mkdir -p "$WORK"
	echo "== N=$n x $DIM in $WORK" >&2
	"$PY" bench/coldstart.py "$BUILD/fs/ragfs" "$WORK" "$n" "$DIM" "$REPS" | tee -a "$TSV"
done
{
	echo "Cold start (\`scripts/bench-cold.sh\`, $(date -u +%Y-%m-%d), $(nproc) CPUs,"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)). Medians of $REPS runs."
	echo "\"read\" is a plain read of every segment file; \"mount + first query\" is"
	echo "ragfs started, mounted and answering an embedding query (top_k 10)."
	echo
	echo "| page cache | vectors | matrix | segments | read | mount + first query | ratio | of which the query | peak RSS | RSS / matrix |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	awk -F'\t' '!/^#/ && NF == 9 { printf "| %s | %d x %d | %d MB | %d MB | %.2f s | %.2f s | %.1fx | %.3f s | %d MB | %.2fx |\n", \
		$1, $2, $3, $4, $5, $6, $7, $7 / $6, $8, $9, $9 / $4 }' "$TSV"
} >"$OUT"
rm -f "$TSV"
cat "$OUT"
