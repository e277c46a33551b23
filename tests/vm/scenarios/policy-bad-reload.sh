# Scenario (issue 6): a bad policy reload keeps the old policy.  hostdevd
# starts with a policy that refuses nic0; a reload of a file with an error
# (by ReloadPolicy, then by SIGHUP) fails naming file and line and changes
# nothing; a good file that allows nic0, reloaded, lets it be claimed.
nic=$(pci_find 0x8086:0x10d3 | head -1) # nic0
pol=/run/policy.conf

cat >"$pol" <<EOF
# policy-bad-reload: nic0 is the host's
rules = (
  { match = { address = "$nic"; }; action = "refuse"; }
);
EOF
hdvm_restart_hostdevd --log-level debug --step-timeout 5 --policy "$pol"
hdvm_check "hostdevd runs with the policy" hdvm_wait 10 sh -c "hostdevctl status >/dev/null"
refused() {
	hdvm_check "$1: a claim of $nic is refused by $pol:3" \
		not ctl /run/claim.out claim --owner qemu/vm1 "$nic"
	hdvm_check "$1: ... with PolicyRefused" \
		sh -c "grep -q 'policy does not let you claim $nic' /run/claim.out && grep -q '$pol:3' /run/claim.out"
	hdvm_check "$1: policy explain shows the refuse" \
		sh -c "hostdevctl policy explain '$nic' | grep -q '($pol:3) decides: refuse $nic'"
	hdvm_check "$1: kernel: $nic on e1000e" is_driver "$nic" e1000e
}
refused "at start"

# An unknown key, which would also allow nic0 if it were taken.
cat >"$pol" <<EOF
rules = (
  { match = { address = "$nic"; }; action = "allow"; },
  { match = { vendr = "8086"; }; action = "allow"; }
);
EOF
ctl /run/reload.out policy reload
rc=$?
hdvm_check "policy reload of an unknown key exits 1" [ "$rc" = 1 ]
hdvm_check "... naming file, line and problem" contains /run/reload.out "$pol:3: unknown match key 'vendr'"
refused "after the bad reload"

# A syntax error: by ReloadPolicy, then by SIGHUP.
printf 'rules = (\n  { match = { address = "%s"; }; action = "allow"; }\n  { oops }\n);\n' "$nic" >"$pol"
ctl /run/reload.out policy reload
rc=$?
hdvm_check "policy reload of a syntax error exits 1" [ "$rc" = 1 ]
hdvm_check "... naming file and line" contains /run/reload.out "$pol:3: syntax error"
log_from=$(($(wc -l </run/hostdevd.log) + 1))
kill -HUP "$(cat /run/hostdevd.pid)"
hup_log() { tail -n +"$log_from" /run/hostdevd.log | grep -q "$1"; }
hdvm_check "SIGHUP: the log says 'policy not reloaded'" hdvm_wait 10 hup_log "policy not reloaded"
hdvm_check "... naming file and line" hup_log "policy not reloaded.*$pol:3: syntax error"
hdvm_log NOTE "log: $(tail -n +"$log_from" /run/hostdevd.log | grep "policy not reloaded")"
hdvm_check "hostdevd still runs" kill -0 "$(cat /run/hostdevd.pid)"
refused "after SIGHUP"

# A good file that allows nic0.
cat >"$pol" <<EOF
# policy-bad-reload: nic0 may go to a guest now
rules = (
  { match = { address = "$nic"; }; action = "allow"; }
);
EOF
hdvm_check "policy reload of a good file" ctl /run/reload.out policy reload
hdvm_check "... says so" contains /run/reload.out "policy reloaded from $pol: 1 rule(s), 0 client(s)"
hdvm_check "policy explain shows the allow" \
	sh -c "hostdevctl policy explain '$nic' | grep -q '($pol:3) decides: allow $nic'"
hdvm_check "qemu/vm1 claims $nic" ctl /run/out claim --owner qemu/vm1 "$nic"
hdvm_check "kernel: on vfio-pci" is_driver "$nic" vfio-pci
hdvm_check "released" ctl /run/out release --owner qemu/vm1 "$nic"
hdvm_check "kernel: back on e1000e" is_driver "$nic" e1000e
