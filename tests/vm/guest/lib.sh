# Shell library of the test guest (sourced by /init and the scenarios).
#
# The console protocol with the host harness (tests/vm/vmrun.c): every line
# for it starts with "@@ <uptime> ":
#   PASS <what> / FAIL <what>   one check's result
#   QMP <command> <arguments>   asks the host to act: "device_add {json}" or
#                               "device_del ID"; the host waits for QEMU's
#                               DEVICE_DELETED before the next request, and
#                               the guest waits for the kernel to see it
#   LOG <line>                  a line of hostdevd's log (after a failure)
#   DONE fails=<n>              the end; the harness's verdict
# Anything else (READY, NOTE, ...) is information for a person.

HDVM_FAILS=0

hdvm_up() { cut -d' ' -f1 /proc/uptime; }
hdvm_log() { echo "@@ $(hdvm_up) $*"; }
hdvm_pass() { hdvm_log PASS "$*"; }
hdvm_fail() {
	hdvm_log FAIL "$*"
	HDVM_FAILS=$((HDVM_FAILS + 1))
}
# hdvm_check WHAT CMD...: CMD's exit status decides.
hdvm_check() {
	what=$1
	shift
	if "$@"; then hdvm_pass "$what"; else hdvm_fail "$what"; fi
}
# not CMD...: succeeds when CMD fails ("!" is grammar, not a command, so
# hdvm_check cannot be given it).
not() { ! "$@"; }
# hdvm_wait SECONDS CMD...: until CMD succeeds, checking every 50 ms; false
# at the deadline.  For what the kernel does on its own time (a hot-plug).
hdvm_wait() {
	n=$(($1 * 20))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		usleep 50000
		n=$((n - 1))
	done
	return 1
}
hdvm_arg() {
	for w in $(cat /proc/cmdline); do
		case $w in "$1"=*) echo "${w#*=}" ;; esac
	done
}
hdvm_qmp() { hdvm_log QMP "$*"; }
hdvm_done() {
	if [ "$HDVM_FAILS" -gt 0 ]; then
		while IFS= read -r l; do hdvm_log LOG "$l"; done </run/hostdevd.log
	fi
	hdvm_log DONE "fails=$HDVM_FAILS"
}

# hdvm_restart_hostdevd ARGS...: stops the daemon /init started and starts
# it again with ARGS added (a benchmark wants --log-level info).
hdvm_restart_hostdevd() {
	kill "$(cat /run/hostdevd.pid)"
	hdvm_wait 10 test ! -S /run/hostdevd/hostdevd.sock || hdvm_fail "hostdevd did not stop"
	hostdevd --foreground "$@" >>/run/hostdevd.log 2>&1 &
	echo $! >/run/hostdevd.pid
	hdvm_wait 30 test -S /run/hostdevd/hostdevd.sock || hdvm_fail "hostdevd did not start again"
}

# ---- the kernel's view ----------------------------------------------------

# PCI functions with vendor:device, one address per line, sorted.
pci_find() {
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor"):$(cat "$d/device")" = "$1" ] && echo "${d##*/}"
	done | sort
}
# The driver bound to a PCI function, or nothing.
pci_driver() {
	l=$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null) && basename "$l"
}
pci_override() { cat "/sys/bus/pci/devices/$1/driver_override"; }
pci_group() { basename "$(readlink "/sys/bus/pci/devices/$1/iommu_group")"; }
pci_present() { [ -e "/sys/bus/pci/devices/$1" ]; }
pci_absent() { [ ! -e "/sys/bus/pci/devices/$1" ]; }
is_driver() { [ "$(pci_driver "$1")" = "$2" ]; }

# ---- hostdevctl -------------------------------------------------------------

# ctl OUTFILE ARGS...: hostdevctl's stdout and stderr to OUTFILE, its exit
# status returned (and shown, with the output, on the console).
ctl() {
	f=$1
	shift
	hostdevctl "$@" >"$f" 2>&1
	rc=$?
	hdvm_log NOTE "hostdevctl $* -> $rc: $(head -c 400 "$f" | tr '\n' ' ')"
	return $rc
}
contains() { grep -q -- "$2" "$1"; }

# ---- the kernel's uevents, for timings and races ---------------------------

# uev_start FILE SUBSYSTEM: the kernel's uevents for SUBSYSTEM, with their
# properties, into FILE (`udevadm monitor`, in the background, its pid in
# FILE.pid); returns once it listens.
uev_start() {
	udevadm monitor --kernel --property --subsystem-match="$2" >"$1" 2>&1 &
	echo $! >"$1.pid"
	hdvm_wait 10 grep -q "^KERNEL - " "$1"
}
uev_stop() {
	kill "$(cat "$1.pid")"
	hdvm_wait 10 sh -c "! kill -0 $(cat "$1.pid") 2>/dev/null"
}
# uev_timeline FILE NAME: one line per event of the device whose path ends
# in /NAME: "<CLOCK_MONOTONIC seconds> <action> [<driver>]".
uev_timeline() {
	awk -v name="$2" '
	function flush() {
		if (act != "" && substr(path, length(path) - length(name)) == "/" name)
			print t, act, drv
		act = ""
	}
	/^KERNEL\[/ { flush(); t = substr($1, 8, length($1) - 8); act = $2; path = $3; drv = "" }
	/^DRIVER=/ { drv = substr($0, 8) }
	/^$/ { flush() }
	END { flush() }' "$1"
}
