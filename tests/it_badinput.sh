#!/usr/bin/env bash
# Refused input: the errno SPEC names, one line in errors.log, nothing else
# changed, the mount keeps working. Also the stores' own files.
. "$(dirname "$0")/lib.sh"
setup
rmount -o dim=8,chunk_size=64
M=$MNT
echo "alpha beta gamma" > "$M/docs/a.txt"
snapshot() { (cd "$M" && ls -R docs docstore index_store vector_store kvstore | md5sum; cat vector_store/matrix.f32 | md5sum); }
nerr() { grep -c . "$M/.ragfs/errors.log"; }
refused() { # refused WANT-ERRNO MESSAGE LOG-PATTERN op path [data]
	local want=$1 msg=$2 pat=$3
	shift 3
	local before_snap before_err got
	before_snap=$(snapshot)
	before_err=$(nerr)
	got=$(pyerr "$@")
	is "$got" "$want" "$msg: $want"
	is "$(nerr)" "$((before_err + 1))" "$msg: one line in errors.log"
	check "$msg: the log line names the path" bash -c "tail -1 '$M/.ragfs/errors.log' | grep -q -- '$pat'"
	is "$(snapshot)" "$before_snap" "$msg: nothing else changed"
}
refused EINVAL "invalid node JSON" "docstore/n1" write "$M/docstore/n1.json" '{"id_": "n1", '
refused EINVAL "non-object node JSON" "not a JSON object" write "$M/docstore/n1.json" '[1, 2]'
refused EINVAL "node id/name mismatch" "does not match" write "$M/docstore/n1.json" '{"id_": "n2", "text": "x"}'
refused EINVAL "wrong .f32 size" "vector_store/v1" writehex "$M/vector_store/v1.f32" "0000803f"
refused EINVAL "NaN in a vector" "NaN" writehex "$M/vector_store/v1.f32" "$(python3 -c "import struct; print(struct.pack('<8f', *([1.0]*7 + [float('nan')])).hex())")"
mkdir "$M/kvstore/mine"
refused EINVAL "kvstore value not an object" "not a JSON object" write "$M/kvstore/mine/k.json" '"str"'
refused EINVAL "invalid index struct JSON" "index_store/i1" write "$M/index_store/i1.json" 'nope'
refused EINVAL "wrong name in docstore/" "docstore/x.txt" write "$M/docstore/x.txt" '{}'

# Accepted writes of the same kinds work.
is "$(pyerr write "$M/docstore/n1.json" '{"id_": "n1", "text": "hand made node", "embedding": [1,0,0,0,0,0,0,0]}')" OK "valid node JSON with an embedding is accepted"
is "$(stat -c %s "$M/vector_store/n1.f32")" 32 "its vector is dim*4 bytes"
is "$(pyerr writehex "$M/vector_store/n1.f32" "$(python3 -c "import struct; print(struct.pack('<8f', 0,1,0,0,0,0,0,0).hex())")")" OK "a right-sized .f32 sets the vector"
check "numpy-style read of the .f32" python3 -c "
import struct; v=struct.unpack('<8f', open('$M/vector_store/n1.f32','rb').read()); assert v[1]==1.0"
is "$(pyerr write "$M/kvstore/mine/k.json" '{"a": 1}')" OK "kvstore object accepted"
is "$(cat "$M/kvstore/mine/k.json")" '{"a": 1}' "kvstore value reads back"
check "kvstore shows the docstore collections" test -f "$M/kvstore/docstore/data/n1.json"
check "kvstore docstore entry is LlamaIndex-wrapped" python3 -c "
import json; d=json.load(open('$M/kvstore/docstore/data/n1.json')); assert d['__type__']=='1' and d['__data__']['id_']=='n1'"
idx=$(ls "$M/index_store" | head -1)
check "default index struct lists the vectors" python3 -c "
import json; d=json.load(open('$M/index_store/$idx')); s=json.loads(d['__data__']); assert 'n1' in s['nodes_dict']"
is "$(pyerr write "$M/index_store/$idx" '{}')" EPERM "the default index struct is read-only"
is "$(pyerr write "$M/kvstore/docstore/data/zz.json" '{}')" EPERM "docstore collections are not written through kvstore/"
is "$(pyerr write "$M/.ragfs/status.json" x)" EACCES ".ragfs files are read-only"
is "$(pyerr write "$M/vector_store/matrix.f32" x)" EACCES "matrix.f32 is read-only"
is "$(pyerr write "$M/search/x" x)" EACCES "search/ files are read-only"
is "$(pyerr symlink "$M/docs/link")" ENOTSUP "symlinks: ENOTSUP"
is "$(pyerr link "$M/docs/a.txt" "$M/docs/hard")" ENOTSUP "hard links: ENOTSUP"
is "$(pyerr chown "$M/docs/a.txt")" EPERM "chown to another user: EPERM"
is "$(pyerr rename "$M/docs/a.txt" "$M/kvstore/mine/a.json")" EXDEV "rename across folders: EXDEV"
is "$(pyerr mkdir "$M/newtop")" EPERM "mkdir at the root: EPERM"
is "$(pyerr rmdir "$M/docs")" EPERM "rmdir of a top folder: EPERM"
is "$(pyerr write "$M/docs/nodir/x.txt" x)" ENOENT "create in a missing folder: ENOENT"
is "$(pyerr unlink "$M/docs/missing.txt")" ENOENT "unlink of a missing doc: ENOENT"
check "rm of a node file" rm "$M/docstore/n1.json"
check "its vector went with it" test ! -e "$M/vector_store/n1.f32"
check "chmod of a doc" chmod 600 "$M/docs/a.txt"
is "$(stat -c %a "$M/docs/a.txt")" 600 "the mode sticks"
# Binary garbage in docs/ is stored, not indexed, and readable.
head -c 4096 /dev/urandom > "$WORK/bin"
check "binary file stored" cp "$WORK/bin" "$M/docs/blob.bin"
check "binary file reads back" cmp "$WORK/bin" "$M/docs/blob.bin"
check "binary file is reported as not indexed" python3 -c "
import json; d=json.load(open('$M/.ragfs/status.json')); assert d['docs_not_indexed']==1, d"
echo "alpha beta" > "$M/query/q"
check "the mount still answers queries" grep -q '"ref_doc_id": "a.txt"' "$M/query/q"
rumount; ok $? "unmount exits 0"
done_testing
