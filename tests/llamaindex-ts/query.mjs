// Load a LlamaIndex.TS persist dir and retrieve; print JSON of ids and scores.
// Usage:
//   node query.mjs DIR --topk K --queries FILE [--dim D]
//       FILE is a JSON list of question strings; each goes through
//       index.asRetriever({similarityTopK: K}).retrieve() with the hash
//       embedding (so DIR's vectors must come from the same embedding)
//   node query.mjs DIR --topk K --by-node [ID,ID,...]
//       query the vector store with the stored embedding of each node (all
//       nodes when no list is given); no embedding model is used, so this
//       works on any dir
// Output: {"dir", "topk", "results": [{"query"|"node", "embedding", "hits":
//          [{"id", "score", "text_len"}]}]}; every hit is looked up in the
//          index struct's nodesDict as TS's retriever does.
import fs from "node:fs";
import { VectorStoreIndex, storageContextFromDefaults, Settings, BaseEmbedding, MetadataMode } from "llamaindex";
import { HashEmbedding } from "./hash-embedding.mjs";
// TS logs progress on stdout ("Starting new store from path"), partly through
// console.log bound before this runs: the result is one line starting with "{"
const out = (s) => process.stdout.write(s + "\n");
console.log = (...a) => console.error(...a);

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length && !process.argv[i + 1].startsWith("--")
    ? process.argv[i + 1] : dflt;
}
const dir = process.argv[2];
const topk = Number(arg("--topk", "3"));
const dim = Number(arg("--dim", "64"));
const byNode = process.argv.includes("--by-node");

class NoEmbedding extends BaseEmbedding {
  async getTextEmbedding() { throw new Error("query.mjs --by-node: no embedding model"); }
}
Settings.embedModel = byNode ? new NoEmbedding() : new HashEmbedding(dim);
const sc = await storageContextFromDefaults({ persistDir: dir });
const index = await VectorStoreIndex.init({ storageContext: sc });
const nodesDict = index.indexStruct.nodesDict;
const vs = sc.vectorStores.TEXT;
const results = [];

function hit(id, score) {
  const n = nodesDict[id];
  return { id, score, text_len: n ? n.getContent(MetadataMode.NONE).length : null };
}

if (byNode) {
  const list = arg("--by-node", null);
  const ids = list ? list.split(",") : Object.keys(vs.data.embeddingDict).sort();
  for (const id of ids) {
    const q = vs.data.embeddingDict[id];
    if (!q) { results.push({ node: id, error: "no embedding" }); continue; }
    const r = await vs.query({ queryEmbedding: q, similarityTopK: topk, mode: "default" });
    results.push({ node: id, embedding: q, hits: r.ids.map((x, i) => hit(x, r.similarities[i])) });
  }
} else {
  const queries = JSON.parse(fs.readFileSync(arg("--queries"), "utf8"));
  const retriever = index.asRetriever({ similarityTopK: topk });
  for (const q of queries) {
    const r = await retriever.retrieve({ query: q });
    const e = await Settings.embedModel.getTextEmbedding(q);
    results.push({ query: q, embedding: e, hits: r.map((x) => hit(x.node.id_, x.score)) });
  }
}
out(JSON.stringify({ dir, topk, results }));
