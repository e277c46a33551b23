#!/bin/bash
# Installs the Debian 12 packages hostdevd needs to build, run and test.
# Idempotent: packages already present are not downloaded again.
set -euo pipefail

PACKAGES=(
	build-essential cmake pkg-config
	libudev-dev libevent-dev libjson-c-dev libconfig-dev
	libcmocka-dev umockdev libumockdev-dev
	libkmod-dev
	# The libvirt hook (contrib/libvirt) reads the domain XML with libxml2.
	libxml2-dev
	valgrind socat
	# The man page tests (docs/man): groff and man render the pages.
	groff-base man-db
	# The install test: systemd-analyze verifies the units; systemd.pc says
	# where units go; /bin/kill is the unit's ExecReload.
	systemd procps
	# udev.pc says where udev rules go (rules/), and its hwdb.bin holds the
	# pci.ids/usb.ids names list and show print.  umockdev pulls it in
	# already; named here because the project uses it.
	udev
	# The real-kernel tier (tests/vm): QEMU, and what the initramfs is made
	# of.  The guest's kernel is downloaded, not installed (tests/vm/prepare.sh).
	qemu-system-x86 busybox-static cpio kmod
	# Its second kernel's VFIO cdev modules are built from Debian's source
	# against that kernel's headers (tests/vm/cdev-modules.sh): the
	# compiler the headers name, make, xz for the source and the modules,
	# and the archive's keys for the private apt source list.
	gcc-12 make xz-utils debian-archive-keyring
	# bench_driverctl's competitor, run only inside a testbed.  The package
	# has no maintainer scripts: installing it changes no binding.
	driverctl
	# The libFuzzer targets (tests/fuzz): clang and its runtimes (libFuzzer,
	# ASan, UBSan), in build-fuzz.
	clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#PACKAGES[@]} packages present"
	exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "deps: run as root (or install sudo) to install: ${missing[*]}" >&2; exit 1; }
	SUDO=sudo
fi
echo "deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
