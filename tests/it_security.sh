#!/usr/bin/env bash
# Secrets never leave the process: not in logs, .ragfs/*, /proc/PID/cmdline,
# the cache dir or the store; local state is private (0700 / 0600).
. "$(dirname "$0")/lib.sh"
setup
[ "${RAGFS_TEST_S3:-0}" = 1 ] || skip_all "run with RAGFS_TEST_S3=1 (security_s3)"
SECRET=${AWS_SECRET_ACCESS_KEY:?}
rmount -o debug
ok $? "mount s3:// with -o debug (the most talkative log)"
echo "a document about secrets" > "$MNT/docs/a.txt"
echo "secrets" > "$MNT/query/q"; cat "$MNT/query/q" > /dev/null
python3 -c "import os; fd=os.open('$MNT/docs/a.txt', os.O_RDONLY); os.fsync(fd)"
# An error that names the endpoint, to have something in errors.log.
echo '{bad' > "$MNT/docstore/x.json" 2>/dev/null
leaks() { grep -rlF -- "$SECRET" "$@" 2>/dev/null; }
is "$(leaks "$MNT/.ragfs")" "" "the secret key is in no .ragfs file"
is "$(tr '\0' ' ' < /proc/$DPID/cmdline | grep -cF -- "$SECRET")" 0 "the secret key is not on the command line"
is "$(leaks "$WORK/cache")" "" "the secret key is in no cache file"
is "$(stat -c %a "$WORK/cache")" 700 "the cache dir is private (0700)"
check "journal and error log are not readable by others" bash -c "! find '$WORK/cache' -type f -perm /o=r | grep -q ."
check "config.json redacts nothing it should not show: no key fields" bash -c "! grep -qi 'secret\|access_key' '$MNT/.ragfs/config.json'"
rumount; ok $? "unmount exits 0"
is "$(leaks "$WORK/daemon.log")" "" "the secret key is not in the daemon's debug log"
out=$(AWS_SECRET_ACCESS_KEY="wrong-$SECRET" "$RAGFS" -f "${RAGFS_STORE_OPTS[@]}" "$STORE" "$MNT" 2>&1)
is "$(printf '%s' "$out" | grep -cF -- "$SECRET")" 0 "a refused mount does not print the secret ($out)"
ALLOW_LOG="DBG|INFO|unique|getattr|LOOKUP|lookup|create|write|flush|release|open|read|opendir|readdir|releasedir|statfs|INIT|init|FORGET|forget|fsync|unlink|NODEID|mkdir|rename|setattr|destroy|mknod|access|utimens|chmod|truncate"
done_testing
