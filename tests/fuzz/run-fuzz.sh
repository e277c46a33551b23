#!/bin/sh
# Runs one libFuzzer target for a bounded time under ctest:
#   run-fuzz.sh BINARY WORK_CORPUS SECONDS [libFuzzer flags...] -- SEED_DIRS...
# WORK_CORPUS (in the build tree) receives what the run finds; the seed
# directories (in the source tree) are only read.  A crash, leak, sanitizer
# report or failed check makes libFuzzer exit non-zero, which fails the
# test; the input is written next to WORK_CORPUS as crash-*/leak-*.
set -eu
bin=$1 work=$2 secs=$3
shift 3
flags=
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
	flags="$flags $1"
	shift
done
[ $# -gt 0 ] && shift
mkdir -p "$work"
cd "$(dirname "$work")"
# -timeout: one input taking this long is a hang, reported as a failure.
# shellcheck disable=SC2086
exec "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$work-" $flags "$work" "$@"
