#!/bin/bash
# Builds what the real-kernel tests boot: Debian's own kernel (extracted,
# never installed on this machine) and an initramfs holding busybox, the
# kernel modules the scenarios need in dependency order, systemd-udevd, the
# project's binaries with their shared libraries, the guest /init and the
# scenario scripts.
#
# usage: prepare.sh OUT_DIR BIN...
#   OUT_DIR  receives vmlinuz and initrd.img (and cache/ unless
#            HOSTDEVD_VM_CACHE names another place for the downloads)
#   BIN      programs to copy into the guest's /usr/local/bin with their
#            libraries (hostdevd, hostdevctl, hd-example, vfio-open, ...)
#
# Nothing here touches this machine's /sys or loads a module: the kernel
# package is unpacked with dpkg -x and its modules are only copied.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1; shift
cache=${HOSTDEVD_VM_CACHE:-$out/cache}
mkdir -p "$out" "$cache"

log() { echo "vm-prepare: $*"; }

# ---- the kernel and udev, from Debian's archive (downloaded once) --------
kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$kpkg" ] || { echo "vm-prepare: apt-cache knows no linux-image-amd64; run apt-get update" >&2; exit 1; }
if [ ! -e "$cache/$kpkg.done" ]; then
	log "downloading $kpkg and udev into $cache"
	rm -rf "$cache/kernel" "$cache/udevroot" "$cache"/*.deb
	(cd "$cache" && apt-get download -q "$kpkg" udev >/dev/null)
	mkdir -p "$cache/kernel" "$cache/udevroot"
	dpkg -x "$cache/${kpkg}"_*.deb "$cache/kernel"
	dpkg -x "$cache"/udev_*.deb "$cache/udevroot"
	touch "$cache/$kpkg.done"
fi
kroot=$cache/kernel
kver=$(ls "$kroot/lib/modules" | head -1)
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
: >"$s/etc/modules.order"
for m in $mods; do
	modprobe -d "$kroot" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
	rel=${ko#"$kroot/lib/modules/$kver/"}
	install -D -m644 "$ko" "$s/lib/modules/$kver/$rel"
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

(cd "$s" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/initrd.img.new"
mv "$out/initrd.img.new" "$out/initrd.img"
log "kernel $kver, initramfs $(du -h "$out/initrd.img" | cut -f1), $(wc -l <"$s/etc/modules.order") modules"
