# Scenario 6: the AHCI controller holds the guest's mounted disk (the
# guest's /init made an ext2 filesystem on /dev/sda and mounted it on
# /data): a claim is refused with HostCritical, and nothing moves.
disk=$(readlink -f /sys/class/block/sda)
ahci=$(echo "$disk" | grep -o '0000:[0-9a-f:.]*' | tail -1)
hdvm_log NOTE "sda at $disk, controller $ahci, mounted: $(grep ' /data ' /proc/mounts)"
hdvm_check "the disk is mounted" grep -q ' /data ' /proc/mounts
hdvm_check "a claim of $ahci is refused" not ctl /run/out claim --owner qemu/vm1 "$ahci"
hdvm_check "... HostCritical" contains /run/out io.hostdevd.HostCritical
hdvm_check "... saying the disk is mounted" contains /run/out "mounted at /data"
hdvm_check "a detach is refused too" not ctl /run/out detach "$ahci"
hdvm_check "kernel: still on ahci" is_driver "$ahci" ahci
hdvm_check "the filesystem is still there" sh -c "echo ok > /data/probe && grep -q ok /data/probe"
