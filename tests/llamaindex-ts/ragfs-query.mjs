// Ask ragfs the queries of a query.mjs result, by embedding, through its
// query/ folder, and print the answers in query.mjs's format.
// Usage: node ragfs-query.mjs MOUNT QUERY_MJS_OUTPUT.json
// Each query is written as {"query", "embedding", "top_k"} to
// MOUNT/query/ts-<i> and its results (node_id, score) read back.
import fs from "node:fs";
import path from "node:path";

const [mount, file] = process.argv.slice(2);
const ts = JSON.parse(fs.readFileSync(file, "utf8"));
const results = [];
ts.results.forEach((q, i) => {
  const p = path.join(mount, "query", `ts-${i}`);
  const req = { query: q.query ?? `node ${q.node}`, embedding: q.embedding, top_k: ts.topk };
  fs.writeFileSync(p, JSON.stringify(req));
  const ans = JSON.parse(fs.readFileSync(p, "utf8"));
  if (ans.error) {
    results.push({ ...q, hits: [], error: ans.error });
  } else {
    results.push({ query: q.query, node: q.node, hits: ans.results.map((h) => ({ id: h.node_id, score: h.score })) });
  }
  fs.unlinkSync(p);
});
console.log(JSON.stringify({ dir: `${mount} (query/)`, topk: ts.topk, results }));
