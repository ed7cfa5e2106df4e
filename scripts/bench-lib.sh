# scripts/bench-lib.sh - sourced by scripts/bench-ingest.sh and
# scripts/bench-s3.sh: the checks before a run, a scratch directory with a
# mount point that goes away on exit, and mounting ragfs on it; and by
# scripts/bench for llamats_install alone. Sourcing only defines functions.
#
# The sourcing script sets BENCH (the prefix of its messages), root (the
# source tree) and RAGFS (the binary) first.
# shellcheck shell=bash disable=SC2154

die() { echo "$BENCH: $*" >&2; exit 1; }
now() { date +%s.%N; }

# bench_require: FUSE is usable; ragfs is built (scripts/build.sh) if missing.
bench_require() {
	[ -e /dev/fuse ] || die "no /dev/fuse"
	command -v fusermount3 >/dev/null || die "no fusermount3"
	if [ ! -x "$RAGFS" ]; then
		bash "$root/scripts/build.sh" >&2 || die "build failed"
	fi
}

# bench_workdir TEMPLATE: W := mktemp -d TEMPLATE, MNT := $W/mnt; on exit the
# daemon (if one runs) is unmounted and killed and $W removed.
bench_workdir() {
	W=$(mktemp -d "$1")
	MNT=$W/mnt
	DPID=
	mkdir -p "$MNT"
	trap bench_cleanup EXIT
}
bench_cleanup() {
	if [ -n "$DPID" ]; then
		fusermount3 -uz "$MNT" 2>/dev/null
		kill "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	rm -rf "$W"
}

# mount_store STORE [OPTS]: ragfs -f [-o OPTS] STORE $MNT in the background
# (DPID, stderr to $W/daemon.log); returns once mounted, dies if the daemon
# exits first or after 60 s.
mount_store() {
	"$RAGFS" -f ${2:+-o "$2"} "$1" "$MNT" 2>>"$W/daemon.log" &
	DPID=$!
	for _ in $(seq 1 6000); do
		grep -q " $MNT fuse" /proc/mounts && return 0
		kill -0 "$DPID" 2>/dev/null || die "mount of $1 failed: $(tail -1 "$W/daemon.log")"
		sleep 0.01
	done
	die "mount of $1 timed out"
}

# umount_store: unmount; the daemon must exit cleanly.
umount_store() {
	fusermount3 -u "$MNT" || die "unmount failed"
	wait "$DPID" || die "the daemon exited with an error: $(tail -1 "$W/daemon.log")"
	DPID=
}

# llamats_install NODEDIR: npm ci of the lock file pinned by
# tests/llamaindex-ts/ into NODEDIR, redone only when the lock file changes
# (as tests/it_llamaindex_ts.sh), and that folder's .mjs scripts copied
# beside it; under a flock on NODEDIR.lock, since runs share the directory.
# Fails when node or npm is missing or npm ci fails (offline).
llamats_install() {
	local pkg=$root/tests/llamaindex-ts dir=$1
	command -v node >/dev/null && command -v npm >/dev/null || return 1
	mkdir -p "$dir" || return 1
	(
		flock 9
		if ! cmp -s "$pkg/package-lock.json" "$dir/package-lock.json" ||
			! [ -f "$dir/node_modules/llamaindex/package.json" ]; then
			cp "$pkg/package.json" "$pkg/package-lock.json" "$dir/"
			# a failed npm ci must not look installed next time
			(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2 ||
				{ rm -f "$dir/package-lock.json"; exit 1; }
		fi
		cp "$pkg"/*.mjs "$dir/"
	) 9>"$dir.lock"
}
