#!/usr/bin/env bash
# persist/ and persist-ts/ on a real mount: the files LlamaIndex loads,
# rendered live, in Python's exact dialect, with true sizes.
. "$(dirname "$0")/lib.sh"
setup
HERE=$(cd "$(dirname "$0")" && pwd)
rmount -o chunk_size=64,chunk_overlap=8
M=$MNT
mkdir -p "$M/docs/notes"
printf 'Caf\xc3\xa9 au lait \xf0\x9f\x98\x80 and "quotes".\nTabs\tand newlines.\n' > "$M/docs/notes/unicode.txt"
cp /usr/share/common-licenses/MIT "$M/docs/mit.txt" 2>/dev/null || echo "MIT license text" > "$M/docs/mit.txt"
printf '{"id_": "hand", "text": "a node written by hand", "metadata": {"n": 1.5, "flag": true}, "embedding": [%s]}' \
	"$(python3 -c "print(','.join(['0.125']*384))")" > "$M/docstore/hand.json"

is "$(ls "$M/persist" | tr '\n' ' ')" "default__vector_store.json docstore.json graph_store.json image__vector_store.json index_store.json " "persist/ holds LlamaIndex's five files"
is "$(ls "$M/persist-ts" | tr '\n' ' ')" "doc_store.json index_store.json vector_store.json " "persist-ts/ holds LlamaIndex.TS's three files"
is "$(ls "$M/persist" | grep -c 'vector_store.json$')" 2 "no stray names ending in vector_store.json"
check "LlamaIndex's loaders resolve every id (and the bytes are Python's json.dumps)" \
	python3 "$HERE/persist_py_check.py" "$M/persist"
check "a copy of persist/ loads the same" bash -c "cp -r '$M/persist' '$WORK/copy' && python3 '$HERE/persist_py_check.py' '$WORK/copy'"
check "stat sizes are true for every file" python3 -c "
import os, sys
for d in ('$M/persist', '$M/persist-ts'):
    for f in os.listdir(d):
        p = os.path.join(d, f)
        n = len(open(p, 'rb').read())
        assert os.stat(p).st_size == n, (p, os.stat(p).st_size, n)"
check "persist-ts files are JSON in the TS shape" python3 -c "
import json
d = json.load(open('$M/persist-ts/doc_store.json'))
assert set(d) >= {'docstore/data', 'docstore/metadata'}, list(d)
v = json.load(open('$M/persist-ts/vector_store.json'))
assert 'embeddingDict' in v and 'hand' in v['embeddingDict']
i = json.load(open('$M/persist-ts/index_store.json'))
s = list(i['docstore/data'].values())[0]
assert s['type'] == 'simple_dict' and 'hand' in s['nodesDict']"
check "the Python vector store holds every vector" python3 -c "
import json
v = json.load(open('$M/persist/default__vector_store.json'))
ids = [l.strip() for l in open('$M/vector_store/ids.txt') if l.strip()]
assert sorted(v['embedding_dict']) == sorted(ids)
assert v['embedding_dict']['hand'][0] == 0.125 and v['metadata_dict']['hand']['n'] == 1.5
assert v['text_id_to_ref_doc_id']['hand'] == 'None'"
check "non-ASCII is escaped as Python does" grep -q 'Caf\\u00e9 au lait \\ud83d\\ude00' "$M/persist/docstore.json"
before=$(stat -c %s "$M/persist/docstore.json")
echo "one more document for the export" > "$M/docs/more.txt"
check "the export follows new documents" test "$(stat -c %s "$M/persist/docstore.json")" -gt "$before"
is "$(pyerr write "$M/persist-ts/doc_store.json" '{}')" "OK" "an empty TS doc_store.json imports and changes nothing"
is "$(pyerr write "$M/persist-ts/doc_store.json" '{"docstore/data": ')" "EINVAL" "a malformed TS persist file is refused"
check "and is in errors.log" grep -q "persist-ts/doc_store.json EINVAL: import refused" "$M/.ragfs/errors.log"
is "$(pyerr write "$M/persist/other.json" '{}')" "EINVAL" "other names in persist/ are refused"
rumount; ok $? "unmount exits 0"

# Import: a persist dir LlamaIndex (Python) wrote, copied in.
FIX="$HERE/fixtures/persist/py"
use_store store2
rmount -o embed=none,dim=64
check "cp of a Python persist dir into persist/" cp "$FIX"/*.json "$M/persist/"
check "nodes and vectors imported, verbatim, without embedding" python3 - "$M" "$FIX" <<'PY'
import json, sys
m, fix = sys.argv[1], sys.argv[2]
st = json.load(open(f"{m}/.ragfs/status.json"))
want = json.load(open(f"{fix}/docstore.json"))["docstore/data"]
assert st["nodes"] == len(want) and st["vectors"] == len(want), st
for nid, wrapped in want.items():
    got = json.load(open(f"{m}/docstore/{nid}.json"))
    assert got == wrapped["__data__"], nid
vs = json.load(open(f"{fix}/default__vector_store.json"))["embedding_dict"]
out = json.load(open(f"{m}/persist/default__vector_store.json"))["embedding_dict"]
import struct
for nid, v in vs.items():
    f32 = [struct.unpack("<f", struct.pack("<f", x))[0] for x in v]
    assert out[nid] == f32, nid
PY
check "the re-export loads in LlamaIndex's way" python3 "$HERE/persist_py_check.py" "$M/persist"
check "each node re-exports byte for byte" python3 - "$M" "$FIX" <<'PY'
import re, sys
m, fix = sys.argv[1], sys.argv[2]
src = open(f"{fix}/docstore.json").read()
out = open(f"{m}/persist/docstore.json").read()
# every '{"__data__": {...}, "__type__": "1"}' object of the fixture appears verbatim
objs = re.findall(r'\{"__data__": \{"id_": .*?"class_name": "TextNode"\}, "__type__": "1"\}', src)
assert objs and all(o in out for o in objs), len(objs)
PY
nid=$(ls "$M/docstore" | head -1); nid=${nid%.json}
for f in "$FIX"/*.json; do
	check "persist/$(basename "$f") re-exports byte for byte (the whole file)" cmp "$f" "$M/persist/$(basename "$f")"
done
check "the index id LlamaIndex saved is the store's" grep -q '"fixture-index"' "$M/.ragfs/config.json"
check "an imported node is found by its own vector" bash -c "python3 -c \"import struct,json; v=struct.unpack('<64f', open('$M/vector_store/$nid.f32','rb').read()); print(json.dumps({'embedding': list(v), 'top_k': 1}))\" > '$M/query/own' && grep -q '\"node_id\": \"$nid\"' '$M/query/own'"
before=$(python3 -c "import json; print(json.load(open('$M/.ragfs/status.json'))['nodes'])")
rumount; rmount -o embed=none,dim=64
for f in "$FIX"/*.json; do
	check "after a remount, persist/$(basename "$f") is still byte for byte" cmp "$f" "$M/persist/$(basename "$f")"
done
is "$(pyerr write "$M/persist/docstore.json" '{"docstore/data": {"x": ')" "EINVAL" "a malformed persist file is refused"
is "$(pyerr write "$M/persist/default__vector_store.json" '{"embedding_dict": {"x": [1, 2]}}')" "EINVAL" "a vector of the wrong dimension is refused"
is "$(python3 -c "import json; print(json.load(open('$M/.ragfs/status.json'))['nodes'])")" "$before" "refused imports change nothing"
check "and are in errors.log" grep -q "persist/default__vector_store.json EINVAL: import refused" "$M/.ragfs/errors.log"
rumount; ok $? "unmount exits 0"

# Import: a persist dir LlamaIndex.TS wrote, copied into persist-ts/.
TSFIX="$HERE/fixtures/persist/ts"
use_store store3
rmount -o embed=none,dim=64
check "cp of a LlamaIndex.TS persist dir into persist-ts/" cp "$TSFIX"/*.json "$M/persist-ts/"
check "TS nodes and vectors imported, without embedding" python3 - "$M" "$TSFIX" <<'PY'
import json, sys
m, fix = sys.argv[1], sys.argv[2]
st = json.load(open(f"{m}/.ragfs/status.json"))
want = json.load(open(f"{fix}/doc_store.json"))["docstore/data"]
assert st["nodes"] == len(want) and st["vectors"] == len(want), st
for nid, wrapped in want.items():
    got = json.load(open(f"{m}/docstore/{nid}.json"))
    ts = json.loads(wrapped["__data__"])
    assert got["id_"] == nid and got["text"] == ts["text"] and got["metadata"] == ts["metadata"], nid
PY
check "the persist-ts/ re-export has the same JSON objects byte for byte" python3 - "$M" "$TSFIX" <<'PY'
import json, sys
m, fix = sys.argv[1], sys.argv[2]
def objs(path, *keys):
    o = json.load(open(path))
    for k in keys:
        o = o[k] if k is not None else next(iter(o.values()))
    return {k: json.dumps(v, ensure_ascii=False, separators=(",", ":")) for k, v in o.items()}
for name, keys in (("doc_store.json", ("docstore/data",)), ("doc_store.json", ("docstore/metadata",)),
                   ("doc_store.json", ("docstore/ref_doc_info",)), ("vector_store.json", ("embeddingDict",)),
                   ("vector_store.json", ("metadataDict",)), ("index_store.json", ("docstore/data", None, "nodesDict"))):
    a, b = objs(f"{fix}/{name}", *keys), objs(f"{m}/persist-ts/{name}", *keys)
    assert a == b, (name, keys, [k for k in a if a[k] != b.get(k)][:3])
PY
for f in "$TSFIX"/*.json; do
	check "persist-ts/$(basename "$f") re-exports byte for byte (the whole file)" cmp "$f" "$M/persist-ts/$(basename "$f")"
done
check "the persist/ export of the TS import loads in LlamaIndex's way" python3 "$HERE/persist_py_check.py" "$M/persist"
before=$(stat -c %s "$M/persist-ts/doc_store.json")
check "importing the same files again changes nothing" bash -c "cp '$TSFIX'/*.json '$M/persist-ts/' && test \$(stat -c %s '$M/persist-ts/doc_store.json') = $before"
is "$(pyerr write "$M/persist-ts/vector_store.json" '{"embeddingDict": {"x": [1, 2]}}')" "EINVAL" "a TS vector of the wrong dimension is refused"
is "$(pyerr write "$M/persist-ts/docstore.json" '{}')" "EINVAL" "other names in persist-ts/ are refused"
rumount; ok $? "unmount exits 0"
done_testing
