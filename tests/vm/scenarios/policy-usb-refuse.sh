# Scenario (issue 6): a hot-plugged USB tablet that the policy refuses with
# deauthorize ends with `authorized` 0 and no driver on its interfaces, is
# shown so by hostdevd and cannot be claimed.  QEMU's keyboard has the
# tablet's ids (0627:0001) too: the rule is for devices inserted later, so
# the keyboard, present at start-up, stays authorized.
usb_by_product() {
	for d in /sys/bus/usb/devices/*; do
		[ -f "$d/product" ] && grep -q "$1" "$d/product" && echo "${d##*/}"
	done | head -1
}
tablet_there() { [ -n "$(usb_by_product Tablet)" ]; }
usb_ids() { echo "$(cat "/sys/bus/usb/devices/$1/idVendor"):$(cat "/sys/bus/usb/devices/$1/idProduct")"; }
authorized() { [ "$(cat "/sys/bus/usb/devices/$1/authorized")" = "$2" ]; }
# The drivers bound to a USB device's interfaces, one per line.
if_drivers() {
	for i in /sys/bus/usb/devices/"$1":*; do
		l=$(readlink "$i/driver") && basename "$l"
	done
}
kbd=$(usb_by_product Keyboard)
hdvm_log NOTE "keyboard at port $kbd: $(usb_ids "$kbd") $(cat "/sys/bus/usb/devices/$kbd/product")"

cat >/run/policy.conf <<'EOF'
# policy-usb-refuse: QEMU's HID devices plugged in after start-up
rules = (
  { match = { bus = "usb"; vendor = "0627"; device = "0001"; };
    action = "refuse"; deauthorize = true; when = "hotplug"; }
);
EOF
rule_at=/run/policy.conf:3
hdvm_restart_hostdevd --log-level debug --step-timeout 5 --policy /run/policy.conf
hdvm_check "hostdevd runs with the policy" hdvm_wait 10 sh -c "hostdevctl status >/dev/null"
hdvm_check "kernel: the keyboard is authorized at start-up" authorized "$kbd" 1

hostdevctl watch >/run/watch.txt 2>&1 &
watch_pid=$!
hdvm_check "the watch is running" hdvm_wait 10 sh -c "hostdevctl status | grep -q 'watchers: *1$'"
hdvm_check "udevadm monitor listens" uev_start /run/uev.txt usb
log_from=$(($(wc -l </run/hostdevd.log) + 1))

hdvm_qmp device_add '{"driver":"usb-tablet","bus":"xhci.0","id":"tab1"}'
hdvm_check "kernel: the tablet appeared" hdvm_wait 30 tablet_there
port=$(usb_by_product Tablet)
hdvm_log NOTE "tablet at port $port: $(usb_ids "$port")"
hdvm_check "the tablet has the ids the rule names" [ "$(usb_ids "$port")" = 0627:0001 ]
hdvm_check "kernel: the tablet's authorized is 0" hdvm_wait 30 authorized "$port" 0
hdvm_check "kernel: no driver on its interfaces" [ -z "$(if_drivers "$port")" ]
hdvm_log NOTE "its interfaces now: $(ls -d /sys/bus/usb/devices/"$port":* 2>/dev/null | tr '\n' ' ')"
hdvm_check "hostdevd: authorized no" \
	hdvm_wait 10 sh -c "hostdevctl show '$port' | grep -q 'authorized: *no'"
hdvm_check "hostdevd: authorized false in JSON" \
	sh -c "hostdevctl --json show '$port' | grep -q '\"authorized\": *false'"
hdvm_check "hostdevd: no interface driver (usbhid) listed" \
	hdvm_wait 10 not sh -c "hostdevctl show '$port' | grep -q usbhid"
hdvm_log NOTE "hostdevctl show $port: $(hostdevctl show "$port" | grep -A3 '^interfaces' | tr -s ' \n' ' ')"
hdvm_check "Watch: policy refuse $port done ($rule_at)" \
	hdvm_wait 10 grep -q "policy refuse $port: done ($rule_at)" /run/watch.txt
hdvm_check "a claim is refused" not ctl /run/claim.out claim --owner qemu/vm1 "$port"
hdvm_check "... by the policy (PolicyRefused, naming the rule)" \
	sh -c "grep -q \"policy does not let you claim $port\" /run/claim.out && grep -q '$rule_at' /run/claim.out"
hdvm_check "kernel: the keyboard is still authorized" authorized "$kbd" 1
hdvm_check "kernel: usbhid still on the keyboard" [ "$(if_drivers "$kbd")" = usbhid ]
hdvm_log NOTE "watch: $(grep policy /run/watch.txt)"
kill "$watch_pid"
uev_stop /run/uev.txt

# For people: did usbhid bind the tablet before the daemon deauthorized
# it, and how long from the kernel's add to its interfaces being gone.
tail -n +"$log_from" /run/hostdevd.log | grep "$port: " |
	while IFS= read -r l; do hdvm_log NOTE "log: $l"; done
uev_timeline /run/uev.txt "$port" >/run/timeline.txt
uev_timeline /run/uev.txt "$port:1.0" >>/run/timeline.txt
sort -n /run/timeline.txt -o /run/timeline.txt
hdvm_log NOTE "kernel events for $port and $port:1.0: $(awk '{printf "%s %s%s; ", $1, $2, $3 ? "(" $3 ")" : ""}' /run/timeline.txt)"
hdvm_log NOTE "usbhid bound first: $(grep -q ' bind usbhid$' /run/timeline.txt && echo yes || echo no);" \
	"timing: kernel add -> interface removed: $(awk '
	!a && $2 == "add" { a = $1 } $2 == "remove" { r = $1 }
	END { if (a && r) printf "%.0f ms", (r - a) * 1000; else print "unknown" }' /run/timeline.txt)"

hdvm_qmp device_del tab1
hdvm_check "kernel: the tablet is gone" hdvm_wait 30 test ! -e "/sys/bus/usb/devices/$port"
hdvm_check "hostdevd no longer lists it" \
	hdvm_wait 10 not sh -c "hostdevctl show '$port' >/dev/null 2>&1"
