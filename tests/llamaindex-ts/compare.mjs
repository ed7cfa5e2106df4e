// Compare two query.mjs-format result files: the same queries must give the
// same top-k ids and scores (within --tol, default 1e-6).
// Usage: node compare.mjs WANT.json GOT.json NAME [--tol 1e-6]
// Ties: hits of equal score may come in any order (TS keeps insertion
// order, ragfs orders ties by id), and a tie cut by the top-k boundary may
// keep different members; everything else must match exactly.
// Prints one line "PASS\tNAME" or "FAIL\tNAME\tdetail" (check.sh format).
import fs from "node:fs";

const [wantF, gotF, name] = process.argv.slice(2);
const ti = process.argv.indexOf("--tol");
const tol = ti > 0 ? Number(process.argv[ti + 1]) : 1e-6;
const want = JSON.parse(fs.readFileSync(wantF, "utf8"));
const got = JSON.parse(fs.readFileSync(gotF, "utf8"));
const problems = [];
const TIE = 1e-12;

function label(q) { return q.query !== undefined && q.query !== null ? JSON.stringify(q.query) : `node ${q.node}`; }
function brief(h) { return h.map((x) => `${x.id}:${Number(x.score).toFixed(7)}`).join(" "); }

if (want.results.length !== got.results.length) {
  problems.push(`${want.results.length} queries in ${wantF}, ${got.results.length} in ${gotF}`);
}
let hitsCompared = 0;
const gotBy = new Map(got.results.map((g) => [label(g), g]));
for (const w of want.results) {
  const g = gotBy.get(label(w));
  if (!g) { problems.push(`${label(w)}: not answered`); continue; }
  if (g.error || w.error) { problems.push(`${label(w)}: error ${JSON.stringify(g.error ?? w.error)}`); continue; }
  const a = w.hits, b = g.hits;
  if (a.length !== b.length) {
    problems.push(`${label(w)}: ${a.length} hits want [${brief(a)}], got ${b.length} [${brief(b)}]`);
    continue;
  }
  let bad = null;
  for (let r = 0; r < a.length && !bad; r++) {
    if (!(Math.abs(a[r].score - b[r].score) <= tol)) bad = `rank ${r + 1} score ${a[r].score} vs ${b[r].score}`;
  }
  // id sets per tie group (exact-score groups of the wanted list)
  for (let r = 0; r < a.length && !bad; ) {
    let e = r;
    while (e + 1 < a.length && Math.abs(a[e + 1].score - a[r].score) <= TIE) e++;
    const cut = e === a.length - 1 && a.length === want.topk; // the group may continue past k
    const sa = a.slice(r, e + 1).map((x) => x.id).sort();
    const sb = b.slice(r, e + 1).map((x) => x.id).sort();
    if (!cut && sa.join() !== sb.join()) bad = `ranks ${r + 1}-${e + 1} ids ${sa} vs ${sb}`;
    if (cut && e === r && a[r].id !== b[r].id) {
      // a lone last hit: only a tie with the next (unseen) candidate excuses it
      const bs = b[r].score;
      if (Math.abs(bs - a[r].score) > TIE) bad = `rank ${r + 1} id ${a[r].id} vs ${b[r].id}`;
    }
    r = e + 1;
  }
  hitsCompared += a.length;
  if (bad) problems.push(`${label(w)}: ${bad}; want [${brief(a)}] got [${brief(b)}]`);
}
if (problems.length) {
  console.log(`FAIL\t${name}\t${problems.length} of ${want.results.length} queries differ; ` +
    problems.slice(0, 3).join(" | "));
} else {
  console.log(`PASS\t${name} (${want.results.length} queries, ${hitsCompared} hits)`);
}
