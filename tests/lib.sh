# tests/lib.sh - shared helpers for the integration tests (TAP output).
#
# Each test script sources this, calls setup, mounts with rmount, and uses
# ok/is/fails_with. A daemon started here is always unmounted and reaped on
# exit; its stderr goes to $WORK/daemon.log, which is scanned for ERR/WARN
# and sanitizer reports at the end (tests can allow lines with ALLOW_LOG).
set -u
RAGFS=${RAGFS:-$(dirname "$0")/../build/fs/ragfs}
T_N=0
T_FAIL=0
ALLOW_LOG=${ALLOW_LOG:-}

ok() { # ok COND-EXIT-STATUS MESSAGE
	T_N=$((T_N + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $T_N - $2"
	else
		echo "not ok $T_N - $2"
		T_FAIL=$((T_FAIL + 1))
	fi
}

check() { # check MESSAGE CMD...: ok when CMD succeeds (its output is captured:
	# never pass rmount, whose daemon would hold the capture open)
	local msg=$1
	shift
	local out
	if out=$("$@" 2>&1); then
		ok 0 "$msg"
	else
		ok 1 "$msg"
		echo "#   command: $*"
		printf '%s\n' "$out" | tail -5 | sed 's/^/#   /'
	fi
}

is() { # is GOT WANT MESSAGE
	if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3"; echo "#   got: '$1'"; echo "#   want: '$2'"; fi
}

diag() { echo "# $*"; }

skip_all() { echo "1..0 # SKIP $*"; exit 0; }

setup() {
	[ -e /dev/fuse ] || skip_all "no /dev/fuse"
	command -v fusermount3 >/dev/null || skip_all "no fusermount3"
	WORK=$(mktemp -d /tmp/ragfs-it.XXXXXX)
	STORE=$WORK/store
	MNT=$WORK/mnt
	mkdir -p "$MNT"
	DPID=
	trap teardown EXIT
	# RAGFS_TEST_S3=1: the same test on s3:// (a fresh prefix of the test
	# bucket) against the server in $RAGFS_S3_ENDPOINT (scripts/s3-server.sh).
	RAGFS_STORE_OPTS=()
	S3_PREFIXES=()
	if [ "${RAGFS_TEST_S3:-0}" = 1 ]; then
		[ -n "${RAGFS_S3_ENDPOINT:-}" ] || skip_all "no S3 endpoint (scripts/s3-server.sh)"
		STORE="s3://${RAGFS_S3_BUCKET:-ragfs-test}/it-$(basename "$WORK")"
		RAGFS_STORE_OPTS=(-o "endpoint=$RAGFS_S3_ENDPOINT,cache_dir=$WORK/cache")
		S3_PREFIXES=("$STORE")
	fi
}

# use_store NAME: STORE becomes another, fresh store of the same kind: the
# folder $WORK/NAME, or on s3:// another prefix of the test bucket with a
# cache dir of its own.
use_store() {
	if [ "${RAGFS_TEST_S3:-0}" = 1 ]; then
		STORE="${S3_PREFIXES[0]}-$1"
		RAGFS_STORE_OPTS=(-o "endpoint=$RAGFS_S3_ENDPOINT,cache_dir=$WORK/cache-$1")
		S3_PREFIXES+=("$STORE")
	else
		STORE=$WORK/$1
	fi
}

# store_has KEY: the store holds the object/file KEY (on s3:// asked of the
# server directly, not through the mount).
store_has() {
	if [ "${RAGFS_TEST_S3:-0}" = 1 ]; then
		python3 "$(dirname "${BASH_SOURCE[0]}")/s3_obj.py" head "$STORE/$1"
	else
		test -f "$STORE/$1"
	fi
}

is_mounted() { grep -q " $1 fuse" /proc/mounts; }

# rmount [ragfs options...]: mount $STORE on $MNT in the foreground, wait.
# RAGFS_WRAP (e.g. "valgrind --error-exitcode=1") runs the daemon under a tool.
rmount() {
	${RAGFS_WRAP:-} "$RAGFS" -f "${RAGFS_STORE_OPTS[@]}" "$@" "$STORE" "$MNT" \
		2>>"$WORK/daemon.log" &
	DPID=$!
	for _ in $(seq 1 300); do
		is_mounted "$MNT" && return 0
		kill -0 "$DPID" 2>/dev/null || { DPID=; return 1; }
		sleep 0.1
	done
	return 1
}

# rumount: unmount and return the daemon's exit status.
rumount() {
	[ -n "$DPID" ] || return 1
	fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	local st=0
	wait "$DPID" || st=$?
	DPID=
	return $st
}

# rkill: SIGKILL the daemon (a crash) and clear the dead mount.
rkill() {
	kill -9 "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	DPID=
	fusermount3 -uz "$MNT" 2>/dev/null
	for _ in $(seq 1 50); do is_mounted "$MNT" || break; sleep 0.1; done
}

# errno_of CMD...: run a python one-liner-friendly syscall and print the errno name.
pyerr() {
	python3 - "$@" <<'PY'
import errno, os, sys
op, path = sys.argv[1], sys.argv[2]
data = sys.argv[3].encode() if len(sys.argv) > 3 else b""
try:
    if op == "write":
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    elif op == "writehex":
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, bytes.fromhex(sys.argv[3]))
        finally:
            os.close(fd)
    elif op == "unlink":
        os.unlink(path)
    elif op == "mkdir":
        os.mkdir(path)
    elif op == "rmdir":
        os.rmdir(path)
    elif op == "rename":
        os.rename(path, sys.argv[3])
    elif op == "symlink":
        os.symlink("target", path)
    elif op == "link":
        os.link(path, sys.argv[3])
    elif op == "chown":
        os.chown(path, 12345, 12345)
    print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])
PY
}

# stores_agree [MOUNT]: docstore/, vector_store/ids.txt, the default index
# struct's nodes_dict and docstore/ref_doc_info name the same nodes, and
# status.json counts them.
stores_agree() {
	python3 - "${1:-$MNT}" <<'PY'
import json, os, sys
m = sys.argv[1]
st = json.load(open(f"{m}/.ragfs/status.json"))
nodes = {f[:-5] for f in os.listdir(f"{m}/docstore")}
vecs = {l.strip() for l in open(f"{m}/vector_store/ids.txt") if l.strip()}
ids = set()
for f in os.listdir(f"{m}/index_store"):
    d = json.load(open(f"{m}/index_store/{f}"))
    if d.get("__type__") == "vector_store":
        ids |= set(json.loads(d["__data__"])["nodes_dict"])
refs = set()
for f in os.listdir(f"{m}/kvstore/docstore/ref_doc_info"):
    refs |= set(json.load(open(f"{m}/kvstore/docstore/ref_doc_info/{f}"))["node_ids"])
ok = nodes == vecs == ids == refs and st["nodes"] == len(nodes)
if not ok:
    print("nodes", len(nodes), "vectors", len(vecs), "index", len(ids), "ref_doc_info",
          len(refs), "status", st["nodes"])
sys.exit(0 if ok else 1)
PY
}

scan_log() {
	[ -f "$WORK/daemon.log" ] || return 0
	local bad
	bad=$(grep -E 'ERR|WARN|==[0-9]+==|runtime error' "$WORK/daemon.log" | grep -v -E "${ALLOW_LOG:-^$}" || true)
	if [ -n "$bad" ]; then
		ok 1 "daemon log is clean"
		echo "$bad" | head -20 | sed 's/^/#   /'
	else
		ok 0 "daemon log is clean"
	fi
}

teardown() {
	if [ -n "${DPID:-}" ]; then
		fusermount3 -uz "$MNT" 2>/dev/null
		kill "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	# The test server keeps objects in RAM (4 GiB): each test deletes its own.
	local p
	for p in "${S3_PREFIXES[@]}"; do
		python3 "$(dirname "${BASH_SOURCE[0]}")/s3_obj.py" rm "$p/" >/dev/null 2>&1 ||
			echo "# could not delete the test's objects under $p/" >&2
	done
	rm -rf "$WORK"
}

# start_embed_server DIM: the fake OpenAI-compatible embedding server
# (tests/fake_embed_server.py) on a free port, stopped on exit; sets SERVER
# (its pid), PORT and URL. Its stdout (the port, then request lines) goes to
# $WORK/server.out.
start_embed_server() {
	: > "$WORK/server.out"
	python3 "$(dirname "${BASH_SOURCE[0]}")/fake_embed_server.py" --port 0 --dim "$1" \
		> "$WORK/server.out" 2>"$WORK/server.err" &
	SERVER=$!
	for _ in $(seq 1 50); do PORT=$(head -1 "$WORK/server.out" | tr -dc 0-9); [ -n "$PORT" ] && break; sleep 0.1; done
	trap 'kill $SERVER 2>/dev/null; teardown' EXIT
	URL="http://127.0.0.1:$PORT"
}

done_testing() {
	scan_log
	echo "1..$T_N"
	[ "$T_FAIL" -eq 0 ]
	exit $?
}
