#!/bin/sh
# `cmake --install` of the libhostdev component into a temporary prefix,
# then what a hypervisor's build does: compile the example against the
# installed header and .pc file (pkg-config, PKG_CONFIG_PATH pointing
# there), link it to the installed library, and run it.  No daemon listens
# on the socket it is given, so it must say so and exit 3.
#   check-install.sh CMAKE PKG_CONFIG BUILD_DIR LIBDIR EXAMPLE_SOURCE CC [CFLAGS...]
set -eu
cmake=$1 pkgconfig=$2 build=$3 libdir=$4 example=$5 cc=$6
shift 6
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

"$cmake" --install "$build" --component libhostdev --prefix "$prefix" >"$tmp/install.log"
for f in include/hostdev/hostdev.h "$libdir/libhostdev.so" "$libdir/libhostdev.so.0" \
	"$libdir/libhostdev.so.0.1.0" "$libdir/pkgconfig/libhostdev.pc" \
	share/doc/libhostdev/examples/hd-example.c; do
	if [ ! -e "$prefix/$f" ]; then
		echo "not installed: $f"
		cat "$tmp/install.log"
		exit 1
	fi
done

export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
version=$("$pkgconfig" --modversion libhostdev)
[ "$version" = 0.1.0 ] || { echo "pkg-config says version '$version'"; exit 1; }
flags=$("$pkgconfig" --cflags --libs libhostdev)
# The flags must point into the prefix, wherever it is.
case "$flags" in
*"-I$prefix/"*) ;;
*) echo "pkg-config --cflags does not point into $prefix: $flags"; exit 1 ;;
esac

# A copy outside the source tree, so that nothing but the installed header
# can satisfy #include <hostdev/hostdev.h>.
cp "$example" "$tmp/hd-example.c"
# shellcheck disable=SC2086 # flags are words
"$cc" "$@" -Wall -Wextra -Werror -o "$tmp/hd-example" "$tmp/hd-example.c" $flags

set +e
LD_LIBRARY_PATH="$prefix/$libdir" HOSTDEVD_SOCKET="$tmp/no-daemon.sock" \
	"$tmp/hd-example" --no-wait vm1 0000:03:00.0 >"$tmp/out" 2>&1
status=$?
set -e
cat "$tmp/out"
[ $status -eq 3 ] || { echo "hd-example exited $status, not 3"; exit 1; }
grep -q "(io.hostdevd.client.Unreachable)" "$tmp/out" ||
	{ echo "hd-example did not name the error"; exit 1; }
grep -q "$tmp/no-daemon.sock" "$tmp/out" ||
	{ echo "hd-example did not name the socket"; exit 1; }
LD_LIBRARY_PATH="$prefix/$libdir" ldd "$tmp/hd-example" | grep -q "$prefix/$libdir/libhostdev.so.0" ||
	{ echo "hd-example is not linked to the installed library"; exit 1; }
echo "installed, compiled and ran against $prefix"
