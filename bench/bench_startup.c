/* Start-up with many devices on a mock sysfs: from exec of the real hostdevd
 * to READY=1 (devices read, socket listening), minus a bare libudev
 * enumeration of the same testbed, which is what the umockdev redirection
 * and libudev cost whoever reads them.  Also the daemon's peak RSS.
 * SPEC target at 10,000 devices: daemon's share <= 200 ms, RSS <= 32 MB.
 *
 * hostdevd does not enumerate through libudev (it reads /sys/bus/<bus>/devices
 * and each device's directory through one descriptor), so its whole start-up
 * can take less than the bare libudev enumeration: the share is then
 * negative, and exec_to_ready_ms is the figure to read.
 *
 * Run under umockdev-wrapper: umockdev-wrapper build/bench/bench_startup [N] */
#include "bench/benchutil.h"
#include "tests/integration/hdproc.h"
#include "tests/integration/testbed.h"
#include "common/util.h"

#include <libudev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS 5

/* What any libudev reader pays: list pci and usb, open each device. */
static double bare_enumeration_ms(size_t *count)
{
	struct udev *udev = udev_new();
	struct udev_enumerate *e = udev_enumerate_new(udev);
	struct udev_list_entry *entry;
	uint64_t start = now_ns();

	*count = 0;
	udev_enumerate_add_match_subsystem(e, "pci");
	udev_enumerate_add_match_subsystem(e, "usb");
	udev_enumerate_scan_devices(e);
	udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e))
	{
		struct udev_device *d =
			udev_device_new_from_syspath(udev, udev_list_entry_get_name(entry));

		if (d) {
			(*count)++;
			udev_device_unref(d);
		}
	}
	start = now_ns() - start;
	udev_enumerate_unref(e);
	udev_unref(udev);
	return (double)start / 1e6;
}

/* Peak resident set of a process, from /proc. */
static long peak_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static double daemon_ready_ms(long *rss_kb)
{
	struct hdproc p;
	struct hdproc_config cfg = { .log_level = "warn", .ready_timeout_ms = 120000 };
	uint64_t start = now_ns();
	double ms;

	if (hdproc_start(&p, &cfg) != 0) {
		_cleanup_free_ char *log = hdproc_log(&p);

		fprintf(stderr, "bench_startup: hostdevd did not become ready:\n%s\n", log);
		exit(1);
	}
	ms = (double)(now_ns() - start) / 1e6;
	*rss_kb = peak_rss_kb(p.pid);
	if (hdproc_stop(&p) != 0) {
		fprintf(stderr, "bench_startup: hostdevd did not exit cleanly\n");
		exit(1);
	}
	hdproc_cleanup(&p);
	return ms;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000, seen = 0;
	double bare[RUNS], ready[RUNS], share;
	long rss[RUNS], rss_max = 0;
	struct testbed *tb;
	uint64_t build;

	bench_print_machine("startup");
	tb = tb_new(); /* aborts outside umockdev */
	build = now_ns();
	tb_build_large(tb, n);
	build = now_ns() - build;
	for (int i = 0; i < RUNS; i++) {
		bare[i] = bare_enumeration_ms(&seen);
		ready[i] = daemon_ready_ms(&rss[i]);
		if (rss[i] > rss_max)
			rss_max = rss[i];
	}
	bench_sort(bare, RUNS);
	bench_sort(ready, RUNS);
	share = ready[RUNS / 2] - bare[RUNS / 2];
	printf("{\"bench\":\"startup\",\"devices\":%zu,\"testbed_build_ms\":%.1f,"
	       "\"bare_enumeration_ms\":%.1f,\"exec_to_ready_ms\":%.1f,\"daemon_share_ms\":%.1f,"
	       "\"peak_rss_kb\":%ld,\"runs\":%d,\"target_share_ms\":200,\"target_rss_kb\":32768,"
	       "\"meets_target\":%s}\n",
	       seen, (double)build / 1e6, bare[RUNS / 2], ready[RUNS / 2], share, rss_max, RUNS,
	       share <= 200 && rss_max <= 32768 ? "true" : "false");
	tb_free(tb);
	return 0;
}
