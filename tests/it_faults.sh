#!/usr/bin/env bash
# s3:// only: ragfs behind a fault-injecting proxy (tests/s3_fault_proxy.py)
# that answers ~10% of requests with 503 SlowDown, resets ~3%, cuts ~3% of
# replies halfway and delays ~5% by 200-800 ms. A few hundred documents are
# copied in while queries run; fsync and unmount succeed; a remount straight
# on the server from an empty cache dir (a new machine) has every document,
# intact and queryable, with docstore, index store and vector store in
# agreement. Then the proxy goes down entirely during an ingest: close()
# still succeeds (only the local journal is needed), fsync reports EIO, and
# once the proxy is back fsync and unmount put everything on the store.
#   RAGFS_TEST_S3=1 RAGFS=build/fs/ragfs bash tests/it_faults.sh
# FAULT_SEED (default 1) picks the fault sequence; FAULT_DOCS (300) the corpus.
. "$(dirname "$0")/lib.sh"
setup
[ "${RAGFS_TEST_S3:-0}" = 1 ] || skip_all "run with RAGFS_TEST_S3=1 (faults_s3)"
command -v python3 >/dev/null || skip_all "no python3"
PROXY=$(dirname "$0")/s3_fault_proxy.py
SEED=${FAULT_SEED:-1}
NDOCS=${FAULT_DOCS:-300}
SRC=$WORK/src
PPID_=
stop_proxy() {
	[ -n "$PPID_" ] || return 0
	kill "$PPID_" 2>/dev/null
	wait "$PPID_" 2>/dev/null
	PPID_=
}
trap 'stop_proxy; teardown' EXIT

python3 "$PROXY" --upstream "$RAGFS_S3_ENDPOINT" --port 0 --seed "$SEED" \
	--p-503 0.10 --p-reset 0.03 --p-cut 0.03 --p-latency 0.05 --latency-ms 200-800 \
	--port-file "$WORK/proxy.port" --stats-file "$WORK/proxy.stats" -v \
	> /dev/null 2> "$WORK/proxy.log" &
PPID_=$!
for _ in $(seq 1 100); do [ -s "$WORK/proxy.port" ] && break; sleep 0.05; done
PROXYPORT=$(cat "$WORK/proxy.port" 2>/dev/null)
[ -n "$PROXYPORT" ] || { ok 1 "fault proxy starts"; done_testing; }
PROXYURL=http://127.0.0.1:$PROXYPORT
pstat() { # pstat KEY: a counter of the proxy
	curl -s --max-time 5 "$PROXYURL/__stats" |
		python3 -c "import json,sys; print(json.load(sys.stdin).get('$1', 0))"
}
stat_of() { # stat_of FILE EXPR: a field of a .ragfs JSON file
	python3 -c "import json; d=json.load(open('$MNT/.ragfs/$1')); print($2)"
}
fsync_doc() { # fsync_doc PATH: prints OK or the errno name
	python3 - "$1" <<'PY'
import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])
PY
}
tq() { # tq WORD: a BM25 (text mode) query for WORD into query/q
	printf '{"query": "%s", "mode": "text", "top_k": 3}\n' "$1" > "$MNT/query/q"
}

# The corpus: small notes with a unique keyword each, some medium files, and
# a few large ones that make one segment bigger than the 16 MiB multipart
# threshold.
python3 - "$SRC" "$NDOCS" <<'PY'
import os, random, sys
src, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
words = [w for w in ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima "
         "mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray "
         "yankee zulu storage bucket retry backoff jitter segment manifest journal flush "
         "vector query index embed token split chunk").split()]
def text(k, nbytes):
    out, size = [], 0
    while size < nbytes:
        s = " ".join(rng.choice(words) for _ in range(rng.randint(6, 14))).capitalize() + ". "
        out.append(s)
        size += len(s)
        if rng.random() < 0.1:
            out.append("\n\n")
    return f"Document {k} faultkw{k}x about S3 faults.\n\n" + "".join(out) + "\n"
for b in range(6):
    os.makedirs(f"{src}/batch{b}", exist_ok=True)
for i in range(n):
    size = 200_000 if i % 25 == 0 else rng.randint(300, 4000)
    with open(f"{src}/batch{i % 6}/d{i}.txt", "w") as f:
        f.write(text(i, size))
os.makedirs(f"{src}/big", exist_ok=True)
for i in range(3):
    with open(f"{src}/big/big{i}.txt", "w") as f:
        f.write(text(10000 + i, 2_500_000))
PY
total=$(find "$SRC" -type f | wc -l)

# ---- 1. ingest through the faulty proxy while queries run
RAGFS_STORE_OPTS=(-o "endpoint=$PROXYURL,cache_dir=$WORK/cache")
rmount -o flush_interval=1
ok $? "mount s3:// through the fault proxy"
mkdir -p "$MNT/docs/main"
(
	i=0
	while [ ! -e "$WORK/stop-queries" ]; do
		i=$((i + 1))
		q="$MNT/query/bg$((i % 8))"
		echo "faultkw$((i % NDOCS))x" > "$q" 2>/dev/null || echo "write $i" >> "$WORK/qerr"
		python3 -c "import json,sys; json.load(open(sys.argv[1]))['results']" "$q" 2>/dev/null ||
			echo "read $i" >> "$WORK/qerr"
		echo "$i" > "$WORK/qcount"
	done
) &
QPID=$!
t0=$(date +%s.%N)
cprc=0
# One cp per document, each followed by an fsync (coreutils sync FILE), so
# that every document costs a flush (a segment and a manifest PUT) and the
# faults hit hundreds of requests; then the large files in one cp -r.
for b in 0 1 2 3 4 5; do
	mkdir -p "$MNT/docs/main/batch$b"
	for f in "$SRC/batch$b"/*; do
		cp "$f" "$MNT/docs/main/batch$b/" || cprc=1
		sync "$MNT/docs/main/batch$b/${f##*/}" || { cprc=1; diag "fsync of $f failed"; }
	done
done
cp -r "$SRC/big" "$MNT/docs/main/" || cprc=1
t1=$(date +%s.%N)
ok $cprc "cp and fsync of $total documents through the faults"
touch "$WORK/stop-queries"
wait "$QPID"
nq=$(cat "$WORK/qcount" 2>/dev/null || echo 0)
qerr=$(cat "$WORK/qerr" 2>/dev/null | wc -l)
diag "ingest took $(python3 -c "print(round($t1 - $t0, 1))") s; $nq queries meanwhile"
check "queries during the ingest ran ($nq)" test "$nq" -gt 0
is "$qerr" 0 "every query during the ingest answered with results"
is "$(fsync_doc "$MNT/docs/main/batch0/d0.txt")" OK "fsync succeeds through the faults"
diag "ragfs backend after fsync: $(stat_of stats.json "d['backend']")"
is "$(find "$MNT/docs/main" -type f | wc -l)" "$total" "every document is in the mount"
tq faultkw77x
check "a query finds a document" grep -q '"ref_doc_id": "main/batch5/d77.txt"' "$MNT/query/q"

# ---- 2. the proxy down entirely during an ingest
mkdir -p "$SRC/down"
for i in $(seq 1 60); do
	printf 'written while the store was down %d\ndownkw%dx and more words\n' "$i" "$i" > "$SRC/down/w$i.txt"
done
kill -USR1 "$PPID_"
sleep 0.5
check "the proxy refuses connections while down" \
	bash -c "! curl -s --max-time 2 -o /dev/null $PROXYURL/__stats"
t0=$(date +%s.%N)
check "cp while the store is unreachable succeeds" cp -r "$SRC/down" "$MNT/docs/main/"
t1=$(date +%s.%N)
check "and does not wait for the store ($(python3 -c "print(round($t1 - $t0, 2))") s)" \
	python3 -c "import sys; sys.exit(0 if $t1 - $t0 < 10 else 1)"
tq downkw33x
check "documents written while down are queryable" grep -q '"ref_doc_id": "main/down/w33.txt"' "$MNT/query/q"
sleep 3 # a few background flushes fail meanwhile
# README (S3 and R2): "fsync and unmount report EIO only after the retries
# are exhausted".
is "$(fsync_doc "$MNT/docs/main/down/w1.txt")" EIO "fsync while the store is unreachable reports EIO (README)"
check "the failed flush is in errors.log" grep -q "flush" "$MNT/.ragfs/errors.log"
kill -USR2 "$PPID_"
for _ in $(seq 1 50); do curl -s --max-time 1 -o /dev/null "$PROXYURL/__stats" && break; sleep 0.1; done
is "$(fsync_doc "$MNT/docs/main/down/w1.txt")" OK "fsync succeeds once the store is back"
total=$(find "$SRC" -type f | wc -l)
stats=$(curl -s --max-time 5 "$PROXYURL/__stats")
rumount
ok $? "unmount through the faults exits 0"

# ---- 3. a new machine, straight on the server: everything is there
for k in requests forwarded injected_503 injected_reset injected_cut injected_latency \
	latency_ms_total closed_by_down by_method; do
	diag "proxy $k: $(printf '%s' "$stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['$k'])")"
done
for k in injected_503 injected_reset injected_cut injected_latency; do
	check "the proxy injected some $k" test "$(printf '%s' "$stats" |
		python3 -c "import json,sys; print(json.load(sys.stdin)['$k'])")" -gt 0
done
# A mount from an empty cache dir through the faults: GETs of the manifest
# and of the segments meet 503s, resets and cut bodies.
RAGFS_STORE_OPTS=(-o "endpoint=$PROXYURL,cache_dir=$WORK/cache-faulty")
rmount
ok $? "mount from an empty cache dir through the faults"
is "$(find "$MNT/docs/main" -type f | wc -l)" "$total" "it sees every document"
check "intact" diff -r "$SRC" "$MNT/docs/main"
rumount
ok $? "unmount exits 0"
diag "proxy after the faulty remount: $(curl -s --max-time 5 "$PROXYURL/__stats")"
stop_proxy
RAGFS_STORE_OPTS=(-o "endpoint=$RAGFS_S3_ENDPOINT,cache_dir=$WORK/cache2")
rmount
ok $? "remount directly on the server from an empty cache dir"
is "$(find "$MNT/docs/main" -type f | wc -l)" "$total" "every document is on the store"
check "and intact" diff -r "$SRC" "$MNT/docs/main"
for k in 0 77 $((NDOCS - 1)); do
	tq "faultkw${k}x"
	check "a query finds d$k" grep -q "\"ref_doc_id\": \"main/batch$((k % 6))/d$k.txt\"" "$MNT/query/q"
done
tq downkw60x
check "a query finds a document written while the store was down" \
	grep -q '"ref_doc_id": "main/down/w60.txt"' "$MNT/query/q"
tq faultkw10001x
check "a query finds a large document" grep -q '"ref_doc_id": "main/big/big1.txt"' "$MNT/query/q"
check "docstore, index store and vector store agree" stores_agree
is "$(stat_of status.json "d['docs']")" "$total" "status.json counts every document"
rumount
ok $? "unmount exits 0"

# ---- 4. a mount whose recovered journal cannot reach the store quickly
# (every PUT held 15 s, as a server that stops taking writes): the mount
# answers at once, and the recovered work lands in the background.
rmount -o flush_interval=3600
mkdir -p "$MNT/docs/slow"
for i in 1 2 3 4 5; do echo "recovered after a crash slowkw${i}x" > "$MNT/docs/slow/s$i.txt"; done
rkill # the five are in the journal only
python3 "$PROXY" --upstream "$RAGFS_S3_ENDPOINT" --port 0 --seed "$SEED" \
	--p-latency 1 --latency-ms 15000-15000 --match "^PUT " \
	--port-file "$WORK/proxy2.port" > /dev/null 2> "$WORK/proxy2.log" &
PPID_=$!
for _ in $(seq 1 100); do [ -s "$WORK/proxy2.port" ] && break; sleep 0.05; done
RAGFS_STORE_OPTS=(-o "endpoint=http://127.0.0.1:$(cat "$WORK/proxy2.port"),cache_dir=$WORK/cache2")
rmount -o flush_interval=3600
ok $? "remount with the journal's work to send and every PUT held 15 s"
t0=$(date +%s.%N)
is "$(timeout 20 ls "$MNT/docs/slow" | wc -l)" 5 "the recovered documents are listed"
is "$(timeout 20 cat "$MNT/docs/slow/s3.txt")" "recovered after a crash slowkw3x" "and read"
t1=$(date +%s.%N)
check "without waiting for the store ($(python3 -c "print(round($t1 - $t0, 2))") s)" \
	python3 -c "import sys; sys.exit(0 if $t1 - $t0 < 5 else 1)"
is "$(fsync_doc "$MNT/docs/slow/s1.txt")" OK "fsync waits for the recovered work to land"
rumount
ok $? "unmount exits 0"
stop_proxy
RAGFS_STORE_OPTS=(-o "endpoint=$RAGFS_S3_ENDPOINT,cache_dir=$WORK/cache3")
rmount
ok $? "a fresh cache dir straight on the server"
is "$(ls "$MNT/docs/slow" | wc -l)" 5 "the recovered documents are on the store"
rumount
ok $? "unmount exits 0"
# Retries and failed flushes while the proxy was down are expected in the log.
ALLOW_LOG="final flush failed|segment .*: |retr|flush|Connection refused|unreachable"
done_testing
