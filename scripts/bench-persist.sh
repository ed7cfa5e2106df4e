#!/usr/bin/env bash
# scripts/bench-persist.sh [OUT.md] [SIZES]: LlamaIndex persist dirs in and
# out of a mount, beside LlamaIndex.TS loading the same files.
#
# For each size (default "10000 100000" nodes of 384 dimensions):
#   - scripts/gen_persist_ts.py writes a TS persist dir (TS's own shape and
#     number format; TS would rewrite its files after every put, so building
#     100k nodes with TS itself takes hours);
#   - LlamaIndex.TS 0.12.1 loads it and answers one query (tests/llamaindex-ts/
#     load-bench.mjs): time and peak RSS;
#   - ragfs imports it (cp into persist-ts/ of a fresh embed=none mount),
#     remounts (cold start from the segments), exports it (cat of
#     persist-ts/*.json, compared byte for byte with the input) and exports
#     persist/ (the Python dialect), which a second fresh mount imports again
#     and re-exports byte for byte. Peak RSS is the daemon's VmHWM.
# Needs the build (build/fs/ragfs) and npm (llamaindex installed into
# build/llamaindex-ts-node, as tests/it_llamaindex_ts.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/persist.md}
SIZES=${2:-"10000 100000"}
RAGFS=${RAGFS:-build/fs/ragfs}
[ -x "$RAGFS" ] || { echo "build first: meson setup build && ninja -C build" >&2; exit 1; }
NODEDIR=$PWD/build/llamaindex-ts-node
if ! [ -f "$NODEDIR/node_modules/llamaindex/package.json" ]; then
	mkdir -p "$NODEDIR"
	cp tests/llamaindex-ts/package.json tests/llamaindex-ts/package-lock.json "$NODEDIR/"
	(cd "$NODEDIR" && npm ci --no-audit --no-fund --loglevel=error) >&2 || NODEDIR=
fi
[ -n "$NODEDIR" ] && cp tests/llamaindex-ts/load-bench.mjs "$NODEDIR/"
W=$(mktemp -d /tmp/ragfs-bench-persist.XXXXXX)
DPID=
cleanup() {
	[ -n "$DPID" ] && { fusermount3 -uz "$W/mnt" 2>/dev/null; wait "$DPID" 2>/dev/null; }
	rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/mnt"

mount_store() { # mount_store STORE
	"$RAGFS" -f -o embed=none,dim=384,max_file_mb=4096 "$1" "$W/mnt" 2>>"$W/daemon.log" &
	DPID=$!
	for _ in $(seq 1 3000); do grep -q " $W/mnt fuse" /proc/mounts && return 0; sleep 0.01; done
	echo "mount failed" >&2; tail "$W/daemon.log" >&2; exit 1
}
umount_store() {
	fusermount3 -u "$W/mnt"; wait "$DPID"; DPID=
}
hwm_mb() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$DPID/status"; }
secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$@"; }
now() { date +%s.%N; }
mb() { du -cm "$@" | tail -1 | cut -f1; }

rows=()
for n in $SIZES; do
	echo "== $n nodes" >&2
	rm -rf "$W/ts" "$W/py" "$W/store" "$W/store2"
	python3 scripts/gen_persist_ts.py "$W/ts" "$n" 384
	size=$(mb "$W"/ts/*.json)
	sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
	if [ -n "$NODEDIR" ]; then
		ts=$(cd "$NODEDIR" && node --max-old-space-size=16384 load-bench.mjs "$W/ts" 2>/dev/null | tail -1)
	else
		ts='{"error": "npm not available"}'
	fi
	ts_cell=$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(f\"{d['load_ms']/1000:.2f} s, {d['max_rss_kb']/1024:.0f} MB\" if 'load_ms' in d else 'fails: ' + d['error'] + (f\" ({d['max_rss_kb']/1024:.0f} MB)\" if 'max_rss_kb' in d else ''))" "$ts")

	# TS dialect: import, cold remount, export.
	mount_store "$W/store"
	t0=$(now); cp "$W"/ts/*.json "$W/mnt/persist-ts/"; t1=$(now)
	imp="$(secs "$t0" "$t1") s, $(hwm_mb) MB"
	umount_store
	sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
	t0=$(now); mount_store "$W/store"; t1=$(now)
	cold="$(secs "$t0" "$t1") s, $(hwm_mb) MB"
	t0=$(now); cat "$W"/mnt/persist-ts/*.json >/dev/null; t1=$(now)
	exp="$(secs "$t0" "$t1") s, $(hwm_mb) MB"
	same=yes
	for f in "$W"/ts/*.json; do cmp -s "$f" "$W/mnt/persist-ts/$(basename "$f")" || same=no; done
	mkdir -p "$W/py"
	t0=$(now); cp "$W"/mnt/persist/*.json "$W/py/"; t1=$(now)
	pyexp="$(secs "$t0" "$t1") s, $(hwm_mb) MB"
	umount_store
	pysize=$(mb "$W"/py/*.json)

	# Python dialect: import into a fresh store, export again.
	mount_store "$W/store2"
	t0=$(now); cp "$W"/py/*.json "$W/mnt/persist/"; t1=$(now)
	pyimp="$(secs "$t0" "$t1") s, $(hwm_mb) MB"
	pysame=yes
	for f in "$W"/py/*.json; do cmp -s "$f" "$W/mnt/persist/$(basename "$f")" || pysame=no; done
	umount_store
	rows+=("| $n | $size MB | $ts_cell | $imp | $cold | $exp | $same | $pysize MB | $pyimp | $pyexp | $pysame |")
done

{
	echo "Persist dirs of N nodes x 384 dims (\`scripts/bench-persist.sh\`, $(date -u +%Y-%m-%d), $(nproc) cores)."
	echo "Each cell: wall time, then peak RSS (LlamaIndex.TS: the node process; ragfs: the daemon's VmHWM since its mount)."
	echo
	echo "| nodes | TS files | LlamaIndex.TS load | ragfs import (cp to persist-ts/) | ragfs remount | ragfs export (cat persist-ts/) | TS bytes identical | Python files | ragfs import (cp to persist/) | ragfs export (cp persist/) | Python bytes identical |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
	printf '%s\n' "${rows[@]}"
} >"$OUT"
cat "$OUT"
