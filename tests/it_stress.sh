#!/usr/bin/env bash
# stress-ng filesystem stressors, fio and 32 MiB text and binary documents
# against a mount: scripts/stress.sh quick (about 30 s); it prints TAP
# itself. Skips when neither tool can be installed.
SRC=${SRCDIR:-$(dirname "$0")/..}
[ -e /dev/fuse ] || { echo "1..0 # SKIP no /dev/fuse"; exit 0; }
exec bash "$SRC/scripts/stress.sh" quick
