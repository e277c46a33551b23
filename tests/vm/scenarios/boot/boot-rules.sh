# The boot of scenario boot-rules (issue 13), sourced by /init before any
# module is loaded or udevd runs: the policy detaches one 82574L (nic1, on
# root port rp2) and keeps the other (nic0); the rules `hostdevctl rules
# generate` makes from it are installed where an administrator puts them;
# e1000e and vfio-pci are left for udevd to load, as on a host's boot, so
# the kernel's own probe binds nothing before the rules run.
HDVM_NO_INSMOD="e1000e vfio-pci"
boot_nic=$(pci_find 0x8086:0x10d3 | tail -1)
mkdir -p /etc/hostdevd /etc/udev/rules.d
cat >/etc/hostdevd/policy.conf <<EOF
# boot-rules: nic1 is for guests, nic0 stays the host's
rules = (
  { match = { address = "$boot_nic"; }; action = "detach"; }
);
EOF
hostdevctl rules generate --policy /etc/hostdevd/policy.conf \
	-o /etc/udev/rules.d/60-hostdevd-policy.rules 2>/run/generate.err
echo $? >/run/generate.rc
# Every PCI and net uevent of the boot, from before udevd starts: did
# e1000e ever bind nic1, did it get an interface?
udevadm monitor --kernel --property --subsystem-match=pci --subsystem-match=net \
	>/run/boot-uev.txt 2>&1 &
echo $! >/run/boot-uev.txt.pid
hdvm_wait 10 grep -q "^KERNEL - " /run/boot-uev.txt || hdvm_log NOTE "udevadm monitor did not start"
HDVM_DAEMON_ARGS="--policy /etc/hostdevd/policy.conf"
