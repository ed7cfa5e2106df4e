#!/usr/bin/env bash
# "mode": "ann" through the mount on a real corpus (licences and package
# copyright files, about 9,500 chunks, 2,800 distinct vectors): the HNSW
# graph is built in the background (status.json shows it); with ef past the
# graph's size its hits and scores are exactly the exact search's (ties
# included; also with filters, node_ids, after deletes, after a remount and
# after a rebuild), and at ef 64/256 recall@10 stays high; a document written
# a moment ago is found, deleted ones never are; ann_threshold switches
# default queries over; the graph file in cache_dir is mapped at remount
# without a rebuild, and a damaged one is refused and rebuilt.
. "$(dirname "$0")/lib.sh"
setup
ALLOW_LOG="ann: .*hnsw.bin refused"
CORPUS=$WORK/corpus
mkdir -p "$CORPUS/licenses" "$CORPUS/copyright"
cp /usr/share/common-licenses/* "$CORPUS/licenses/" 2>/dev/null
n=0
for f in /usr/share/doc/*/copyright; do
	cp "$f" "$CORPUS/copyright/$(basename "$(dirname "$f")").txt" 2>/dev/null && n=$((n + 1))
	[ "$n" -ge 120 ] && break
done
# The graph file is cache_dir's, never the store's: on s3:// the test's cache dir.
GRAPH=$STORE/.ragfs-local/hnsw.bin
[ "${RAGFS_TEST_S3:-0}" = 1 ] && GRAPH=$WORK/cache/hnsw.bin
OPTS=chunk_size=128,chunk_overlap=16,ann_threshold=1000000

cat > "$WORK/ann.py" <<'PY'
import json, os, random, sys, time
m, cmd = sys.argv[1], sys.argv[2]
QUERIES = ["GNU General Public License version 2", "copyright holders and contributors",
           "WITHOUT ANY WARRANTY implied warranty of merchantability", "Debian packaging",
           "BSD redistribution in source and binary forms", "Apache License Version 2.0",
           "permission is hereby granted free of charge", "Free Software Foundation Boston",
           "Artistic License Perl", "public domain dedication", "Mozilla Public License",
           "LGPL lesser general public", "upstream author", "the zlib license",
           "OpenSSL exception", "Creative Commons Attribution", "X Consortium MIT",
           "patent grant", "source code availability", "trademark"]

EXHAUSTIVE = 8192  # more than the graph's distinct vectors (checked)

def ask(req, name="a.json"):
    p = f"{m}/query/{name}"
    with open(p, "w") as f:
        json.dump(req, f)
    with open(p) as f:
        return json.load(f)

def status():
    return json.load(open(f"{m}/.ragfs/status.json"))

def hits(r):
    return [(h["node_id"], h["score"]) for h in r["results"]]

def near_vec(rng, ids):
    """An embedding query near the data: a stored vector plus noise (a
    random direction far from every vector is the one case where the graph
    misses neighbours at any practical ef, as every HNSW does)."""
    import struct
    raw = open(f"{m}/vector_store/{rng.choice(ids)}.f32", "rb").read()
    return [v + rng.gauss(0, 0.02) for v in struct.unpack(f"<{len(raw) // 4}f", raw)]

def same(a, e):
    """The same top hits: equal score lists, and equal ids wherever the
    score is not shared with another node (copyright files repeat the same
    paragraphs: among equal vectors the exact scan takes the smallest ids,
    the graph whichever it reaches; ties at the k-th score are not ids)."""
    sa, se = [s for _, s in a], [s for _, s in e]
    if sa != se:
        return False
    tied = {s for s in se if se.count(s) > 1} | {se[-1]} if se else set()
    return [i for i, s in a if s not in tied] == [i for i, s in e if s not in tied] and \
        sorted(i for i, s in a if s in tied and s != se[-1]) == \
        sorted(i for i, s in e if s in tied and s != se[-1])

def recall(a, e):
    """recall@k by score: an ann hit counts when it scores at least the
    exact k-th (equal vectors are interchangeable)."""
    return sum(s >= e[-1][1] for _, s in a) / len(e) if e else 1.0

def compare(extra, ef, label, want_index="hnsw", min_recall=None):
    """ann and exact agree on every query (min_recall: on average at
    least that recall@10 instead); the graph answered."""
    rng = random.Random(7)
    bad, used, rec = [], 0, []
    ids = sorted(l.strip() for l in open(f"{m}/vector_store/ids.txt") if l.strip())
    reqs = [dict(query=q) for q in QUERIES] + [dict(embedding=near_vec(rng, ids)) for _ in range(10)]
    for req in reqs:
        req = dict(req, top_k=10, **extra)
        a = ask(dict(req, mode="ann", ef=ef))
        e = ask(dict(req, mode="default"), "e.json")
        if "error" in a or "error" in e:
            bad.append(("error", a.get("error"), e.get("error")))
            continue
        used += a.get("index") == want_index
        rec.append(recall(hits(a), hits(e)))
        if rec[-1] < 1:
            print(f"#   recall {rec[-1]:.2f}: {req.get('query', 'embedding')!r}: "
                  f"ann {[round(s, 4) for _, s in hits(a)]} exact {[round(s, 4) for _, s in hits(e)]}")
        if min_recall is None and not same(hits(a), hits(e)):
            ha, he = hits(a), hits(e)
            i = next((i for i in range(min(len(ha), len(he))) if ha[i] != he[i]), 0)
            bad.append((req.get("query", "embedding"), i, ha[i:i + 2], he[i:i + 2]))
    r = sum(rec) / len(rec)
    print(f"# {label} (ef={ef}): {len(reqs)} queries, index={want_index} in {used}, "
          f"recall@10 {r:.4f}, {len(bad)} differ {bad[:2]}")
    return not bad and used == len(reqs) and (min_recall is None or r >= min_recall)

if cmd == "wait":  # wait for the graph: state ready and every vector in it
    want = sys.argv[3] if len(sys.argv) > 3 else "ready"
    for _ in range(900):
        s = status()
        a = s["ann"]
        if a["state"] == want and a["nodes"] == s["vectors"] and a["pending"] == 0:
            print(f"# graph {want}: {a['nodes']} nodes, {a['deleted']} deleted, "
                  f"file: {a['file_note']}")
            sys.exit(0)
        time.sleep(0.2)
    print("# gave up waiting:", status()["ann"])
    sys.exit(1)
if cmd == "small":  # the graph is smaller than EXHAUSTIVE, and holds fewer nodes than ids
    a = status()["ann"]
    print(f"# {a['nodes']} ids in {a['distinct']} distinct vectors")
    sys.exit(0 if a["distinct"] < EXHAUSTIVE and a["distinct"] < a["nodes"] else 1)
if cmd == "switched":  # a re-embedding to dim argv[3] finished (and the graph followed)
    dim = int(sys.argv[3])
    for _ in range(1500):
        s = status()
        a = s["ann"]
        if s["dim"] == dim and (s.get("reembed") or {}).get("state", "done") == "done" and \
                a["state"] == "off":
            print(f"# dim {s['dim']}: re-embedded, no graph")
            sys.exit(0)
        if s["dim"] == dim and (s.get("reembed") or {}).get("state", "done") == "done" and \
                a["state"] == "ready" and \
                a["nodes"] == s["vectors"] and a["pending"] == 0:
            print(f"# dim {s['dim']}: graph of {a['distinct']} distinct vectors, {a['nodes']} ids")
            sys.exit(0)
        time.sleep(0.2)
    print("# gave up waiting:", status().get("reembed"), status()["ann"])
    sys.exit(1)
if cmd == "truth":  # a brute force over vector_store/*.f32 (vecindex's formula) = ann, or
    # with argv[3] "default" the exact scan; 4 threads ask at once (batched scans)
    import struct
    f32 = lambda x: struct.unpack("<f", struct.pack("<f", x))[0]
    ids = sorted(l.strip() for l in open(f"{m}/vector_store/ids.txt") if l.strip())
    vec = {}
    for i in ids:
        raw = open(f"{m}/vector_store/{i}.f32", "rb").read()
        vec[i] = struct.unpack(f"<{len(raw) // 4}f", raw)
    def cos(r, q, qn):
        d = rr = 0.0
        for a, b in zip(r, q):
            d += a * b
            rr += a * a
        return f32(d / (rr ** 0.5 * qn)) if rr and qn else 0.0
    mode = sys.argv[3] if len(sys.argv) > 3 else "ann"
    req = dict(mode="ann", ef=EXHAUSTIVE) if mode == "ann" else dict(mode=mode)
    index = "hnsw" if mode == "ann" else "exact"
    bad = []
    def one(seed):
        rng = random.Random(seed)
        for k in range(5):
            q = [f32(v) for v in near_vec(rng, ids)]
            qn = sum(v * v for v in q) ** 0.5
            want = sorted(((cos(vec[i], q, qn), i) for i in ids), key=lambda t: (-t[0], t[1]))[:10]
            got = ask(dict(req, embedding=q, top_k=10), f"t{seed}.json")
            if [(h["score"], h["node_id"]) for h in got["results"]] != want or got.get("index", "exact") != index:
                bad.append((seed, k))
    import threading
    ts = [threading.Thread(target=one, args=(11 + t,)) for t in range(4)]
    for t in ts: t.start()
    for t in ts: t.join()
    print(f"# {mode}: {5 * len(ts)} embedding queries, {len(bad)} differ from the brute force")
    sys.exit(1 if bad else 0)
if cmd == "field":  # print status ann.<field>
    print(status()["ann"][sys.argv[3]])
elif cmd == "first":  # the first ann query of a store whose graph is off
    r = ask(dict(query=QUERIES[0], mode="ann", top_k=5))
    e = ask(dict(query=QUERIES[0], top_k=5), "e.json")
    sys.exit(0 if r.get("index") == "exact" and r["mode"] == "ann" and hits(r) == hits(e) else 1)
elif cmd == "same":  # exact equality: ef past the graph's size visits every node
    sys.exit(0 if compare({}, EXHAUSTIVE, "unfiltered") else 1)
elif cmd == "recall":  # the graph's quality at practical ef
    ok = compare({}, 64, "unfiltered", min_recall=0.90)
    ok &= compare({}, 256, "unfiltered", min_recall=0.93)
    sys.exit(0 if ok else 1)
elif cmd == "filtered":
    f = {"filters": {"filters": [{"key": "file_name", "operator": "nin",
                                  "value": ["bash.txt", "GPL-3"]}]}}
    ok = compare(f, EXHAUSTIVE, "filter (most pass)")
    ok &= compare(f, 64, "filter (most pass)", min_recall=0.90)
    # A filter that leaves a few rows: answered exactly (the metadata index).
    f2 = {"filters": {"filters": [{"key": "file_name", "operator": "==", "value": "GPL-2"}]}}
    ok &= compare(f2, 64, "filter (one document)", want_index="exact")
    ids = [h["node_id"] for h in ask(dict(query="license", top_k=40))["results"]][::3]
    ok &= compare({"node_ids": ids}, 64, "node_ids (a dozen)", want_index="exact")
    sys.exit(0 if ok else 1)
elif cmd == "auto":  # default mode on a store over the threshold uses the graph
    r = ask(dict(query=QUERIES[1], top_k=5))
    sys.exit(0 if r.get("index") == "hnsw" and r["mode"] == "default" and len(r["results"]) == 5 else 1)
elif cmd == "fresh":  # a document just written is found through the graph at once
    r = ask(dict(query="zyzzogeton quixotically flummoxed", mode="ann", top_k=3))
    ok = r.get("index") == "hnsw" and r["results"] and r["results"][0]["ref_doc_id"] == "fresh/new.txt"
    print("#", r.get("index"), [h["ref_doc_id"] for h in r["results"]])
    sys.exit(0 if ok else 1)
elif cmd == "gone":  # deleted documents never come back from the graph
    seen = {h["ref_doc_id"] for q in QUERIES
            for h in ask(dict(query=q, mode="ann", top_k=20))["results"]}
    bad = [d for d in seen if d.startswith("licenses/")]
    print("# hits from deleted documents:", bad[:3])
    sys.exit(0 if not bad else 1)
elif cmd == "bad":  # refused requests
    errs = [ask(dict(query="x", mode="ann", ef=e)).get("error", {}).get("errno") for e in (0, 1.5, 20000, "8")]
    errs.append(ask(dict(query="x", mode="annx")).get("error", {}).get("errno"))
    print("#", errs)
    sys.exit(0 if errs == ["EINVAL"] * 5 else 1)
PY
ann() { python3 "$WORK/ann.py" "$MNT" "$@"; }
shown() { # shown MESSAGE CMD...: like check, and the command's "# " lines go to the log
	local msg=$1 out st
	shift
	out=$("$@" 2>&1)
	st=$?
	printf '%s\n' "$out" | grep '^# ' || true
	ok $st "$msg"
}

for bad in ann_m=1 ann_m=500 ann_ef=20000; do
	out=$("$RAGFS" -f "${RAGFS_STORE_OPTS[@]}" -o "$bad" "$STORE" "$MNT" 2>&1)
	st=$?
	is "$st:$(grep -c 'ann_m must be 2..128 and ann_ef at most 10000' <<<"$out")" "1:1" \
	   "-o $bad: refused at mount with one line, exit 1"
done
rmount -o "$OPTS"
check "cp -r a real corpus" cp -r "$CORPUS/." "$MNT/docs/"
vectors=$(python3 -c "import json; print(json.load(open('$MNT/.ragfs/status.json'))['vectors'])")
diag "corpus: $(find "$CORPUS" -type f | wc -l) files, $vectors vectors"
check "more vectors than one graph batch" test "$vectors" -gt 2100
is "$(ann field state)" "off" "below ann_threshold the graph is off"
is "$(python3 -c "import json; c=json.load(open('$MNT/.ragfs/config.json')); print(c['ann_threshold'], c['ann_m'], c['ann_ef'])")" \
   "1000000 32 64" "config.json shows the ann options"
check "the first ann query switches it on and is answered exactly meanwhile" ann first
check "status shows the graph building, then ready with every vector" ann wait
is "$(ann field deleted)" "0" "no tombstones after the build"
shown "the graph indexes distinct vectors (fewer than the ids)" ann small
check "ann = exact (ef past the graph's size): same ids, same scores, 30 queries" ann same
shown "ann recall@10 by score >= 0.90 at ef=64, >= 0.93 at ef=256 (weak lexical matches)" ann recall
shown "ann with filters and node_ids = exact" ann filtered
check "bad ef or mode: EINVAL error objects" ann bad
mkdir -p "$MNT/docs/fresh"
echo "A zyzzogeton quixotically flummoxed the parser." > "$MNT/docs/fresh/new.txt"
check "a document written a moment ago is found through the graph" ann fresh
check "rm -r of a folder" rm -r "$MNT/docs/licenses"
check "deleted documents are never ann hits" ann gone
check "after deletes the graph catches up" ann wait
check "ann = exact after the deletes" ann same
rumount
st=$?
is "$st" 0 "unmount exits 0 (the graph file is written)"
[ "$st" = 0 ] || diag "$(tail -5 "$WORK/daemon.log")"
check "the graph file is in the cache dir" test -s "$GRAPH"

rmount -o "$OPTS"
check "remount: the graph file is mapped, not rebuilt" ann wait
check "remount: the graph says it came from the file" bash -c "python3 '$WORK/ann.py' '$MNT' field file_note | grep -q '^mapped [0-9]* nodes from the file'"
check "remount: ann = exact" ann same
shown "remount: recall as before" ann recall
rumount
ok $? "unmount"

# A damaged file: refused (checksum), rebuilt, still right.
python3 - "$GRAPH" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x55
open(p, "wb").write(b)
PY
rmount -o "$OPTS"
check "a damaged graph file is refused and rebuilt" ann wait
check "the note names the refusal" bash -c "python3 '$WORK/ann.py' '$MNT' field file_note | grep -q 'refused (checksum'"
check "ann = exact after the rebuild" ann same
rumount
ok $? "unmount"

# ann_threshold below the store's size: default queries go through the graph.
rmount -o chunk_size=96,chunk_overlap=16,ann_threshold=100
check "over the threshold: ready at mount" ann wait
check "default mode uses the graph over the threshold" ann auto
rumount
ok $? "unmount"

# A re-embedding to another dim switches the vector set: a new graph follows.
rmount -o chunk_size=128,chunk_overlap=16,ann_threshold=100,dim=128
shown "dim=128: re-embedded, and the graph rebuilt for the new vectors" ann switched 128
shown "ann = a brute force over vector_store/ on the re-embedded vectors" ann truth
rumount
ok $? "unmount"
# And the exact scan after a switch in the same mount (vecbatch, the filter
# index and the scan copies all follow the new vector set).
rmount -o chunk_size=128,chunk_overlap=16,ann_threshold=1000000,dim=64
shown "dim=64: re-embedded again, below the graph's threshold" ann switched 64
shown "exact = a brute force over vector_store/ after the switch (4 concurrent readers)" ann truth default
rumount
ok $? "unmount"
done_testing
