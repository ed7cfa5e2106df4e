#!/usr/bin/env bash
# persist-ts/ with the real LlamaIndex.TS client (npm llamaindex 0.12.1,
# pinned in tests/llamaindex-ts/package-lock.json and installed with npm ci
# into the build dir, next to $RAGFS):
#  (i)   nodes TS built, put into docstore/ with "embedding" lists computed by
#        the TS hash embedding: TS loads MOUNT/persist-ts and retrieves the
#        same top-k ids and scores (1e-6) as from its own persist dir;
#  (ii)  the same TS persist dir copied in as docstore/ node files plus
#        vector_store/<id>.f32 vectors: the same again;
#  (iii) documents written into docs/ with the default hash embedder: TS loads
#        MOUNT/persist-ts and every vector id resolves to a node with text and
#        metadata, with the fields TS computes itself;
#  (iv)  TS builds the index and persists it straight into MOUNT/persist-ts
#        (each put rewrites a whole file, imported on close): a fresh TS
#        process loads the mount and retrieves as from its own dir;
#  (v)   TS's persist dir copied in (cp dir/*.json MOUNT/persist-ts/) is
#        exported again with the same JSON object per node and vector, byte
#        for byte (whole files: key order only, reported).
# Each structural difference from what TS writes/expects is its own failing
# check; its message names the nodes and shows the JSON involved.
# Skips when node/npm are missing or npm ci cannot reach the registry.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
PKG=$HERE/llamaindex-ts
command -v node >/dev/null && command -v npm >/dev/null || skip_all "no node/npm"
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 18 ] || skip_all "node $(node --version 2>/dev/null) is too old for llamaindex 0.12.1 (needs 18+)"
[ -e /dev/fuse ] || skip_all "no /dev/fuse"
command -v fusermount3 >/dev/null || skip_all "no fusermount3"

# npm ci into the build dir (never the source tree); redone only when the
# lock file changes. RAGFS_NODE_DIR overrides the place.
NODEDIR=${RAGFS_NODE_DIR:-$(cd "$(dirname "$RAGFS")/.." && pwd)/llamaindex-ts-node}
mkdir -p "$NODEDIR" || skip_all "cannot create $NODEDIR"
exec 9>"$NODEDIR.lock"
flock 9
if ! cmp -s "$PKG/package-lock.json" "$NODEDIR/package-lock.json" ||
	! [ -f "$NODEDIR/node_modules/llamaindex/package.json" ]; then
	cp "$PKG/package.json" "$PKG/package-lock.json" "$NODEDIR/"
	t0=$(date +%s)
	if (cd "$NODEDIR" && timeout 900 npm ci --no-audit --no-fund --loglevel=error) \
		>"$NODEDIR/npm-ci.log" 2>&1; then
		NPM_SECS=$(($(date +%s) - t0))
	else
		rm -f "$NODEDIR/package-lock.json" # not installed: redo next time
		if grep -qiE 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network|offline|socket hang up|self.signed|certificate' "$NODEDIR/npm-ci.log"; then
			skip_all "npm ci could not reach the registry ($(grep -m1 -iE 'ENOTFOUND|EAI_AGAIN|ECONN|ETIMEDOUT|UNREACH|network|offline|socket|certificate' "$NODEDIR/npm-ci.log" | cut -c1-120))"
		fi
		echo "not ok 1 - npm ci of $PKG/package-lock.json in $NODEDIR"
		sed 's/^/#   /' "$NODEDIR/npm-ci.log" | tail -20
		echo "1..1"
		exit 1
	fi
fi
cp "$PKG"/*.mjs "$NODEDIR/"
flock -u 9

setup
diag "llamaindex $(node -p 'require(process.argv[1]).version' "$NODEDIR/node_modules/llamaindex/package.json"), node $(node --version)${NPM_SECS:+, npm ci took ${NPM_SECS}s}"
# TS prints "Starting new store from path" and splitter warnings: stderr and
# stdout of the scripts go to logs, results to JSON files
js() { # js SCRIPT ARGS...: the script's result lines (JSON, PASS/FAIL) on
	# stdout; TS's own log lines and stderr go to $WORK/node.log
	local st=0
	(cd "$NODEDIR" && timeout 120 node "$@") >"$WORK/js.out" 2>>"$WORK/node.log" || st=$?
	grep -E $'^(\\{|PASS\t|FAIL\t)' "$WORK/js.out"
	grep -v -E $'^(\\{|PASS\t|FAIL\t)' "$WORK/js.out" >>"$WORK/node.log"
	return $st
}
# tap_checks FILE PREFIX: turn check.mjs/compare.mjs lines into TAP
tap_checks() {
	local st name detail n=0
	while IFS=$'\t' read -r st name detail; do
		case $st in
		PASS) ok 0 "$2$name"; n=$((n + 1)) ;;
		FAIL) ok 1 "$2$name"; n=$((n + 1))
			printf '%s\n' "$detail" | cut -c1-3000 | fold -w 200 | sed 's/^/#   /' ;;
		esac
	done <"$1"
	[ "$n" -gt 0 ] || { ok 1 "$2checks ran"; tail -5 "$WORK/node.log" | sed 's/^/#   /'; }
}
# run_check NAME-PREFIX SCRIPT ARGS...: a checker whose lines become TAP
run_check() {
	local prefix=$1
	shift
	js "$@" >"$WORK/check.out"
	tap_checks "$WORK/check.out" "$prefix"
}
status_field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$MNT/.ragfs/status.json" "$1"; }

# ---- TS's own persist dir and its answers ----
PLAIN=$WORK/ts-plain
js build.mjs "$PLAIN" --docs 12 --chunk-size 40 --dim 64 >"$WORK/build.json"
ok $? "LlamaIndex.TS builds and persists an index over 12 documents ($(cat "$WORK/build.json" 2>/dev/null))"
NNODES=$(python3 -c "import json; print(json.load(open('$WORK/build.json'))['nodes'])" 2>/dev/null || echo 0)
cat >"$WORK/queries.json" <<'EOF'
["how long do cats sleep", "user space filesystem daemon kernel", "object stores bucket and key egress",
 "compost and soil for the tomato seed", "piano melody and violin chords", "train ticket to the mountain river",
 "garlic butter bread recipe in the oven", "replica snapshot of the journal segment on disk", "Café naïve unicode",
 "the quiet green rose"]
EOF
K=4
js query.mjs "$PLAIN" --topk $K --queries "$WORK/queries.json" >"$WORK/plain.text.json"
ok $? "TS retrieves from its own persist dir"
js query.mjs "$PLAIN" --topk $K --by-node >"$WORK/plain.node.json"
ok $? "TS queries its own vector store by every node's vector"

# the three answers every mount of TS's nodes must give
same_answers() { # same_answers LABEL
	js query.mjs "$MNT/persist-ts" --topk $K --queries "$WORK/queries.json" >"$WORK/mnt.text.json"
	ok $? "$1: TS loads MOUNT/persist-ts and retrieves"
	js compare.mjs "$WORK/plain.text.json" "$WORK/mnt.text.json" "$1: retriever.retrieve top-$K ids and scores from MOUNT/persist-ts = from TS's own dir" >"$WORK/cmp.out"
	tap_checks "$WORK/cmp.out" ""
	js query.mjs "$MNT/persist-ts" --topk $K --by-node >"$WORK/mnt.node.json"
	js compare.mjs "$WORK/plain.node.json" "$WORK/mnt.node.json" "$1: vector store query by each node's vector, MOUNT/persist-ts = TS's own dir" >"$WORK/cmp.out"
	tap_checks "$WORK/cmp.out" ""
	js ragfs-query.mjs "$MNT" "$WORK/plain.text.json" >"$WORK/ragfs.text.json"
	js compare.mjs "$WORK/plain.text.json" "$WORK/ragfs.text.json" "$1: ragfs's query/ with TS's query embeddings = TS's top-$K" >"$WORK/cmp.out"
	tap_checks "$WORK/cmp.out" ""
	run_check "$1: " check.mjs same "$PLAIN" "$MNT/persist-ts"
	run_check "$1: " check.mjs resolve "$MNT/persist-ts"
}

# ---- (i) node files with "embedding" lists from the TS hash embedding ----
use_store store-i
rmount -o embed=none,dim=64
ok $? "(i) mount -o embed=none,dim=64"
EXP=$WORK/export-i
js export-nodes.mjs "$PLAIN" "$EXP" --embed --dim 64 >"$WORK/export.json"
ok $? "(i) TS exports its nodes with hash-embedding vectors (recomputed = persisted)"
cp "$EXP"/docstore/*.json "$MNT/docstore/"
ok $? "(i) cp the node files into docstore/"
is "$(status_field nodes)/$(status_field vectors)" "$NNODES/$NNODES" "(i) ragfs holds every node and vector"
same_answers "(i)"
rumount
ok $? "(i) unmount exits 0"

# ---- (ii) node files + vector_store/<id>.f32 from TS's vector store ----
use_store store-ii
rmount -o embed=none,dim=64
ok $? "(ii) mount -o embed=none,dim=64"
EXP=$WORK/export-ii
js export-nodes.mjs "$PLAIN" "$EXP" --f32 >"$WORK/export.json"
ok $? "(ii) TS exports its nodes and its persisted vectors as .f32"
cp "$EXP"/docstore/*.json "$MNT/docstore/" && cp "$EXP"/vector_store/*.f32 "$MNT/vector_store/"
ok $? "(ii) cp the node files into docstore/ and the vectors into vector_store/"
is "$(status_field nodes)/$(status_field vectors)" "$NNODES/$NNODES" "(ii) ragfs holds every node and vector"
check "(ii) each vector_store/<id>.f32 reads back as TS's vector" python3 -c "
import json, struct, sys
v = json.load(open('$PLAIN/vector_store.json'))['embeddingDict']
for i, e in v.items():
    b = open('$MNT/vector_store/%s.f32' % i, 'rb').read()
    assert list(struct.unpack('<%df' % len(e), b)) == e, i"
same_answers "(ii)"
rumount
ok $? "(ii) unmount exits 0"

# ---- (iii) documents through docs/ with the default hash embedder ----
use_store store-iii
rmount -o chunk_size=64,chunk_overlap=8
ok $? "(iii) mount with the default hash embedder"
D=$MNT/docs
mkdir -p "$D/notes/deep" "$D/données"
cat >"$D/notes/cats.txt" <<'EOF'
Cats are small carnivorous mammals. They are popular house pets and sleep for twelve to sixteen hours a day.

Cats communicate by meowing, purring and hissing. A cat's whiskers help it judge whether it fits through a gap.

Domestic cats were first kept in the Near East about ten thousand years ago, probably to hunt mice in grain stores.
EOF
cat >"$D/notes/deep/fuse.md" <<'EOF'
# FUSE
FUSE lets user space programs implement a filesystem. The kernel forwards VFS calls such as lookup, read and write to the daemon.
## Caching
Entry and attribute timeouts decide how long the kernel may cache names and attributes. A timeout of zero asks the daemon every time.
## Unmounting
fusermount3 -u unmounts; the daemon should flush and exit cleanly.
EOF
printf '{"text": "Amazon S3 and Cloudflare R2 are object stores addressed by bucket and key. R2 speaks the S3 API and has no egress fees.", "metadata": {"topic": "storage", "year": 2024, "score": 0.5, "tags": ["s3", "r2"], "reviewed": true}}' >"$D/données/s3.json"
printf 'name,city,year\nAda,London,1843\n"Grace, RADM",Arlington,1952\n' >"$D/people.csv"
printf '<html><head><title>Caf\xc3\xa9</title></head><body><h1>Menu</h1><p>Caf\xc3\xa9 au lait &amp; croissants \xf0\x9f\x98\x80.</p><h2>Hours</h2><p>Open daily.</p></body></html>' >"$D/menu.html"
printf 'int main(void) { return 0; }\n' >"$D/notes/prog.c"
check "(iii) the documents are indexed" test "$(status_field vectors)" -ge 6
run_check "(iii): " check.mjs resolve "$MNT/persist-ts"
js query.mjs "$MNT/persist-ts" --topk 5 --by-node >"$WORK/iii.ts.json"
ok $? "(iii) TS queries MOUNT/persist-ts by every node's vector"
js ragfs-query.mjs "$MNT" "$WORK/iii.ts.json" >"$WORK/iii.ragfs.json"
js compare.mjs "$WORK/iii.ts.json" "$WORK/iii.ragfs.json" "(iii) ragfs's query/ by each node's vector = TS's top-5 on MOUNT/persist-ts" >"$WORK/cmp.out"
tap_checks "$WORK/cmp.out" ""
rumount
ok $? "(iii) unmount exits 0"

# ---- (iv) TS persists straight into MOUNT/persist-ts ----
use_store store-iv
rmount -o embed=none,dim=64
ok $? "(iv) mount -o embed=none,dim=64"
js build-into.mjs "$MNT/persist-ts" --docs 12 --chunk-size 40 --dim 64 >"$WORK/build-iv.json"
ok $? "(iv) LlamaIndex.TS builds the index with persistDir MOUNT/persist-ts ($(cat "$WORK/build-iv.json" 2>/dev/null))"
is "$(status_field nodes)/$(status_field vectors)" "$NNODES/$NNODES" "(iv) ragfs holds every node and vector"
is "$(status_field errors)" 0 "(iv) no import was refused"
same_answers "(iv)"
rumount
ok $? "(iv) unmount exits 0"

# ---- (v) TS's persist dir copied in, exported again ----
use_store store-v
rmount -o embed=none,dim=64
ok $? "(v) mount -o embed=none,dim=64"
cp "$PLAIN"/*.json "$MNT/persist-ts/"
ok $? "(v) cp TS's persist dir into MOUNT/persist-ts/"
is "$(status_field vectors)" "$NNODES" "(v) ragfs holds every vector"
run_check "" same-objects.mjs "$PLAIN" "$MNT/persist-ts" "(v)"
for f in "$PLAIN"/*.json; do
	check "(v) $(basename "$f") re-exports byte for byte (the whole file)" cmp "$f" "$MNT/persist-ts/$(basename "$f")"
done
cp "$PLAIN"/*.json "$MNT/persist-ts/"
run_check "" same-objects.mjs "$PLAIN" "$MNT/persist-ts" "(v) after a second cp"
same_answers "(v)"
rumount
ok $? "(v) unmount exits 0"
done_testing
