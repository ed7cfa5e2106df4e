#!/usr/bin/env bash
# Re-embedding through the mount: a store made with embed=hash dim=64 is
# remounted with embed=http (the fake OpenAI-compatible server, 16-d), then
# with embed=hash dim=32. While the new vectors are made (the server held
# down, then slow), the old ones answer queries with the old dim and
# status.json / `ragfs status` show the progress; a SIGKILL half way and a
# remount resume; the switch is whole; a remount with the same settings
# does nothing.
. "$(dirname "$0")/lib.sh"
setup
start_embed_server 16
HTTP="embed=http,embed_url=$URL,embed_model=fake,dim=16,chunk_size=32,chunk_overlap=4"
control() { python3 -c "import urllib.request,sys; urllib.request.urlopen(urllib.request.Request('$URL/control', data=sys.argv[1].encode(), headers={'Content-Type': 'application/json'})).read()" "$1"; }
requests() { python3 -c "import json,urllib.request; print(json.load(urllib.request.urlopen('$URL/stats'))['requests'])"; }
# st KEY / re KEY: a field of status.json / of its "reembed" object
st() { python3 -c "import json; d=json.load(open('$MNT/.ragfs/status.json')); print(d['$1'])"; }
re() { python3 -c "import json; r=json.load(open('$MNT/.ragfs/status.json'))['reembed']; print('null' if r is None else r['$1'])"; }
meta_dim() { python3 -c "import json; print(json.load(open('$MNT/vector_store/meta.json'))['dim'])"; }
# top QUERY: the ref_doc_id of the best hit (vector mode)
top() {
	printf '{"query": "%s", "top_k": 1}' "$1" > "$MNT/query/q"
	python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['results'][0]['ref_doc_id'] if r.get('results') else r)" "$MNT/query/q"
}
f32_sizes() { # the distinct sizes of vector_store/*.f32
	find "$MNT/vector_store" -name '*.f32' ! -name matrix.f32 -printf '%s\n' | sort -u | tr '\n' ' '
}
wait_for() { # wait_for SECONDS CMD...
	local n=$(( $1 * 10 )); shift
	for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}
re_done() { [ "$(re state)" = done ]; }

TOPICS=("glaciers carve valleys and leave moraines of ice" "volcanoes erupt lava and magma through the crust"
	"sourdough bread needs a starter and rye flour" "the roman senate held elections for consuls"
	"otters float on rivers holding hands with whiskers" "telescopes show galaxies nebulae and stars"
	"bicycles have gears chains and saddles" "violins have strings and bows in the orchestra"
	"tomatoes grow in gardens with compost and seedlings" "submarines use sonar and periscopes at depth"
	"chess openings gambits and endgames" "beekeeping hives honey and queens")

# 1. A store made with embed=hash dim=64.
rmount -o embed=hash,dim=64,chunk_size=32,chunk_overlap=4
ok $? "mount a new store with embed=hash,dim=64"
for i in "${!TOPICS[@]}"; do
	for k in $(seq 1 14); do echo "Note $k: ${TOPICS[$i]}, and nothing else matters here."; done > "$MNT/docs/t$i.txt"
done
NODES=$(st nodes)
check "$NODES nodes (several batches of 64), all with vectors" test "$NODES" -gt 128 -a "$(st vectors)" = "$NODES"
is "$(top "volcanoes magma")" t1.txt "hash 64: 'volcanoes magma' finds t1.txt"
is "$(re state)" null "status.json: no re-embedding"
rumount; ok $? "unmount exits 0"

# 2. Remount with embed=http (16-d) while the server is down: re-embedding
# starts and waits; the old vectors serve meanwhile.
control '{"down": true}'
rmount -o "$HTTP"
ok $? "remount with embed=http,dim=16 (server down)"
check "status.json: the re-embedding tried and failed (server down)" wait_for 10 python3 -c "
import json,sys; r=json.load(open('$MNT/.ragfs/status.json'))['reembed']; sys.exit(0 if r and r['failures'] > 0 else 1)"
is "$(re state)" running "reembed.state is running"
is "$(re from) -> $(re to)" "embed=hash dim=64 -> embed=http model=fake dim=16" "reembed: from -> to"
is "$(re done)" 0 "nothing re-embedded while the server is down"
is "$(re queued)" "$NODES" "every node is queued"
is "$(re last_error)" EIO "reembed.last_error names the failure"
is "$(st dim)" 64 "status.json: dim is still 64"
is "$(meta_dim)" 64 "vector_store/meta.json: dim 64"
is "$(f32_sizes)" "256 " "every vector_store/*.f32 is 64 x 4 bytes"
is "$(top "volcanoes magma")" t1.txt "a vector query meanwhile uses the old vectors (t1.txt)"
check "ragfs status shows the re-embedding" bash -c "'$RAGFS' status '$MNT' | grep -q 're-embedding embed=hash dim=64 -> embed=http model=fake dim=16: running'"
is "$(pyerr write "$MNT/vector_store/x16.f32" "$(printf '%064d' 0)")" EINVAL "a .f32 of the new dim (16 x 4) is refused meanwhile"
echo "Kites fly on the wind with long tails and spools." > "$MNT/docs/kite.txt"
is "$(top "kites spools")" kite.txt "a document written meanwhile is found at once (old embedder)"
NODES=$(st nodes)

# 3. The server comes back, slowly: progress shows; SIGKILL half way.
control '{"down": false, "delay_ms": 1500}'
check "progress: some batches done, some still queued" wait_for 60 bash -c "
	d=\$(python3 -c \"import json; r=json.load(open('$MNT/.ragfs/status.json'))['reembed']; print(r['done'], r['queued'], r['state'])\")
	set -- \$d; [ \"\$1\" -ge 64 ] && [ \"\$2\" -gt 0 ] && [ \"\$3\" = running ]"
check "status.json: rate and eta_s are numbers" python3 -c "
import json; r=json.load(open('$MNT/.ragfs/status.json'))['reembed']; assert r['rate'] > 0 and r['eta_s'] > 0, r"
check "ragfs status shows a rate and an ETA" bash -c "'$RAGFS' status '$MNT' | grep -q 'nodes/s, ETA'"
is "$(top "volcanoes magma")" t1.txt "queries still use the old vectors half way"
DONE_AT_KILL=$(re done)
rkill
ok 0 "SIGKILL the daemon half way ($DONE_AT_KILL of $NODES re-embedded)"

# 4. Remount after the crash, server down again: the old vectors serve and
# the work made before the crash is kept.
control '{"down": true, "delay_ms": 0}'
rmount -o "$HTTP"
ok $? "remount after the crash"
check "the re-embedded vectors survived the crash (done >= $DONE_AT_KILL)" test "$(re done)" -ge "$DONE_AT_KILL"
is "$(st dim)" 64 "still dim 64 after the crash"
is "$(top "glaciers moraines")" t0.txt "the old vectors answer after the crash"
check "stores agree after the crash" stores_agree
DONE_RESUMED=$(re done)
control '{"down": false}'
check "re-embedding converges" wait_for 120 re_done
is "$(st dim)" 16 "status.json: dim 16 after the switch"
is "$(meta_dim)" 16 "vector_store/meta.json: dim 16"
is "$(f32_sizes)" "64 " "every vector_store/*.f32 is 16 x 4 bytes"
is "$(st vectors)" "$NODES" "every node has a new vector"
check "only the rest was embedded after the remount ($(re embedded_this_mount) of $NODES)" \
	test "$(re embedded_this_mount)" -le $((NODES - DONE_RESUMED))
check "stores agree after the switch" stores_agree
# The fake server's vectors are a hash of the whole text: a query with a
# node's exact text finds that node (the query is embedded by http now).
TEXT=$(python3 -c "import json,os; d='$MNT/docstore'; n=json.load(open(os.path.join(d, sorted(os.listdir(d))[0]))); print(json.dumps(n['text'])[1:-1] + ' ' + n['id_'])")
ID=${TEXT##* }; TEXT=${TEXT% *}
printf '{"query": "%s", "top_k": 1}' "$TEXT" > "$MNT/query/e"
check "a query is embedded by the new embedder (exact text -> its node, score 1)" python3 -c "
import json; h=json.load(open('$MNT/query/e'))['results'][0]; assert h['node_id'] == '$ID' and h['score'] > 0.999, h"
rumount; ok $? "unmount exits 0"

# 5. The same settings again: nothing to do, no request to the server.
before=$(requests)
rmount -o "$HTTP"
sleep 1.5
is "$(re state)" null "a remount with the same settings does not re-embed"
is "$(requests)" "$before" "and sends nothing to the embedder"
rumount; ok $? "unmount exits 0"

# 6. Back to the lexical embedder at another dim: fast, and top hits make
# sense again; then again, nothing to do.
rmount -o embed=hash,dim=32,chunk_size=32,chunk_overlap=4
ok $? "remount with embed=hash,dim=32"
check "re-embedding to hash 32 converges" wait_for 60 re_done
is "$(meta_dim)" 32 "vector_store/meta.json: dim 32"
is "$(f32_sizes)" "128 " "every vector_store/*.f32 is 32 x 4 bytes"
is "$(top "volcanoes magma")" t1.txt "'volcanoes magma' finds t1.txt"
is "$(top "beekeeping honey queens")" t11.txt "'beekeeping honey queens' finds t11.txt"
is "$(top "kites spools")" kite.txt "'kites spools' finds kite.txt"
check "stores agree" stores_agree
rumount; ok $? "unmount exits 0"
rmount -o embed=hash,dim=32
is "$(re state)" null "remount with embed=hash,dim=32 again: no re-embedding"
rumount; ok $? "unmount exits 0"
rmount
is "$(re state) $(st dim)" "null 32" "remount without embed/dim keeps hash 32"
rumount; ok $? "unmount exits 0"

# A read-only mount with other settings cannot re-embed: one line, exit 1.
out=$("$RAGFS" -f "${RAGFS_STORE_OPTS[@]}" -o ro,dim=48 "$STORE" "$MNT" 2>&1); code=$?
[ $code -ne 0 ] && [ "$(printf '%s\n' "$out" | grep -c .)" -eq 1 ] && printf '%s' "$out" | grep -q "read-only"
ok $? "ro with another dim: one line, exit 1 ($out)"
ALLOW_LOG="embedder http: "
done_testing
