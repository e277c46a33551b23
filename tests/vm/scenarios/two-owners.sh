# Scenario 3: two hypervisors, one device.  qemu/vm1 holds an e1000e;
# libxl/vm2 is told DeviceInUse naming the holder, through hostdevctl and
# through libhostdev (the example program), and nothing moves.
nic=$(pci_find 0x8086:0x10d3 | head -1)
hdvm_check "qemu/vm1 claims $nic" ctl /run/out claim --owner qemu/vm1 "$nic"

hdvm_check "hostdevctl for libxl/vm2 is refused" not ctl /run/out claim --owner libxl/vm2 "$nic"
hdvm_check "... DeviceInUse" contains /run/out io.hostdevd.DeviceInUse
hdvm_check "... naming the holder" contains /run/out "in use by driver qemu, domain vm1"

hd-example --driver libxl --no-wait vm2 "$nic" >/run/lib.out 2>&1
rc=$?
hdvm_log NOTE "hd-example -> $rc: $(head -c 300 /run/lib.out | tr '\n' ' ')"
hdvm_check "libhostdev for libxl/vm2 is refused (exit 1)" [ "$rc" = 1 ]
hdvm_check "... DeviceInUse" contains /run/lib.out io.hostdevd.DeviceInUse
hdvm_check "... naming the holder" contains /run/lib.out "qemu, domain vm1"
hdvm_check "kernel: still on vfio-pci" is_driver "$nic" vfio-pci
hdvm_check "the holder is still qemu/vm1" sh -c "hostdevctl claims | grep -q '$nic.*qemu/vm1'"

hdvm_check "libxl/vm2 cannot release it" not ctl /run/out release --owner libxl/vm2 "$nic"
hdvm_check "qemu/vm1 releases it" ctl /run/out release --owner qemu/vm1 "$nic"
hdvm_check "kernel: back on e1000e" is_driver "$nic" e1000e
