// Structural checks of a persist-ts dir (as ragfs renders it) against what
// LlamaIndex.TS 0.12.1 itself loads, expects and writes.
// Usage:
//   node check.mjs resolve DIR
//       TS loads DIR (no embedding model needed) and every node id of the
//       vector store resolves, through the index struct (what the retriever
//       uses) and through the docstore, to a node with text and metadata; the
//       stored fields agree with what TS computes and writes itself
//       (hashes, vector store metadataDict/textIdToRefDocId, docstore
//       metadata, ref_doc_info, relationship shapes); TS can then insert a
//       node into the loaded index and reload it.
//   node check.mjs same WANT_DIR GOT_DIR
//       the nodes (raw JSON and loaded objects), vectors and store entries of
//       GOT_DIR equal those of WANT_DIR (a dir TS persisted itself), node by
//       node, field by field.
// Output: one line per check, "PASS\tname" or "FAIL\tname\tdetail", where
// detail names the first offending ids and shows the JSON involved.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  VectorStoreIndex, storageContextFromDefaults, Settings, BaseEmbedding, MetadataMode, TextNode,
} from "llamaindex";

const [cmd, dirA, dirB] = process.argv.slice(2);
let dimForInsert = 64;
class FixedEmbedding extends BaseEmbedding {
  async getTextEmbedding() { return Array.from({ length: dimForInsert }, (_, i) => (i === 0 ? 1 : 0)); }
}
Settings.embedModel = new FixedEmbedding();
// TS logs "Starting new store from path" on stdout: keep our stdout clean
const realLog = console.log;
console.log = (...a) => console.error(...a);
const out = (s) => realLog(s);
let failed = 0;

function report(name, bad, total, fmt) {
  if (!bad.length) { out(`PASS\t${name}` + (total !== undefined ? ` (${total} checked)` : "")); return; }
  failed++;
  const shown = bad.slice(0, 3).map(fmt ?? ((x) => (typeof x === "string" ? x : JSON.stringify(x))));
  out(`FAIL\t${name}\t${bad.length}${total !== undefined ? ` of ${total}` : ""} bad; ` + shown.join(" | "));
}

// canonical JSON (sorted keys) for order-insensitive comparison
function canon(v) {
  if (Array.isArray(v)) return `[${v.map(canon).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}
function diffFields(want, got, pfx = "") {
  const d = [];
  const keys = new Set([...Object.keys(want ?? {}), ...Object.keys(got ?? {})]);
  for (const k of [...keys].sort()) {
    const w = want?.[k], g = got?.[k];
    if (canon(w) === canon(g)) continue;
    if (w && g && typeof w === "object" && typeof g === "object" && !Array.isArray(w) && !Array.isArray(g)) {
      d.push(...diffFields(w, g, `${pfx}${k}.`));
    } else {
      d.push(`${pfx}${k}: want ${w === undefined ? "(absent)" : JSON.stringify(w)} got ${g === undefined ? "(absent)" : JSON.stringify(g)}`);
    }
  }
  return d;
}

async function load(dir) {
  const raw = {};
  for (const f of ["doc_store.json", "index_store.json", "vector_store.json"]) {
    raw[f] = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
  }
  const sc = await storageContextFromDefaults({ persistDir: dir });
  const index = await VectorStoreIndex.init({ storageContext: sc });
  const vs = sc.vectorStores.TEXT;
  const structs = Object.values(raw["index_store.json"]["docstore/data"] ?? {});
  const rawIndexNodes = structs.length === 1 ? structs[0].nodesDict ?? {} : {};
  const rawDocNodes = {};
  for (const [k, w] of Object.entries(raw["doc_store.json"]["docstore/data"] ?? {})) {
    rawDocNodes[k] = typeof w.__data__ === "string" ? JSON.parse(w.__data__) : w.__data__;
  }
  return { dir, raw, sc, index, vs, nodes: index.indexStruct.nodesDict, rawIndexNodes, rawDocNodes, structs };
}

// what TS's SimpleVectorStore.add stores for a node (nodeToMetadata, minus _node_content)
function tsMetadataDictEntry(node) {
  const src = node.sourceNode?.nodeId || "None";
  return { ...structuredClone(node.metadata), _node_type: node.constructor.name.replace("_", ""),
    document_id: src, doc_id: src, ref_doc_id: src };
}

async function resolve(dir) {
  const S = await load(dir);
  const { raw, sc, vs, nodes, rawIndexNodes, rawDocNodes } = S;
  const emb = vs.data.embeddingDict;
  const ids = Object.keys(emb);
  report("index_store.json holds one simple_dict struct", S.structs.length === 1 && S.structs[0].type === "simple_dict" ? [] : [canon(S.structs.map((s) => ({ indexId: s.indexId, type: s.type })))]);
  report("the vector store is not empty", ids.length ? [] : ["embeddingDict is empty"]);
  dimForInsert = ids.length ? emb[ids[0]].length : 64;

  // every vector id -> a node with text and metadata (retriever path and docstore path)
  const viaIndex = [], viaDocstore = [];
  for (const id of ids) {
    const n = nodes[id];
    if (!n) viaIndex.push(`${id}: not in nodesDict`);
    else if (!n.getContent(MetadataMode.NONE).length) viaIndex.push(`${id}: empty text`);
    else if (!n.metadata || typeof n.metadata !== "object" || !Object.keys(n.metadata).length) viaIndex.push(`${id}: metadata ${JSON.stringify(n.metadata)}`);
    let d = null;
    try { d = await sc.docStore.getNode(id); } catch (e) { viaDocstore.push(`${id}: getNode threw ${e.message}`); continue; }
    if (!d.text || !Object.keys(d.metadata ?? {}).length) viaDocstore.push(`${id}: text ${JSON.stringify(d.text)} metadata ${JSON.stringify(d.metadata)}`);
    else if (n && d.text !== n.text) viaDocstore.push(`${id}: docstore text differs from nodesDict text`);
  }
  report("every vector id resolves via indexStruct.nodesDict to a node with text and metadata", viaIndex, ids.length);
  report("every vector id resolves via docStore.getNode to the same node with text and metadata", viaDocstore, ids.length);
  const orphans = Object.keys(nodes).filter((id) => !(id in emb));
  report("every nodesDict node has a vector", orphans, Object.keys(nodes).length);

  // raw node JSON: fields and types TS writes for a TextNode
  const shape = [];
  const want = ["id_", "metadata", "excludedEmbedMetadataKeys", "excludedLlmMetadataKeys", "relationships",
    "text", "textTemplate", "metadataSeparator", "type", "hash"];
  for (const [id, n] of Object.entries(rawIndexNodes)) {
    const missing = want.filter((k) => !(k in n));
    const extra = Object.keys(n).filter((k) => !want.includes(k) && !["startCharIdx", "endCharIdx", "indexId"].includes(k));
    if (missing.length || extra.length) shape.push(`${id}: missing ${missing} extra ${extra}`);
    else if (n.id_ !== id) shape.push(`${id}: id_ ${n.id_}`);
    else if (n.startCharIdx === 0) shape.push(`${id}: startCharIdx 0 is written (TS omits a 0 startCharIdx)`);
    else if ("startCharIdx" in n && typeof n.startCharIdx !== "number") shape.push(`${id}: startCharIdx ${JSON.stringify(n.startCharIdx)}`);
    else if ("endCharIdx" in n && typeof n.endCharIdx !== "number") shape.push(`${id}: endCharIdx ${JSON.stringify(n.endCharIdx)}`);
  }
  report("nodesDict entries have the TS TextNode fields", shape, Object.keys(rawIndexNodes).length);
  const same = [];
  for (const [id, n] of Object.entries(rawIndexNodes)) {
    if (!rawDocNodes[id]) same.push(`${id}: not in doc_store.json docstore/data`);
    else if (canon(rawDocNodes[id]) !== canon(n)) same.push(`${id}: ${diffFields(n, rawDocNodes[id]).join("; ")}`);
  }
  report("doc_store.json __data__ equals the index_store.json node", same, Object.keys(rawIndexNodes).length);
  const typeBad = [];
  for (const [id, w] of Object.entries(raw["doc_store.json"]["docstore/data"] ?? {})) {
    if (typeof w.__data__ !== "string") typeBad.push(`${id}: __data__ is ${typeof w.__data__}, TS writes a JSON string`);
    else if (w.__type__ !== rawDocNodes[id].type) typeBad.push(`${id}: __type__ ${w.__type__} vs type ${rawDocNodes[id].type}`);
  }
  report("doc_store.json entries are {__data__: <json string>, __type__: <node type>}", typeBad);

  // hashes: TS recomputes node.hash on load (generateHash); the stored value must agree
  const hashBad = [];
  for (const [id, n] of Object.entries(rawIndexNodes)) {
    const h = nodes[id]?.hash;
    if (n.hash !== h) hashBad.push({ id, stored: n.hash, ts_generateHash: h, content: nodes[id]?.getContent(MetadataMode.ALL).slice(0, 120) });
  }
  report("stored node hash equals TS generateHash()", hashBad, Object.keys(rawIndexNodes).length);

  // relationships: {nodeId, metadata, hash}; PREVIOUS/NEXT point at nodes, hashes are TS hashes
  const relShape = [], relTarget = [], relHash = [];
  for (const [id, n] of Object.entries(rawIndexNodes)) {
    for (const [k, r0] of Object.entries(n.relationships ?? {})) {
      if (!["SOURCE", "PREVIOUS", "NEXT", "PARENT", "CHILD"].includes(k)) { relShape.push(`${id}: key ${k}`); continue; }
      for (const r of Array.isArray(r0) ? r0 : [r0]) {
        const keys = Object.keys(r ?? {}).sort().join(",");
        if (keys !== "hash,metadata,nodeId" || typeof r.nodeId !== "string" || typeof r.hash !== "string" ||
            !r.metadata || typeof r.metadata !== "object") {
          relShape.push(`${id}.${k}: ${JSON.stringify(r)}`);
          continue;
        }
        if ((k === "PREVIOUS" || k === "NEXT") && !nodes[r.nodeId]) relTarget.push(`${id}.${k} -> ${r.nodeId} (no such node)`);
        // TS's own relationship hashes are snapshots taken when the splitter
        // linked the nodes and differ from the targets' hashes after load
        // (a build.mjs dir fails that comparison), so only the form is checked
        if (!/^[A-Za-z0-9+/]{43}=$/.test(r.hash)) relHash.push(`${id}.${k} -> ${r.nodeId}: hash ${JSON.stringify(r.hash)} is not a TS (base64 sha256) hash`);
      }
    }
  }
  report("relationships are {SOURCE|PREVIOUS|NEXT|PARENT|CHILD: {nodeId, metadata, hash}}", relShape);
  report("PREVIOUS/NEXT relationships point at nodes of the index", relTarget);
  report("relationship hashes are TS hashes (base64 sha256)", relHash);
  const chain = [];
  for (const [id, n] of Object.entries(nodes)) {
    const nx = n.relationships.NEXT;
    if (nx && nodes[nx.nodeId] && nodes[nx.nodeId].relationships.PREVIOUS?.nodeId !== id) chain.push(`${id}.NEXT -> ${nx.nodeId} whose PREVIOUS is ${nodes[nx.nodeId].relationships.PREVIOUS?.nodeId}`);
    const s = n.sourceNode?.nodeId;
    if (nx && nodes[nx.nodeId] && nodes[nx.nodeId].sourceNode?.nodeId !== s) chain.push(`${id}.NEXT -> ${nx.nodeId} of another source`);
  }
  report("PREVIOUS/NEXT chains are consistent", chain);

  // vector store: what SimpleVectorStore.add writes for these nodes
  const t2r = vs.data.textIdToRefDocId, md = vs.data.metadataDict;
  const refBad = [], mdBad = [], dimBad = [];
  const d0 = ids.length ? emb[ids[0]].length : 0;
  for (const id of ids) {
    if (emb[id].length !== d0 || emb[id].some((x) => typeof x !== "number" || !Number.isFinite(x))) dimBad.push(id);
    const n = nodes[id];
    if (!n) continue;
    const src = n.sourceNode?.nodeId;
    if (src === undefined ? id in t2r : t2r[id] !== src) refBad.push(`${id}: textIdToRefDocId ${JSON.stringify(t2r[id])}, SOURCE ${JSON.stringify(src)}`);
    const wantMd = src === undefined ? undefined : tsMetadataDictEntry(n);
    if (canon(md[id]) !== canon(wantMd)) mdBad.push(`${id}: ${diffFields(wantMd ?? {}, md[id] ?? {}).join("; ")}`);
  }
  report("embeddingDict vectors are finite numbers of one dimension", dimBad, ids.length);
  report("textIdToRefDocId is the node's SOURCE (absent without one)", refBad, ids.length);
  report("metadataDict is what SimpleVectorStore.add writes (metadata + _node_type, document_id, doc_id, ref_doc_id)", mdBad, ids.length);

  // docstore/metadata and ref_doc_info as KVDocumentStore.addDocuments writes them
  const meta = raw["doc_store.json"]["docstore/metadata"] ?? {};
  const metaBad = [];
  for (const id of Object.keys(nodes)) {
    const m = meta[id];
    const src = nodes[id].sourceNode?.nodeId;
    const w = src === undefined ? { docHash: nodes[id].hash } : { docHash: nodes[id].hash, refDocId: src };
    if (canon(m) !== canon(w)) metaBad.push(`${id}: ${diffFields(w, m ?? {}).join("; ")}`);
    else if ((await sc.docStore.getDocumentHash(id)) !== nodes[id].hash) metaBad.push(`${id}: getDocumentHash`);
  }
  report("docstore/metadata[node] is {docHash: <TS hash>, refDocId: <SOURCE>}", metaBad, Object.keys(nodes).length);
  // the other entries are document hashes (setDocumentHash(doc.id_, doc.hash),
  // as fromDocuments' ingestion writes them): TS hashes too
  const docHashBad = [];
  for (const [k, m] of Object.entries(meta)) {
    if (nodes[k]) continue;
    const keys = Object.keys(m ?? {}).sort().join(",");
    if (keys !== "docHash" && keys !== "docHash,refDocId") docHashBad.push(`${k}: ${JSON.stringify(m)}`);
    else if (!/^[A-Za-z0-9+/]{43}=$/.test(m.docHash)) docHashBad.push(`${k}: ${JSON.stringify(m)} (docHash is not a TS base64 sha256 hash)`);
  }
  report("docstore/metadata document entries are {docHash: <TS base64 sha256 hash>}", docHashBad, Object.keys(meta).length - Object.keys(nodes).length);
  const rdi = await sc.docStore.getAllRefDocInfo() ?? {};
  const bySrc = {};
  for (const [id, n] of Object.entries(nodes)) {
    const s = n.sourceNode?.nodeId;
    if (s !== undefined) (bySrc[s] ??= []).push(id);
  }
  const rdiBad = [];
  for (const [doc, list] of Object.entries(bySrc)) {
    const info = rdi[doc];
    if (!info) { rdiBad.push(`${doc}: no ref_doc_info`); continue; }
    const keys = Object.keys(info).sort().join(",");
    if (keys !== "extraInfo,nodeIds") rdiBad.push(`${doc}: keys ${keys} (TS writes nodeIds, extraInfo)`);
    else if ([...info.nodeIds].sort().join() !== [...list].sort().join()) rdiBad.push(`${doc}: nodeIds ${JSON.stringify(info.nodeIds)} vs nodes with that SOURCE ${JSON.stringify(list.sort())}`);
  }
  for (const doc of Object.keys(rdi)) if (!bySrc[doc]) rdiBad.push(`${doc}: ref_doc_info for a doc without nodes`);
  report("docstore/ref_doc_info lists each source's nodes as {nodeIds, extraInfo}", rdiBad, Object.keys(bySrc).length);

  // retrieval by each node's own vector finds the node first (score 1)
  const self = [];
  for (const id of ids.slice(0, 50)) {
    const r = await vs.query({ queryEmbedding: emb[id], similarityTopK: 1, mode: "default" });
    if (!(Math.abs(r.similarities[0] - 1) <= 1e-6) || !nodes[r.ids[0]]) self.push(`${id}: top ${r.ids[0]} ${r.similarities[0]}`);
  }
  report("a node's own vector retrieves a node at score 1", self, Math.min(ids.length, 50));

  // a TS app keeps using the loaded storage: insert, persist (TS rewrites the
  // files on every put), reload in a fresh storage context
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), "ragfs-ts-copy-"));
  const useBad = [];
  try {
    for (const f of ["doc_store.json", "index_store.json", "vector_store.json"]) fs.copyFileSync(path.join(dir, f), path.join(copy, f));
    const sc2 = await storageContextFromDefaults({ persistDir: copy });
    const ix2 = await VectorStoreIndex.init({ storageContext: sc2 });
    await ix2.insertNodes([new TextNode({ id_: "ts-added-node", text: "a node TS added after loading", metadata: { by: "ts" } })]);
    await new Promise((r) => setTimeout(r, 300)); // SimpleIndexStore.persist is not awaited
    const sc3 = await storageContextFromDefaults({ persistDir: copy });
    const ix3 = await VectorStoreIndex.init({ storageContext: sc3 });
    const n3 = ix3.indexStruct.nodesDict;
    if (!n3["ts-added-node"]) useBad.push("the added node is missing after reload");
    const lost = ids.filter((id) => !n3[id] || n3[id].text !== nodes[id]?.text || n3[id].hash !== nodes[id]?.hash);
    if (lost.length) useBad.push(`${lost.length} loaded nodes changed after TS re-persisted them: ${lost.slice(0, 3)}`);
    if (Object.keys(sc3.vectorStores.TEXT.data.embeddingDict).length !== ids.length + 1) useBad.push("vector count after insert");
  } catch (e) {
    useBad.push(`threw ${e.stack.split("\n").slice(0, 2).join(" ")}`);
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
  report("TS can insert into the loaded index, re-persist and reload it", useBad);
}

async function same(wantDir, gotDir) {
  const W = await load(wantDir), G = await load(gotDir);
  const wids = Object.keys(W.nodes).sort(), gids = Object.keys(G.nodes).sort();
  report("the same node ids are in nodesDict", wids.join() === gids.join() ? [] : [`want ${wids.length} got ${gids.length}; missing ${wids.filter((x) => !G.nodes[x]).slice(0, 5)} extra ${gids.filter((x) => !W.nodes[x]).slice(0, 5)}`]);
  const common = wids.filter((x) => G.nodes[x]);
  // the raw node JSON TS reads, field by field: one check per field group so
  // that each difference is its own failing check
  const groups = ["id_", "text", "metadata", "excluded*MetadataKeys", "textTemplate, metadataSeparator",
    "startCharIdx, endCharIdx", "type", "hash", "relationships (kinds, nodeId, metadata)",
    "relationships hash", "other fields"];
  const groupOf = (p) => {
    const top = p.split(".")[0];
    if (top === "relationships") return p.endsWith(".hash") ? "relationships hash" : "relationships (kinds, nodeId, metadata)";
    if (top.startsWith("excluded")) return "excluded*MetadataKeys";
    return groups.find((g) => g.split(", ").includes(top)) ?? "other fields";
  };
  const bad = Object.fromEntries(groups.map((g) => [g, []]));
  for (const id of common) {
    const per = {};
    for (const d of diffFields(W.rawIndexNodes[id], G.rawIndexNodes[id])) {
      (per[groupOf(d.slice(0, d.indexOf(": ")))] ??= []).push(d);
    }
    for (const [g, l] of Object.entries(per)) bad[g].push(`${id}: ${l.join("; ")}`);
  }
  for (const g of groups) report(`index_store.json node ${g} equals TS's own`, bad[g], common.length);
  // the loaded objects (relationship hashes aside: checked above on the raw JSON)
  const noRelHash = (j) => ({ ...j, relationships: Object.fromEntries(Object.entries(j.relationships ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.map(({ hash, ...r }) => r) : (({ hash, ...r }) => r)(v)])) });
  const loaded = [];
  for (const id of common) {
    const w = W.nodes[id], g = G.nodes[id];
    const d = diffFields({ ...noRelHash(w.toJSON()), content_all: w.getContent(MetadataMode.ALL), content_embed: w.getContent(MetadataMode.EMBED), content_llm: w.getContent(MetadataMode.LLM) },
      { ...noRelHash(g.toJSON()), content_all: g.getContent(MetadataMode.ALL), content_embed: g.getContent(MetadataMode.EMBED), content_llm: g.getContent(MetadataMode.LLM) });
    if (d.length) loaded.push(`${id}: ${d.join("; ")}`);
  }
  report("loaded nodes (toJSON without relationship hashes, getContent ALL/EMBED/LLM) equal TS's own", loaded, common.length);
  const vec = [], t2r = [], md = [];
  const we = W.vs.data, ge = G.vs.data;
  for (const id of Object.keys(we.embeddingDict)) {
    const a = we.embeddingDict[id], b = ge.embeddingDict[id];
    if (!b) { vec.push(`${id}: no vector`); continue; }
    if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
      const i = a.findIndex((x, j) => x !== b[j]);
      vec.push(`${id}: dim ${a.length}/${b.length}, first difference at [${i}] ${a[i]} vs ${b[i]}`);
    }
    if (we.textIdToRefDocId[id] !== ge.textIdToRefDocId[id]) t2r.push(`${id}: want ${we.textIdToRefDocId[id]} got ${ge.textIdToRefDocId[id]}`);
    const d = diffFields(we.metadataDict[id] ?? {}, ge.metadataDict[id] ?? {});
    if (d.length) md.push(`${id}: ${d.join("; ")}`);
  }
  const extra = Object.keys(ge.embeddingDict).filter((x) => !(x in we.embeddingDict));
  if (extra.length) vec.push(`extra vectors ${extra.slice(0, 5)}`);
  report("vector_store.json embeddingDict equals TS's own (exact numbers)", vec, Object.keys(we.embeddingDict).length);
  report("vector_store.json textIdToRefDocId equals TS's own", t2r, Object.keys(we.embeddingDict).length);
  report("vector_store.json metadataDict equals TS's own", md, Object.keys(we.embeddingDict).length);
  const wm = W.raw["doc_store.json"]["docstore/metadata"] ?? {}, gm = G.raw["doc_store.json"]["docstore/metadata"] ?? {};
  const mBad = [];
  for (const id of common) {
    const d = diffFields(wm[id], gm[id]);
    if (d.length) mBad.push(`${id}: ${d.join("; ")}`);
  }
  report("docstore/metadata node entries equal TS's own", mBad, common.length);
  const docsOnly = Object.keys(wm).filter((k) => !W.nodes[k]);
  const missingDocs = docsOnly.filter((k) => !(k in gm));
  if (missingDocs.length) {
    console.error(`note: ${missingDocs.length} document hash entries (setDocumentHash) are not in ${gotDir}: ${missingDocs.slice(0, 3)} (ragfs was given nodes only)`);
  }
  const wr = W.raw["doc_store.json"]["docstore/ref_doc_info"] ?? {}, gr = G.raw["doc_store.json"]["docstore/ref_doc_info"] ?? {};
  const rBad = [];
  for (const doc of new Set([...Object.keys(wr), ...Object.keys(gr)])) {
    const a = wr[doc], b = gr[doc];
    if (canon(a) === canon(b)) continue;
    if (a && b && canon({ ...a, nodeIds: [...a.nodeIds].sort() }) === canon({ ...b, nodeIds: [...(b.nodeIds ?? [])].sort() })) {
      rBad.push(`${doc}: nodeIds order ${JSON.stringify(b.nodeIds)}, TS's ${JSON.stringify(a.nodeIds)}`);
    } else {
      rBad.push(`${doc}: want ${JSON.stringify(a)} got ${JSON.stringify(b)}`);
    }
  }
  report("docstore/ref_doc_info equals TS's own", rBad, Object.keys(wr).length);
  const wi = W.structs[0], gi = G.structs[0];
  report("the index struct is {indexId, nodesDict, type: simple_dict} like TS's", canon(Object.keys(wi).sort()) === canon(Object.keys(gi).sort()) && gi.type === wi.type ? [] : [`keys ${Object.keys(gi)} type ${gi.type}; TS's: keys ${Object.keys(wi)} type ${wi.type}`]);
}

try {
  if (cmd === "resolve") await resolve(dirA);
  else if (cmd === "same") await same(dirA, dirB);
  else { console.error("usage: check.mjs resolve DIR | same WANT_DIR GOT_DIR"); process.exit(2); }
} catch (e) {
  out(`FAIL\tLlamaIndex.TS loads ${dirB ?? dirA}\tthrew ${String(e.stack).split("\n").slice(0, 3).join(" ")}`);
  process.exit(1);
}
process.exit(failed ? 1 : 0);
