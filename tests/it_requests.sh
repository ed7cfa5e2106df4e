#!/usr/bin/env bash
# s3:// only: the request budget (counted in .ragfs/stats.json), fsync
# reaching the store, and a remount from an empty cache ("a new machine").
. "$(dirname "$0")/lib.sh"
setup
[ "${RAGFS_TEST_S3:-0}" = 1 ] || skip_all "run with RAGFS_TEST_S3=1 (requests_s3)"
# Requests caused by the operations: the manifest poll (one HEAD per
# flush_interval, to see other writers' commits) is counted apart.
reqs() { python3 -c "
import json; b=json.load(open('$MNT/.ragfs/stats.json'))['backend']
print(b['${1:-get}'] if '${1:-}' else b['get']+b['put']+b['delete']+b['list'])"; }
op() { python3 -c "import json; print(json.load(open('$MNT/.ragfs/stats.json'))['operations']['$1'])"; }

rmount -o flush_interval=2
ok $? "mount s3:// on the test server"
is "$(reqs get)" 1 "an empty store costs one GET at mount (the manifest)"
mkdir -p "$WORK/small"
for i in $(seq 1 1000); do printf 'small document %d about token%d\n' "$i" "$i" > "$WORK/small/d$i.txt"; done
check "cp of 1,000 small documents" cp -r "$WORK/small" "$MNT/docs/"
check "fsync makes it durable on the store" python3 -c "
import os; fd = os.open('$MNT/docs/small/d1.txt', os.O_RDONLY); os.fsync(fd); os.close(fd)"
puts=$(reqs put); flushes=$(op flushes)
diag "1,000 documents: $puts PUTs over $flushes flushes"
check "PUTs are two per flush (segment + manifest), not per file" test "$puts" -le $((2 * flushes + 2))
check "and far fewer than the files (budget: 20)" test "$puts" -le 20
check "stats.json also counts wire requests and retries" python3 -c "
import json; b=json.load(open('$MNT/.ragfs/stats.json'))['backend']
assert b['http_requests'] >= b['get'] + b['put'] and b['retries'] >= 0, b"
before=$(reqs)
ls -lR "$MNT/docs" > /dev/null
find "$MNT" -name 'd99*.txt' > /dev/null
stat "$MNT/docs/small/d500.txt" > /dev/null
is "$(reqs)" "$before" "ls -lR, find and stat on a warm mount make no requests"
for i in $(seq 1 100); do echo "token$i" > "$MNT/query/q$i"; cat "$MNT/query/q$i" > /dev/null; done
is "$(reqs)" "$before" "100 queries make no requests"
check "reads make no requests either" cmp "$WORK/small/d7.txt" "$MNT/docs/small/d7.txt"
is "$(reqs)" "$before" "(still none)"
heads=$(reqs head)
check "the idle poll is at most one HEAD per flush_interval ($heads HEADs)" test "$heads" -le 20
rumount; ok $? "unmount exits 0"

# A new machine: an empty cache dir sees everything that was flushed.
rm -rf "$WORK/cache"
rmount
ok $? "remount from an empty cache dir"
is "$(find "$MNT/docs/small" -type f | wc -l)" 1000 "every document is there"
check "and intact" diff -r "$WORK/small" "$MNT/docs/small"
echo "token777" > "$MNT/query/q"
check "and queryable" grep -q '"ref_doc_id": "small/d777.txt"' "$MNT/query/q"
segs=$(python3 -c "import json; print(json.load(open('$MNT/.ragfs/status.json'))['segments'])")
is "$(reqs get)" "$((1 + segs))" "mount cost: the manifest plus one GET per segment"
rumount; ok $? "unmount exits 0"

# The same machine again: segments come from the segment cache in cache_dir.
rmount
ok $? "remount with the cache dir kept"
is "$(reqs get)" 1 "mount cost: the manifest only (segments from the cache)"
is "$(python3 -c "import json; print(json.load(open('$MNT/.ragfs/stats.json'))['cache']['segments']['hits'])")" \
	"$segs" "every segment was a cache hit"
check "and every document is there" diff -r "$WORK/small" "$MNT/docs/small"
check "cache files are 0600 in a 0700 folder" bash -c \
	"test \$(stat -c %a '$WORK/cache/segments') = 700 && ! find '$WORK/cache/segments' -type f ! -perm 600 | grep -q ."
rumount; ok $? "unmount exits 0"

# A damaged copy is a miss: fetched again, not applied.
f=$(find "$WORK/cache/segments" -type f | head -1)
printf 'garbage' | dd of="$f" bs=1 seek=40 conv=notrunc 2>/dev/null
ALLOW_LOG='segment cache: the copy of .* is damaged'
rmount
ok $? "remount with a damaged cached segment"
is "$(reqs get)" 2 "one GET for the manifest, one for the damaged segment"
check "every document intact" diff -r "$WORK/small" "$MNT/docs/small"
rumount; ok $? "unmount exits 0"

# A bound smaller than the segments: least recently used copies go.
rmount -o cache_mb=1,flush_interval=1
for i in $(seq 1 6); do
	head -c 400000 /dev/urandom | base64 > "$MNT/docs/big$i.txt"
	python3 -c "import os; fd = os.open('$MNT/docs/big$i.txt', os.O_RDONLY); os.fsync(fd); os.close(fd)"
done
check "the cache stays within cache_mb=1" python3 -c "
import json; c=json.load(open('$MNT/.ragfs/stats.json'))['cache']['segments']
assert c['bytes'] <= 1 << 20 and c['evictions'] > 0, c"
check "and so does the folder" test "$(du -sb "$WORK/cache/segments" | cut -f1)" -le $((1 << 20 + 4096))
rumount; ok $? "unmount exits 0"
rmount -o cache_mb=1
check "a remount through the small cache sees every document" test "$(ls "$MNT/docs" | grep -c '^big')" = 6
rumount; ok $? "unmount exits 0"
done_testing
