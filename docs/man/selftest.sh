#!/bin/sh
# The man page checkers must catch what they are there to catch: each bad
# page below has to fail with its own message, and a good one has to pass.
# Usage: selftest.sh HOSTDEVD DIR  (DIR: where check-render.sh and
# check-examples.sh are)
set -eu
if [ $# -ne 2 ]; then
	echo "usage: $0 HOSTDEVD DIR" >&2
	exit 2
fi
hostdevd=$1
dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# page NAME: writes stdin, after a title, to $tmp/NAME.5
page() {
	{
		printf '.TH T 5 2026-01-01 hostdevd "File Formats Manual"\n.SH NAME\nt \\- a test page\n'
		printf '.SH EXAMPLES\n'
		cat
	} >"$tmp/$1.5"
}

# expect pass|fail WHAT MESSAGE CMD...: runs CMD, which must pass or fail
# as said and print MESSAGE (a grep pattern; "" for any).
expect() {
	want=$1 what=$2 msg=$3
	shift 3
	if "$@" >"$tmp/out" 2>&1; then got=pass; else got=fail; fi
	if [ "$got" != "$want" ]; then
		echo "FAIL $what: expected $want, got $got:"
		cat "$tmp/out"
		failures=$((failures + 1))
	elif [ -n "$msg" ] && ! grep -q -- "$msg" "$tmp/out"; then
		echo "FAIL $what: no '$msg' in:"
		cat "$tmp/out"
		failures=$((failures + 1))
	else
		echo "ok   $what"
	fi
}

examples() {
	sh "$dir/check-examples.sh" "$hostdevd" "$@"
}

# \- must become "-": "vfio\-pci" left as it is is not a stub hostdevd knows.
page good <<'P'
.EX
.\" example-begin one
rules = (
  { match = { address = "0000:03:00.0"; }; action = "detach";
    driver = "vfio\-pci"; }
);
.\" example-end
.EE
P
expect pass "a valid example" "example one (line 6): valid" examples "$tmp/good.5" one
expect fail "a NAME the page lacks" "no example named two" examples "$tmp/good.5" one two

page invalid <<'P'
.EX
.\" example-begin typo
rules = (
  { match = { vendr = "10de"; }; action = "detach"; }
);
.\" example-end
.EE
P
expect fail "an invalid policy, named by the page's line" \
	"invalid.5:8: unknown match key 'vendr'" examples "$tmp/invalid.5"

page unended <<'P'
.\" example-begin open
default = "allow";
P
expect fail "no example-end" "unended.5:5: example open has no example-end" examples "$tmp/unended.5"

page stray-end <<'P'
.\" example-end
P
expect fail "example-end alone" "stray-end.5:5: example-end without example-begin" \
	examples "$tmp/stray-end.5"

page nested <<'P'
.\" example-begin a
.\" example-begin b
P
expect fail "example-begin inside an example" "nested.5:6: example-begin inside example a" \
	examples "$tmp/nested.5"

page twice <<'P'
.\" example-begin a
default = "allow";
.\" example-end
.\" example-begin a
default = "allow";
.\" example-end
P
expect fail "two examples of one name" "twice.5:8: a second example named a" examples "$tmp/twice.5"

page nameless <<'P'
.\" example-begin
.\" example-end
P
expect fail "example-begin without NAME" "nameless.5:5: example-begin takes one NAME" \
	examples "$tmp/nameless.5"

page request <<'P'
.\" example-begin a
default = "allow";
.br
.\" example-end
P
expect fail "a roff request inside" "request.5:7: example a: a roff request inside" \
	examples "$tmp/request.5"

page escape <<'P'
.\" example-begin a
default = "\fBallow\fR";
.\" example-end
P
expect fail "an escape that is not undone" 'escape.5:6: example a: the escape \\f' \
	examples "$tmp/escape.5"

page none <<'P'
.PP
No examples here.
P
expect fail "a page without examples" "no example-begin NAME" examples "$tmp/none.5"
expect fail "an unreadable page (examples)" "cannot read it" examples "$tmp/absent.5"

expect pass "a page that renders cleanly" "renders without warnings" \
	sh "$dir/check-render.sh" "$tmp/good.5"
page warns <<'P'
.XY an unknown macro
P
expect fail "a page groff warns about" "groff warns" sh "$dir/check-render.sh" "$tmp/warns.5"
expect fail "an unreadable page (render)" "cannot read it" sh "$dir/check-render.sh" "$tmp/absent.5"

if [ $failures -ne 0 ]; then
	echo "$failures check(s) failed"
	exit 1
fi
echo "all checks passed"
