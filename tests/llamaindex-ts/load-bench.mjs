// Time LlamaIndex.TS loading a persist dir and answering one query.
// Usage: node load-bench.mjs DIR
// Prints one JSON line: {"nodes", "load_ms", "query_ms", "max_rss_kb"} or
// {"error": "..."} (e.g. a file past V8's string length limit).
// Used by scripts/bench-persist.sh, beside ragfs importing the same files.
import { VectorStoreIndex, storageContextFromDefaults, Settings, BaseEmbedding } from "llamaindex";
const out = (s) => process.stdout.write(s + "\n");
console.log = (...a) => console.error(...a);

class NoEmbedding extends BaseEmbedding {
  async getTextEmbedding() { throw new Error("load-bench.mjs: no embedding model"); }
}
Settings.embedModel = new NoEmbedding();
try {
  const t0 = performance.now();
  const sc = await storageContextFromDefaults({ persistDir: process.argv[2] });
  const index = await VectorStoreIndex.init({ storageContext: sc });
  const t1 = performance.now();
  const vs = sc.vectorStores.TEXT;
  const ids = Object.keys(vs.data.embeddingDict);
  const q = vs.data.embeddingDict[ids[0]];
  const r = await vs.query({ queryEmbedding: q, similarityTopK: 10, mode: "default" });
  const t2 = performance.now();
  if (r.ids[0] !== ids[0] || !index.indexStruct.nodesDict[ids[0]])
    throw new Error("the first node is not its own nearest neighbour");
  out(JSON.stringify({ nodes: ids.length, load_ms: t1 - t0, query_ms: t2 - t1,
                       max_rss_kb: process.resourceUsage().maxRSS }));
} catch (e) {
  out(JSON.stringify({ error: String(e.message || e).slice(0, 120),
                       max_rss_kb: process.resourceUsage().maxRSS }));
}
