#!/bin/bash
# Builds what the real-kernel tests boot: a Debian kernel (extracted, never
# installed on this machine) and an initramfs holding busybox, the kernel
# modules the scenarios need in dependency order, systemd-udevd, the
# project's binaries with their shared libraries, the guest /init and the
# scenario scripts.
#
# usage: prepare.sh [--kernel default|cdev] OUT_DIR BIN...
#   --kernel  default: Debian 12's own kernel (linux-image-amd64, 6.1).
#             cdev: the 6.12 kernel of bookworm-backports, whose VFIO and
#             iommufd modules are rebuilt from the same Debian source with
#             VFIO cdev on (Debian builds no kernel with it: see
#             docs/vm-tests.md, "The cdev kernel").  Its packages come
#             through a private apt source list under the cache: the
#             machine's own sources stay as they are.
#   OUT_DIR   receives vmlinuz and initrd.img (and cache/ unless
#             HOSTDEVD_VM_CACHE names another place for the downloads)
#   BIN       programs to copy into the guest's /usr/local/bin with their
#             libraries (hostdevd, hostdevctl, hd-example, vfio-open, ...)
#
# Nothing here touches this machine's /sys or loads a module: the kernel
# package is unpacked with dpkg -x and its modules are only copied (or, for
# cdev, compiled against the unpacked headers).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kind=default
if [ "${1:-}" = --kernel ]; then
	kind=$2
	shift 2
fi
case $kind in
default | cdev) ;;
*) echo "vm-prepare: --kernel takes default or cdev, not '$kind'" >&2; exit 2 ;;
esac
out=$1; shift
cache=${HOSTDEVD_VM_CACHE:-$out/cache}
mkdir -p "$out" "$cache"

log() { echo "vm-prepare: $*"; }

# ---- the kernel and udev, from Debian's archive (downloaded once) --------
# Debian 12's kernel, through the machine's own apt sources.
fetch_default_kernel() {
	kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
	[ -n "$kpkg" ] || { echo "vm-prepare: apt-cache knows no linux-image-amd64; run apt-get update" >&2; exit 1; }
	if [ ! -e "$cache/$kpkg.done" ]; then
		log "downloading $kpkg into $cache"
		rm -rf "$cache/kernel" "$cache"/linux-image-*.deb
		(cd "$cache" && apt-get download -q "$kpkg" >/dev/null)
		mkdir -p "$cache/kernel"
		dpkg -x "$cache/${kpkg}"_*.deb "$cache/kernel"
		touch "$cache/$kpkg.done"
	fi
	kroot=$cache/kernel
	kver=$(ls "$kroot/lib/modules" | head -1)
}

# bookworm-backports' kernel, with VFIO cdev built in its modules.
fetch_cdev_kernel() {
	local apt=$cache/apt mirror=${HOSTDEVD_VM_MIRROR:-http://deb.debian.org/debian}
	local keyring=/usr/share/keyrings/debian-archive-keyring.gpg A hpkg ver
	mkdir -p "$apt/lists/partial" "$apt/archives/partial"
	printf 'deb [signed-by=%s] %s bookworm-backports main\ndeb-src [signed-by=%s] %s bookworm-backports main\n' \
		"$keyring" "$mirror" "$keyring" "$mirror" >"$apt/sources.list"
	A=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
	   -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt" -o Dir::Cache::pkgcache=
	   -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root)
	[ -e "$apt/updated" ] || { apt-get "${A[@]}" -qq update && touch "$apt/updated"; }
	kpkg=$(apt-cache "${A[@]}" depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
	[ -n "$kpkg" ] || { echo "vm-prepare: bookworm-backports has no linux-image-amd64" >&2; exit 1; }
	kver=${kpkg#linux-image-}
	hpkg=linux-headers-$kver
	ver=$(apt-cache "${A[@]}" show "$hpkg" | awk '/^Version:/{print $2; exit}')
	kroot=$cache/kernel-cdev
	if [ ! -e "$cache/$kpkg.cdev.done" ]; then
		log "downloading $kpkg, its headers and the linux $ver source into $cache"
		rm -rf "$kroot" "$cache/headers" "$cache/src" "$cache"/*.deb "$cache"/linux_*
		(cd "$cache" && apt-get "${A[@]}" download -q "$kpkg" "$hpkg" \
			"linux-headers-${kver%-amd64}-common" "linux-kbuild-${kver%-amd64}" >/dev/null &&
			apt-get "${A[@]}" source --download-only -q "linux=$ver" >/dev/null)
		mkdir -p "$kroot" "$cache/headers" "$cache/src"
		dpkg -x "$cache/${kpkg}"_*.deb "$kroot"
		for d in "$cache"/linux-headers-*.deb "$cache"/linux-kbuild-*.deb; do
			dpkg -x "$d" "$cache/headers"
		done
		# Only what the modules are built from.
		tar -xJf "$cache"/linux_*.orig.tar.xz -C "$cache/src" --strip-components=1 --wildcards \
			'*/drivers/vfio/*' '*/drivers/iommu/iommufd/*' '*/drivers/iommu/iommu-priv.h' \
			'*/lib/interval_tree.c'
		bash "$here/cdev-modules.sh" "$cache/src" "$cache/headers/usr/src/linux-headers-$kver" \
			"$kroot/lib/modules/$kver/updates/hostdevd-cdev"
		rm -f "$kroot/lib/modules/$kver/modules.dep"
		touch "$cache/$kpkg.cdev.done"
	fi
}

if [ "$kind" = cdev ]; then fetch_cdev_kernel; else fetch_default_kernel; fi
if [ ! -e "$cache/udev.done" ]; then
	rm -rf "$cache/udevroot" "$cache"/udev_*.deb
	(cd "$cache" && apt-get download -q udev >/dev/null)
	mkdir -p "$cache/udevroot"
	dpkg -x "$cache"/udev_*.deb "$cache/udevroot"
	touch "$cache/udev.done"
fi
[ -f "$kroot/lib/modules/$kver/modules.dep" ] || depmod -b "$kroot" "$kver"
ln -sf "$kroot/boot/vmlinuz-$kver" "$out/vmlinuz"

# ---- the initramfs -------------------------------------------------------
s=$out/initrd-staging
rm -rf "$s"
mkdir -p "$s"/{bin,sbin,dev,proc,sys,run,tmp,etc,root,lib/modules/"$kver",usr/local/bin,scenarios}

cp /bin/busybox "$s/bin/busybox"
for a in $(/bin/busybox --list); do
	# busybox lists itself: a link onto itself would destroy it.
	[ "$a" = busybox ] || ln -sf busybox "$s/bin/$a"
done

# Modules in dependency order, computed by the host's kmod against the
# unpacked tree; the guest's /init insmods them in this order.
mods="vfio vfio_iommu_type1 vfio-pci e1000e e1000 xhci-pci usbhid hid-generic usb-storage
      sd_mod ahci ext4 evdev"
[ "$kind" = default ] || mods="iommufd $mods"
: >"$s/etc/modules.order"
for m in $mods; do
	modprobe -d "$kroot" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
	rel=${ko#"$kroot/lib/modules/$kver/"}
	install -D -m644 "$ko" "$s/lib/modules/$kver/$rel"
	# Newer Debian kernels compress their modules; busybox's insmod
	# takes them plain.
	case $rel in
	*.ko.xz) xz -d "$s/lib/modules/$kver/$rel" && rel=${rel%.xz} ;;
	esac
	echo "$rel" >>"$s/etc/modules.order"
done
cp "$kroot/lib/modules/$kver"/modules.{builtin,builtin.modinfo,order} "$s/lib/modules/$kver/"
depmod -b "$s" "$kver"

# A program and the shared libraries ldd says it needs, at the same paths.
copy_with_libs() {
	install -D -m755 "$1" "$s$2"
	ldd "$1" | awk '/=>/ && $3 ~ /^\// {print $3} /^\t\/.*ld-linux/ {print $1}' |
		while read -r lib; do
			[ -e "$s$lib" ] || install -D -m755 "$(readlink -f "$lib")" "$s$lib"
			# The project's own libraries (libhostdev) live in the build
			# tree, which may be under a directory the guest mounts over
			# (/tmp, /run): also where LD_LIBRARY_PATH finds them.
			case $lib in
			/lib/* | /lib64/* | /usr/lib/*) ;;
			*) install -D -m755 "$(readlink -f "$lib")" "$s/usr/local/lib/$(basename "$lib")" ;;
			esac
		done
}
for b in "$@"; do
	copy_with_libs "$b" "/usr/local/bin/$(basename "$b")"
done
# Debian's /bin/sh, beside busybox's: the shell a host's scripts run
# (bench-detach-latency's raw-process baseline).
copy_with_libs "$(readlink -f "$(command -v dash)")" /bin/dash

# systemd-udevd, so that hostdevd hears udevd's events as on a host.
u=$cache/udevroot
mkdir -p "$s/lib/systemd" "$s/lib/udev" "$s/etc/udev"
copy_with_libs "$u/bin/udevadm" /bin/udevadm
ln -sf /bin/udevadm "$s/lib/systemd/systemd-udevd"
cp -a "$u/lib/udev/rules.d" "$s/lib/udev/"
echo 'udev_log=err' >"$s/etc/udev/udev.conf"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$s/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\ninput:x:101:\nkvm:x:102:\ndisk:x:6:\ntty:x:5:\n' >"$s/etc/group"

install -m755 "$here/guest/init.sh" "$s/init"
install -m644 "$here/guest/lib.sh" "$s/lib/hdvm.sh"
install -m755 "$here"/scenarios/*.sh "$s/scenarios/"
mkdir -p "$s/scenarios/boot"
install -m644 "$here"/scenarios/boot/*.sh "$s/scenarios/boot/"
# The project's shipped udev rules, where an install puts them (rules/).
install -m644 "$here"/../../rules/*.rules "$s/lib/udev/rules.d/"
# Benchmarks run through the same harness, but are not tests.
for b in "$here"/../../bench/vm/*.sh; do
	install -m755 "$b" "$s/scenarios/bench-$(basename "$b")"
done

# The dynamic loader's cache, as a host has: without it every program
# probes a dozen directories per library before it finds it.
printf '/usr/local/lib\n' >"$s/etc/ld.so.conf"
ldconfig_err=$(ldconfig -r "$s" 2>&1) || log "no ld.so.cache in the guest (ldconfig -r: ${ldconfig_err%%$'\n'*})"

(cd "$s" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/initrd.img.new"
mv "$out/initrd.img.new" "$out/initrd.img"
log "kernel $kver, initramfs $(du -h "$out/initrd.img" | cut -f1), $(wc -l <"$s/etc/modules.order") modules"
