#!/usr/bin/env bash
# query/ and search/: plain and JSON queries, MetadataFilters (every
# operator, and/or, nested), .txt rendering, one read-write descriptor,
# search/ file names, bad queries, and the other stores' files.
. "$(dirname "$0")/lib.sh"
setup
rmount -o chunk_size=64,chunk_overlap=8
mkdir -p "$MNT/docs/animals" "$MNT/docs/tech"
echo "The red fox jumps over the lazy dog in the forest." > "$MNT/docs/animals/fox.txt"
echo "Penguins swim in cold Antarctic water and eat fish." > "$MNT/docs/animals/penguin.md"
echo "Configure the R2 bucket endpoint and access keys for S3 storage." > "$MNT/docs/tech/r2.txt"
echo "Compile C code with meson and ninja; run the unit tests." > "$MNT/docs/tech/build.md"

echo "how do I configure R2?" > "$MNT/query/q1"
check "plain query: best hit is the R2 doc" python3 -c "
import json; r=json.load(open('$MNT/query/q1'))
assert r['results'][0]['ref_doc_id']=='tech/r2.txt', r
assert r['query']=='how do I configure R2?' and 'took_ms' in r"
check "stat reports the true size of a computed result" python3 -c "
import os; d=open('$MNT/query/q1','rb').read(); assert os.stat('$MNT/query/q1').st_size==len(d)"
check "a query is recomputed on every open" bash -c "
echo 'Penguins Antarctic fish' > '$MNT/docs/tech/r2.txt'; ! grep -q '\"tech/r2.txt\"' <(python3 -c \"import json;print(json.load(open('$MNT/query/q1'))['results'][0]['ref_doc_id'])\")"
echo "Configure the R2 bucket endpoint and access keys for S3 storage." > "$MNT/docs/tech/r2.txt"

echo "penguins fish" > "$MNT/query/q2.txt"
check ".txt renders text for people" bash -c "head -1 '$MNT/query/q2.txt' | grep -q '^query: penguins fish' && grep -q '1\\. .*animals/penguin.md' '$MNT/query/q2.txt'"
check "search/<text> runs a one-line query" bash -c "grep -q '\"ref_doc_id\": \"tech/build.md\"' '$MNT/search/compile with meson'"
check "search/<text>.txt renders text" bash -c "grep -q 'animals/fox.txt' '$MNT/search/red fox.txt'"
check "search/ lists nothing" test -z "$(ls "$MNT/search")"

cat > "$WORK/filters.py" <<'PY'
import json, os, sys
m = sys.argv[1]
n = [0]
def tap(cond, msg):
    n[0] += 1
    print(("ok" if cond else "not ok"), msg)
def q(req, name="qf.json"):
    with open(f"{m}/query/{name}", "w") as f:
        f.write(json.dumps(req))
    with open(f"{m}/query/{name}") as f:
        return json.load(f)
def docs(req):
    r = q(req)
    if "error" in r:
        return ("error", r["error"]["errno"])
    return sorted(h["ref_doc_id"] for h in r["results"])
base = {"query": "the", "top_k": 10}
def f(key, op, value, **kw):
    return dict(base, filters={"filters": [{"key": key, "operator": op, "value": value}], **kw})
all4 = ["animals/fox.txt", "animals/penguin.md", "tech/build.md", "tech/r2.txt"]
cases = [
    ("==", f("file_name", "==", "fox.txt"), ["animals/fox.txt"]),
    ("!=", f("file_name", "!=", "fox.txt"), all4[1:]),
    (">", f("file_size", ">", 55), ["tech/build.md", "tech/r2.txt"]),
    (">=", f("file_size", ">=", 1), all4),
    ("<", f("file_size", "<", 52), ["animals/fox.txt"]),
    ("<=", f("file_size", "<=", 51), ["animals/fox.txt"]),
    ("in", f("file_name", "in", ["fox.txt", "r2.txt"]), ["animals/fox.txt", "tech/r2.txt"]),
    ("nin", f("file_name", "nin", ["fox.txt", "r2.txt"]), ["animals/penguin.md", "tech/build.md"]),
    ("contains (substring)", f("file_path", "contains", "tech/"), ["tech/build.md", "tech/r2.txt"]),
    ("text_match (case-insensitive)", f("file_name", "text_match", "PENGUIN"), ["animals/penguin.md"]),
    ("any", f("file_type", "any", ["text/markdown"]), ["animals/penguin.md", "tech/build.md"]),
    ("all", f("file_type", "all", ["text/plain"]), ["animals/fox.txt", "tech/r2.txt"]),
    ("is_empty on a missing key", f("nope", "is_empty", None), all4),
    ("missing key fails ==", f("nope", "==", "x"), []),
    ("or", dict(base, filters={"condition": "or", "filters": [
        {"key": "file_name", "operator": "==", "value": "fox.txt"},
        {"key": "file_name", "operator": "==", "value": "r2.txt"}]}), ["animals/fox.txt", "tech/r2.txt"]),
    ("and + nested or", dict(base, filters={"condition": "and", "filters": [
        {"key": "file_type", "operator": "==", "value": "text/markdown"},
        {"condition": "or", "filters": [
            {"key": "file_name", "operator": "==", "value": "build.md"},
            {"key": "file_name", "operator": "==", "value": "fox.txt"}]}]}), ["tech/build.md"]),
    ("unknown operator is an error", f("file_name", "~", "x"), ("error", "EINVAL")),
    ("doc_ids restricts", dict(base, doc_ids=["tech/r2.txt"]), ["tech/r2.txt"]),
]
for name, req, want in cases:
    got = docs(req)
    tap(got == want, f"- filter {name}: {got}")
# Modes beyond default: BM25 text, hybrid fusion, MMR.
r = q({"query": "Antarctic penguins", "mode": "text", "top_k": 2})
tap(r["mode"] == "text" and r["results"][0]["ref_doc_id"] == "animals/penguin.md", "- mode text (BM25) finds the penguin doc")
r = q({"query": "meson ninja compile", "mode": "hybrid", "top_k": 2})
tap(r["results"][0]["ref_doc_id"] == "tech/build.md", "- mode hybrid finds the build doc")
r = q({"query": "fox forest", "mode": "mmr", "top_k": 3, "mmr_threshold": 0.7})
tap(len(r["results"]) == 3 and r["results"][0]["ref_doc_id"] == "animals/fox.txt", "- mode mmr returns diverse results, best first")
# node_ids and embedding queries
r = q({"query": "fox", "top_k": 1})
nid = r["results"][0]["node_id"]
vec = open(f"{m}/vector_store/{nid}.f32", "rb").read()
import struct
emb = list(struct.unpack(f"<{len(vec)//4}f", vec))
r2 = q({"embedding": emb, "top_k": 1})
tap(r2["results"][0]["node_id"] == nid and abs(r2["results"][0]["score"] - 1) < 1e-5,
    "- query by a node's own embedding finds it with score 1")
tap(docs(dict(base, node_ids=[nid])) == ["animals/fox.txt"], "- node_ids restricts")
r3 = q({"embedding": [1.0, 2.0]})
tap("error" in r3 and r3["error"]["errno"] == "EINVAL", "- wrong embedding size reads back as an error")
r4 = q({"query": "x", "top_k": 0})
tap(r4["results"] == [], "- top_k 0 returns nothing")
# One descriptor, read-write: write a query, read its results.
fd = os.open(f"{m}/query/rw", os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b"penguins swim")
os.lseek(fd, 0, 0)
out = b""
while True:
    b = os.read(fd, 65536)
    if not b:
        break
    out += b
os.close(fd)
r = json.loads(out)
tap(r["results"][0]["ref_doc_id"] == "animals/penguin.md", "- read-write descriptor: write then read results")
with open(f"{m}/query/bad", "w") as fh:
    fh.write('{"query": "x", "top_k": "many"}')
r = json.load(open(f"{m}/query/bad"))
tap(r["error"]["errno"] == "EINVAL" and "top_k" in r["error"]["message"], "- bad query JSON reads back as an error object")
errs = open(f"{m}/.ragfs/errors.log").read()
tap("query/bad" in errs, "- the bad query is in errors.log")
print(f"# python checks: {n[0]}")
PY
# Python prints "ok - msg" / "not ok - msg": count them as our own checks.
while IFS= read -r line; do
	case $line in
	"ok - "*) ok 0 "${line#ok - }" ;;
	"not ok - "*) ok 1 "${line#not ok - }" ;;
	*) echo "# $line" ;;
	esac
done < <(python3 "$WORK/filters.py" "$MNT" 2>&1)
done_testing
