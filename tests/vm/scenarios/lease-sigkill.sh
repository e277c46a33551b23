# Scenario (issue 14, leases): a claim tied to a live process ends with it.
#  1. `hostdevctl run` claims nic0 with a lease on its command (a sleep):
#     hostdevctl is killed with SIGKILL first, so nothing but the lease can
#     release; then the command is killed with SIGKILL.  The NIC must be
#     back on e1000e within a second; the NOTE gives the time from the kill
#     to the kernel's bind of e1000e (udevadm's CLOCK_MONOTONIC stamps).
#  2. `hostdevctl run` around a guest program that opens the device through
#     VFIO (vfio-open): run exits with the program's status, and the NIC is
#     back on e1000e with no claim left.
nic=$(pci_find 0x8086:0x10d3 | head -1)
hdvm_check "kernel: $nic on e1000e" is_driver "$nic" e1000e

# 1. SIGKILL of the lease holder.
hostdevctl run --owner qemu/lease1 "$nic" -- sleep 600 >/run/run1.out 2>&1 &
run_pid=$!
hdvm_check "claimed under a lease" \
	hdvm_wait 20 sh -c "hostdevctl show '$nic' | grep -q 'state: *claimed'"
hdvm_check "kernel: on vfio-pci" is_driver "$nic" vfio-pci
holder=$(hostdevctl claims | awk -v d="$nic" '$1 == d { for (i = 1; i < NF; i++) if ($i == "pid") { print $(i + 1); exit } }')
hdvm_log NOTE "claims: $(hostdevctl claims | tr '\n' ' ')"
hdvm_check "the lease names the command's process ($holder)" \
	sh -c "[ -n '$holder' ] && grep -q sleep /proc/$holder/cmdline"
kill -9 "$run_pid"
hdvm_check "hostdevctl is gone" hdvm_wait 10 sh -c "! kill -0 $run_pid 2>/dev/null"
hdvm_check "the claim outlives hostdevctl" \
	sh -c "hostdevctl show '$nic' | grep -q 'state: *claimed'"
hdvm_check "udevadm monitor listens" uev_start /run/lease-uev.txt pci
killed_at=$(awk '{print $1}' /proc/uptime)
kill -9 "$holder"
hdvm_check "kernel: back on e1000e within a second" hdvm_wait 1 is_driver "$nic" e1000e
hdvm_check "kernel: back on e1000e (at all)" hdvm_wait 10 is_driver "$nic" e1000e
seen_at=$(awk '{print $1}' /proc/uptime)
uev_stop /run/lease-uev.txt
uev_timeline /run/lease-uev.txt "$nic" >/run/lease-tl.txt
bound_at=$(awk '$2 == "bind" && $3 == "e1000e" { print $1; exit }' /run/lease-tl.txt)
hdvm_log NOTE "lease holder SIGKILLed at $killed_at s; e1000e bound at ${bound_at:-?} s (kernel event): $(awk -v a="$killed_at" -v b="$bound_at" 'BEGIN { if (b != "") printf "%.0f ms", (b - a) * 1000; else print "unknown" }'); the guest's 50 ms poll saw it at $seen_at s"
hdvm_check "kernel: driver_override cleared" [ "$(pci_override "$nic")" = "(null)" ]
hdvm_check "hostdevd: no claim left" not sh -c "hostdevctl claims | grep -q '$nic'"
hdvm_check "hostdevd: host" sh -c "hostdevctl show '$nic' | grep -q 'state: *host'"

# 2. run around a program that uses the device.
hostdevctl run --owner qemu/run1 "$nic" -- sh -c "vfio-open '$nic' && exit 7" >/run/run2.out 2>&1
rc=$?
hdvm_log NOTE "run: exit $rc: $(tr '\n' ' ' </run/run2.out)"
hdvm_check "run exits with the program's status (7: vfio-open opened the device)" [ "$rc" = 7 ]
hdvm_check "kernel: back on e1000e after run" hdvm_wait 10 is_driver "$nic" e1000e
hdvm_check "hostdevd: no claim left after run" not sh -c "hostdevctl claims | grep -q '$nic'"
