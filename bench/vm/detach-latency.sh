# The VM benchmark (not a test): managed detach of an e1000e, raw sysfs
# sequence against hostdevctl claim and libhostdev, 20 runs each, in the
# guest.  Run it through the harness:
#   build/tests/vm/vmrun --kernel build/tests/vm/out/vmlinuz \
#       --initrd build/tests/vm/out/initrd.img --scenario bench-detach-latency
# Its JSON lines come out as "BENCH" lines (docs/benchmarks.md).
nic=$(pci_find 0x8086:0x10d3 | head -1)
# As a host runs it: the tests' debug log costs a write per step.
hdvm_restart_hostdevd --log-level info
# raw-process's shell: a host's /bin/sh (Debian's dash, dynamically linked
# like hostdevctl), not the initramfs's static busybox, whose start costs a
# fifth of a dynamic program's here (docs/benchmarks.md).  --settle: each
# method starts with udevd idle, not busy with the last undo's events.
detach-latency --runs "${HDVM_BENCH_RUNS:-20}" --shell /bin/dash --settle "$nic" >/run/bench.json 2>/run/bench.err
rc=$?
while IFS= read -r l; do hdvm_log BENCH "$l"; done </run/bench.json
hdvm_check "detach-latency finished (exit $rc: $(head -c 300 /run/bench.err | tr '\n' ' '))" [ "$rc" = 0 ]
