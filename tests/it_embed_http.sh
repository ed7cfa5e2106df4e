#!/usr/bin/env bash
# embed=http against an OpenAI-compatible test server: close() returns while
# the server is down, the work waits in status.json, and nothing is lost.
. "$(dirname "$0")/lib.sh"
setup
start_embed_server 16
control() { python3 -c "import urllib.request,sys; urllib.request.urlopen(urllib.request.Request('$URL/control', data=sys.argv[1].encode(), headers={'Content-Type': 'application/json'})).read()" "$1"; }
status() { python3 -c "import json; d=json.load(open('$MNT/.ragfs/status.json')); print(d['$1'])"; }
wait_drained() {
	for _ in $(seq 1 100); do
		[ "$(status pending)" = 0 ] && [ "$(status vectors)" = "$(status nodes)" ] && return 0
		sleep 0.2
	done
	return 1
}

rmount -o embed=http,embed_url="$URL",embed_model=fake,chunk_size=32,chunk_overlap=4
ok $? "mount with embed=http (dim learned from the server)"
is "$(status dim)" 16 "the store takes the server's dimension"
printf 'Otters hold hands while they sleep on the water.\n' > "$MNT/docs/otter.txt"
check "nodes are embedded in the background" wait_drained
echo "otters sleep" > "$MNT/query/q"
check "and found by vector" grep -q '"ref_doc_id": "otter.txt"' "$MNT/query/q"

control '{"down": true}'
start=$(date +%s%N)
for i in 1 2 3; do printf 'Badgers dig setts number %d in the woods.\n' "$i" > "$MNT/docs/badger$i.txt"; done
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "close() returns at once while the server is down (${ms} ms)" test "$ms" -lt 3000
sleep 2
check "status.json shows pending and failed work" python3 -c "
import json; d=json.load(open('$MNT/.ragfs/status.json')); assert d['pending'] > 0 and d['failed'] > 0 and d['last_embed_error'], d"
check "ragfs status shows the pending work with a progress bar" bash -c "'$RAGFS' status '$MNT' | grep -q 'indexed \\[.*[1-9][0-9]* pending'"
check "the documents are stored and readable meanwhile" grep -q setts "$MNT/docs/badger2.txt"
check "text mode finds them before their vectors exist" bash -c "echo '{\"query\": \"badgers setts\", \"mode\": \"text\"}' > '$MNT/query/t' && grep -q badger '$MNT/query/t'"
rumount; ok $? "unmount while work is pending exits 0"

control '{"down": false}'
rmount -o embed=http,embed_url="$URL",embed_model=fake,chunk_size=32,chunk_overlap=4
check "ragfs status -w returns once the pending work is done" timeout 60 "$RAGFS" status "$MNT" -w
check "after a remount with the server back, every node is embedded" wait_drained
echo "badgers dig setts" > "$MNT/query/q"
check "the documents written while it was down are found by vector" grep -q '"ref_doc_id": "badger' "$MNT/query/q"
rumount; ok $? "unmount exits 0"
out=$("$RAGFS" -f -o embed=http "$STORE" "$MNT" 2>&1); st=$?
[ $st -ne 0 ] && printf '%s' "$out" | grep -q "embed_url"; ok $? "embed=http without embed_url: one clear line"
out=$("$RAGFS" -f -o embed=http,embed_url=http://127.0.0.1:9 "$WORK/other" "$MNT" 2>&1); st=$?
[ $st -ne 0 ] && [ "$(printf '%s\n' "$out" | grep -c .)" -eq 1 ]; ok $? "unreachable embedder at mount: one line, non-zero exit ($out)"
ALLOW_LOG="embed|http|127.0.0.1"
done_testing
