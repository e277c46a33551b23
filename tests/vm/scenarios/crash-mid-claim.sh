# Scenario (issue 5): hostdevd killed mid-claim on the real kernel.  The
# daemon is restarted with a failpoint that kills it (SIGKILL, from inside:
# no cleanup) right after it unbound e1000e, with vfio-pci in
# driver_override and nothing bound; started again, it must undo the
# unacknowledged claim: override cleared, e1000e probed back.  Then killed
# just before answering a claim it had saved: started again, the claim is
# there and the NIC on vfio-pci.
nic=$(pci_find 0x8086:0x10d3 | head -1)

# crash_with FAILPOINT: restart hostdevd armed with it, claim, let it die.
crash_with() {
	kill "$(cat /run/hostdevd.pid)"
	hdvm_wait 10 test ! -S /run/hostdevd/hostdevd.sock || hdvm_fail "hostdevd did not stop"
	HOSTDEVD_FAILPOINT=$1 hostdevd --foreground --log-level debug --step-timeout 5 \
		>>/run/hostdevd.log 2>&1 &
	pid=$!
	hdvm_wait 30 hostdevctl status >/dev/null 2>&1 || hdvm_fail "armed hostdevd did not start"
	hostdevctl claim --owner qemu/vm1 "$nic" >/run/crash.out 2>&1
	hdvm_check "the claim got no answer ($1)" not grep -q "claimed by" /run/crash.out
	hdvm_check "hostdevd died at $1" hdvm_wait 10 sh -c "! kill -0 $pid 2>/dev/null"
}
# restart: the daemon again, unarmed, on the same state (its socket is stale).
restart() {
	hostdevd --foreground --log-level debug --step-timeout 5 >>/run/hostdevd.log 2>&1 &
	echo $! >/run/hostdevd.pid
	hdvm_check "hostdevd started again" hdvm_wait 30 sh -c "hostdevctl status >/dev/null 2>&1"
}

crash_with detach.unbind
hdvm_log NOTE "after the crash: driver '$(pci_driver "$nic")', override $(pci_override "$nic")"
hdvm_check "kernel: e1000e unbound, override vfio-pci (the crash's state)" \
	[ -z "$(pci_driver "$nic")" -a "$(pci_override "$nic")" = vfio-pci ]
restart
hdvm_check "kernel: back on e1000e" hdvm_wait 10 is_driver "$nic" e1000e
hdvm_check "kernel: driver_override cleared" [ "$(pci_override "$nic")" = "(null)" ]
hdvm_check "no claim" not sh -c "hostdevctl claims | grep -q '$nic'"
hdvm_check "nothing needs attention" sh -c "hostdevctl status | grep -q 'attention: *none'"

crash_with claim.before_ack
restart
hdvm_check "the saved claim is there" sh -c "hostdevctl claims | grep -q '$nic.*qemu/vm1'"
hdvm_check "kernel: on vfio-pci" is_driver "$nic" vfio-pci
hdvm_check "hostdevd: claimed" sh -c "hostdevctl show '$nic' | grep -q 'state: *claimed'"
hdvm_check "released" ctl /run/out release --owner qemu/vm1 "$nic"
hdvm_check "kernel: back on e1000e" is_driver "$nic" e1000e
