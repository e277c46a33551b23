#!/bin/sh
# The shared library exports exactly the functions hostdev.h declares with
# HD_EXPORT, each under the version node its "Symbol version" section of the
# header names (LIBHOSTDEV_0 before the first), and nothing else (no
# hdclient_*, vl_*, log_* or x* helper from inside); its soname is
# libhostdev.so.0.
#   check-symbols.sh LIBRARY HEADER
set -eu
lib=$1 header=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ "$soname" != libhostdev.so.0 ]; then
	echo "soname is '$soname', not libhostdev.so.0"
	exit 1
fi

# Every defined dynamic symbol, with its version.
nm -D --defined-only "$lib" | awk '{ print $3 }' | sort >"$tmp/exported"
# The declarations: "HD_EXPORT <type> *hd_name(" possibly over two lines.
# A line "Symbol version NODE from here on" moves the declarations after it
# to NODE (functions added later go into a new node, never an old one).
grep -v '^#' "$header" | tr '\n' ' ' |
	grep -o 'HD_EXPORT [^;(]*(\|Symbol version LIBHOSTDEV_[0-9.]* from here on' |
	awk 'BEGIN { node = "LIBHOSTDEV_0"; print node }
	     /^Symbol version/ { node = $3; print node; next }
	     { sub(/\($/, ""); n = split($0, w, /[ *]+/); print w[n] "@@" node }' |
	sort >"$tmp/declared"
sort -o "$tmp/declared" "$tmp/declared"

if [ "$(wc -l <"$tmp/declared")" -lt 30 ]; then
	echo "found only $(wc -l <"$tmp/declared") declarations in $header: the pattern is broken"
	exit 1
fi
if ! cmp -s "$tmp/declared" "$tmp/exported"; then
	echo "exported symbols differ from hostdev.h's HD_EXPORT declarations"
	echo "(< declared only, > exported only):"
	diff "$tmp/declared" "$tmp/exported" | grep '^[<>]'
	exit 1
fi
echo "$(grep -c @@ "$tmp/exported") hd_* symbols at their version nodes, soname $soname, nothing else"
