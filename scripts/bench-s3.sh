#!/usr/bin/env bash
# scripts/bench-s3.sh - ragfs on a local store vs on s3://, one run, one corpus.
#
#   scripts/bench-s3.sh [OUT.md]
#
# Generates a corpus (BENCH_SMALL=2000 small text files of 1-3 KB and
# BENCH_LARGE=200 larger ones of 64-256 KB), then for a local store and for
# s3:// (a fresh prefix of the test bucket) measures:
#   - ingest: `cp -r` into docs/ followed by an fsync, docs/s and MB/s
#   - backend requests per document during that ingest (.ragfs/stats.json)
#   - query latency, p50/p95 over BENCH_QUERIES=200 queries written to and read
#     back from query/ files (one process, wall time of write + read)
#   - mount time from an empty cache dir (for the local store: a fresh
#     cache_dir, so the segments are replayed from disk)
# and prints a markdown table with the ratio s3/local, also written to OUT.md
# (default ./bench-s3.md).
#
# S3: uses $RAGFS_S3_ENDPOINT (+ AWS keys, $RAGFS_S3_BUCKET) when it answers,
# else starts Ceph RGW with scripts/s3-server.sh (root; S3_PORT picks the port)
# and sources its env file. RAGFS selects the binary (default build/fs/ragfs,
# built with scripts/build.sh when missing).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-bench-s3.md}
NSMALL=${BENCH_SMALL:-2000}
NLARGE=${BENCH_LARGE:-200}
NQ=${BENCH_QUERIES:-200}
RAGFS=${RAGFS:-$root/build/fs/ragfs}
BENCH=bench-s3
. "$root/scripts/bench-lib.sh"
bench_require
if [ -z "${RAGFS_S3_ENDPOINT:-}" ] || ! curl -s -o /dev/null --max-time 2 "$RAGFS_S3_ENDPOINT/"; then
	bash "$root/scripts/s3-server.sh" start >/dev/null || die "cannot start the S3 server"
	# shellcheck disable=SC1090
	. "$(bash "$root/scripts/s3-server.sh" env)"
fi
BUCKET=${RAGFS_S3_BUCKET:-ragfs-test}

bench_workdir /tmp/ragfs-bench.XXXXXX

echo "bench-s3: generating $NSMALL small and $NLARGE larger documents" >&2
python3 - "$W/corpus" "$NSMALL" "$NLARGE" <<'PY'
import os, random, sys
root, ns, nl = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(7)
vocab = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(3, 9)))
         for _ in range(5000)]
def text(k, n):
    out, size = [f"Document {k} benchkw{k}x.\n\n"], 0
    while size < n:
        s = ' '.join(rng.choice(vocab) for _ in range(rng.randint(6, 16))).capitalize() + '. '
        out.append(s)
        size += len(s)
        if rng.random() < 0.08:
            out.append('\n\n')
    return ''.join(out) + '\n'
for i in range(ns):
    d = f"{root}/small/{i // 200:02d}"
    os.makedirs(d, exist_ok=True)
    open(f"{d}/s{i}.txt", 'w').write(text(i, rng.randint(1000, 3000)))
os.makedirs(f"{root}/large", exist_ok=True)
for i in range(nl):
    open(f"{root}/large/l{i}.txt", 'w').write(text(ns + i, rng.randint(64 << 10, 256 << 10)))
PY
NDOCS=$(find "$W/corpus" -type f | wc -l)
BYTES=$(du -sb "$W/corpus" | cut -f1)
# The queries: a document's keyword plus a few words of its text.
python3 - "$W/corpus" "$NQ" > "$W/queries.txt" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
rng = random.Random(11)
for p in rng.sample(files, min(n, len(files))):
    words = open(p).read().split()
    i = rng.randint(3, max(3, len(words) - 6))
    print(' '.join([words[2].rstrip('.')] + words[i:i + 5]))
PY

# run KIND STORE [ENDPOINT]: prints "ingest_s docs_s mb_s reqs_per_doc p50 p95 mount_s"
run() {
	local kind=$1 store=$2 ep=${3:-}
	echo "bench-s3: $kind: $store" >&2
	mount_store "$store" "cache_dir=$W/cache-$kind${ep:+,endpoint=$ep}"
	local t0 t1
	t0=$(now)
	cp -r "$W/corpus" "$MNT/docs/" || die "cp failed"
	sync "$MNT/docs/corpus/large/l0.txt" || die "fsync failed"
	t1=$(now)
	local reqs
	reqs=$(python3 -c "import json; b=json.load(open('$MNT/.ragfs/stats.json'))['backend']
print(b['get']+b['head']+b['put']+b['delete']+b['list'])")
	[ "$(find "$MNT/docs/corpus" -type f | wc -l)" = "$NDOCS" ] || die "$kind: documents missing"
	local lat
	lat=$(python3 - "$MNT" "$W/queries.txt" <<'PY'
import sys, time, json
m, qf = sys.argv[1], sys.argv[2]
ts = []
for i, q in enumerate(open(qf).read().splitlines()):
    p = f"{m}/query/b{i % 16}"
    t = time.perf_counter()
    with open(p, "w") as f:
        f.write(q + "\n")
    with open(p) as f:
        r = json.load(f)
    ts.append((time.perf_counter() - t) * 1000)
    assert r["results"], q
ts.sort()
pct = lambda p: ts[min(len(ts) - 1, int(round(p / 100 * (len(ts) - 1))))]
print(f"{pct(50):.2f} {pct(95):.2f}")
PY
) || die "$kind: queries failed"
	umount_store
	rm -rf "$W/cache-$kind"
	local m0 m1
	m0=$(now)
	mount_store "$store" "cache_dir=$W/cache-$kind-2${ep:+,endpoint=$ep}"
	m1=$(now)
	[ "$(find "$MNT/docs/corpus" -type f | wc -l)" = "$NDOCS" ] || die "$kind: remount lost documents"
	umount_store
	python3 -c "
d = $t1 - $t0
print(f'{d:.2f} {$NDOCS / d:.1f} {$BYTES / d / 1e6:.2f} {$reqs / $NDOCS:.4f} $lat {$m1 - $m0:.2f}')"
}

run local "$W/local-store" > "$W/local.res"
read -r L_ING L_DPS L_MBS L_RPD L_P50 L_P95 L_MNT < "$W/local.res"
[ -n "${L_MNT:-}" ] || die "the local run failed"
S3STORE="s3://$BUCKET/bench-$(date +%Y%m%d-%H%M%S)-$$"
run s3 "$S3STORE" "$RAGFS_S3_ENDPOINT" > "$W/s3.res"
read -r S_ING S_DPS S_MBS S_RPD S_P50 S_P95 S_MNT < "$W/s3.res"
[ -n "${S_MNT:-}" ] || die "the s3 run failed"

ratio() { python3 -c "a, b = $1, $2; print(f'{b / a:.2f}x' if a else 'n/a')"; }
{
	echo "$("$RAGFS" -V 2>&1 | head -1), $(date -u +%Y-%m-%d), $(nproc) CPUs;" \
		"corpus: $NDOCS documents ($NSMALL of 1-3 KB, $NLARGE of 64-256 KB)," \
		"$(python3 -c "print(round($BYTES / 1e6, 1))") MB; S3: $RAGFS_S3_ENDPOINT"
	echo
	echo "| metric | local | s3:// | s3/local |"
	echo "|---|---|---|---|"
	echo "| ingest (\`cp -r\` + fsync), s | $L_ING | $S_ING | $(ratio "$L_ING" "$S_ING") |"
	echo "| ingest, docs/s | $L_DPS | $S_DPS | $(ratio "$L_DPS" "$S_DPS") |"
	echo "| ingest, MB/s | $L_MBS | $S_MBS | $(ratio "$L_MBS" "$S_MBS") |"
	echo "| backend requests per document | $L_RPD | $S_RPD | $(ratio "$L_RPD" "$S_RPD") |"
	echo "| query latency p50, ms ($NQ queries) | $L_P50 | $S_P50 | $(ratio "$L_P50" "$S_P50") |"
	echo "| query latency p95, ms | $L_P95 | $S_P95 | $(ratio "$L_P95" "$S_P95") |"
	echo "| mount from an empty cache dir, s | $L_MNT | $S_MNT | $(ratio "$L_MNT" "$S_MNT") |"
} > "$W/table.md"
cp "$W/table.md" "$OUT"
cat "$OUT"
echo "bench-s3: written to $OUT" >&2
