// Turn a LlamaIndex.TS persist dir into the files ragfs takes in its
// docstore/ and vector_store/ folders (README: docstore/<id>.json is a
// LlamaIndex node.dict(), optionally with an "embedding" list;
// vector_store/<id>.f32 is little-endian float32).
// Usage: node export-nodes.mjs TS_DIR OUT_DIR --embed [--dim D] | --f32
//   --embed : OUT/docstore/<id>.json with "embedding" computed now by the
//             hash embedding over the node's embed content (and checked
//             against the vector TS persisted)
//   --f32   : OUT/docstore/<id>.json without an embedding, plus
//             OUT/vector_store/<id>.f32 holding the vector TS persisted
// The node JSON is the Python (llama-index-core 0.12) node.dict() of the TS
// node, as the oracle's ts2py.py converts it, except that relationship
// hashes keep TS's base64 values (ragfs passes them through).
// Prints {"nodes": n, "order": [ids in TS insertion order]}.
import fs from "node:fs";
import path from "node:path";
import { VectorStoreIndex, storageContextFromDefaults, Settings, MetadataMode } from "llamaindex";
import { HashEmbedding } from "./hash-embedding.mjs";
// TS logs progress on stdout ("Starting new store from path"), partly through
// console.log bound before this runs: the result is one line starting with "{"
const out = (s) => process.stdout.write(s + "\n");
console.log = (...a) => console.error(...a);

const [tsDir, outDir] = process.argv.slice(2);
const mode = process.argv.includes("--f32") ? "f32" : "embed";
const di = process.argv.indexOf("--dim");
const dim = di > 0 ? Number(process.argv[di + 1]) : 64;

const REL = { SOURCE: "1", PREVIOUS: "2", NEXT: "3", PARENT: "4", CHILD: "5" };
const TYPE = { TEXT: "1", IMAGE: "2", INDEX: "3", DOCUMENT: "4", IMAGE_DOCUMENT: "4" };
const CLASS = { TEXT: "TextNode", IMAGE: "ImageNode", INDEX: "IndexNode", DOCUMENT: "Document" };

Settings.embedModel = new HashEmbedding(dim);
const sc = await storageContextFromDefaults({ persistDir: tsDir });
const index = await VectorStoreIndex.init({ storageContext: sc });
const nodesDict = index.indexStruct.nodesDict;
const emb = sc.vectorStores.TEXT.data.embeddingDict;
// the TS node JSON as persisted (what jsonToDoc would not give back whole)
const raw = JSON.parse(fs.readFileSync(path.join(tsDir, "index_store.json"), "utf8"));
const rawNodes = Object.values(raw["docstore/data"])[0].nodesDict;
const types = Object.fromEntries(Object.entries(rawNodes).map(([k, n]) => [k, n.type]));

function related(r) {
  return {
    node_id: r.nodeId,
    node_type: TYPE[types[r.nodeId] ?? "DOCUMENT"],
    metadata: r.metadata ?? {},
    hash: r.hash ?? null,
    class_name: "RelatedNodeInfo",
  };
}

function pyNode(n) {
  const rels = {};
  for (const [k, v] of Object.entries(n.relationships ?? {})) {
    rels[REL[k]] = Array.isArray(v) ? v.map(related) : related(v);
  }
  return {
    id_: n.id_,
    embedding: null,
    metadata: n.metadata ?? {},
    excluded_embed_metadata_keys: n.excludedEmbedMetadataKeys ?? [],
    excluded_llm_metadata_keys: n.excludedLlmMetadataKeys ?? [],
    relationships: rels,
    metadata_template: "{key}: {value}",
    metadata_separator: n.metadataSeparator ?? "\n",
    text: n.text ?? "",
    mimetype: "text/plain",
    start_char_idx: n.startCharIdx ?? ("endCharIdx" in n ? 0 : null),
    end_char_idx: n.endCharIdx ?? null,
    metadata_seperator: n.metadataSeparator ?? "\n",
    text_template: "{metadata_str}\n\n{content}",
    class_name: CLASS[n.type] ?? "TextNode",
  };
}

fs.mkdirSync(path.join(outDir, "docstore"), { recursive: true });
if (mode === "f32") fs.mkdirSync(path.join(outDir, "vector_store"), { recursive: true });
const order = Object.keys(emb);
let mismatched = [];
for (const id of order) {
  const py = pyNode(rawNodes[id]);
  if (mode === "embed") {
    const v = await Settings.embedModel.getTextEmbedding(nodesDict[id].getContent(MetadataMode.EMBED));
    if (v.length !== emb[id].length || v.some((x, i) => x !== emb[id][i])) mismatched.push(id);
    py.embedding = v;
  } else {
    const f = new Float32Array(emb[id]);
    fs.writeFileSync(path.join(outDir, "vector_store", `${id}.f32`), Buffer.from(f.buffer));
  }
  fs.writeFileSync(path.join(outDir, "docstore", `${id}.json`), JSON.stringify(py));
}
if (mismatched.length) {
  console.error(`hash embedding of ${mismatched.length} nodes differs from the persisted vector: ${mismatched.slice(0, 5)}`);
  process.exit(1);
}
out(JSON.stringify({ nodes: order.length, order }));
