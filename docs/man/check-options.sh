#!/bin/sh
# Every option a program's --help lists must be documented in its man page,
# and so must every WORD given (a command of hostdevctl, say): a page that
# falls behind the program fails.  The page is rendered as the reader sees
# it (plain text) and searched there, so roff escapes do not hide a name.
# Usage: check-options.sh BINARY PAGE [WORD...]
set -eu
if [ $# -lt 2 ]; then
	echo "usage: $0 BINARY PAGE [WORD...]" >&2
	exit 2
fi
bin=$1
page=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" --help >"$tmp/help"
LC_ALL=C groff -man -Tascii -P-cbou "$page" >"$tmp/page" 2>/dev/null
grep -o -- '--[a-z][a-z0-9-]*' "$tmp/help" | sort -u >"$tmp/options"
if [ ! -s "$tmp/options" ]; then
	echo "$bin --help lists no option: nothing to check against" >&2
	exit 1
fi
fail=0
n=0
while read -r opt; do
	n=$((n + 1))
	if ! grep -q -F -- "$opt" "$tmp/page"; then
		echo "$page: $opt (in $bin --help) is not documented" >&2
		fail=1
	fi
done <"$tmp/options"
for word in "$@"; do
	n=$((n + 1))
	if ! grep -q -w -F -- "$word" "$tmp/page"; then
		echo "$page: '$word' is not documented" >&2
		fail=1
	fi
done
[ $fail -eq 0 ] && echo "$page: all $n names of $bin documented"
exit $fail
