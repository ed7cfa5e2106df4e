#!/usr/bin/env bash
# Two mounts of one store (own cache dirs: two machines) ingest at once:
# each sees the other's documents after flush_interval, and a third, fresh
# mount sees the union with the three stores agreeing. Nothing committed is
# lost to the conditional manifest writes.
. "$(dirname "$0")/lib.sh"
setup
MNT_A=$WORK/mnt; MNT_B=$WORK/mnt_b; mkdir -p "$MNT_B"
extra=()
[ "${RAGFS_TEST_S3:-0}" = 1 ] && extra=(-o "endpoint=$RAGFS_S3_ENDPOINT")
"$RAGFS" -f "${extra[@]}" -o flush_interval=1,cache_dir="$WORK/cache_a" "$STORE" "$MNT_A" 2>>"$WORK/daemon.log" &
PA=$!
for _ in $(seq 1 100); do is_mounted "$MNT_A" && break; sleep 0.1; done
"$RAGFS" -f "${extra[@]}" -o flush_interval=1,cache_dir="$WORK/cache_b" "$STORE" "$MNT_B" 2>>"$WORK/daemon.log" &
PB=$!
for _ in $(seq 1 100); do is_mounted "$MNT_B" && break; sleep 0.1; done
trap 'fusermount3 -uz "$MNT_B" 2>/dev/null; kill $PB 2>/dev/null; teardown' EXIT
DPID=$PA
is_mounted "$MNT_A" && is_mounted "$MNT_B"; ok $? "two mounts of one store"

mkdir -p "$WORK/a" "$WORK/b"
for i in $(seq 1 60); do
	printf 'from mount A, document %d, alphaword%d\n' "$i" "$i" > "$WORK/a/a$i.txt"
	printf 'from mount B, document %d, betaword%d\n' "$i" "$i" > "$WORK/b/b$i.txt"
done
( for f in "$WORK"/a/*; do cp "$f" "$MNT_A/docs/"; done ) &
CA=$!
( for f in "$WORK"/b/*; do cp "$f" "$MNT_B/docs/"; done ) &
CB=$!
wait $CA; wait $CB
seen() { # seen MOUNT COUNT: wait until MOUNT lists COUNT documents
	for _ in $(seq 1 100); do
		[ "$(ls "$1/docs" | wc -l)" -ge "$2" ] && return 0
		sleep 0.2
	done
	return 1
}
check "mount A sees B's documents within a few flush intervals" seen "$MNT_A" 120
check "mount B sees A's documents" seen "$MNT_B" 120
echo "betaword33" > "$MNT_A/query/q"
check "A finds B's document by query" grep -q '"ref_doc_id": "b33.txt"' "$MNT_A/query/q"
echo "alphaword7" > "$MNT_B/query/q"
check "B finds A's document by query" grep -q '"ref_doc_id": "a7.txt"' "$MNT_B/query/q"
echo "overwritten by B" > "$MNT_B/docs/a5.txt"
check "an overwrite by B reaches A" bash -c "for i in \$(seq 1 50); do grep -q 'overwritten by B' '$MNT_A/docs/a5.txt' && exit 0; sleep 0.2; done; exit 1"
cp "$MNT_B/docs/a5.txt" "$WORK/a/a5.txt"
fusermount3 -u "$MNT_B"; wait $PB; st=$?
is "$st" 0 "mount B unmounts cleanly"
rumount; ok $? "mount A unmounts cleanly"

rmount -o cache_dir="$WORK/cache_c"
is "$(ls "$MNT/docs" | wc -l)" 120 "a fresh mount sees the union"
mkdir -p "$WORK/union" && cp "$WORK"/a/* "$WORK"/b/* "$WORK/union/"
check "every document intact" diff -r "$WORK/union" "$MNT/docs"
check "docstore, index store, vector store and ref_doc_info agree" stores_agree
rumount; ok $? "unmount exits 0"
done_testing
