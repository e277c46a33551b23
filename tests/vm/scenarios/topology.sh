# Scenario 0: the daemon's table is the kernel's.  The guest's machine as
# hostdevd lists it: the two e1000e on their root ports, each alone in its
# IOMMU group; the two e1000 behind the PCIe-to-PCI bridge sharing one group
# with it; the xHCI controller with the keyboard; the AHCI controller.
nics=$(pci_find 0x8086:0x10d3)
olds=$(pci_find 0x8086:0x100e)
hdvm_log NOTE "e1000e: $(echo $nics) e1000: $(echo $olds)"
hdvm_check "two e1000e and two e1000 in sysfs" [ "$(echo $nics $olds | wc -w)" = 4 ]
hostdevctl list --json >/run/list.json
for d in $nics $olds; do
	hdvm_check "hostdevctl lists $d with its driver $(pci_driver "$d")" \
		grep -q "\"id\":\"$d\".*\"driver\":\"$(pci_driver "$d")\"" /run/list.json
done
g1=$(pci_group "$(echo $olds | cut -d' ' -f1)")
g2=$(pci_group "$(echo $olds | cut -d' ' -f2)")
hdvm_check "the two e1000 share IOMMU group $g1" [ "$g1" = "$g2" ]
hostdevctl show --json "$(echo $olds | cut -d' ' -f1)" >/run/show.json
hdvm_check "hostdevd reports group $g1 for it" grep -q "\"iommu_group\":$g1" /run/show.json
for m in $(ls /sys/kernel/iommu_groups/"$g1"/devices); do
	hdvm_check "hostdevd lists $m as a member of group $g1" \
		grep -q "\"$m\"" /run/show.json
done
hdvm_check "the keyboard on xHCI is listed" sh -c "hostdevctl list --bus usb | grep -q 0627:0001"
hostdevctl status >/run/status.txt 2>&1
hdvm_check "hostdevctl status answers" grep -q "devices" /run/status.txt
