#!/bin/sh
# The house's rule (docs/architecture.md "The house"): a folder includes
# only headers of its own or of the folders below it, and no headers
# include each other in a cycle.  Usage: check-layers.sh SOURCE_DIR
set -eu
cd "$1"

# A folder's level; a folder may include its own and lower levels' headers,
# never another folder of its own level.
level() {
	case $1 in
	common) echo 0 ;;
	state) echo 1 ;;
	monitor | policy) echo 2 ;;
	engine | client) echo 3 ;;
	daemon | libhostdev) echo 4 ;;
	*) echo -1 ;;
	esac
}

status=0
pairs=$(mktemp)
trap 'rm -f "$pairs"' EXIT
for dir in common state monitor policy engine daemon client libhostdev; do
	mine=$(level "$dir")
	for f in "$dir"/*.c "$dir"/*.h; do
		[ -e "$f" ] || continue
		for inc in $(sed -n 's/^#include "\([a-z]*\/[^"]*\)".*/\1/p' "$f"); do
			to=${inc%%/*}
			theirs=$(level "$to")
			[ "$theirs" -ge 0 ] || continue
			if [ "$to" != "$dir" ] && [ "$theirs" -ge "$mine" ]; then
				echo "$f includes $inc: $to is not below $dir" >&2
				status=1
			fi
			case $f in *.h) echo "$f $inc" >>"$pairs" ;; esac
		done
	done
done
# tsort fails on a cycle and names it.
if ! tsort "$pairs" >/dev/null; then
	echo "headers include each other in a cycle (tsort says where, above)" >&2
	status=1
fi
[ $status -eq 0 ] && echo "layers: every include points down, no cycles"
exit $status
