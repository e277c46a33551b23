#!/bin/bash
# Installs what is needed, builds twice (ASan+UBSan, and a -Werror release
# build with valgrind checks) and runs every test tier.  The last thing
# printed is ctest's summary of the release build.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"

echo "== sanitizer build (ASan + UBSan)"
"$top/scripts/build.sh" "$top/build-asan" -DCMAKE_BUILD_TYPE=Debug -DHOSTDEVD_SANITIZE=ON
# valgrind cannot run under ASan: those tests run in the release build.
(cd "$top/build-asan" && ctest --output-on-failure -j2 -LE valgrind)

echo "== release build (-Werror), all tiers including valgrind"
"$top/scripts/build.sh" "$top/build"
cd "$top/build" && ctest --output-on-failure -j2
