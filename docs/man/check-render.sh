#!/bin/sh
# Renders a man page the way man(1) shows it, and with every groff warning
# on: any warning fails, because a warning is text the reader does not see
# or sees wrong (an unknown macro, a bad escape, a font that is not there).
# Usage: check-render.sh PAGE
set -eu
if [ $# -ne 1 ]; then
	echo "usage: $0 PAGE" >&2
	exit 2
fi
page=$1
if [ ! -r "$page" ] || [ ! -f "$page" ]; then
	echo "$page: cannot read it" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 "$page" 2>"$tmp/groff" || fail=1
LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 "$page" >"$tmp/out" 2>"$tmp/man" || fail=1
for tool in groff man; do
	if [ -s "$tmp/$tool" ]; then
		echo "$page: $tool warns:" >&2
		cat "$tmp/$tool" >&2
		fail=1
	fi
done
if [ ! -s "$tmp/out" ]; then
	echo "$page: man rendered nothing" >&2
	fail=1
fi
[ $fail -eq 0 ] && echo "$page: renders without warnings"
exit $fail
