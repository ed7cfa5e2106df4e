// Build a VectorStoreIndex over N small deterministic Documents with the hash
// embedding and let LlamaIndex.TS persist it into a plain directory.
// Usage: node build.mjs DIR [--docs N] [--chunk-size C] [--dim D]
//
// The first three documents are the format oracle's (non-ASCII text); the
// rest are generated from a seeded PRNG, so the output is byte-reproducible.
// Metadata covers the value kinds TS hashes and stores: strings, ints,
// floats (incl. 1e-7), booleans, arrays, a nested object and null.
// Node ids are stable (<doc>-n<i>), as the oracle's build.mjs makes them.
import fs from "node:fs";
import {
  Document, VectorStoreIndex, storageContextFromDefaults, Settings, SentenceSplitter, IndexDict,
} from "llamaindex";
import { HashEmbedding } from "./hash-embedding.mjs";
// TS logs progress on stdout ("Starting new store from path"), partly through
// console.log bound before this runs: the result is one line starting with "{"
const out = (s) => process.stdout.write(s + "\n");
console.log = (...a) => console.error(...a);

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const persistDir = process.argv[2];
if (!persistDir || persistDir.startsWith("--")) {
  console.error("usage: node build.mjs DIR [--docs N] [--chunk-size C] [--dim D]");
  process.exit(2);
}
const nDocs = Number(arg("--docs", "12"));
const chunkSize = Number(arg("--chunk-size", "40"));
const dim = Number(arg("--dim", "64"));

function makeDocuments(n) {
  const docs = [
    new Document({
      id_: "doc-cats",
      text: "Cats are small carnivorous mammals. They are popular house pets. " +
            "A domestic cat sleeps for twelve to sixteen hours a day. " +
            "Cats communicate by meowing, purring and hissing.",
      metadata: { topic: "animals", year: 2021, tags: ["pets", "mammals"] },
    }),
    new Document({
      id_: "doc-fuse",
      text: "FUSE lets user space programs implement a filesystem. " +
            "The kernel forwards VFS calls such as lookup, read and write to the daemon.",
      metadata: { topic: "systems", year: 2023 },
    }),
    new Document({
      id_: "doc-s3",
      text: "Amazon S3 and Cloudflare R2 are object stores addressed by bucket and key. " +
            "R2 speaks the S3 API and has no egress fees. Caf\u00e9 na\u00efve \u2014 unicode check \u{1F600}.",
      metadata: { topic: "storage", year: 2024, lang: "fran\u00e7ais" },
    }),
  ];
  let seed = 12345;
  const rnd = () => { // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const topics = {
    garden: ["tomato", "basil", "compost", "soil", "seed", "rain", "shovel", "rose"],
    music: ["piano", "violin", "melody", "rhythm", "chord", "concert", "drum", "choir"],
    travel: ["train", "ticket", "harbour", "mountain", "river", "passport", "hotel", "map"],
    cooking: ["flour", "oven", "butter", "recipe", "pepper", "onion", "garlic", "bread"],
    storage: ["bucket", "journal", "segment", "manifest", "replica", "snapshot", "cache", "disk"],
  };
  const verbs = ["needs", "follows", "changes", "protects", "feeds", "hides", "joins", "moves"];
  const adjs = ["quiet", "green", "fast", "old", "bright", "heavy", "small", "warm"];
  const names = Object.keys(topics);
  for (let d = 0; docs.length < n; d++) {
    const topic = names[d % names.length];
    const w = topics[topic];
    const sentences = [];
    const ns = 3 + Math.floor(rnd() * 4);
    for (let s = 0; s < ns; s++) {
      sentences.push(`The ${pick(adjs)} ${pick(w)} ${pick(verbs)} the ${pick(w)} near the ${pick(w)}.`);
    }
    const metadata = { topic, year: 2000 + Math.floor(rnd() * 25), tags: [pick(w), pick(w)] };
    if (d % 3 === 0) metadata.weight = d === 0 ? 1e-7 : 2.5;
    if (d % 4 === 1) metadata.reviewed = d % 8 === 1;
    if (d === 2) metadata.origin = { kind: "generated", seed: 12345 };
    if (d === 3) metadata.reviewer = null;
    docs.push(new Document({ id_: `doc-gen-${String(d).padStart(2, "0")}`, text: sentences.join(" "), metadata }));
  }
  return docs.slice(0, n);
}

fs.rmSync(persistDir, { recursive: true, force: true });
Settings.embedModel = new HashEmbedding(dim);
const DOCS = makeDocuments(nDocs);
const storageContext = await storageContextFromDefaults({ persistDir });
// Settings.nodeParser does not reach VectorStoreIndex.fromDocuments in
// llamaindex@0.12.1 (each sub-bundle has its own Settings copy): split here.
const splitter = new SentenceSplitter({ chunkSize, chunkOverlap: 0 });
const nodes = splitter.getNodesFromDocuments(DOCS);
const rename = new Map();
const perDoc = {};
for (const n of nodes) {
  const d = n.sourceNode.nodeId;
  perDoc[d] = (perDoc[d] ?? -1) + 1;
  rename.set(n.id_, `${d}-n${perDoc[d]}`);
}
for (const n of nodes) {
  n.id_ = rename.get(n.id_);
  for (const rel of Object.values(n.relationships)) {
    if (!Array.isArray(rel) && rename.has(rel.nodeId)) rel.nodeId = rename.get(rel.nodeId);
  }
}
for (const d of DOCS) await storageContext.docStore.setDocumentHash(d.id_, d.hash);
await VectorStoreIndex.init({ nodes, storageContext, indexStruct: new IndexDict("ts-index") });
// SimpleIndexStore.persist() does not await its write: give it a moment.
await new Promise((r) => setTimeout(r, 200));
out(JSON.stringify({ dir: persistDir, docs: DOCS.length, nodes: nodes.length, dim }));
