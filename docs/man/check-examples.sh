#!/bin/sh
# Every policy example of a man page must load.  The blocks between a
# '.\" example-begin NAME' line and a '.\" example-end' line are cut out,
# their roff escapes undone (\- is "-", \e a backslash, \& nothing; any other
# escape is an error, so nothing is checked in a form the reader does not
# see) and each is given to 'hostdevd --check-policy'.  Each NAME on the
# command line must be among them, so an example cannot vanish unnoticed.
# Usage: check-examples.sh HOSTDEVD PAGE [NAME...]
set -eu
if [ $# -lt 2 ]; then
	echo "usage: $0 HOSTDEVD PAGE [NAME...]" >&2
	exit 2
fi
hostdevd=$1
page=$2
shift 2
if [ ! -r "$page" ] || [ ! -f "$page" ]; then
	echo "$page: cannot read it" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Prints "NAME LINE" for each block (LINE: its example-begin), having written
# the block to $tmp/NAME.conf.
list=$(awk -v dir="$tmp" -v page="$page" '
function fail(line, msg) {
	printf "%s:%d: %s\n", page, line, msg > "/dev/stderr"
	bad = 1
	exit 1
}
function unescape(s,    out, i, c) {
	out = ""
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		if (c != "\\") {
			out = out c
			continue
		}
		c = substr(s, ++i, 1)
		if (c == "-")
			out = out "-"
		else if (c == "e")
			out = out "\\"
		else if (c != "&")
			fail(FNR, "example " name ": the escape \\" c " is not one of \\- \\e \\&")
	}
	return out
}
$1 == ".\\\"" && $2 == "example-begin" {
	if (name != "")
		fail(FNR, "example-begin inside example " name " (begun at line " begun[name] ")")
	if (NF != 3 || $3 !~ /^[A-Za-z0-9_-]+$/)
		fail(FNR, "example-begin takes one NAME of letters, digits, - and _")
	if ($3 in begun)
		fail(FNR, "a second example named " $3 " (the first at line " begun[$3] ")")
	name = $3
	begun[name] = FNR
	order[++n] = name
	file = dir "/" name ".conf"
	printf "" > file
	next
}
$1 == ".\\\"" && $2 == "example-end" {
	if (name == "")
		fail(FNR, "example-end without example-begin")
	close(file)
	name = ""
	next
}
name != "" {
	if ($0 ~ /^[.\047]/)
		fail(FNR, "example " name ": a roff request inside an example")
	print unescape($0) > file
}
END {
	if (bad)
		exit 1
	if (name != "")
		fail(begun[name], "example " name " has no example-end")
	if (n == 0)
		fail(0, "no example-begin NAME ... example-end blocks")
	for (i = 1; i <= n; i++)
		print order[i], begun[order[i]]
}' "$page") || exit 1

fail=0
for want in "$@"; do
	if ! printf '%s\n' "$list" | grep -q "^$want "; then
		echo "$page: no example named $want" >&2
		fail=1
	fi
done
while read -r name begin; do
	if out=$("$hostdevd" --check-policy "$tmp/$name.conf" 2>&1); then
		echo "example $name (line $begin): valid"
		continue
	fi
	# Point at the page's line, not the temporary file's.
	printf '%s\n' "$out" | awk -v f="$tmp/$name.conf:" -v page="$page" -v off="$begin" '{
		i = index($0, f)
		if (i) {
			rest = substr($0, i + length(f))
			n = rest + 0
			sub(/^[0-9]+/, "", rest)
			$0 = substr($0, 1, i - 1) page ":" (n + off) rest
		}
		print
	}' >&2
	echo "$page: example $name (line $begin) is not a valid policy" >&2
	fail=1
done <<LIST
$list
LIST
exit $fail
