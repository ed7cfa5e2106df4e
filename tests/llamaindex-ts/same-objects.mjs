// Compare two LlamaIndex.TS persist dirs object by object.
// Usage: node same-objects.mjs WANT_DIR GOT_DIR LABEL
// Per file and map (docstore/data nodes - the __data__ string itself -,
// docstore/metadata, docstore/ref_doc_info, embeddingDict, metadataDict,
// textIdToRefDocId, each index struct's nodesDict): every entry of WANT is in
// GOT with the same bytes (JSON.stringify of the parsed value is the compact
// text TS wrote). Whole files: the same bytes once keys are sorted, and the
// raw bytes are reported as equal or differing in key order only.
// Prints PASS/FAIL lines (tab separated) for the TAP wrapper.
import fs from "node:fs";
const [want, got, label] = process.argv.slice(2);
const say = (ok, name, detail = "") =>
  process.stdout.write(`${ok ? "PASS" : "FAIL"}\t${label}: ${name}\t${detail}\n`);
const load = (d, f) => JSON.parse(fs.readFileSync(`${d}/${f}`, "utf8"));
const raw = (v) => (typeof v === "string" ? v : JSON.stringify(v));
const sorted = (v) =>
  Array.isArray(v) ? v.map(sorted)
    : v && typeof v === "object"
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])])) : v;

function sameMap(name, a, b, unwrap) {
  const ids = Object.keys(a ?? {});
  const bad = ids.filter((k) => !b || !(k in b) ||
    raw(unwrap ? unwrap(a[k]) : a[k]) !== raw(unwrap ? unwrap(b[k]) : b[k]));
  say(ids.length > 0 && bad.length === 0,
    `${name}: ${ids.length - bad.length}/${ids.length} objects byte-identical`,
    bad.slice(0, 2).map((k) => `${k}: want ${raw(a[k]).slice(0, 400)} got ${b && k in b ? raw(b[k]).slice(0, 400) : "(none)"}`).join(" | "));
}

const A = {}, B = {};
for (const f of ["doc_store.json", "vector_store.json", "index_store.json"]) {
  A[f] = load(want, f);
  B[f] = load(got, f);
}
const ds = "doc_store.json", vs = "vector_store.json", is = "index_store.json";
sameMap("doc_store.json docstore/data nodes (__data__ text)", A[ds]["docstore/data"],
  B[ds]["docstore/data"], (e) => e.__data__);
sameMap("doc_store.json docstore/data entries", A[ds]["docstore/data"], B[ds]["docstore/data"]);
sameMap("doc_store.json docstore/metadata", A[ds]["docstore/metadata"], B[ds]["docstore/metadata"]);
sameMap("doc_store.json docstore/ref_doc_info", A[ds]["docstore/ref_doc_info"],
  B[ds]["docstore/ref_doc_info"]);
sameMap("vector_store.json embeddingDict", A[vs].embeddingDict, B[vs].embeddingDict);
sameMap("vector_store.json textIdToRefDocId", A[vs].textIdToRefDocId, B[vs].textIdToRefDocId);
sameMap("vector_store.json metadataDict", A[vs].metadataDict, B[vs].metadataDict);
// the index id differs (the store's default struct stands for TS's)
const nd = (j) => Object.values(j["docstore/data"] ?? {}).find((s) => s.type === "simple_dict")?.nodesDict;
sameMap("index_store.json nodesDict", nd(A[is]), nd(B[is]));
for (const f of [ds, vs]) {
  const a = fs.readFileSync(`${want}/${f}`, "utf8"), b = fs.readFileSync(`${got}/${f}`, "utf8");
  const same = JSON.stringify(sorted(A[f])) === JSON.stringify(sorted(B[f]));
  say(same && a.length === b.length,
    `${f}: whole file ${a === b ? "byte-identical" : "differs only in key order"} (${a.length} vs ${b.length} bytes)`,
    same ? "" : "content differs");
}
