# Scenario (issue 14, unprivileged VMMs): a VMM running as uid 65534, which
# may not open /dev/vfio itself, gets its device from hostdevd.
#  1. vmm-open drops to uid 65534 (group kvm, for the socket), claims nic0
#     for qemu/vmm-1 with a lease on itself, has hostdevd pass the VFIO node
#     (OpenDevice), proves it could not open that node itself, and reaches
#     the device through the descriptor: on a kernel with VFIO cdev the
#     device's /dev/vfio/devices/vfioN bound to an iommufd of its own, else
#     the group /dev/vfio/N set into a container of its own.
#  2. The VMM is killed with SIGKILL: the lease puts the NIC back on e1000e
#     within a second (the NOTE gives the time to the kernel's bind event).
#  3. A uid the policy does not name is refused, and nothing is claimed.
#  4. hostdevd again with the nodes' owner handed over (--node-owner on,
#     the default): while the VMM holds the device, the VFIO nodes belong
#     to uid 65534 (group and mode unchanged); at its end they are root's
#     again.
# Runs on both guest kernels (vm-open-unprivileged: Debian 12's, group;
# vm-cdev-open-unprivileged: the cdev kernel, docs/vm-tests.md).
nic=$(pci_find 0x8086:0x10d3 | head -1)
hdvm_check "kernel: $nic on e1000e" is_driver "$nic" e1000e
# VFIO cdev needs iommufd, which only the cdev kernel's modules have (and
# /init loads): 6.1 lists the device under vfio-dev/ too, as no cdev.
if [ -e /sys/module/iommufd ]; then
	kind=cdev
	# The VMM's own iommufd: /dev/iommu grants no device by itself.
	chown 65534 /dev/iommu
else
	kind=group
fi
hdvm_log NOTE "kernel $(uname -r): expecting a $kind node"

# 1. The VMM.
mkfifo /run/vmm.in
vmm-open --owner qemu/vmm-1 --uid 65534 --gid 65534 --group 102 --expect "$kind" \
	--no-access --hold --ready-file /run/vmm.ready "$nic" </run/vmm.in >/run/vmm.out 2>&1 &
vmm=$!
exec 7>/run/vmm.in
hdvm_check "vmm-open has the device" hdvm_wait 30 test -s /run/vmm.ready
hdvm_log NOTE "vmm-open: $(tr '\n' ' ' </run/vmm.out)"
hdvm_check "vmm-open reached it through the passed $kind" \
	grep -q "uid 65534: $kind .* passed by hostdevd: device open" /run/vmm.out
hdvm_check "kernel: on vfio-pci" is_driver "$nic" vfio-pci
hdvm_log NOTE "claims: $(hostdevctl claims | tr '\n' ' ')"
hdvm_check "the claim is qemu/vmm-1's, leased to vmm-open ($vmm)" \
	sh -c "hostdevctl claims | grep '$nic' | grep 'qemu/vmm-1' | grep -q 'pid $vmm'"
if [ "$kind" = cdev ]; then
	cdev=$(ls "/sys/bus/pci/devices/$nic/vfio-dev/")
	hdvm_check "kernel: the cdev $cdev exists" test -c "/dev/vfio/devices/$cdev"
fi

# 2. SIGKILL of the VMM.
hdvm_check "udevadm monitor listens" uev_start /run/vmm-uev.txt pci
killed_at=$(awk '{print $1}' /proc/uptime)
kill -9 "$vmm"
hdvm_check "kernel: back on e1000e within a second" hdvm_wait 1 is_driver "$nic" e1000e
hdvm_check "kernel: back on e1000e (at all)" hdvm_wait 10 is_driver "$nic" e1000e
# udevadm may print the bind a moment after the kernel made it.
e1000e_bind_seen() { uev_timeline /run/vmm-uev.txt "$nic" | grep -q " bind e1000e"; }
hdvm_wait 5 e1000e_bind_seen || hdvm_log NOTE "no bind event of e1000e seen"
uev_stop /run/vmm-uev.txt
uev_timeline /run/vmm-uev.txt "$nic" >/run/vmm-tl.txt
bound_at=$(awk '$2 == "bind" && $3 == "e1000e" { print $1; exit }' /run/vmm-tl.txt)
hdvm_log NOTE "VMM SIGKILLed at $killed_at s; e1000e bound at ${bound_at:-?} s (kernel event): $(awk -v a="$killed_at" -v b="$bound_at" 'BEGIN { if (b != "") printf "%.0f ms", (b - a) * 1000; else print "unknown" }')"
exec 7>&-
hdvm_check "hostdevd: no claim left" not sh -c "hostdevctl claims | grep -q '$nic'"

# 3. A uid the policy does not name.
vmm-open --owner qemu/vmm-2 --uid 1000 --gid 1000 --group 102 "$nic" >/run/vmm2.out 2>&1
rc=$?
hdvm_log NOTE "uid 1000: exit $rc: $(tr '\n' ' ' </run/vmm2.out)"
hdvm_check "uid 1000 is refused the claim" \
	sh -c "[ $rc = 1 ] && grep -q 'claim: .*PermissionDenied' /run/vmm2.out"
hdvm_check "kernel: still on e1000e" is_driver "$nic" e1000e

# 4. The nodes' owner handed over.
hdvm_restart_hostdevd --log-level debug --policy /etc/hostdevd/policy.conf
mkfifo /run/vmm3.in
vmm-open --owner qemu/vmm-3 --uid 65534 --gid 65534 --group 102 --expect "$kind" \
	--hold --ready-file /run/vmm3.ready "$nic" </run/vmm3.in >/run/vmm3.out 2>&1 &
vmm=$!
exec 7>/run/vmm3.in
hdvm_check "vmm-open has the device again" hdvm_wait 30 test -s /run/vmm3.ready
group=$(pci_group "$nic")
nodes="/dev/vfio/$group"
[ "$kind" = cdev ] && nodes="$nodes /dev/vfio/devices/$(ls "/sys/bus/pci/devices/$nic/vfio-dev/")"
for n in $nodes; do
	hdvm_log NOTE "during the claim: $(stat -c '%n %u:%g %a' "$n")"
	hdvm_check "$n belongs to uid 65534, group and mode as udev made them" \
		[ "$(stat -c '%u:%g %a' "$n")" = "65534:0 600" ]
done
hdvm_check "ListClaims: node_owner set" sh -c "hostdevctl --json claims | grep -q '\"node_owner\": *\"set\"'"
hdvm_check "hostdevctl claims: NODES set" sh -c "hostdevctl claims | grep '$nic' | grep -q ' set\$'"
exec 7>&-
hdvm_check "vmm-open let go at the end of its stdin" hdvm_wait 10 sh -c "! kill -0 $vmm 2>/dev/null"
hdvm_check "kernel: back on e1000e after the VMM" hdvm_wait 10 is_driver "$nic" e1000e
for n in $nodes; do
	# The release gives the node back before vfio-pci's unbind removes it;
	# whichever the kernel did, no node is left with the uid.
	hdvm_check "$n is root's again (or gone)" \
		sh -c "[ ! -e '$n' ] || [ \"\$(stat -c %u '$n')\" = 0 ]"
done
hdvm_check "the log says the nodes were given back" grep -q "VFIO node given back" /run/hostdevd.log
