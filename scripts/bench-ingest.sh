#!/usr/bin/env bash
# scripts/bench-ingest.sh - ingest throughput: ragfs vs LlamaIndex.TS, one
# run, one corpus.
#
#   scripts/bench-ingest.sh [OUT.md]
#
# Generates a deterministic corpus (BENCH_DOCS=3000 files of 2-6 KB, two
# thirds .txt and one third .md with headings, in 30 folders, sentences of
# English words drawn by their frequency in /usr/share/common-licenses; or
# uses BENCH_CORPUS=DIR as is), then measures:
#   - ragfs: `cp -r CORPUS MOUNT/docs/` into a fresh mount with the built-in
#     hash embedder (dim 384, chunk_size 1024, overlap 200: the defaults),
#     until .ragfs/status.json counts every document and nothing pending;
#   - LlamaIndex.TS (npm llamaindex, pinned by tests/llamaindex-ts/, npm ci
#     into the build dir as tests/it_llamaindex_ts.sh does): read the same
#     files, SentenceSplitter (1024/200), embed with a JS port of ragfs's hash
#     embedder (same features and dim), VectorStoreIndex in memory, persist
#     to a plain directory (tests/llamaindex-ts/ingest-bench.mjs);
# and prints a markdown table (docs/s, MB/s, nodes, time; ragfs/TS ratio),
# also written to OUT.md (default ./bench-ingest.md). Neither side fsyncs:
# ragfs's close() returns after the journal write(2), TS after writeFile.
# RAGFS selects the binary (default build/fs/ragfs, built when missing).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-bench-ingest.md}
NDOCS=${BENCH_DOCS:-3000}
RAGFS=${RAGFS:-$root/build/fs/ragfs}
BENCH=bench-ingest
. "$root/scripts/bench-lib.sh"
bench_require
RAGFS=$(cd "$(dirname "$RAGFS")" && pwd)/$(basename "$RAGFS")

# LlamaIndex.TS: npm ci of the pinned lock file into the build dir, redone
# only when the lock file changes (llamats_install, scripts/bench-lib.sh).
NODEDIR=${RAGFS_NODE_DIR:-$(cd "$(dirname "$RAGFS")/.." && pwd)/llamaindex-ts-node}
command -v node >/dev/null && command -v npm >/dev/null || die "no node/npm"
llamats_install "$NODEDIR" || die "npm ci failed"

bench_workdir /tmp/ragfs-bench-ingest.XXXXXX

CORPUS=${BENCH_CORPUS:-}
if [ -z "$CORPUS" ]; then
	CORPUS=$W/corpus
	echo "bench-ingest: generating $NDOCS documents" >&2
	python3 - "$CORPUS" "$NDOCS" <<'PY'
import collections, glob, os, random, re, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(20261124)
# English words with their frequencies, from the licence texts every Debian
# system has (base-files), so that tokenizers see prose, not noise.
freq = collections.Counter()
for f in sorted(glob.glob('/usr/share/common-licenses/*')):
    if os.path.isfile(f):
        freq.update(w.lower() for w in re.findall(r'[A-Za-z]{2,}', open(f, errors='replace').read()))
vocab = sorted(freq, key=lambda w: (-freq[w], w))
weights = [freq[w] for w in vocab]
if len(vocab) < 500:  # not Debian: made-up words
    vocab = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(3, 10)))
             for _ in range(8000)]
    weights = [1 / (i + 1) for i in range(len(vocab))]
def para():
    return ' '.join((' '.join(rng.choices(vocab, weights, k=rng.randint(6, 18)))
                     .capitalize() + '.') for _ in range(rng.randint(2, 6)))
for i in range(n):
    d = f"{root}/f{i % 30:02d}"
    os.makedirs(d, exist_ok=True)
    size, parts, md = rng.randint(2048, 6144), [], i % 3 == 2
    parts.append((f"# Note {i}\n\n" if md else f"Note {i}.\n\n"))
    while sum(map(len, parts)) < size:
        if md and rng.random() < 0.25:
            parts.append(f"## {rng.choice(vocab[:500]).capitalize()} {rng.choice(vocab[:500])}\n\n")
        parts.append(para() + "\n\n")
    open(f"{d}/n{i:05d}.{'md' if md else 'txt'}", 'w').write(''.join(parts))
PY
fi
DOCS=$(find "$CORPUS" -type f | wc -l)
BYTES=$(find "$CORPUS" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
find "$CORPUS" -type f -exec cat {} + >/dev/null # both sides read from the page cache

# ragfs: a fresh store, cp -r, until status.json shows everything indexed.
echo "bench-ingest: ragfs ($DOCS documents, $BYTES bytes)" >&2
mount_store "$W/store"
status() { python3 -c "import json; d=json.load(open('$MNT/.ragfs/status.json')); print(d['docs'], d['pending'], d['nodes'], d['vectors'])"; }
t0=$(now)
cp -r "$CORPUS" "$MNT/docs/" || die "cp failed"
for _ in $(seq 1 60000); do
	set -- $(status)
	[ "$1" -ge "$DOCS" ] && [ "$2" -eq 0 ] && [ "$4" -ge "$3" ] && break
	sleep 0.01
done
t1=$(now)
RAGFS_NODES=$3
umount_store
RAGFS_STORE_BYTES=$(du -sb "$W/store" | cut -f1)

# LlamaIndex.TS on the same files.
echo "bench-ingest: LlamaIndex.TS $(node -p 'require(process.argv[1]).version' "$NODEDIR/node_modules/llamaindex/package.json")" >&2
ts=$(cd "$NODEDIR" && node --max-old-space-size=8192 ingest-bench.mjs "$CORPUS" "$W/ts" 2>/dev/null | tail -1)
python3 - "$OUT" "$DOCS" "$BYTES" "$t0" "$t1" "$RAGFS_NODES" "$RAGFS_STORE_BYTES" "$ts" \
	"$(node -p 'require(process.argv[1]).version' "$NODEDIR/node_modules/llamaindex/package.json")" <<'PY'
import json, sys
out, docs, nbytes, t0, t1, rnodes, rstore, ts, tsver = sys.argv[1:10]
docs, nbytes, rnodes, rstore = int(docs), int(nbytes), int(rnodes), int(rstore)
rs = float(t1) - float(t0)
t = json.loads(ts)
if t.get("docs") != docs:
    sys.exit(f"bench-ingest: LlamaIndex.TS read {t.get('docs')} documents, not {docs}: {ts}")
tsec = t["ms"] / 1000
mb = nbytes / 1e6
rows = [("ragfs (`cp -r` into docs/, hash 384)", rs, rnodes, rstore),
        (f"LlamaIndex.TS {tsver} (SentenceSplitter, JS hash 384, persist)", tsec, t["nodes"],
         t["persist_bytes"])]
lines = [f"{docs} documents, {mb:.1f} MB (chunk_size 1024, overlap 200, dim 384)", "",
         "| ingest | s | docs/s | MB/s | nodes | stored MB |", "|---|---|---|---|---|---|"]
for name, s, n, b in rows:
    lines.append(f"| {name} | {s:.2f} | {docs / s:.0f} | {mb / s:.2f} | {n} | {b / 1e6:.1f} |")
lines.append(f"| ragfs speed-up over LlamaIndex.TS | | {tsec / rs:.2f}x | {tsec / rs:.2f}x | | |")
lines += ["", f"LlamaIndex.TS phases: read {t['read_ms'] / 1000:.2f} s, SentenceSplitter "
          f"{t['split_ms'] / 1000:.2f} s, embed + index {t['index_ms'] / 1000:.2f} s, persist "
          f"{t['persist_ms'] / 1000:.2f} s."]
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text, end="")
PY
