# Scenario 2: the shared IOMMU group behind the PCIe-to-PCI bridge.
# Claiming one e1000 alone fails with GroupNotViable naming the other; a
# whole-group claim takes both (the bridge stays with the host); the release
# puts every member back on e1000.
set -- $(pci_find 0x8086:0x100e)
a=$1 b=$2
grp=$(pci_group "$a")
bridge=$(ls /sys/kernel/iommu_groups/"$grp"/devices | grep -v -e "$a" -e "$b")
hdvm_log NOTE "group $grp: $a $b, bridge $bridge"

hdvm_check "claiming $a alone is refused" not ctl /run/out claim --owner qemu/vm1 "$a"
hdvm_check "... with GroupNotViable" contains /run/out io.hostdevd.GroupNotViable
hdvm_check "... naming $b" contains /run/out "$b"
hdvm_check "kernel: nothing moved" is_driver "$a" e1000
hdvm_check "kernel: $b untouched" is_driver "$b" e1000

hdvm_check "a whole-group claim succeeds" ctl /run/out claim --owner qemu/vm1 --whole-group "$a"
hdvm_check "kernel: $a on vfio-pci" is_driver "$a" vfio-pci
hdvm_check "kernel: $b on vfio-pci" is_driver "$b" vfio-pci
hdvm_check "kernel: the bridge $bridge keeps its driver" [ "$(pci_driver "$bridge")" != vfio-pci ]
hdvm_check "kernel: /dev/vfio/$grp exists" [ -c "/dev/vfio/$grp" ]

hdvm_check "the release succeeds" ctl /run/out release --owner qemu/vm1
hdvm_check "kernel: $a back on e1000" is_driver "$a" e1000
hdvm_check "kernel: $b back on e1000" is_driver "$b" e1000
hdvm_check "kernel: overrides cleared" [ "$(pci_override "$a")$(pci_override "$b")" = "(null)(null)" ]
