#!/bin/sh
# The test guest's /init: brings up a minimal system (modules, udevd, a
# disk mounted from the AHCI controller), starts hostdevd as a host would,
# runs one scenario (/scenarios/NAME.sh, NAME from hdvm.scenario= on the
# kernel command line) and powers off.  Everything the host harness
# (tests/vm/vmrun.c) reads is a "@@ " line on the serial console; the
# protocol is in tests/vm/guest/lib.sh.
export PATH=/usr/local/bin:/bin:/sbin
export LD_LIBRARY_PATH=/usr/local/lib
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
. /lib/hdvm.sh

scenario=$(hdvm_arg hdvm.scenario)
hdvm_log BOOTED "kernel=$(uname -r) scenario=$scenario"
# The marker that tells guest programs (bench/vm/detach-latency) they are
# inside this VM and may write sysfs.
: >/run/hostdevd-vm

# A scenario may prepare the boot (/scenarios/boot/NAME.sh, sourced here,
# before any module is loaded or udevd runs): install udev rules, name
# modules to leave for udevd to load (HDVM_NO_INSMOD, module names) and the
# arguments hostdevd starts with (HDVM_DAEMON_ARGS).
HDVM_NO_INSMOD=
HDVM_DAEMON_ARGS=
if [ -f "/scenarios/boot/$scenario.sh" ]; then
	. "/scenarios/boot/$scenario.sh"
fi

kver=$(uname -r)
while read -r m; do
	case " $HDVM_NO_INSMOD " in
	*" $(basename "$m" .ko) "*) continue ;;
	esac
	insmod "/lib/modules/$kver/$m" 2>/dev/null || hdvm_log NOTE "insmod $m failed"
done </etc/modules.order

/lib/systemd/systemd-udevd --daemon --resolve-names=never 2>/run/udevd.err
udevadm trigger --type=subsystems --action=add
udevadm trigger --type=devices --action=add
udevadm settle --timeout=60

# A filesystem on the SATA disk, mounted: the AHCI controller is then what
# the host's data hangs on (scenario host-critical).
if [ -b /dev/sda ]; then
	mke2fs -q /dev/sda >/dev/null 2>&1 && mkdir -p /data && mount -t ext4 /dev/sda /data ||
		hdvm_log NOTE "could not mount /dev/sda"
fi

mkdir -p /run/hostdevd
# shellcheck disable=SC2086 # HDVM_DAEMON_ARGS is words
hostdevd --foreground --log-level debug --step-timeout "${HDVM_STEP_TIMEOUT:-5}" \
	$HDVM_DAEMON_ARGS >/run/hostdevd.log 2>&1 &
echo $! >/run/hostdevd.pid
if ! hdvm_wait 30 test -S /run/hostdevd/hostdevd.sock; then
	hdvm_fail "hostdevd did not create its socket"
else
	hdvm_log READY "hostdevd pid $(cat /run/hostdevd.pid)"
	if [ -f "/scenarios/$scenario.sh" ]; then
		. "/scenarios/$scenario.sh"
	else
		hdvm_fail "no scenario '$scenario'"
	fi
fi
hdvm_done
poweroff -f
