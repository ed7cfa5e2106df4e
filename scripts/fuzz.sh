#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] [TARGET...] - build the libFuzzer targets in fuzz/
# with clang (-fsanitize=fuzzer,address,undefined) and run each for SECONDS
# (default 60) from its seed corpus fuzz/corpus/<target>/ (and with the
# dictionary fuzz/<target>.dict when there is one). New corpus units
# and crash artifacts go to $FUZZ_OUT (default /tmp/ragfs-fuzz), never into
# the tree. Exits non-zero when a target crashes, leaks or fails to build.
# Needs clang-14 and libclang-rt-14-dev (Debian): apt-get install -y clang-14
# libclang-rt-14-dev.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
TARGETS=${*:-fuzz_node fuzz_query fuzz_frame fuzz_manifest fuzz_persist fuzz_s3xml fuzz_vecblock}
OUT=${FUZZ_OUT:-/tmp/ragfs-fuzz}
CC=${CC_FUZZ:-$(command -v clang-14 || command -v clang || true)}
[ -n "$CC" ] || { echo "fuzz.sh: clang not found (apt-get install -y clang-14 libclang-rt-14-dev)" >&2; exit 2; }
OUT=$OUT${FUZZ_EXTRA_CFLAGS:+/extra}
mkdir -p "$OUT/obj"

# FUZZ_EXTRA_CFLAGS (e.g. -fno-sanitize=float-cast-overflow) lets a run look
# past a known finding; the objects are rebuilt when it changes.
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer ${FUZZ_EXTRA_CFLAGS:-}"
CFLAGS="-std=gnu11 -g -O1 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wmissing-declarations \
-Wwrite-strings -Wno-unused-parameter -Werror $(pkg-config --cflags libcjson openblas libxml-2.0 libzip)"
LIBS="$(pkg-config --libs libcjson openblas libcrypto zlib libxml-2.0 libzip libcurl) -lpthread -lm"

# The store and backend libraries, instrumented for coverage (no fuzzer
# main), in an archive so that each target links only the objects it needs.
objs=()
for src in store/*.c backends/*.c; do
	[ "$src" != store/pdftext.c ] || continue # a program of its own (poppler)
	# clang 14 knows no __builtin_cpu_supports("f16c"): there vecquant.c
	# takes its portable kernels (the fuzzers do not reach the AVX2 ones).
	extra=
	[ "$src" != store/vecquant.c ] || extra="-D__builtin_cpu_supports(f)=0"
	obj="$OUT/obj/$(basename "${src%.c}").o"
	if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$0" -nt "$obj" ]; then
		# shellcheck disable=SC2086
		"$CC" $CFLAGS $SAN $extra -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
	fi
	objs+=("$obj")
done
rm -f "$OUT/libfuzzstore.a"
ar rcs "$OUT/libfuzzstore.a" "${objs[@]}"

fail=0
for t in $TARGETS; do
	# shellcheck disable=SC2086
	"$CC" $CFLAGS $SAN -fsanitize=fuzzer "fuzz/$t.c" "$OUT/libfuzzstore.a" $LIBS -o "$OUT/$t"
	mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t"
	seeds=fuzz/corpus/$t
	[ -d "$seeds" ] || seeds=
	dict=
	[ ! -f "fuzz/$t.dict" ] || dict=-dict=fuzz/$t.dict
	echo "== $t: ${SECS}s"
	st=0
	# shellcheck disable=SC2086 # $dict and $seeds may be empty
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		"$OUT/$t" -max_total_time="$SECS" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$OUT/artifacts/$t/" $dict \
		"$OUT/corpus/$t" $seeds >"$OUT/$t.log" 2>&1 || st=$?
	grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|Done [0-9]+ runs' "$OUT/$t.log" || true
	if [ "$st" -ne 0 ]; then
		echo "!! $t failed (exit $st); log: $OUT/$t.log; artifacts: $OUT/artifacts/$t/"
		grep -E 'ERROR:|runtime error|SUMMARY' "$OUT/$t.log" | head -5 || true
		fail=1
	fi
done
[ "$fail" -eq 0 ] && echo "fuzz: all targets clean" || echo "fuzz: FAILURES"
exit "$fail"
