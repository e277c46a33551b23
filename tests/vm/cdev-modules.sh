#!/bin/bash
# Builds VFIO with cdev support for a Debian kernel that was built without
# it: vfio, vfio_iommu_type1, vfio-pci-core, vfio-pci and iommufd, from the
# kernel's own Debian source, against its own headers package (its kbuild,
# its Module.symvers, its compiler), for the cdev guest of the real-kernel
# tier (tests/vm/prepare.sh --kernel cdev; docs/vm-tests.md).
#
# usage: cdev-modules.sh SRC HEADERS DEST
#   SRC      the kernel source tree (at least drivers/vfio, drivers/iommu/
#            iommufd, drivers/iommu/iommu-priv.h and lib/interval_tree.c)
#   HEADERS  the unpacked linux-headers-VERSION-amd64 directory
#   DEST     where the .ko files go (the kernel's lib/modules/VERSION/updates/…,
#            which depmod prefers to the kernel's own)
#
# Why each setting: Debian leaves CONFIG_IOMMUFD off, so VFIO_DEVICE_CDEV
# (which depends on it) is off too.  Both are set here for these modules
# only, as the C macros kbuild would have put in autoconf.h; everything
# else in them (group, container, virqfd, type 1) stays as Debian built it.
# Every module that embeds struct vfio_device is rebuilt, since its layout
# changes with IOMMUFD.  iommufd needs the interval tree's span iterator,
# which Debian's vmlinux does not have (INTERVAL_TREE_SPAN_ITER off): that
# part of lib/interval_tree.c is compiled into iommufd.ko, unexported; the
# tree itself stays vmlinux's.  No BTF (it would need pahole).  The modules
# are unsigned: the guest's kernel taints itself and loads them, since
# Debian does not force signatures outside Secure Boot.
set -euo pipefail
src=$1 headers=$2 dest=$3
b=$(mktemp -d)
trap 'rm -rf "$b"' EXIT

mkdir -p "$b/vfio/pci" "$b/iommufd"
cp "$src"/drivers/vfio/{vfio_main.c,device_cdev.c,group.c,iommufd.c,container.c,virqfd.c,vfio.h} \
	"$src"/drivers/vfio/vfio_iommu_type1.c "$b/vfio/"
cp "$src"/drivers/vfio/pci/{vfio_pci_core.c,vfio_pci_intrs.c,vfio_pci_rdwr.c,vfio_pci_config.c} \
	"$src"/drivers/vfio/pci/{vfio_pci.c,vfio_pci_igd.c,vfio_pci_priv.h} "$b/vfio/pci/"
cp "$src"/drivers/iommu/iommufd/*.[ch] "$b/iommufd/"
rm -f "$b/iommufd/selftest.c" "$b/iommufd/iova_bitmap.c"
cp "$src/drivers/iommu/iommu-priv.h" "$b/"
{
	echo '#include <linux/interval_tree.h>'
	sed -n '/^#ifdef CONFIG_INTERVAL_TREE_SPAN_ITER/,/^#endif/p' "$src/lib/interval_tree.c" |
		grep -v '^EXPORT_SYMBOL'
} >"$b/iommufd/span_iter.c"
grep -q interval_tree_span_iter_first "$b/iommufd/span_iter.c" ||
	{ echo "cdev-modules: no span iterator in $src/lib/interval_tree.c" >&2; exit 1; }

echo 'obj-m += iommufd/ vfio/' >"$b/Kbuild"
cat >"$b/iommufd/Kbuild" <<'EOF'
obj-m += iommufd.o
iommufd-y := device.o fault.o hw_pagetable.o io_pagetable.o ioas.o main.o pages.o vfio_compat.o span_iter.o
EOF
cat >"$b/vfio/Kbuild" <<'EOF'
obj-m += vfio.o vfio_iommu_type1.o pci/
vfio-y := vfio_main.o device_cdev.o group.o iommufd.o container.o virqfd.o
EOF
cat >"$b/vfio/pci/Kbuild" <<'EOF'
obj-m += vfio-pci-core.o vfio-pci.o
vfio-pci-core-y := vfio_pci_core.o vfio_pci_intrs.o vfio_pci_rdwr.o vfio_pci_config.o
vfio-pci-y := vfio_pci.o vfio_pci_igd.o
EOF

# The headers package's Makefile includes its -common sibling by an
# absolute /usr/src path: point it at the unpacked one.
common=$(sed -n 's|^include .*/\(linux-headers-[^/]*-common\)/Makefile$|\1|p' "$headers/Makefile")
[ -n "$common" ] || common=$(basename "$(ls -d "$(dirname "$headers")"/linux-headers-*-common)")
echo "include $(dirname "$headers")/$common/Makefile" >"$headers/Makefile"

make -s -C "$headers" M="$b" -j"$(nproc)" CONFIG_DEBUG_INFO_BTF_MODULES= \
	KCFLAGS="-DCONFIG_IOMMUFD_MODULE=1 -DCONFIG_VFIO_DEVICE_CDEV=1 -DCONFIG_INTERVAL_TREE_SPAN_ITER=1" \
	modules
mkdir -p "$dest"
install -m644 "$b"/iommufd/iommufd.ko "$b"/vfio/vfio.ko "$b"/vfio/vfio_iommu_type1.ko \
	"$b"/vfio/pci/vfio-pci-core.ko "$b"/vfio/pci/vfio-pci.ko "$dest/"
echo "cdev-modules: $(ls "$dest" | tr '\n' ' ')into $dest"
