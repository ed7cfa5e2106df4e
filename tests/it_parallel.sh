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
rumount; ok $? "unmount exits 0"
done_testing
