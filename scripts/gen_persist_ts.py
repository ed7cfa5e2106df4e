#!/usr/bin/env python3
"""scripts/gen_persist_ts.py - a LlamaIndex.TS persist dir of N nodes, fast.

  gen_persist_ts.py OUTDIR N [DIM]

Writes doc_store.json, index_store.json and vector_store.json in the shape
and number format LlamaIndex.TS 0.12 writes them (compact JSON, "__data__"
as a JSON string, camelCase, JS Number#toString for floats): one document
per 10 nodes, each node a TextNode with a SOURCE relationship, metadata of
a few kinds, and a float32 embedding (values a float32 widened to double,
as TS's embeddings are). Seeded, so the bytes are reproducible. Used by
scripts/bench-persist.sh to time imports and exports at 10k-100k nodes
without waiting for TS to build them (TS rewrites its files after every put).
"""
import base64
import decimal
import hashlib
import json
import os
import random
import struct
import sys


def js_num(x):
    """JavaScript's Number.prototype.toString for a finite double."""
    if x == 0:
        return "0"
    if x < 0:
        return "-" + js_num(-x)
    if 1e-4 <= x < 1e16 and x != int(x):
        return repr(x)  # Python and JS agree here (shortest round trip)
    t = decimal.Decimal(repr(x)).normalize().as_tuple()
    digits = "".join(map(str, t.digits))
    k = len(digits)
    n = k + t.exponent  # the decimal point sits after n digits
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    mant = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{mant}e{sign}{abs(e)}"


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def ts_hash(s):
    return base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()


def js_str(v):
    """String(v) in JavaScript, for the metadata kinds generated here."""
    if isinstance(v, list):
        return ",".join(js_str(x) for x in v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return js_num(float(v))
    return str(v)


def node_hash(text, meta, end):
    """TextNode.generateHash(): SHA-256 (base64) of the type, the char span
    and the metadata + text content (startCharIdx 0 counts as unset)."""
    m = "\n".join(f"{k}: {js_str(meta[k])}" for k in sorted(meta))
    content = (m.strip() + "\n\n" + text).strip()
    return ts_hash(f"type=TEXTstartCharIdx=undefined endCharIdx={js_num(float(end))}{content}")


def dumps(o):
    return json.dumps(o, ensure_ascii=False, separators=(",", ":"))


WORDS = ("storage bucket vector index query filter segment manifest journal "
         "flush cache node document embedding cosine kernel thread page "
         "object region endpoint retry latency throughput").split()


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    dim = int(sys.argv[3]) if len(sys.argv) > 3 else 384
    rng = random.Random(42)
    os.makedirs(out, exist_ok=True)
    per_doc = 10
    ndocs = (n + per_doc - 1) // per_doc
    docs = []
    for d in range(ndocs):
        meta = {"topic": WORDS[d % len(WORDS)], "year": 2000 + d % 25, "tags": ["bench", f"g{d % 7}"]}
        docs.append((f"doc-{d}", meta, ts_hash(f"doc-{d}")))
    nodes, vectors = [], []
    for i in range(n):
        doc_id, meta, dhash = docs[i // per_doc]
        text = " ".join(rng.choice(WORDS) for _ in range(24)) + "."
        node = {"id_": f"{doc_id}-n{i % per_doc}", "metadata": meta,
                "excludedEmbedMetadataKeys": [], "excludedLlmMetadataKeys": [],
                "relationships": {"SOURCE": {"nodeId": doc_id, "metadata": meta, "hash": dhash}},
                "text": text, "textTemplate": "", "endCharIdx": len(text),
                "metadataSeparator": "\n", "type": "TEXT", "hash": node_hash(text, meta, len(text))}
        vec = [f32(rng.gauss(0, 1) / dim ** 0.5) for _ in range(dim)]
        nodes.append(node)
        vectors.append(vec)

    with open(os.path.join(out, "doc_store.json"), "w", encoding="utf-8") as f:
        f.write('{"docstore/metadata":{')
        first = True
        for doc_id, _, dhash in docs:
            f.write(("" if first else ",") + dumps(doc_id) + ":" + dumps({"docHash": dhash}))
            first = False
        for nd in nodes:
            f.write("," + dumps(nd["id_"]) + ":" +
                    dumps({"docHash": nd["hash"], "refDocId": nd["relationships"]["SOURCE"]["nodeId"]}))
        f.write('},"docstore/data":{')
        for i, nd in enumerate(nodes):
            f.write(("," if i else "") + dumps(nd["id_"]) + ":" +
                    dumps({"__data__": dumps(nd), "__type__": "TEXT"}))
        f.write('},"docstore/ref_doc_info":{')
        for d, (doc_id, _, _) in enumerate(docs):
            ids = [nodes[j]["id_"] for j in range(d * per_doc, min(n, (d + 1) * per_doc))]
            f.write(("," if d else "") + dumps(doc_id) + ":" + dumps({"nodeIds": ids, "extraInfo": {}}))
        f.write("}}")

    with open(os.path.join(out, "vector_store.json"), "w", encoding="utf-8") as f:
        f.write('{"embeddingDict":{')
        for i, (nd, vec) in enumerate(zip(nodes, vectors)):
            f.write(("," if i else "") + dumps(nd["id_"]) + ":[" + ",".join(map(js_num, vec)) + "]")
        f.write('},"textIdToRefDocId":{')
        for i, nd in enumerate(nodes):
            f.write(("," if i else "") + dumps(nd["id_"]) + ":" + dumps(nd["relationships"]["SOURCE"]["nodeId"]))
        f.write('},"metadataDict":{')
        for i, nd in enumerate(nodes):
            ref = nd["relationships"]["SOURCE"]["nodeId"]
            m = dict(nd["metadata"], _node_type="TextNode", document_id=ref, doc_id=ref, ref_doc_id=ref)
            f.write(("," if i else "") + dumps(nd["id_"]) + ":" + dumps(m))
        f.write("}}")

    with open(os.path.join(out, "index_store.json"), "w", encoding="utf-8") as f:
        f.write('{"docstore/data":{"bench-index":{"indexId":"bench-index","nodesDict":{')
        for i, nd in enumerate(nodes):
            f.write(("," if i else "") + dumps(nd["id_"]) + ":" + dumps(nd))
        f.write('},"type":"simple_dict"}}}')


if __name__ == "__main__":
    main()
