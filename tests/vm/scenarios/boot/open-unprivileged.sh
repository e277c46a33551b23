# The boot of scenario open-unprivileged (issue 14), sourced by /init
# before hostdevd starts: a policy that lets members of group kvm reach the
# socket and lets uid 65534 (nobody, the VMM) claim and release for
# qemu/vmm-*, nothing else; hostdevd hands no VFIO node to a claim's uid
# (--node-owner off), so the descriptor is the VMM's only way in.
mkdir -p /etc/hostdevd
cat >/etc/hostdevd/policy.conf <<'POLICY'
socket_group = "kvm";
clients = (
  { uid = 65534; permissions = ["list", "claim", "release"];
    drivers = ["qemu"]; domains = ["vmm-*"]; }
);
POLICY
HDVM_DAEMON_ARGS="--policy /etc/hostdevd/policy.conf --node-owner off"
