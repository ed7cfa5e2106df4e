// Time LlamaIndex.TS ingesting a folder of text files the way ragfs does
// for `cp -r DIR MOUNT/docs/`: read every file, SentenceSplitter, embed each
// node with a lexical hash embedding like ragfs's built-in "hash" (same
// features, weights and dim, so the embedding work is comparable), build a
// VectorStoreIndex in memory and persist it to a plain directory.
// Usage: node ingest-bench.mjs CORPUS_DIR PERSIST_DIR [--dim 384]
//        [--chunk-size 1024] [--chunk-overlap 200]
// Prints one JSON line: {"docs", "nodes", "bytes", "ms", "persist_bytes",
// "read_ms", "split_ms", "index_ms", "persist_ms"} (the phases add up to ms).
// Used by scripts/bench-ingest.sh, beside ragfs ingesting the same files.
import fs from "node:fs";
import path from "node:path";
import {
  Document, VectorStoreIndex, storageContextFromDefaults, Settings, SentenceSplitter,
  BaseEmbedding,
} from "llamaindex";
const out = (s) => process.stdout.write(s + "\n");
console.log = (...a) => console.error(...a); // TS logs progress on stdout

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const [corpus, persistDir] = process.argv.slice(2, 4);
if (!corpus || !persistDir) {
  console.error("usage: node ingest-bench.mjs CORPUS_DIR PERSIST_DIR [--dim N] ...");
  process.exit(2);
}
const dim = Number(arg("--dim", "384"));
const chunkSize = Number(arg("--chunk-size", "1024"));
const chunkOverlap = Number(arg("--chunk-overlap", "200"));

// ragfs's "hash" embedder (store/embed.h) in JS: lower-cased words, word
// bigrams and code-point trigrams of "<word>", each feature hashed to a
// dimension and a sign, weighted (1 + ln tf) x 1 / 0.5 / 0.25, L2-normalised.
// The hash is 32-bit FNV-1a + murmur3's fmix32 (ragfs: 64-bit; BigInt would
// make JS pay for the emulation, not for the work).
const W = [0, 1, 0.5, 0.25];
function fnv(h, s) {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}
function fmix(h) {
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
class LexicalHashEmbedding extends BaseEmbedding {
  constructor(d) {
    super();
    this.dim = d;
    this.embedBatchSize = 64;
  }
  embedSync(text) {
    const counts = new Map();
    const add = (h, kind) => {
      const k = ((fmix(h) & ~3) | kind) >>> 0;
      counts.set(k, (counts.get(k) || 0) + 1);
    };
    const words = text.toLowerCase().match(/[a-z0-9\u0080-\uffff]+/g) || [];
    let prev = null;
    for (const w of words) {
      add(fnv(fnv(0x811c9dc5, "w"), w), 1);
      if (prev !== null) add(fnv(fnv(fnv(0x811c9dc5, "b"), prev), " " + w), 2);
      const cps = ["<", ...w, ">"];
      for (let i = 0; i + 2 < cps.length; i++)
        add(fnv(fnv(0x811c9dc5, "t"), cps[i] + cps[i + 1] + cps[i + 2]), 3);
      prev = w;
    }
    const acc = new Float64Array(this.dim);
    for (const [k, c] of counts) {
      const w = (1 + Math.log(c)) * W[k & 3];
      acc[(k >>> 8) % this.dim] += (k >>> 7) & 1 ? -w : w;
    }
    let n = 0;
    for (const x of acc) n += x * x;
    n = Math.sqrt(n);
    return Array.from(acc, (x) => (n > 0 ? Math.fround(x / n) : 0));
  }
  async getTextEmbedding(text) {
    return this.embedSync(text);
  }
}

function listFiles(dir) {
  const found = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) found.push(...listFiles(p));
    else if (e.isFile()) found.push(p);
  }
  return found.sort();
}

Settings.embedModel = new LexicalHashEmbedding(dim);
const t0 = performance.now();
const files = listFiles(corpus);
let bytes = 0;
const docs = files.map((f) => {
  const text = fs.readFileSync(f, "utf8");
  bytes += Buffer.byteLength(text);
  const rel = path.relative(corpus, f);
  return new Document({ id_: rel, text, metadata: { file_path: rel, file_name: path.basename(f) } });
});
// Settings.nodeParser does not reach VectorStoreIndex in llamaindex@0.12.1
// (tests/llamaindex-ts/build.mjs): split here.
const t1 = performance.now();
const splitter = new SentenceSplitter({ chunkSize, chunkOverlap });
const nodes = splitter.getNodesFromDocuments(docs);
const t2 = performance.now();
const storageContext = await storageContextFromDefaults({}); // in memory
await VectorStoreIndex.init({ nodes, storageContext }); // embeds every node
const t3 = performance.now();
fs.mkdirSync(persistDir, { recursive: true });
await storageContext.docStore.persist(path.join(persistDir, "doc_store.json"));
await storageContext.indexStore.persist(path.join(persistDir, "index_store.json"));
await storageContext.vectorStores.TEXT.persist(path.join(persistDir, "vector_store.json"));
// SimpleIndexStore.persist() may return before its write lands: wait for it.
while (!fs.existsSync(path.join(persistDir, "index_store.json")))
  await new Promise((r) => setTimeout(r, 5));
const ms = performance.now() - t0;
const persistBytes = fs.readdirSync(persistDir)
  .reduce((s, f) => s + fs.statSync(path.join(persistDir, f)).size, 0);
out(JSON.stringify({ docs: docs.length, nodes: nodes.length, bytes, ms, persist_bytes: persistBytes,
                     read_ms: t1 - t0, split_ms: t2 - t1, index_ms: t3 - t2,
                     persist_ms: t0 + ms - t3 }));
