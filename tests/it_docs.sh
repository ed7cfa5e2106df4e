#!/usr/bin/env bash
# docs/ with standard tools: cp -r, find, grep -r, ls -l, rsync, sed -i, mv,
# rm -r, nested folders, overwrite and unchanged content, stores agreeing.
. "$(dirname "$0")/lib.sh"
setup
CORPUS=$WORK/corpus
mkdir -p "$CORPUS/licenses" "$CORPUS/copyright/deep/er"
# Real text files from the system: the common licenses and package copyright notes.
cp /usr/share/common-licenses/* "$CORPUS/licenses/" 2>/dev/null
n=0
for f in /usr/share/doc/*/copyright; do
	pkg=$(basename "$(dirname "$f")")
	dst="$CORPUS/copyright/$pkg.txt"
	[ $((n % 7)) -eq 0 ] && dst="$CORPUS/copyright/deep/er/$pkg.txt"
	cp "$f" "$dst" 2>/dev/null && n=$((n + 1))
	[ "$n" -ge 300 ] && break
done
total=$(find "$CORPUS" -type f | wc -l)
diag "corpus: $total files, $(du -sh "$CORPUS" | cut -f1)"

rmount -o flush_interval=1
check "cp -r of the corpus" cp -r "$CORPUS/." "$MNT/docs/"
is "$(find "$MNT/docs" -type f | wc -l)" "$total" "find sees every file"
check "diff -r: every byte reads back" diff -r "$CORPUS" "$MNT/docs"
is "$(cd "$CORPUS" && find . -type f -printf '%P %s\n' | sort | md5sum)" \
   "$(cd "$MNT/docs" && find . -type f -printf '%P %s\n' | sort | md5sum)" "ls -l sizes are true"
is "$(grep -rl 'GNU GENERAL PUBLIC LICENSE' "$CORPUS" | wc -l)" \
   "$(grep -rl 'GNU GENERAL PUBLIC LICENSE' "$MNT/docs" | wc -l)" "grep -r finds the same files"
check "nested folders listed" test -d "$MNT/docs/copyright/deep/er"
check "find walks the whole mount without errors" find "$MNT"

status() { python3 -c "import json; d=json.load(open('$MNT/.ragfs/status.json')); print(d['$1'])"; }
nodes=$(status nodes)
is "$(status docs)" "$total" "status counts every doc"
check "nodes were made" test "$nodes" -gt "$total"
is "$(ls "$MNT/docstore" | wc -l)" "$nodes" "docstore/ has one file per node"
is "$(ls "$MNT/vector_store" | grep -c '\.f32$')" "$((nodes + 1))" "vector_store/ has one .f32 per node (+ matrix.f32)"
is "$(stat -c %s "$MNT/vector_store/matrix.f32")" "$((nodes * 384 * 4))" "matrix.f32 has n x dim floats"
is "$(wc -l < "$MNT/vector_store/ids.txt")" "$nodes" "ids.txt has a row id per vector"

# Queries: the words of a document find it.
echo "Apache License Version 2.0 grant of patent license" > "$MNT/query/q1"
check "query by cat finds the Apache license" bash -c "cat '$MNT/query/q1' | grep -q 'licenses/Apache-2.0'"
check "query by Python" python3 - "$MNT" <<'PY'
import json, sys
m = sys.argv[1]
# A passage of one document finds that document first.
text = open(m + "/docs/licenses/MPL-2.0").read()[2000:2600]
with open(m + "/query/py.json", "w") as f:
    json.dump({"query": text, "top_k": 3}, f)
r = json.load(open(m + "/query/py.json"))
top = [h["ref_doc_id"] for h in r["results"]]
assert top[0] == "licenses/MPL-2.0", top
assert len(r["results"]) == 3
for h in r["results"]:
    assert set(h) >= {"node_id", "score", "text", "metadata", "ref_doc_id"}
PY

# Overwrite re-indexes; unchanged content does no work.
stats() { python3 -c "import json; d=json.load(open('$MNT/.ragfs/stats.json')); print(d['operations']['$1'])"; }
before=$(stats ingests)
cp "$CORPUS/licenses/GPL-3" "$MNT/docs/licenses/GPL-3"
is "$(stats ingests)" "$before" "rewriting identical content does not re-index"
echo "zebra quokka platypus" > "$MNT/docs/licenses/GPL-3"
is "$(stats ingests)" "$((before + 1))" "overwrite re-indexes"
echo "zebra quokka platypus" > "$MNT/query/q2"
check "query sees the new content" bash -c "grep -q '\"ref_doc_id\": \"licenses/GPL-3\"' '$MNT/query/q2' && grep -q quokka '$MNT/query/q2'"
check "old nodes of the overwritten doc are gone" bash -c "! grep -rl 'GNU GENERAL PUBLIC LICENSE' '$MNT/docstore' | xargs -r grep -l '\"licenses/GPL-3\"' | grep -q ."

# sed -i (temp file + rename) works and re-indexes.
sed -i 's/platypus/wombat/' "$MNT/docs/licenses/GPL-3"
is "$(cat "$MNT/docs/licenses/GPL-3")" "zebra quokka wombat" "sed -i edits in place"
echo "wombat" > "$MNT/query/q3"
check "sed -i result is indexed" grep -q '"ref_doc_id": "licenses/GPL-3"' "$MNT/query/q3"
check "no sed temp file left" bash -c "! ls -a '$MNT/docs/licenses' | grep -q '^sed'"

# mv re-keys without re-embedding.
before=$(stats ingests)
vecs=$(ls "$MNT/vector_store" | sort | md5sum)
check "mv a file" mv "$MNT/docs/licenses/GPL-3" "$MNT/docs/moved.txt"
is "$(stats ingests)" "$before" "mv does not re-ingest"
is "$(ls "$MNT/vector_store" | sort | md5sum)" "$vecs" "mv keeps the same vectors"
check "query finds the doc under its new id" bash -c "cat '$MNT/query/q3' | grep -q '\"ref_doc_id\": \"moved.txt\"'"
check "old path is gone" test ! -e "$MNT/docs/licenses/GPL-3"
check "mv a folder" mv "$MNT/docs/copyright/deep" "$MNT/docs/deep2"
is "$(find "$MNT/docs/deep2" -type f | wc -l)" "$(find "$CORPUS/copyright/deep" -type f | wc -l)" "folder moved whole"

# mkdir/rmdir, rm -r.
check "mkdir" mkdir -p "$MNT/docs/new/sub"
check "empty folder listed" test -d "$MNT/docs/new/sub"
is "$(pyerr rmdir "$MNT/docs/deep2")" "ENOTEMPTY" "rmdir of a non-empty folder: ENOTEMPTY"
check "rmdir" rmdir "$MNT/docs/new/sub"
nodes=$(status nodes)
n_deep=$(find "$MNT/docs/deep2" -type f | wc -l)
check "rm -r a folder" rm -r "$MNT/docs/deep2"
is "$(status docs)" "$((total - n_deep))" "rm -r removed the docs"
check "rm removed their nodes" test "$(status nodes)" -lt "$nodes"
is "$(ls "$MNT/docstore" | wc -l)" "$(status nodes)" "docstore agrees after rm"
is "$(grep -c . "$MNT/vector_store/ids.txt")" "$(status vectors)" "vector store agrees after rm"

# rsync into the mount (temp files + rename, then times).
mkdir -p "$WORK/rs" && cp "$CORPUS"/licenses/* "$WORK/rs/"
check "rsync -a into the mount" rsync -a "$WORK/rs/" "$MNT/docs/rs/"
check "rsync copy is identical" diff -r "$WORK/rs" "$MNT/docs/rs"
is "$(stat -c %Y "$MNT/docs/rs/GPL-2")" "$(stat -c %Y "$WORK/rs/GPL-2")" "rsync -a keeps mtimes"
check "second rsync has nothing to send" bash -c "[ -z \"\$(rsync -ai '$WORK/rs/' '$MNT/docs/rs/')\" ]"

# Persistence: unmount, remount, everything is still there.
rumount; ok $? "unmount exits 0"
rmount
is "$(find "$MNT/docs" -type f | wc -l)" "$((total - n_deep + $(ls "$WORK/rs" | wc -l)))" "remount sees every doc"
check "remount: bytes intact" diff -r "$WORK/rs" "$MNT/docs/rs"
echo "wombat" > "$MNT/query/q4"
check "remount: queries work" grep -q '"ref_doc_id": "moved.txt"' "$MNT/query/q4"
rumount; ok $? "unmount exits 0"
done_testing
