#!/usr/bin/env bash
# Reference model: seeded random create/write/overwrite/truncate/rename/
# unlink/mkdir/rmdir/query sequences on docs/ and on a plain directory;
# trees, errnos and query rankings must agree after every step
# (tests/model.py, which mounts a fresh store per run and shrinks failures).
#
# MODEL_SEEDS (default 1,2,3,4) and MODEL_STEPS (default 300) choose the run.
. "$(dirname "$0")/lib.sh"
setup
SRC=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
SEEDS=${MODEL_SEEDS:-1,2,3,4}
STEPS=${MODEL_STEPS:-300}
command -v python3 >/dev/null || skip_all "no python3"
# model.py prints TAP of its own; fold it into this script's plan.
out=$(timeout 300 python3 "$SRC/tests/model.py" --ragfs "$RAGFS" --seeds "$SEEDS" \
	--steps "$STEPS" 2>&1)
st=$?
while IFS= read -r line; do
	case $line in
	"ok "*) ok 0 "${line#ok [0-9]* - }" ;;
	"not ok "*) ok 1 "${line#not ok [0-9]* - }" ;;
	"1.."*) ;;
	*) echo "$line" ;;
	esac
done <<<"$out"
ok "$st" "model.py exits 0"
done_testing
