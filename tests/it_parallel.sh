#!/usr/bin/env bash
# Parallel writers and query readers on one mount: nothing lost, no errors.
. "$(dirname "$0")/lib.sh"
setup
rmount
W=4
N=40
for w in $(seq 1 $W); do
	(
		mkdir -p "$MNT/docs/w$w"
		for i in $(seq 1 $N); do
			printf 'writer %d doc %d token%dq%d lorem ipsum dolor\n' "$w" "$i" "$w" "$i" > "$MNT/docs/w$w/$i.txt" || exit 1
		done
	) &
done
for rd in 1 2 3; do
	(
		for i in $(seq 1 30); do
			echo "lorem ipsum token$rd" > "$MNT/query/r$rd"
			python3 -c "import json; json.load(open('$MNT/query/r$rd'))" || exit 1
			cat "$MNT/search/dolor writer" > /dev/null || exit 1
		done
	) &
done
fails=0
for job in $(jobs -p); do
	[ "$job" = "$DPID" ] && continue
	wait "$job" || fails=$((fails + 1))
done
is "$fails" 0 "writers and readers all succeeded"
is "$(find "$MNT/docs" -type f | wc -l)" "$((W * N))" "every document is there"
check "every document is indexed" python3 -c "
import json; d=json.load(open('$MNT/.ragfs/status.json')); assert d['docs']==$((W*N)) and d['vectors']>=$((W*N)) and d['docs_not_indexed']==0, d"
echo "token3q17" > "$MNT/query/final"
check "a query finds a document of writer 3" grep -q '"ref_doc_id": "w3/17.txt"' "$MNT/query/final"
# Each open of a view rendered from the whole state reads one snapshot:
# 8 readers parse persist/ files for 6 s while a writer changes them. (The
# page cache is shared by all opens of a file: before these views used
# direct I/O, about 1 read in 50-150 here mixed two versions: torn JSON.)
check "8 readers of persist/ views during writes: every read is whole JSON" python3 -c "
import json, threading, time
m, end, bad, n = '$MNT', time.time() + 6, [], [0]
def writer():
    i = 0
    while time.time() < end:
        i += 1
        open(m + '/docs/v%d.txt' % (i % 20), 'w').write(' '.join('w%d word %d.' % (i, j) for j in range(3000)))
def reader():
    while time.time() < end:
        for view in ('persist/docstore.json', 'persist/default__vector_store.json'):
            data = open(m + '/' + view, 'rb').read()
            n[0] += 1
            try:
                json.loads(data)
            except ValueError as e:
                bad.append('%s (%d bytes): %s' % (view, len(data), e))
ts = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
print(n[0], 'reads,', len(bad), 'torn:', bad[:3])
assert not bad
"
rumount; ok $? "unmount exits 0"
done_testing
