#!/bin/bash
# Configures and builds one build tree: build.sh DIR [cmake options...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$1; shift
cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHOSTDEVD_WERROR=ON "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
