# Scenario 8: a blocked unbind does not stop the daemon.  A guest program
# holds the VFIO device of a claimed NIC open; the owner's release must
# unbind vfio-pci, which the kernel holds until the device is closed.  The
# release times out cleanly (step timeout 5 s), other clients are served
# meanwhile, and when the holder lets go the device ends in the detached
# pool on vfio-pci, from where a reattach brings e1000e back.
set -- $(pci_find 0x8086:0x10d3)
nic=$1 other=$2
hdvm_check "qemu/vm1 claims $nic" ctl /run/out claim --owner qemu/vm1 "$nic"
# Its stdin is a fifo kept open here: it holds until killed (or the fifo
# closes), not until an empty stdin ends at once.
mkfifo /run/hold.in
vfio-open --hold --ready-file /run/held "$nic" >/run/hold.out 2>&1 </run/hold.in &
holder=$!
exec 9>/run/hold.in
hdvm_check "a guest program holds the VFIO device open" hdvm_wait 20 test -e /run/held

t0=$(hdvm_up)
(hostdevctl release --owner qemu/vm1 "$nic" >/run/rel.out 2>&1; echo $? >/run/rel.rc) &
hdvm_check "the unbind is stuck in the kernel" \
	hdvm_wait 10 sh -c "hostdevctl show '$nic' | grep -q 'state: *releasing'"
hdvm_check "meanwhile hostdevctl list answers" sh -c "hostdevctl list >/dev/null"
hdvm_check "... and another device can be claimed" ctl /run/out2 claim --owner qemu/vm2 "$other"
hdvm_check "kernel: $other on vfio-pci" is_driver "$other" vfio-pci
hdvm_check "... all while the release is still waiting" test ! -e /run/rel.rc

hdvm_check "the release answers within its step timeout" hdvm_wait 15 test -e /run/rel.rc
hdvm_log NOTE "release after $(awk "BEGIN{print $(hdvm_up)-$t0}") s: rc $(cat /run/rel.rc): $(tr '\n' ' ' </run/rel.out)"
hdvm_check "... with Timeout" grep -q io.hostdevd.Timeout /run/rel.out
hdvm_check "... naming the unbind step" grep -q unbind /run/rel.out
hdvm_check "hostdevd: the device is in error while the write is stuck" \
	sh -c "hostdevctl show '$nic' | grep -q 'state: *error'"

kill "$holder"
exec 9>&-
hdvm_check "when the holder lets go, the device is back in the pool" \
	hdvm_wait 30 sh -c "hostdevctl show '$nic' | grep -q 'state: *detached'"
hdvm_check "kernel: on vfio-pci" is_driver "$nic" vfio-pci
hdvm_check "the claim is over" not sh -c "hostdevctl claims | grep -q '$nic'"
hdvm_check "a reattach brings e1000e back" ctl /run/out reattach "$nic"
hdvm_check "kernel: on e1000e" is_driver "$nic" e1000e
hdvm_check "the other claim is untouched" ctl /run/out2 release --owner qemu/vm2 "$other"
hdvm_check "kernel: $other on e1000e" is_driver "$other" e1000e
