# Scenario (issue 6): the policy detaches a hot-plugged NIC on its own.
# hostdevd runs with a rule that detaches 8086:10d3 functions appearing
# after start-up; nic1 is unplugged and plugged in again over QMP and, with
# no client asking, must end on vfio-pci.  The e1000e module is loaded, so
# the kernel's own probe may bind the card first: the race the daemon's
# bind repair is for.  nic0, present at start, stays on e1000e.
nics=$(pci_find 0x8086:0x10d3)
nic0=$(echo "$nics" | head -1)
nic=$(echo "$nics" | tail -1) # nic1, on root port rp2
hdvm_check "two 8086:10d3 functions, the ids the rule names" [ "$(echo "$nics" | wc -l)" = 2 ]

cat >/run/policy.conf <<'EOF'
# policy-hotplug-detach: 82574L functions that appear after start-up
default = "allow";
rules = (
  { match = { vendor = "8086"; device = "10d3"; }; action = "detach"; when = "hotplug"; }
);
EOF
rule_at=/run/policy.conf:4
hdvm_restart_hostdevd --log-level debug --step-timeout 5 --policy /run/policy.conf
hdvm_check "hostdevd runs with the policy" hdvm_wait 10 sh -c "hostdevctl status >/dev/null"
hdvm_check "hotplug-only: $nic0 stays on e1000e at start-up" is_driver "$nic0" e1000e
hdvm_check "... and so does $nic" is_driver "$nic" e1000e
hdvm_check "hostdevd acted on nothing at start-up" not grep -q "present at start" /run/hostdevd.log

hdvm_qmp device_del nic1
hdvm_check "kernel: $nic is gone" hdvm_wait 60 pci_absent "$nic"
hdvm_check "hostdevd: $nic is gone" hdvm_wait 10 not sh -c "hostdevctl show '$nic' >/dev/null 2>&1"

hostdevctl watch >/run/watch.txt 2>&1 &
watch_pid=$!
hdvm_check "the watch is running" hdvm_wait 10 sh -c "hostdevctl status | grep -q 'watchers: *1$'"
hdvm_check "udevadm monitor listens" uev_start /run/uev.txt pci
log_from=$(($(wc -l </run/hostdevd.log) + 1))

hdvm_qmp device_add '{"driver":"e1000e","bus":"rp2","id":"nic1","romfile":""}'
hdvm_check "kernel: $nic is back" hdvm_wait 60 pci_present "$nic"
seen=$(hdvm_up)
hdvm_check "kernel: on vfio-pci, no client asking" hdvm_wait 30 is_driver "$nic" vfio-pci
on_vfio=$(hdvm_up)
hdvm_check "kernel: driver_override vfio-pci" [ "$(pci_override "$nic")" = vfio-pci ]
group=$(pci_group "$nic")
hdvm_check "kernel: /dev/vfio/$group" test -c "/dev/vfio/$group"
hdvm_check "hostdevd: detached" \
	hdvm_wait 10 sh -c "hostdevctl show '$nic' | grep -q 'state: *detached'"
hdvm_check "Watch: policy detach $nic done ($rule_at)" \
	hdvm_wait 10 grep -q "policy detach $nic: done ($rule_at)" /run/watch.txt
hdvm_check "kernel: $nic0 still on e1000e" is_driver "$nic0" e1000e
hdvm_check "hostdevd: $nic0 left alone" not grep -q "$nic0: policy" /run/hostdevd.log
hdvm_log NOTE "watch: $(grep policy /run/watch.txt)"
kill "$watch_pid"
uev_stop /run/uev.txt

# What happened, for people: the kernel's events for the card (did e1000e
# bind first?), the daemon's actions (a second "appeared" is a bind
# repair), and the time from the kernel's add to the bind of vfio-pci.
tail -n +"$log_from" /run/hostdevd.log | grep "$nic" |
	while IFS= read -r l; do hdvm_log NOTE "log: $l"; done
uev_timeline /run/uev.txt "$nic" >/run/timeline.txt
hdvm_log NOTE "kernel events for $nic: $(awk '{printf "%s %s%s; ", $1, $2, $3 ? "(" $3 ")" : ""}' /run/timeline.txt)"
acts=$(tail -n +"$log_from" /run/hostdevd.log | grep -c "$nic: policy detach by $rule_at (appeared)")
hdvm_log NOTE "e1000e bound first: $(grep -q ' bind e1000e$' /run/timeline.txt && echo yes || echo no);" \
	"policy actions: $acts ($((acts - 1)) bind repair(s))"
hdvm_check "the policy acted, at most $((1 + 3)) times" [ "$acts" -ge 1 -a "$acts" -le 4 ]
# Both udevadm and hostdevd stamp an event when they read it
# (CLOCK_MONOTONIC); on one emulated CPU either may read late, so each end
# is the earlier of the two.
dlog_at() {
	tail -n +"$log_from" /run/hostdevd.log | grep "$nic: $1" | head -1 |
		sed -n 's/^hostdevd\[\([0-9.]*\)\].*/\1/p'
}
hdvm_log NOTE "timing: kernel add -> on vfio-pci: $(awk -v da="$(dlog_at added)" -v dd="$(dlog_at "Detach done")" '
	$2 == "add" { a = $1 } $2 == "bind" && $3 == "vfio-pci" { b = $1 }
	END {
		if (da != "" && (a == "" || da + 0 < a + 0)) a = da
		if (dd != "" && (b == "" || dd + 0 < b + 0)) b = dd
		if (a != "" && b != "") printf "%.0f ms", (b - a) * 1000; else print "unknown"
	}' /run/timeline.txt);" "guest's 50 ms polls: present at $seen s, on vfio-pci at $on_vfio s"

# Once moved, the card is the administrator's: reattached by hand it stays
# on e1000e (the policy acts on an appearance, not on every bind).
hdvm_check "reattached by hand" ctl /run/out reattach "$nic"
hdvm_check "kernel: on e1000e" is_driver "$nic" e1000e
hdvm_check "hostdevd answers after the bind" sh -c "hostdevctl status >/dev/null"
hdvm_check "kernel: still on e1000e" is_driver "$nic" e1000e
hdvm_check "the policy did not act again" \
	[ "$(grep -c "$nic: policy detach by" /run/hostdevd.log)" = "$acts" ]
