# Scenario 1: a managed claim of an e1000e.  hostdevctl claims it for
# qemu/vm1: the kernel has it on vfio-pci with /dev/vfio/N, and a guest
# program opens the VFIO group and device; the release puts it back on
# e1000e with driver_override cleared.
nic=$(pci_find 0x8086:0x10d3 | head -1)
grp=$(pci_group "$nic")
hdvm_log NOTE "nic $nic group $grp driver $(pci_driver "$nic")"
hdvm_check "e1000e bound at boot" is_driver "$nic" e1000e

hdvm_check "hostdevctl claim succeeds" ctl /run/out claim --owner qemu/vm1 "$nic"
hdvm_check "kernel: $nic on vfio-pci" is_driver "$nic" vfio-pci
hdvm_check "kernel: driver_override is vfio-pci" [ "$(pci_override "$nic")" = vfio-pci ]
hdvm_check "kernel: /dev/vfio/$grp exists" [ -c "/dev/vfio/$grp" ]
hdvm_check "the VFIO group and device open" vfio-open "$nic"
hdvm_check "hostdevctl claims lists it for qemu/vm1" sh -c "hostdevctl claims | grep -q '$nic.*qemu/vm1'"

hdvm_check "hostdevctl release succeeds" ctl /run/out release --owner qemu/vm1 "$nic"
hdvm_check "kernel: back on e1000e" is_driver "$nic" e1000e
hdvm_check "kernel: driver_override cleared" [ "$(pci_override "$nic")" = "(null)" ]
hdvm_check "kernel: /dev/vfio/$grp gone" [ ! -e "/dev/vfio/$grp" ]
