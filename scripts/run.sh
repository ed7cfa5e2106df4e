#!/usr/bin/env bash
# The main job: install, build, and mount a local store with the defaults.
#   scripts/run.sh [STORE] [MOUNTPOINT] [ragfs options...]
# Defaults: ./data (the store) and ./mnt in the project folder. The daemon runs in the
# background; unmount with: fusermount3 -u MOUNTPOINT
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
store=${1:-$root/data}
mnt=${2:-$root/mnt}
shift $(( $# > 2 ? 2 : $# ))
bash "$root/scripts/build.sh"
mkdir -p "$mnt"
if grep -q " $(realpath "$mnt") fuse" /proc/self/mountinfo; then
	echo "already mounted: $mnt"
	exit 0
fi
"$root/build/fs/ragfs" "$@" "$store" "$mnt"
echo "mounted $store on $mnt"
echo "try: cp README.md $mnt/docs/ && echo 'what is ragfs' > $mnt/query/q && cat $mnt/query/q"
