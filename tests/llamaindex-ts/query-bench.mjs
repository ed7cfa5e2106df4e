// Time LlamaIndex.TS SimpleVectorStore answering single exact top-10
// queries over the matrix scripts/bench measures ragfs on.
// Usage: node query-bench.mjs WORKDIR N DIM [QUERIES]
//   WORKDIR holds bench/vecbench.c's data.f32 (N x DIM little-endian
//   float32, row i is node "node-%07d" as in bench/peers.py mount_run),
//   queries.f32 and truth.i32 (the true top-10 rows of the first 8 queries).
// The store is built once through store.add() of TextNodes holding plain
// number arrays (what TS holds after loading a persisted vector_store.json);
// its build time goes to stderr. Then one warm-up and QUERIES (default 10)
// timed store.query({queryEmbedding, similarityTopK: 10, mode: "default"}).
// Prints one TSV line in bench/peers.py's format:
//   llamats N 1 median_ms best_ms GB/s qps recall
import fs from "node:fs";
import path from "node:path";
import { SimpleVectorStore, TextNode, BaseEmbedding } from "llamaindex";
console.log = (...a) => console.error(...a); // TS logs progress on stdout

const NT = 8, K = 10;
const [work, ns, dims, nqs] = process.argv.slice(2);
const n = Number(ns), dim = Number(dims), nq = Number(nqs || 10);
if (!work || !(n > 0) || !(dim > 0)) {
  console.error("usage: node query-bench.mjs WORKDIR N DIM [QUERIES]");
  process.exit(2);
}

// One Float32Array view per file: no per-query parsing or copying.
function f32(name) {
  const b = fs.readFileSync(path.join(work, name));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}
const data = f32("data.f32"), queries = f32("queries.f32");
const tb = fs.readFileSync(path.join(work, "truth.i32"));
const truth = new Uint32Array(tb.buffer, tb.byteOffset, NT * K);
if (data.length !== n * dim) throw new Error(`data.f32 holds ${data.length / dim} rows, not ${n}`);

class NoEmbedding extends BaseEmbedding {
  async getTextEmbedding() { throw new Error("query-bench.mjs: no embedding model"); }
}
const id = (i) => "node-" + String(i).padStart(7, "0");
const row = (m, i) => Array.from(m.subarray(i * dim, (i + 1) * dim));

const t0 = performance.now();
const store = new SimpleVectorStore({ embedModel: new NoEmbedding() });
const nodes = [];
for (let i = 0; i < n; i++)
  nodes.push(new TextNode({ id_: id(i), text: "", embedding: row(data, i) }));
await store.add(nodes);
nodes.length = 0;
console.error(`query-bench: SimpleVectorStore of ${n} x ${dim} built in ` +
              `${((performance.now() - t0) / 1e3).toFixed(1)} s`);

const nqueries = queries.length / dim;
const ask = (qi) => store.query({ queryEmbedding: row(queries, qi % nqueries),
                                  similarityTopK: K, mode: "default" });
await ask(nqueries - 1); // warm-up
const ts = [];
let rec = 0;
for (let qi = 0; qi < Math.max(nq, NT); qi++) {
  const s = performance.now();
  const r = await ask(qi);
  if (qi < nq) ts.push(performance.now() - s);
  if (qi < NT) {
    const want = new Set(truth.subarray(qi * K, (qi + 1) * K));
    rec += r.ids.filter((x) => want.has(Number(x.split("-")[1]))).length / K;
  }
}
ts.sort((a, b) => a - b);
const med = ts.length % 2 ? ts[ts.length >> 1] : (ts[ts.length / 2 - 1] + ts[ts.length / 2]) / 2;
const gb = n * dim * 4 / 1e9;
process.stdout.write(["llamats", n, 1, med.toFixed(3), ts[0].toFixed(3), (gb / (med / 1e3)).toFixed(2),
                      (1e3 / med).toFixed(1), (rec / NT).toFixed(3)].join("\t") + "\n");
