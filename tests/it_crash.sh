#!/usr/bin/env bash
# Crash loop: SIGKILL the daemon right after a batch of cp returned, remount:
# every file is there and intact, queries find them, the three stores agree.
. "$(dirname "$0")/lib.sh"
setup
ROUNDS=${CRASH_ROUNDS:-20}
SRC=$WORK/src
mkdir -p "$SRC"
total=0
for r in $(seq 1 "$ROUNDS"); do
	rmount -o flush_interval=3 || { ok 1 "round $r: mount"; break; }
	# Some documents of this round, written with cp; kill right after it returns.
	for i in $(seq 1 25); do
		printf 'round %d document %d\nkeyword%dx%d and some shared words about crashes\n' \
			"$r" "$i" "$r" "$i" > "$SRC/r$r-$i.txt"
	done
	cp "$SRC"/r"$r"-*.txt "$MNT/docs/"
	total=$((total + 25))
	# Overwrite and delete a few from earlier rounds too.
	if [ "$r" -gt 1 ]; then
		echo "rewritten in round $r" > "$SRC/r$((r - 1))-1.txt"
		cp "$SRC/r$((r - 1))-1.txt" "$MNT/docs/"
		rm "$SRC/r$((r - 1))-2.txt" "$MNT/docs/r$((r - 1))-2.txt"
		total=$((total - 1))
	fi
	rkill
	rmount || { ok 1 "round $r: remount after SIGKILL"; break; }
	is "$(ls "$MNT/docs" | wc -l)" "$total" "round $r: every closed file is there"
	check "round $r: every file is intact" diff -r "$SRC" "$MNT/docs"
	echo "keyword${r}x7" > "$MNT/query/q"
	check "round $r: queries find this round's documents" grep -q "\"ref_doc_id\": \"r$r-7.txt\"" "$MNT/query/q"
	check "round $r: docstore, index store and vector store agree" stores_agree
	rumount || ok 1 "round $r: clean unmount"
done
ALLOW_LOG="journal .* torn tail"
done_testing
