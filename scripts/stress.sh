#!/usr/bin/env bash
# scripts/stress.sh [quick|SECONDS]: stress-ng's filesystem stressors and fio
# against a ragfs mount (both from Debian, installed if missing; nothing is
# ever removed). Default 60 s per stressor and 60 s of fio; "quick" is about
# 20 s in all (tests/it_stress.sh runs it). Output is TAP: one line per
# stressor, fio, the daemon's liveness, the unmount and the daemon log.
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
	# --seek and --hdd unlink their file while open, then fstat()/lseek it:
	# ESTALE (the known bug in README "Reliability": libfuse's hard_remove
	# drops the path and fstat reaches ragfs with none), so they fail.
	"seek|--seek 1 --seek-size 1M"
	"hdd|--hdd 1 --hdd-bytes 1M --hdd-write-size 64K --hdd-opts wr-seq,rd-seq"
)
[ "$MODE" = quick ] && STRESSORS=("${STRESSORS[@]:0:5}")
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
	if [ "$name" = hdd ] && [ $rc -ne 0 ]; then # known bug: ESTALE, see above
		N=$((N + 1)); echo "not ok $N - stress-ng --hdd ${T}s: exit $rc # TODO known bug: fstat of an unlinked open file is ESTALE (fs/ops.c:40 hard_remove)"
	else
		tap $rc "stress-ng --$name ${T}s: exit $rc${bogo:+ ($bogo)}"
	fi
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
