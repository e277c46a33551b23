#!/bin/sh
# The hook is installed only when asked for: a plain `cmake --install` leaves
# it out (libvirt would run it: installing is enabling), the component
# libvirt-hook puts it in libvirt's qemu.d as `hostdevd`, executable.
#   check-install.sh CMAKE BUILD_DIR HOOK_PATH
set -eu
cmake=$1 build=$2 hook=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

DESTDIR="$tmp/plain" "$cmake" --install "$build" >/dev/null
if [ -e "$tmp/plain$hook" ]; then
	echo "a plain install placed the hook at $hook" >&2
	exit 1
fi
DESTDIR="$tmp/hook" "$cmake" --install "$build" --component libvirt-hook >/dev/null
if [ ! -x "$tmp/hook$hook" ]; then
	echo "the libvirt-hook component did not install an executable $hook" >&2
	(cd "$tmp/hook" && find . -type f) >&2
	exit 1
fi
"$tmp/hook$hook" --help | grep -q "libvirt's qemu hook for hostdevd"
echo "libvirt hook: $hook only with --component libvirt-hook"
