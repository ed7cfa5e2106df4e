// Deterministic, offline embedding model for LlamaIndex.TS (the format oracle's
// HashEmbedding, unchanged: 64 dims by default).
// Feature hashing of lower-cased word unigrams + bigrams into `dim` buckets
// (FNV-1a 32-bit, sign from a second hash bit), then L2-normalised.
import { BaseEmbedding } from "llamaindex";

function fnv1a(str) {
  let h = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) {
    h ^= str.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export class HashEmbedding extends BaseEmbedding {
  constructor(dim = 64) {
    super();
    this.dim = dim;
    this.embedBatchSize = 16;
  }
  embedSync(text) {
    const v = new Array(this.dim).fill(0);
    const toks = (text.toLowerCase().match(/[a-z0-9]+/g) || []);
    const feats = [...toks];
    for (let i = 0; i + 1 < toks.length; i++) feats.push(toks[i] + "_" + toks[i + 1]);
    for (const f of feats) {
      const h = fnv1a(f);
      const idx = h % this.dim;
      const sign = (h >>> 31) ? -1 : 1;
      v[idx] += sign;
    }
    let n = 0;
    for (const x of v) n += x * x;
    n = Math.sqrt(n) || 1;
    // round to float32 so the persisted numbers look like real model output
    return v.map((x) => Math.fround(x / n));
  }
  async getTextEmbedding(text) {
    return this.embedSync(text);
  }
}
