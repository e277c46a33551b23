# Scenario 7: a reset through the kernel's reset attribute, reporting the
# kernel's methods; the device keeps its driver and works.  A claimed
# device is reset only by its owner.
nic=$(pci_find 0x8086:0x10d3 | head -1)
methods=$(cat /sys/bus/pci/devices/"$nic"/reset_method)
hdvm_log NOTE "$nic reset_method: $methods"
hdvm_check "hostdevctl reset succeeds" ctl /run/out reset "$nic"
for m in $methods; do
	hdvm_check "... reporting the kernel's method $m" contains /run/out "$m"
done
hdvm_check "kernel: still on e1000e after the reset" is_driver "$nic" e1000e

hdvm_check "claimed by qemu/vm1" ctl /run/out claim --owner qemu/vm1 "$nic"
hdvm_check "a reset without the owner is refused" not ctl /run/out reset "$nic"
hdvm_check "... DeviceInUse" contains /run/out io.hostdevd.DeviceInUse
hdvm_check "the owner may reset it (on vfio-pci)" ctl /run/out reset --owner qemu/vm1 "$nic"
hdvm_check "kernel: still on vfio-pci" is_driver "$nic" vfio-pci
hdvm_check "released" ctl /run/out release --owner qemu/vm1 "$nic"
hdvm_check "kernel: back on e1000e" is_driver "$nic" e1000e
