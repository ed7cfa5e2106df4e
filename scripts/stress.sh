#!/usr/bin/env bash
# scripts/stress.sh [quick|SECONDS]: stress-ng's filesystem stressors and fio
# against a ragfs mount (both from Debian, installed if missing; nothing is
# ever removed). Default 60 s per stressor and 60 s of fio, then a 1 GiB
# text and a 1 GiB binary document (BIG_MB); "quick" is about 30 s in all
# with 32 MiB documents (tests/it_stress.sh runs it). Output is TAP: one line
# per stressor, fio, the big documents, the daemon's liveness, the unmount
# and the daemon log.
#
# ragfs files are whole buffers committed (and indexed, if text) on close, so
# the stressors use small files. Not run, and why:
#   --link, --symlink, --mknod (devices/FIFOs), --dirdeep (hard links):
#       ragfs refuses links, symlinks and device nodes with ENOTSUP;
#   --fallocate, --xattr, --fiemap, --copy-file: not implemented (EOPNOTSUPP);
#   --iomix, --sync-file, --hdd with O_DIRECT, --readahead: need block-backed
#       files (O_DIRECT, sync_file_range, readahead on a page-cache file);
#   --filename: probes every byte as a name character and expects the
#       namemax it reads from statfs (see README "Reliability": longer names
#       are accepted, a known bug) - run by hand only.
set -u
MODE=${1:-60}
if [ "$MODE" = quick ]; then T=2; FIO_T=6; else T=$MODE; FIO_T=$MODE; fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RAGFS=${RAGFS:-$ROOT/build/fs/ragfs}
[ -x "$RAGFS" ] || { echo "ragfs not built: $RAGFS (meson compile -C build)" >&2; exit 1; }
need=()
command -v stress-ng >/dev/null || need+=(stress-ng)
command -v fio >/dev/null || need+=(fio)
if [ ${#need[@]} -gt 0 ]; then
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${need[@]}" >&2 ||
		{ echo "1..0 # SKIP cannot install ${need[*]}"; exit 0; }
fi
WORK=$(mktemp -d /tmp/ragfs-stress.XXXXXX)
MNT=$WORK/mnt
mkdir -p "$MNT"
DPID=
cleanup() {
	[ -n "$DPID" ] && { fusermount3 -uz "$MNT" 2>/dev/null; kill "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null; }
	rm -rf "$WORK"
}
trap cleanup EXIT
"$RAGFS" -f -o dim=64,chunk_size=256 "$WORK/store" "$MNT" 2>"$WORK/daemon.log" &
DPID=$!
for _ in $(seq 1 100); do grep -q " $MNT fuse" /proc/mounts && break; sleep 0.1; done
N=0 FAIL=0
tap() { N=$((N + 1)); if [ "$1" -eq 0 ]; then echo "ok $N - $2"; else echo "not ok $N - $2"; FAIL=$((FAIL + 1)); fi; }

# name, then stress-ng options (each runs alone, 1 worker, T seconds).
STRESSORS=(
	"dir|--dir 1 --dir-dirs 256"
	"rename|--rename 1"
	"dentry|--dentry 1 --dentries 256"
	"fstat|--fstat 1 --fstat-dir MNT/docs"
	"open|--open 1 --open-max 256"
	"chmod|--chmod 1"
	"utime|--utime 1"
	"lockf|--lockf 1"
	# --seek and --hdd truncate(2) their file by name while it is open and
	# unlink it while open, then fstat()/lseek it (fs/hidden.h).
	"seek|--seek 1 --seek-size 1M"
	"hdd|--hdd 1 --hdd-bytes 1M --hdd-write-size 64K --hdd-opts wr-seq,rd-seq"
)
[ "$MODE" = quick ] && STRESSORS=("${STRESSORS[@]:0:5}" "${STRESSORS[@]:8:2}")
for s in "${STRESSORS[@]}"; do
	name=${s%%|*}
	opts=${s#*|}
	opts=${opts//MNT/$MNT}
	dir=$MNT/docs/stress-$name
	mkdir -p "$dir"
	# shellcheck disable=SC2086
	out=$(stress-ng $opts --temp-path "$dir" --timeout "${T}s" --metrics-brief --verify 2>&1)
	rc=$?
	bogo=$(printf '%s\n' "$out" | awk -v n="$name" '$3==n && $4 ~ /^[0-9]+$/ {print $4" bogo ops, "$8" ops/s"}' | head -1)
	tap $rc "stress-ng --$name ${T}s: exit $rc${bogo:+ ($bogo)}"
	[ $rc -eq 0 ] || printf '%s\n' "$out" | grep -E 'fail|error|FAIL' | head -5 | sed 's/^/#   /'
	rm -rf "$dir"
done

mkdir -p "$MNT/docs/fio"
out=$(fio --name=randrw --directory="$MNT/docs/fio" --rw=randrw --rwmixread=50 --bs=4k --size=4m \
	--ioengine=psync --fsync=32 --numjobs=2 --runtime="$FIO_T" --time_based --verify=crc32c \
	--verify_fatal=1 --verify_state_save=0 --group_reporting 2>&1)
rc=$?
errs=$(printf '%s\n' "$out" | sed -n 's/.*err= *\([0-9]*\).*/\1/p' | head -1)
iops=$(printf '%s\n' "$out" | grep -oE '(read|write): IOPS=[^,]*' | tr '\n' ' ')
tap $(( rc != 0 || ${errs:-1} != 0 )) "fio randrw 4k, fsync every 32, 2 jobs, ${FIO_T}s, crc32c verify: exit $rc, err=${errs:-?} ($iops)"
[ $rc -eq 0 ] || printf '%s\n' "$out" | tail -5 | sed 's/^/#   /'
rm -rf "$MNT/docs/fio"

# ---- A big document: BIG_MB MiB (1024 in full mode, 32 in quick) of a
# repeating text pattern (split, embedded, indexed) and of random bytes
# (stored, not indexed), each with dd on its own mount with max_file_mb
# above it: stored, byte-identical (cmp), the mount answers a search every
# 0.5 s meanwhile, and the daemon's peak RSS. A text document needs about
# 20x its size in daemon memory at its commit (README "Reliability"): with
# less MemAvailable the text one runs at the largest power of two that fits.
BIG_MB=${BIG_MB:-$([ "$MODE" = quick ] && echo 32 || echo 1024)}
big_doc() { # big_doc text|bin MB
	local kind=$1 mb=$2 bmnt=$WORK/bigmnt-$1 src=$WORK/big.$1 bpid t0 t1 t2 lat
	mkdir -p "$bmnt"
	if [ "$kind" = text ]; then
		python3 -c "import sys; sys.stdout.write(''.join('Line %06d of the repeating pattern: ragfs stores big documents whole and splits them into nodes.\n' % i for i in range(1000)))" >"$WORK/pattern"
		yes "$(cat "$WORK/pattern")" 2>/dev/null | head -c $((mb << 20)) >"$src"
	else
		head -c $((mb << 20)) /dev/urandom >"$src"
	fi
	"$RAGFS" -f -o max_file_mb=$((mb + 1)) "$WORK/bigstore-$kind" "$bmnt" 2>>"$WORK/daemon.log" &
	bpid=$!
	for _ in $(seq 1 100); do grep -q " $bmnt fuse" /proc/mounts && break; sleep 0.1; done
	# Responsiveness: the slowest of the searches run every 0.5 s meanwhile.
	( worst=0; while [ ! -e "$WORK/big.done" ]; do
		a=$(date +%s%N); timeout 120 cat "$bmnt/search/repeating pattern" >/dev/null || worst=999999
		b=$(( ($(date +%s%N) - a) / 1000000 )); [ "$b" -gt "$worst" ] && worst=$b
		echo "$worst" >"$WORK/big.lat"; sleep 0.5
	done ) &
	local probe=$!
	t0=$(date +%s%N)
	dd if="$src" of="$bmnt/docs/big.$kind" bs=1M 2>"$WORK/dd.err"
	local rc=$?
	t1=$(date +%s%N)
	python3 -c "import os; fd = os.open('$bmnt/docs/big.$kind', os.O_RDONLY); os.fsync(fd)"
	t2=$(date +%s%N)
	touch "$WORK/big.done"; wait "$probe"; rm -f "$WORK/big.done"
	lat=$(cat "$WORK/big.lat" 2>/dev/null || echo '?')
	local rss
	rss=$(awk '/VmHWM/ {printf "%.2f", $2 / 1048576}' "/proc/$bpid/status")
	tap $rc "a $mb MiB $kind document: dd + close $(( (t1 - t0) / 1000000 )) ms, fsync to the store $(( (t2 - t1) / 1000000 )) ms, daemon peak RSS $rss GiB"
	[ $rc -eq 0 ] || sed 's/^/#   /' "$WORK/dd.err"
	tap $([ "$(stat -c %s "$bmnt/docs/big.$kind")" = $((mb << 20)) ]; echo $?) "the $kind document's size is true"
	t0=$(date +%s%N)
	cmp -s "$src" "$bmnt/docs/big.$kind"
	tap $? "the $kind document reads back byte for byte ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
	# (Queries wait while the commit holds the store's write lock: journal
	# and apply of one transaction; README "Reliability" has the figures.)
	tap $([ "$lat" != '?' ] && [ "$lat" -lt 120000 ]; echo $?) "the mount answered every search meanwhile, each within 120 s (slowest ${lat} ms)"
	python3 -c "import json; d = json.load(open('$bmnt/.ragfs/status.json')); print('# status: docs', d['docs'], 'nodes', d['nodes'], 'not indexed', d['docs_not_indexed'])"
	fusermount3 -u "$bmnt"
	wait "$bpid"
	tap $? "the $kind document's mount unmounts with exit 0"
	rm -rf "$src" "$WORK/bigstore-$kind"
}
avail_mb=$(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo)
text_mb=$BIG_MB
while [ $((text_mb * 22)) -gt "$avail_mb" ] && [ "$text_mb" -gt 16 ]; do text_mb=$((text_mb / 2)); done
[ "$text_mb" = "$BIG_MB" ] || echo "# a $BIG_MB MiB text document needs about $((BIG_MB * 22 / 1024)) GiB of daemon memory; MemAvailable is $((avail_mb / 1024)) GiB: text at $text_mb MiB"
big_doc text "$text_mb"
big_doc bin "$BIG_MB"
if [ "$BIG_MB" -gt 512 ]; then
	# With the default max_file_mb (512): EFBIG on the write past 512 MiB
	# and on close, and nothing of the file is stored.
	yes "a line of text for the size limit" 2>/dev/null | head -c $((BIG_MB << 20)) |
		dd of="$MNT/docs/too-big.txt" bs=1M 2>"$WORK/dd.err"
	tap $(( $? == 0 || $(grep -c 'File too large' "$WORK/dd.err") != 2 )) "a $BIG_MB MiB document on a default mount: EFBIG on a write and on close"
	tap $([ ! -e "$MNT/docs/too-big.txt" ]; echo $?) "nothing of it is stored"
fi

echo "stress check" > "$MNT/query/q"
kill -0 "$DPID" 2>/dev/null && grep -q '"results"' "$MNT/query/q"
tap $? "the daemon is alive and answers a query"
python3 -c "import json; d=json.load(open('$MNT/.ragfs/status.json')); print('# status: docs', d['docs'], 'nodes', d['nodes'], 'errors', d['errors'])"
fusermount3 -u "$MNT"
wait "$DPID"
tap $? "unmount exits 0"
DPID=
bad=$(grep -E 'ERR|WARN|==[0-9]+==|runtime error' "$WORK/daemon.log" | head -5)
tap $([ -z "$bad" ]; echo $?) "daemon log is clean"
[ -z "$bad" ] || printf '%s\n' "$bad" | sed 's/^/#   /'
echo "1..$N"
echo "# stress: $((N - FAIL)) passed, $FAIL failed" >&2
[ "$FAIL" -eq 0 ]
