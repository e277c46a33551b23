#!/bin/bash
# Installs what is needed, builds three times (ASan+UBSan, the libFuzzer
# targets with clang, and a -Werror release build with valgrind checks) and
# runs every test tier.  The last thing printed is ctest's summary of the
# release build.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"

echo "== sanitizer build (ASan + UBSan)"
"$top/scripts/build.sh" "$top/build-asan" -DCMAKE_BUILD_TYPE=Debug -DHOSTDEVD_SANITIZE=ON
# valgrind cannot run under ASan: those tests run in the release build.
(cd "$top/build-asan" && ctest --output-on-failure -j2 -LE valgrind)

echo "== fuzz targets (clang, libFuzzer + ASan + UBSan), ${HOSTDEVD_FUZZ_TIME:-20} s each"
# Only the fuzz targets are built there: the same sources, another compiler.
CC=clang cmake -S "$top" -B "$top/build-fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DHOSTDEVD_FUZZ=ON -DHOSTDEVD_TESTS=OFF -DHOSTDEVD_BENCH=OFF \
	-DHD_FUZZ_TIME="${HOSTDEVD_FUZZ_TIME:-20}" >/dev/null
cmake --build "$top/build-fuzz" -j"$(nproc)" --target fuzz_connection fuzz_policy fuzz_record
(cd "$top/build-fuzz" && ctest --output-on-failure -L fuzz)

echo "== release build (-Werror), all tiers including valgrind"
"$top/scripts/build.sh" "$top/build"
cd "$top/build" && ctest --output-on-failure -j2
