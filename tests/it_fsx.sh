#!/usr/bin/env bash
# fsx: seeded random pread/pwrite/truncate/append/mmap-read/reopen on files in
# docs/, every byte checked against an in-memory model (tests/fsx.c), and the
# same seeds on a plain directory as a control: the final files must match,
# and still match after a remount.
#
# FSX_SEED (default 1) and FSX_OPS (default 20000) choose the run; FSX is the
# fsx binary (default: next to the daemon's build, else compiled here).
. "$(dirname "$0")/lib.sh"
setup
SEED=${FSX_SEED:-1}
OPS=${FSX_OPS:-20000}
SRC=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
FSX=${FSX:-$(dirname "$RAGFS")/../tests/fsx}
if [ ! -x "$FSX" ]; then
	FSX=$WORK/fsx
	cc -std=gnu11 -O2 -D_GNU_SOURCE -o "$FSX" "$SRC/tests/fsx.c" || skip_all "cannot build fsx"
fi
CTL=$WORK/control
mkdir -p "$CTL/sub" "$CTL/a/b/c"

# run_fsx MESSAGE ARGS...: one TAP line for one fsx run; its output as diag.
run_fsx() {
	local msg=$1 out st=0
	shift
	out=$("$FSX" -q "$@" 2>&1) || st=$?
	ok "$st" "$msg"
	if [ "$st" -ne 0 ]; then
		printf '%s\n' "$out" | grep -v '^1\.\.' | sed 's/^/#   /' | head -40
	else
		printf '%s\n' "$out" | grep '^ok' | sed 's/^ok 1 - /#   /'
	fi
}

# The files: binary, text (ragfs indexes it at each close while it has no
# NUL bytes) and one without an extension three folders down.
FILES="fsx1.bin:$SEED: sub/fsx2.txt:$((SEED + 1)):-t a/b/c/fsx3:$((SEED + 2)):"

for spec in $FILES; do
	IFS=: read -r f s t <<<"$spec"
	# shellcheck disable=SC2086
	run_fsx "control: fsx $OPS ops on a plain directory ($f, seed $s)" \
		-N "$OPS" -S "$s" $t "$CTL/$f"
done

rmount -o flush_interval=1 || { ok 1 "mount"; done_testing; }
mkdir -p "$MNT/docs/sub" "$MNT/docs/a/b/c"
for spec in $FILES; do
	IFS=: read -r f s t <<<"$spec"
	# -s: sizes checked through reads only; fstat is checked below.
	# shellcheck disable=SC2086
	run_fsx "ragfs: fsx $OPS ops on docs/$f (seed $s, data and read sizes)" \
		-N "$OPS" -S "$s" -s $t "$MNT/docs/$f"
	check "ragfs: docs/$f equals the control file" cmp "$CTL/$f" "$MNT/docs/$f"
done

# fstat of an open file must see its unclosed writes and truncates (a plain
# filesystem does; the control runs check it there).
run_fsx "ragfs: fsx with fstat size checks after every op (docs/fsx-size.bin)" \
	-N 2000 -S "$SEED" "$MNT/docs/fsx-size.bin"
run_fsx "ragfs: fsx with fstat size checks, text (docs/fsx-size.txt)" \
	-N 2000 -S "$((SEED + 1))" -t "$MNT/docs/fsx-size.txt"

# The mmap path alone (no fstat), small ops and frequent reopens.
run_fsx "ragfs: fsx mmap-heavy run, reopen every 50 (docs/fsx4.bin)" \
	-N 5000 -S "$((SEED + 3))" -s -o 8192 -l 65536 -c 50 "$MNT/docs/fsx4.bin"

rumount; ok $? "unmount exits 0"
rmount || { ok 1 "remount"; done_testing; }
for spec in $FILES; do
	IFS=: read -r f s t <<<"$spec"
	check "remount: docs/$f still equals the control file" cmp "$CTL/$f" "$MNT/docs/$f"
done
rumount; ok $? "unmount exits 0"
done_testing
