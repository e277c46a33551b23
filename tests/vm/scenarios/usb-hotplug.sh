# Scenario 5: a USB tablet hot-plugged over QMP.  Its add and remove reach
# hostdevd's table and Watch; while it is there it is claimed by port path,
# and its interface drivers are unbound and bound again.
hostdevctl list --bus usb --json >/run/before.json
hostdevctl watch --json >/run/watch.json 2>&1 &
watch_pid=$!
hdvm_check "the watch is running" hdvm_wait 10 test -s /run/watch.json

hdvm_qmp device_add '{"driver":"usb-tablet","bus":"xhci.0","id":"tab1"}'
tablet_present() { hostdevctl list --bus usb | grep -q 0627:0001.*QEMU.*Tablet; }
hdvm_check "hostdevd lists the tablet" hdvm_wait 30 tablet_present
port=$(for d in /sys/bus/usb/devices/*; do
	[ -f "$d/product" ] && grep -q Tablet "$d/product" && echo "${d##*/}"
done | head -1)
hdvm_log NOTE "tablet at port $port: $(cat /sys/bus/usb/devices/"$port"/product)"
hdvm_check "Watch reported its add" \
	hdvm_wait 10 grep -q "\"event\":\"add\",\"id\":\"$port\"" /run/watch.json
ifdrv() { l=$(readlink "/sys/bus/usb/devices/$port:1.0/driver") && basename "$l"; }
hdvm_check "kernel: usbhid on its interface" hdvm_wait 10 [ "$(ifdrv)" = usbhid ]

hdvm_check "claimed by port path with --unbind-interfaces" \
	ctl /run/out claim --owner qemu/vm1 --unbind-interfaces "$port"
hdvm_check "kernel: its interface is unbound" [ -z "$(ifdrv)" ]
hdvm_check "another owner is refused" not ctl /run/out claim --owner libxl/vm2 "$port"
hdvm_check "released" ctl /run/out release --owner qemu/vm1 "$port"
hdvm_check "kernel: usbhid bound again" [ "$(ifdrv)" = usbhid ]

hdvm_qmp device_del tab1
hdvm_check "kernel: the tablet is gone" hdvm_wait 30 test ! -e "/sys/bus/usb/devices/$port"
hdvm_check "Watch reported its remove" \
	hdvm_wait 10 grep -q "\"event\":\"remove\",\"id\":\"$port\"" /run/watch.json
hdvm_check "hostdevd no longer lists it" not tablet_present
kill "$watch_pid"
