# Scenario (issue 13): a boot with the generated udev rules installed (its
# first half is scenarios/boot/boot-rules.sh, run before udevd starts).
#  1. Boot, e1000e and vfio-pci loaded by udevd: nic1, which the policy
#     detaches, ends on vfio-pci and e1000e never binds it (no bind event,
#     no interface); nic0 binds e1000e; udev's database marks nic1 and not
#     nic0; hostdevd, started afterwards, takes nic1 into its pool as the
#     policy's, not as an orphan.
#  2. nic1 hot-plugged with vfio-pci loaded and e1000e not, hostdevd
#     stopped: the rule's own bind puts it on vfio-pci before udevd loads
#     e1000e, which never binds it.
#  3. nic1 hot-plugged with e1000e loaded: the kernel usually binds e1000e
#     before udev runs (the boundary docs/udev.md states); its interface's
#     udev event carries NM_UNMANAGED=1 (rules/61-hostdevd.rules), and
#     hostdevd's bind repair moves it to vfio-pci.  When the rule wins the
#     window before the kernel's probe, no interface is made at all.
nics=$(pci_find 0x8086:0x10d3)
nic0=$(echo "$nics" | head -1)
nic=$(echo "$nics" | tail -1)
rule_at=/etc/hostdevd/policy.conf:3
rules=/etc/udev/rules.d/60-hostdevd-policy.rules

hdvm_check "rules generate exited 0" [ "$(cat /run/generate.rc)" = 0 ]
hdvm_log NOTE "generate's stderr: $(tr '\n' ' ' </run/generate.err)"
hdvm_check "the rules name $rule_at" grep -q "$rule_at" "$rules"
grep -v '^#' "$rules" | grep . | while IFS= read -r l; do hdvm_log NOTE "rule: $l"; done
uev_stop /run/boot-uev.txt
uev_timeline /run/boot-uev.txt "$nic" >/run/boot-tl.txt
hdvm_log NOTE "boot events for $nic: $(awk '{printf "%s %s%s; ", $1, $2, $3 ? "(" $3 ")" : ""}' /run/boot-tl.txt)"

# 1. The boot.
hdvm_check "kernel: $nic on vfio-pci after boot" is_driver "$nic" vfio-pci
hdvm_check "kernel: driver_override vfio-pci" [ "$(pci_override "$nic")" = vfio-pci ]
hdvm_check "kernel: e1000e never bound $nic at boot" not grep -q " bind e1000e$" /run/boot-tl.txt
hdvm_check "kernel: a vfio-pci bind event for $nic" grep -q " bind vfio-pci$" /run/boot-tl.txt
hdvm_check "kernel: no interface was ever made under $nic" \
	not grep -q "^DEVPATH=.*/$nic/net/" /run/boot-uev.txt
hdvm_check "kernel: $nic0 on e1000e" is_driver "$nic0" e1000e
hdvm_check "kernel: $nic0 has its interface" test -d "/sys/bus/pci/devices/$nic0/net"
hdvm_check "udev: $nic marked HOSTDEVD_POLICY=detach" \
	sh -c "udevadm info -q property /sys/bus/pci/devices/$nic | grep -qx HOSTDEVD_POLICY=detach"
hdvm_check "udev: $nic marked with its rule" \
	sh -c "udevadm info -q property /sys/bus/pci/devices/$nic | grep -qx HOSTDEVD_RULE=$rule_at"
hdvm_check "udev: $nic0 not marked" \
	not sh -c "udevadm info -q property /sys/bus/pci/devices/$nic0 | grep -q ^HOSTDEVD_POLICY=detach"
if0=$(ls "/sys/bus/pci/devices/$nic0/net" 2>/dev/null | head -1)
hdvm_check "udev: $nic0's interface $if0 is left to NetworkManager" \
	not sh -c "udevadm info -q property /sys/class/net/$if0 | grep -q ^NM_UNMANAGED=1"
hdvm_check "hostdevd: $nic detached" \
	hdvm_wait 10 sh -c "hostdevctl show '$nic' | grep -q 'state: *detached'"
hdvm_check "hostdevd: took it as the policy's" \
	grep -q "$nic: policy detach by $rule_at: found on vfio-pci" /run/hostdevd.log
hdvm_check "hostdevd: not an orphan" not sh -c "hostdevctl status | grep -q orphan"
hdvm_check "hostdevd: it is in the state file's pool" grep -q "\"device\": \"$nic\"" /run/hostdevd/state.json

# 2. Hot-plugged with vfio-pci loaded and e1000e not, hostdevd stopped: the
#    rule alone must put it on vfio-pci.
kill "$(cat /run/hostdevd.pid)"
hdvm_check "hostdevd stopped" hdvm_wait 10 test ! -S /run/hostdevd/hostdevd.sock
hdvm_qmp device_del nic1
hdvm_check "kernel: $nic is gone" hdvm_wait 60 pci_absent "$nic"
hdvm_check "e1000e unloaded" rmmod e1000e
hdvm_check "kernel: $nic0 unbound with it" not is_driver "$nic0" e1000e
hdvm_check "udevadm monitor listens" uev_start /run/uev2.txt pci
hdvm_qmp device_add '{"driver":"e1000e","bus":"rp2","id":"nic1","romfile":""}'
hdvm_check "kernel: $nic is back" hdvm_wait 60 pci_present "$nic"
hdvm_check "kernel: on vfio-pci" hdvm_wait 30 is_driver "$nic" vfio-pci
hdvm_check "kernel: $nic0 back on e1000e, which udevd loaded" hdvm_wait 30 is_driver "$nic0" e1000e
udevadm settle --timeout=30
uev_stop /run/uev2.txt
uev_timeline /run/uev2.txt "$nic" >/run/tl2.txt
hdvm_log NOTE "hot-plug events for $nic (e1000e not loaded): $(awk '{printf "%s %s%s; ", $1, $2, $3 ? "(" $3 ")" : ""}' /run/tl2.txt)"
hdvm_check "kernel: e1000e never bound $nic" not grep -q " bind e1000e$" /run/tl2.txt
hdvm_restart_hostdevd --log-level debug --policy /etc/hostdevd/policy.conf
hdvm_check "hostdevd, started again: detached, the policy's" \
	hdvm_wait 10 sh -c "hostdevctl show '$nic' | grep -q 'state: *detached'"

# 3. Hot-plugged with e1000e loaded: the kernel binds it before udev runs.
hdvm_qmp device_del nic1
hdvm_check "kernel: $nic is gone again" hdvm_wait 60 pci_absent "$nic"
udevadm monitor --udev --property --subsystem-match=net >/run/net3.txt 2>&1 &
echo $! >/run/net3.txt.pid
hdvm_check "udevadm monitor (udev, net) listens" hdvm_wait 10 grep -q "^UDEV - " /run/net3.txt
hdvm_check "udevadm monitor (kernel, pci) listens" uev_start /run/uev3.txt pci
hdvm_qmp device_add '{"driver":"e1000e","bus":"rp2","id":"nic1","romfile":""}'
hdvm_check "kernel: $nic is back" hdvm_wait 60 pci_present "$nic"
hdvm_check "kernel: on vfio-pci in the end (bind repair)" hdvm_wait 30 is_driver "$nic" vfio-pci
udevadm settle --timeout=30
uev_stop /run/uev3.txt
uev_stop /run/net3.txt
uev_timeline /run/uev3.txt "$nic" >/run/tl3.txt
hdvm_log NOTE "hot-plug events for $nic (e1000e loaded): $(awk '{printf "%s %s%s; ", $1, $2, $3 ? "(" $3 ")" : ""}' /run/tl3.txt)"
if grep -q " bind e1000e$" /run/tl3.txt; then
	# The interface e1000e made, as udevd's rules left it.
	awk -v nic="$nic" '/^UDEV/ { keep = index($0, "/" nic "/net/") > 0 } keep' /run/net3.txt >/run/net3-nic.txt
	hdvm_log NOTE "udev's net events under $nic: $(grep -E '^(ACTION|INTERFACE|NM_UNMANAGED|HOSTDEVD_POLICY)=' /run/net3-nic.txt | tr '\n' ' ')"
	hdvm_check "udev: the interface e1000e made under $nic is NM_UNMANAGED=1" \
		sh -c "grep -q '^ACTION=add' /run/net3-nic.txt && grep -q '^NM_UNMANAGED=1' /run/net3-nic.txt"
else
	# The kernel probes a hot-plugged function only after the bridge's
	# resources are assigned, some time after its add: udevd can run the
	# rule in that window (seen here about once in ten).  Then no interface
	# was made, and that is the outcome to check.
	hdvm_log NOTE "the rule ran before the kernel's probe: e1000e never bound $nic this time"
	hdvm_check "kernel: no interface was made under $nic" \
		not grep -q "/$nic/net/" /run/net3.txt
fi
hdvm_check "hostdevd: detached" \
	hdvm_wait 10 sh -c "hostdevctl show '$nic' | grep -q 'state: *detached'"
