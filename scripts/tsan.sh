#!/usr/bin/env bash
# scripts/tsan.sh [SECONDS]: ThreadSanitizer on the daemon under load.
#
# Builds ragfs with -Db_sanitize=thread (gcc's TSan, Debian's libtsan2) in
# $TSAN_BUILD (default build-tsan; or run the binary in $RAGFS), mounts a
# fresh local store (flush_interval=1, so the flusher runs all the time)
# and drives it for SECONDS (default 120) with 8 writer threads (ingest,
# overwrite, append, rename of files and folders, unlink, nodes, kvstore
# keys, fsync) and 8 query readers (every query mode, filters, search/,
# status/stats, listings, documents, persist/ and the vector matrix), then
# unmounts. Fails on any ThreadSanitizer report (data race, lock-order
# inversion, ...) in the daemon's log, a daemon exit other than 0, or in
# the load an unexpected errno or a read that is not whole JSON. Output is
# TAP; reports are printed (the whole log is kept in /tmp on a report).
#
# No suppressions are needed: libfuse, libcurl and OpenSSL are not
# instrumented, but their locks and thread starts go through TSan's libc
# interceptors, so nothing in them is reported. OPENBLAS_NUM_THREADS=1 keeps
# OpenBLAS's own thread pool out (it hands work over by spinning on flags,
# which TSan cannot see).
set -u
SECS=${1:-120}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${RAGFS:-}" ]; then
	BUILD=${TSAN_BUILD:-$ROOT/build-tsan}
	if [ ! -f "$BUILD/build.ninja" ]; then
		meson setup "$BUILD" -Db_sanitize=thread -Dbuildtype=debug -Dwerror=true >"$BUILD.setup.log" 2>&1 ||
			{ tail -20 "$BUILD.setup.log"; echo "cannot configure a TSan build in $BUILD" >&2; exit 1; }
	fi
	ninja -C "$BUILD" fs/ragfs >"$BUILD.compile.log" 2>&1 || { tail -20 "$BUILD.compile.log"; exit 1; }
	RAGFS=$BUILD/fs/ragfs
fi
[ -e /dev/fuse ] || { echo "1..0 # SKIP no /dev/fuse"; exit 0; }
WORK=$(mktemp -d /tmp/ragfs-tsan.XXXXXX)
MNT=$WORK/mnt
mkdir -p "$MNT"
DPID=
cleanup() {
	[ -n "$DPID" ] && { fusermount3 -uz "$MNT" 2>/dev/null; kill "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null; }
	rm -rf "$WORK"
}
trap cleanup EXIT
N=0 FAIL=0
tap() { N=$((N + 1)); if [ "$1" -eq 0 ]; then echo "ok $N - $2"; else echo "not ok $N - $2"; FAIL=$((FAIL + 1)); fi; }

export TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
export OPENBLAS_NUM_THREADS=1
"$RAGFS" -f -o flush_interval=1,dim=64,chunk_size=128,chunk_overlap=16 "$WORK/store" "$MNT" 2>"$WORK/daemon.log" &
DPID=$!
for _ in $(seq 1 300); do grep -q " $MNT fuse" /proc/mounts && break; sleep 0.1; done
grep -q " $MNT fuse" /proc/mounts
tap $? "the TSan build mounts"

python3 - "$MNT" "$SECS" <<'PY'
import errno, json, os, random, sys, threading, time
M, SECS = sys.argv[1], float(sys.argv[2])
WORDS = ("alpha beta gamma delta journal segment flush query vector node index store "
         "crash race thread lock reader writer mutex atomic ingest embed split").split()
end = time.time() + SECS
counts = {"write": 0, "read": 0}
bad = []
lock = threading.Lock()
# ENOENT/ENOTEMPTY/EEXIST: a reader or a folder rename racing another thread's
# names. Anything else is a bug.
OK_ERRS = {errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST}

def text(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 800))).encode()

def jload(path):
    data = open(path, "rb").read()
    try:
        return json.loads(data)
    except ValueError as e:
        raise ValueError(f"{path[len(M):]}: {len(data)} bytes, not JSON: {e}") from None

def put(path, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, data)
        if random.random() < 0.03:
            os.fsync(fd)  # store_sync: a flush under load
    finally:
        os.close(fd)

def writer(i):
    rng = random.Random(i)
    d = f"{M}/docs/w{i}"
    os.makedirs(f"{d}/sub", exist_ok=True)
    os.makedirs(f"{M}/kvstore/tsan{i}", exist_ok=True)
    n = 0
    while time.time() < end:
        n += 1
        r = rng.random()
        names = os.listdir(f"{d}/sub")
        try:
            if r < 0.35 or len(names) < 3:
                put(f"{d}/sub/f{n}.txt", text(rng))
            elif r < 0.50:
                put(f"{d}/sub/{rng.choice(names)}", text(rng))
            elif r < 0.55:
                put(f"{d}/sub/{rng.choice(names)}", b" appended words", os.O_WRONLY | os.O_APPEND)
            elif r < 0.65:
                os.rename(f"{d}/sub/{rng.choice(names)}", f"{d}/sub/r{n}.txt")
            elif r < 0.75:
                os.unlink(f"{d}/sub/{rng.choice(names)}")
            elif r < 0.78:  # the whole folder moves and comes back
                os.rename(f"{d}/sub", f"{d}/moved")
                os.rename(f"{d}/moved", f"{d}/sub")
            elif r < 0.86:
                node = {"id_": f"tsan-{i}-{n % 20}", "text": text(rng).decode()[:500],
                        "metadata": {"w": i, "n": n}}
                put(f"{M}/docstore/tsan-{i}-{n % 20}.json", json.dumps(node).encode())
            elif r < 0.94:
                put(f"{M}/kvstore/tsan{i}/k{n % 10}.json", json.dumps({"n": n}).encode())
            else:
                fd = os.open(f"{d}/sub/{rng.choice(names)}", os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
        except OSError as e:
            if e.errno not in OK_ERRS:
                with lock:
                    bad.append(f"writer {i}: {e}")
        except ValueError as e:  # a file that is not valid JSON (torn?)
            with lock:
                bad.append(f"writer {i}: {e}")
        with lock:
            counts["write"] += 1

def reader(i):
    rng = random.Random(100 + i)
    q = f"{M}/query/r{i}"
    while time.time() < end:
        r = rng.random()
        try:
            if r < 0.45:
                req = {"query": " ".join(rng.sample(WORDS, 3)), "top_k": rng.randint(1, 10),
                       "mode": rng.choice(["default", "text", "hybrid", "mmr"])}
                if rng.random() < 0.3:
                    req["filters"] = {"filters": [{"key": "reader", "value": "text", "operator": "=="}]}
                put(q, json.dumps(req).encode())
                res = jload(q)
                if "results" not in res:
                    with lock:
                        bad.append(f"reader {i}: no results: {str(res)[:200]}")
            elif r < 0.55:
                open(f"{M}/search/{rng.choice(WORDS)} {rng.choice(WORDS)}.txt").read()
            elif r < 0.65:
                jload(f"{M}/.ragfs/status.json")
                jload(f"{M}/.ragfs/stats.json")
            elif r < 0.80:
                for root, _, files in os.walk(f"{M}/docs"):
                    for f in files[:3]:
                        try:
                            open(os.path.join(root, f), "rb").read()
                        except OSError as e:
                            if e.errno != errno.ENOENT:
                                raise
            elif r < 0.88:
                os.listdir(f"{M}/docstore")
                open(f"{M}/vector_store/matrix.f32", "rb").read()
                open(f"{M}/vector_store/ids.txt").read()
            elif r < 0.92:
                jload(f"{M}/persist/docstore.json")
            else:
                for f in os.listdir(f"{M}/index_store"):
                    jload(f"{M}/index_store/{f}")
        except OSError as e:
            if e.errno not in OK_ERRS:
                with lock:
                    bad.append(f"reader {i}: {e}")
        except ValueError as e:  # a file that is not valid JSON (torn?)
            with lock:
                bad.append(f"reader {i}: {e}")
        with lock:
            counts["read"] += 1

ts = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
ts += [threading.Thread(target=reader, args=(i,)) for i in range(8)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(f"# {counts['write']} writer and {counts['read']} reader operations in {SECS:.0f} s")
for b in bad[:10]:
    print(f"#   {b}")
sys.exit(1 if bad else 0)
PY
tap $? "the load: 8 writers and 8 query readers, no unexpected errno"

kill -0 "$DPID" 2>/dev/null
tap $? "the daemon is alive after the load"
fusermount3 -u "$MNT"
wait "$DPID"
rc=$?
DPID=
tap $rc "unmount: the daemon exits 0 (TSan exits 66 when it reported)"
reports=$(grep -c 'WARNING: ThreadSanitizer' "$WORK/daemon.log")
tap $((reports != 0)) "no ThreadSanitizer report in the daemon log ($reports)"
if [ "$reports" != 0 ]; then
	grep -E '^SUMMARY: ThreadSanitizer' "$WORK/daemon.log" | sort | uniq -c | sed 's/^/#   /'
	cp "$WORK/daemon.log" "/tmp/ragfs-tsan-$$.log" && echo "# full log: /tmp/ragfs-tsan-$$.log"
fi
other=$(grep -E 'ERR|==[0-9]+==|runtime error' "$WORK/daemon.log" | grep -v ThreadSanitizer | head -5)
tap $([ -z "$other" ]; echo $?) "the rest of the daemon log is clean"
[ -z "$other" ] || printf '%s\n' "$other" | sed 's/^/#   /'
echo "1..$N"
[ "$FAIL" -eq 0 ]
