#!/usr/bin/env bash
# Install dependencies and build ragfs into build/ (warnings are errors).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
if [ ! -f build/build.ninja ]; then
	meson setup build -Dwerror=true >/dev/null
fi
meson compile -C build >/dev/null
echo "built build/fs/ragfs"
