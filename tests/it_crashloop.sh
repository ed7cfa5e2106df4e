#!/usr/bin/env bash
# Crash loop at random moments: tests/crashload.py runs 3 writers (ingests,
# overwrites, appends, temp-file renames, renames of files and folders,
# unlinks) logging every call that returned; the daemon is SIGKILLed after a
# random delay (20 ms to 1.5 s: inside ingest, inside a flush), every third
# cycle again 0-400 ms into the recovery, remounted, and
# crashload.py check compares each writer's folder with the calls that
# returned (the one in flight: all or nothing), the nodes with the bytes,
# and the stores with each other. CRASH_CYCLES (default 50, 20 under a
# sanitizer), CRASH_SEED (default random; printed, and on failure with the
# cycle to rerun).
. "$(dirname "$0")/lib.sh"
SRC=${SRCDIR:-$(dirname "$0")/..}
setup
# 50 cycles; 20 for a daemon built with ASan/TSan (about 2.5x slower each).
cycles=50
ldd "$RAGFS" 2>/dev/null | grep -qE 'lib(asan|tsan)' && cycles=20
CYCLES=${CRASH_CYCLES:-$cycles}
SEED=${CRASH_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
RANDOM=$SEED
diag "seed $SEED (CRASH_SEED=$SEED reruns these workloads), $CYCLES cycles"
LOG=$WORK/ops.log
STATE=$WORK/state.json
OPTS=(-o flush_interval=1,dim=64,chunk_size=256,chunk_overlap=32)
failed_cycles=
rmount "${OPTS[@]}" || { ok 1 "first mount"; done_testing; }
# (stores_agree needs at least one document: an empty store has no
# kvstore/docstore/ref_doc_info collection.)
echo "a document outside the writers' folders" >"$MNT/docs/first.txt"
t0=$(date +%s)
for c in $(seq 1 "$CYCLES"); do
	: >"$LOG"
	python3 "$SRC/tests/crashload.py" run "$MNT" "$LOG" "$SEED" "$c" 3 &
	wpid=$!
	delay=$((RANDOM % 1480 + 20))
	sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
	kill -9 "$DPID"
	wait "$DPID" 2>/dev/null
	DPID=
	# The writers see ENOTCONN while the dead mount is still attached; only
	# once they are gone is it detached (else they would write into the
	# bare mountpoint). Never wait forever.
	for _ in $(seq 1 100); do kill -0 "$wpid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$wpid" 2>/dev/null
	wait "$wpid" 2>/dev/null
	fusermount3 -uz "$MNT" 2>/dev/null
	for _ in $(seq 1 50); do is_mounted "$MNT" || break; sleep 0.1; done
	# Every third cycle, crash the recovery too: start the daemon on the
	# crashed store and kill it 0-400 ms later (replaying the journal,
	# flushing the recovered frames, or just mounted).
	if [ $((c % 3)) -eq 0 ]; then
		early=$((RANDOM % 400))
		"$RAGFS" -f "${RAGFS_STORE_OPTS[@]}" "${OPTS[@]}" "$STORE" "$MNT" 2>>"$WORK/daemon.log" &
		epid=$!
		sleep "0.$(printf '%03d' $early)"
		kill -9 "$epid" 2>/dev/null
		wait "$epid" 2>/dev/null
		fusermount3 -uz "$MNT" 2>/dev/null
		for _ in $(seq 1 50); do is_mounted "$MNT" || break; sleep 0.1; done
		delay="$delay, then at $early ms into the recovery"
	fi
	if ! rmount "${OPTS[@]}"; then
		ok 1 "cycle $c: remount after SIGKILL at ${delay} ms"
		diag "FAILED: seed $SEED cycle $c; the daemon log ends:"
		tail -5 "$WORK/daemon.log" | sed 's/^/#   /'
		break
	fi
	out=$(python3 "$SRC/tests/crashload.py" check "$MNT" "$LOG" "$STATE" 2>&1)
	rc=$?
	ok $rc "cycle $c (kill at ${delay} ms): returned calls kept, the call in flight all or nothing, nodes match bytes"
	printf '%s\n' "$out" | sed 's/^/#   /'
	check "cycle $c: docstore, index store and vector store agree" stores_agree
	if [ $rc -ne 0 ]; then
		failed_cycles="$failed_cycles $c"
		diag "FAILED: seed $SEED cycle $c (kill at ${delay} ms)"
		cp "$LOG" "/tmp/ragfs-crashloop-$SEED-$c.log" 2>/dev/null
	fi
	# Now and then a clean unmount too: it must flush and exit 0.
	if [ $((c % 10)) -eq 0 ]; then
		rumount
		ok $? "cycle $c: clean unmount exits 0"
		rmount "${OPTS[@]}" || { ok 1 "cycle $c: mount after the clean unmount"; break; }
		: >"$LOG"
		check "cycle $c: the clean remount holds the same files" python3 "$SRC/tests/crashload.py" check "$MNT" "$LOG" "$STATE"
	fi
done
diag "$CYCLES cycles in $(($(date +%s) - t0)) s"
[ -z "$failed_cycles" ] || diag "FAILED cycles:$failed_cycles (CRASH_SEED=$SEED)"
rumount
ok $? "final unmount exits 0"
ALLOW_LOG="journal .* torn tail"
done_testing
