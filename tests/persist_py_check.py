#!/usr/bin/env python3
"""Load a LlamaIndex (Python) persist dir the way llama-index-core does and
check that every id resolves.  Debian python3 only (no llama-index needed).

    python3 tests/persist_py_check.py PERSIST_DIR [--index-id ID] [--no-dialect]

What it mirrors (llama-index-core 0.12, see reference/llamaindex-format.md):
  * SimpleKVStore.from_persist_path: json.load of docstore.json and
    index_store.json (both required), collections -> {key: dict}.
  * docstore/utils.json_to_doc: "__type__" "1".."4" ("5" and others raise),
    "__data__" an object; the legacy path when it holds "extra_info".
  * index_store/utils.json_to_index_struct: "__data__" a JSON string
    (from_json) or, on TypeError, an object (from_dict).
  * SimpleVectorStore.from_namespaced_persist_dir: os.listdir, every name
    ending in "vector_store.json" is a store, namespace = name.split("__")[0]
    ("vector_store.json" alone is "default"); on any error only the default
    store is loaded (reported here as a failure: the image store is lost).
  * load_index_from_storage: one struct, or --index-id; retrieval maps each
    vector id through nodes_dict (KeyError if absent) to docstore nodes.
  * text_id_to_ref_doc_id / metadata_dict entries for every vector.
With the dialect check (default), every file must also equal
json.dumps(json.load(file)): the bytes Python itself would write.

Exit status: 0 all resolved, 1 some check failed, 2 the dir cannot be loaded.
"""
import json
import os
import sys

NODE_TYPES = {"1": "TextNode", "2": "ImageNode", "3": "IndexNode", "4": "Document"}
STRUCT_TYPES = {"vector_store", "list", "keyword_table", "tree", "kg",
                "document_summary", "sql", "pandas", "empty", "multimodal",
                "simple_lpg"}

errors = []


def fail(msg):
    errors.append(msg)
    print("FAIL: " + msg)


def load_json(path, dialect):
    with open(path, "rb") as f:
        raw = f.read()
    obj = json.loads(raw)   # NaN/Infinity allowed, as json.load does
    if dialect:
        again = json.dumps(obj).encode()
        if again != raw:
            i = next((k for k in range(min(len(raw), len(again))) if raw[k] != again[k]),
                     min(len(raw), len(again)))
            fail("%s: not in json.dumps dialect at byte %d: %r vs %r"
                 % (os.path.basename(path), i, raw[i:i + 40], again[i:i + 40]))
    return obj


def kv_collections(obj, name):
    if not isinstance(obj, dict):
        raise ValueError("%s: not a JSON object" % name)
    for coll, entries in obj.items():
        if not isinstance(entries, dict):
            raise ValueError("%s: collection %s is not an object" % (name, coll))
        for key, val in entries.items():
            if not isinstance(val, dict):
                raise ValueError("%s: %s/%s is not an object" % (name, coll, key))
    return obj


def check_docstore(ds):
    nodes = {}
    for key, w in ds.get("docstore/data", {}).items():
        t = w.get("__type__")
        data = w.get("__data__")
        if not isinstance(data, dict):
            fail("docstore/data/%s: __data__ is not an object" % key)
            continue
        if "extra_info" in data:          # legacy 0.6 schema
            nid = data.get("doc_id")
        else:
            if str(t) not in NODE_TYPES:
                fail("docstore/data/%s: __type__ %r is not loadable" % (key, t))
                continue
            if str(t) == "4" and "text" not in data and "text_resource" not in data:
                fail("docstore/data/%s: Document without text or text_resource" % key)
            nid = data.get("id_")
        if nid != key:
            fail("docstore/data/%s: id_ is %r" % (key, nid))
        rels = data.get("relationships", {})
        if not isinstance(rels, dict):
            fail("docstore/data/%s: relationships is not an object" % key)
            rels = {}
        for rk, rv in rels.items():
            for r in (rv if isinstance(rv, list) else [rv]):
                if isinstance(r, dict) and "node_id" not in r:
                    fail("docstore/data/%s: relationship %s has no node_id" % (key, rk))
        nodes[key] = data
    for key, m in ds.get("docstore/metadata", {}).items():
        if "doc_hash" not in m:
            fail("docstore/metadata/%s: no doc_hash" % key)
    for doc, info in ds.get("docstore/ref_doc_info", {}).items():
        ids = info.get("node_ids", info.get("doc_ids"))
        if not isinstance(ids, list):
            fail("docstore/ref_doc_info/%s: no node_ids list" % doc)
            continue
        for nid in ids:                   # get_ref_doc_info -> get_nodes
            if nid not in nodes:
                fail("docstore/ref_doc_info/%s: node %s is not in docstore/data" % (doc, nid))
    return nodes


def check_index_store(ist):
    structs = {}
    for sid, w in ist.get("index_store/data", {}).items():
        t, data = w.get("__type__"), w.get("__data__")
        if t not in STRUCT_TYPES:
            fail("index_store/data/%s: unknown __type__ %r" % (sid, t))
            continue
        if isinstance(data, str):         # cls.from_json(str)
            try:
                data = json.loads(data)
            except ValueError as e:
                fail("index_store/data/%s: __data__ string is not JSON: %s" % (sid, e))
                continue
        if not isinstance(data, dict):
            fail("index_store/data/%s: __data__ is neither a JSON string nor an object" % sid)
            continue
        if data.get("index_id") != sid:
            fail("index_store/data/%s: index_id is %r" % (sid, data.get("index_id")))
        structs[sid] = (t, data)
    return structs


def load_vector_stores(d, dialect):
    names = sorted(n for n in os.listdir(d) if n.endswith("vector_store.json"))
    stores = {}
    for n in names:
        ns = "default" if n == "vector_store.json" else n.split("__")[0]
        path = os.path.join(d, ns + "__vector_store.json")
        if n != "vector_store.json" and not os.path.exists(path):
            fail("%s: namespace %r has no %s (the loader falls back to default only)"
                 % (n, ns, os.path.basename(path)))
            continue
        if n == "vector_store.json":
            path = os.path.join(d, n)
        try:
            vs = load_json(path, dialect)
        except ValueError as e:
            fail("%s: %s (the loader falls back to default only)" % (n, e))
            continue
        if not isinstance(vs, dict) or not isinstance(vs.get("embedding_dict"), dict):
            fail("%s: no embedding_dict" % n)
            continue
        stores[ns] = vs
    return stores


def check_vectors(ns, vs, nodes):
    emb = vs["embedding_dict"]
    t2r = vs.get("text_id_to_ref_doc_id", {})
    meta = vs.get("metadata_dict")
    dims = set()
    for vid, e in emb.items():
        if not isinstance(e, list) or not all(isinstance(x, (int, float)) and
                                              not isinstance(x, bool) for x in e):
            fail("%s: embedding of %s is not a list of numbers" % (ns, vid))
            continue
        dims.add(len(e))
        if vid not in t2r:
            fail("%s: %s has no text_id_to_ref_doc_id entry" % (ns, vid))
        if meta is not None and vid not in meta:
            fail("%s: %s has no metadata_dict entry (filters would KeyError)" % (ns, vid))
        elif meta is not None:
            m = meta[vid]
            for k in ("_node_type", "document_id", "doc_id", "ref_doc_id"):
                if k not in m:
                    fail("%s: metadata_dict/%s lacks %s" % (ns, vid, k))
            node = nodes.get(vid)
            ref = t2r.get(vid)
            if node is not None:
                src = (node.get("relationships") or {}).get("1")
                want = (src.get("node_id") if isinstance(src, dict) else src) or "None"
                if ref != want:
                    fail("%s: text_id_to_ref_doc_id/%s is %r, node says %r"
                         % (ns, vid, ref, want))
    if len(dims) > 1:
        fail("%s: embeddings of different sizes %s" % (ns, sorted(dims)))
    for vid in t2r:
        if vid not in emb:
            fail("%s: text_id_to_ref_doc_id/%s has no embedding" % (ns, vid))
    return dims


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    dialect = "--no-dialect" not in argv
    index_id = argv[argv.index("--index-id") + 1] if "--index-id" in argv else None
    if index_id in args:
        args.remove(index_id)
    if len(args) != 1:
        print(__doc__.strip().splitlines()[3])
        return 2
    d = args[0]
    try:
        ds = kv_collections(load_json(os.path.join(d, "docstore.json"), dialect),
                            "docstore.json")
        ist = kv_collections(load_json(os.path.join(d, "index_store.json"), dialect),
                             "index_store.json")
    except (OSError, ValueError) as e:
        print("cannot load %s: %s" % (d, e))
        return 2
    gpath = os.path.join(d, "graph_store.json")
    if os.path.exists(gpath):
        g = load_json(gpath, dialect)
        if not isinstance(g, dict) or not isinstance(g.get("graph_dict", {}), dict):
            fail("graph_store.json: no graph_dict object")

    nodes = check_docstore(ds)
    structs = check_index_store(ist)
    stores = load_vector_stores(d, dialect)
    if "default" not in stores:
        fail("no default vector store")
    for ns, vs in stores.items():
        check_vectors(ns, vs, nodes)

    if index_id is None:
        if len(structs) != 1:
            fail("%d index structs: load_index_from_storage needs --index-id" % len(structs))
        ids = list(structs)
    else:
        ids = [index_id] if index_id in structs else []
        if not ids:
            fail("index %s is not in index_store.json" % index_id)
    emb = stores.get("default", {}).get("embedding_dict", {})
    for sid in ids:
        t, data = structs[sid]
        if t != "vector_store":
            continue
        nd = data.get("nodes_dict", {})
        for vid in emb:                   # every query hit goes through nodes_dict
            if vid not in nd:
                fail("index %s: vector %s is not in nodes_dict (KeyError on retrieval)"
                     % (sid, vid))
            elif nd[vid] not in nodes:
                fail("index %s: nodes_dict/%s -> %s is not in docstore/data"
                     % (sid, vid, nd[vid]))
        for vid in nd:
            if vid not in emb:
                fail("index %s: nodes_dict/%s has no vector" % (sid, vid))

    n_vec = sum(len(v["embedding_dict"]) for v in stores.values())
    print("%s: %d nodes, %d index structs, %d vector stores (%s), %d vectors: %s"
          % (d, len(nodes), len(structs), len(stores), ", ".join(sorted(stores)), n_vec,
             "%d problems" % len(errors) if errors else "all ids resolve"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
