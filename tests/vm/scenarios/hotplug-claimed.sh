# Scenario 4: a claimed NIC hot-unplugged over QMP.  Watch reports the
# remove with its holder, and the claim is kept; plugged in again, the same
# card is recognised, put back on vfio-pci and claimed again.
nic=$(pci_find 0x8086:0x10d3 | tail -1) # nic1, on root port rp2
hdvm_check "qemu/vm1 claims $nic" ctl /run/out claim --owner qemu/vm1 "$nic"
hostdevctl watch --json >/run/watch.json 2>&1 &
watch_pid=$!
hdvm_check "the watch is running" hdvm_wait 10 test -s /run/watch.json

hdvm_qmp device_del nic1
hdvm_check "kernel: $nic is gone" hdvm_wait 60 pci_absent "$nic"
hdvm_check "Watch reported its remove" \
	hdvm_wait 10 grep -q "\"event\":\"remove\",\"id\":\"$nic\"" /run/watch.json
hdvm_check "... naming its holder" sh -c "grep '\"event\":\"remove\",\"id\":\"$nic\"' /run/watch.json | grep -q '\"domain\":\"vm1\"'"
hdvm_check "the claim is kept" sh -c "hostdevctl claims | grep -q '$nic.*qemu/vm1'"

hdvm_qmp device_add '{"driver":"e1000e","bus":"rp2","id":"nic1","romfile":""}'
hdvm_check "kernel: $nic is back" hdvm_wait 60 pci_present "$nic"
hdvm_check "kernel: back on vfio-pci for its claim" hdvm_wait 20 is_driver "$nic" vfio-pci
hdvm_check "hostdevd: claimed again" \
	hdvm_wait 10 sh -c "hostdevctl show '$nic' | grep -q 'state: *claimed'"
hdvm_check "Watch reported its add" grep -q "\"event\":\"add\",\"id\":\"$nic\"" /run/watch.json
kill "$watch_pid"

hdvm_check "released" ctl /run/out release --owner qemu/vm1 "$nic"
hdvm_check "kernel: on e1000e" is_driver "$nic" e1000e
