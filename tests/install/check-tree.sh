#!/bin/sh
# `cmake --install` of the whole build into a staging root (DESTDIR), as a
# package build does: lists the installed tree, checks that each file a
# host needs is there, and runs the installed programs (only --version,
# --help and --check-policy: nothing that touches devices), and has
# systemd-analyze verify the installed units.
#   check-tree.sh CMAKE BUILD_DIR PREFIX LIBDIR UNITDIR UDEV_RULESDIR
set -eu
cmake=$1 build=$2 prefix=$3 libdir=$4 unitdir=$5 rulesdir=$6
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root

DESTDIR="$root" "$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log"
(cd "$root" && find . -type f -o -type l | sort) >"$tmp/tree"
echo "installed under DESTDIR, prefix $prefix:"
sed 's/^\./  /' "$tmp/tree"

fail=0
for f in sbin/hostdevd bin/hostdevctl \
	share/man/man8/hostdevd.8 share/man/man1/hostdevctl.1 share/man/man5/hostdevd-policy.5 \
	include/hostdev/hostdev.h "$libdir/libhostdev.so.0" "$libdir/pkgconfig/libhostdev.pc" \
	share/doc/hostdevd/examples/gpu-host.conf share/doc/hostdevd/examples/nic-pool.conf \
	share/doc/hostdevd/examples/workstation-usb.conf; do
	if [ ! -e "$root$prefix/$f" ]; then
		echo "not installed: $prefix/$f" >&2
		fail=1
	fi
done
for f in hostdevd.service hostdevd.socket; do
	if [ ! -e "$root$unitdir/$f" ]; then
		echo "not installed: $unitdir/$f" >&2
		fail=1
	fi
done
# The shipped udev rules, where udev reads them (pkg-config udev's udevdir).
if [ ! -e "$root$rulesdir/61-hostdevd.rules" ]; then
	echo "not installed: $rulesdir/61-hostdevd.rules" >&2
	fail=1
fi
[ $fail -eq 0 ] || { cat "$tmp/install.log" >&2; exit 1; }
# Never the policy's generated rules: those come from the host's own policy.
if grep -q 'hostdevd-policy\.rules$' "$tmp/tree"; then
	echo "a generated policy rules file was installed: only 'hostdevctl rules generate' on the host writes it" >&2
	exit 1
fi
# Nothing that acts: no policy is installed under /etc.
if grep -q '^\./etc/hostdevd' "$tmp/tree"; then
	echo "a policy was installed under /etc/hostdevd: an installed host must only observe" >&2
	exit 1
fi
for prog in sbin/hostdevd bin/hostdevctl; do
	[ -x "$root$prefix/$prog" ] || { echo "$prefix/$prog is not executable" >&2; exit 1; }
done

# The installed programs run from where they were put.
"$root$prefix/sbin/hostdevd" --version >"$tmp/v1"
"$root$prefix/bin/hostdevctl" --version >"$tmp/v2"
grep -q "hostdevd" "$tmp/v1" || { echo "hostdevd --version: $(cat "$tmp/v1")" >&2; exit 1; }
grep -q "hostdevctl" "$tmp/v2" || { echo "hostdevctl --version: $(cat "$tmp/v2")" >&2; exit 1; }
# The installed examples load, checked by the installed daemon.
for ex in gpu-host nic-pool workstation-usb; do
	"$root$prefix/sbin/hostdevd" --check-policy "$root$prefix/share/doc/hostdevd/examples/$ex.conf" \
		>"$tmp/check" 2>&1 || { cat "$tmp/check" >&2; exit 1; }
done
# The installed hostdevctl writes udev rules from each example, ending in
# the label every line jumps to.
for ex in gpu-host nic-pool workstation-usb; do
	"$root$prefix/bin/hostdevctl" rules generate \
		--policy "$root$prefix/share/doc/hostdevd/examples/$ex.conf" >"$tmp/$ex.rules" 2>"$tmp/gen" ||
		{ cat "$tmp/gen" >&2; exit 1; }
	tail -n 1 "$tmp/$ex.rules" | grep -qx 'LABEL="hostdevd_end"' ||
		{ echo "hostdevctl rules generate ($ex): no closing label" >&2; exit 1; }
done
# The installed man pages are the ones man(1) finds by name.
MANPATH="$root$prefix/share/man" man -w hostdevd.8 >/dev/null 2>&1 ||
	{ echo "man does not find hostdevd(8) under $prefix/share/man" >&2; exit 1; }
MANPATH="$root$prefix/share/man" man -w hostdevctl.1 >/dev/null 2>&1 ||
	{ echo "man does not find hostdevctl(1) under $prefix/share/man" >&2; exit 1; }
# The units as systemd reads them.  ExecStart names the installed path,
# which exists only under the staging root here: a copy points there.
# Any word from systemd-analyze (an unknown key, a bad value) fails.
mkdir "$tmp/units"
sed "s|^ExecStart=$prefix/sbin/hostdevd|ExecStart=$root$prefix/sbin/hostdevd|" \
	"$root$unitdir/hostdevd.service" >"$tmp/units/hostdevd.service"
grep -q "^ExecStart=$root$prefix/sbin/hostdevd --foreground" "$tmp/units/hostdevd.service" ||
	{ echo "hostdevd.service does not start $prefix/sbin/hostdevd --foreground" >&2; exit 1; }
cp "$root$unitdir/hostdevd.socket" "$tmp/units/"
if ! systemd-analyze verify --man=no "$tmp/units/hostdevd.service" "$tmp/units/hostdevd.socket" \
	>"$tmp/verify" 2>&1 || [ -s "$tmp/verify" ]; then
	echo "systemd-analyze verify:" >&2
	cat "$tmp/verify" >&2
	exit 1
fi
echo "installed and ran hostdevd and hostdevctl from $root$prefix; the units verify; udev rules in $rulesdir"
