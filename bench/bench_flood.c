/* Hostile peers against the real daemon (issue 12; docs/protocol.md
 * "Limits"): figures, not a test.  Each scenario starts a fresh hostdevd on
 * the standard umockdev machine with the kernel emulator, with 1,024
 * descriptors as systemd gives it (prlimit(1) wraps its command), and
 * prints one JSON line:
 *
 * - root's GetInfo and Claim+Release times while one list-only uid holds
 *   1,100 connections (and how many of them the daemon took);
 * - the daemon's RSS before, during (and its peak, VmHWM) and after:
 *   40 connections pipelining ListDevices without reading; 300 connections
 *   each parking 1 MiB without a NUL; 1 GiB pushed behind a Detach that
 *   waits on a stuck unbind.
 *
 * Needs root (the flood connects as other uids):
 *   LD_PRELOAD=build/tests/kemu/libhdkemu.so:libumockdev-preload.so.0 \
 *     TMPDIR=/dev/shm build/bench/bench_flood */
#include "bench/benchutil.h"
#include "tests/integration/kfix.h"
#include "tests/kemu/kemu.h"
#include "common/util.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define NIC "0000:03:00.0"
#define U_LIST 60301
#define NOBODY 65534
#define MiB (1024.0 * 1024)

static struct fixture *start(void)
{
	void *state = NULL;
	char text[256];

	snprintf(text, sizeof(text),
		 "socket_group = \"%s\";\nclients = ( { gid = %d; permissions = [\"list\"]; } );\n",
		 getgrgid(NOBODY)->gr_name, NOBODY);
	setenv("HOSTDEVD_TEST_WRAPPER", "prlimit --nofile=1024:1024", 1);
	if (kfix_setup_policy(&state, text) != 0) {
		fprintf(stderr, "bench_flood: hostdevd did not start\n");
		exit(1);
	}
	unsetenv("HOSTDEVD_TEST_WRAPPER");
	chmod(((struct fixture *)state)->daemon.dir, 0755);
	return state;
}

static void stop(struct fixture *f)
{
	void *state = f;

	kfix_teardown(&state);
}

static int connect_as(struct fixture *f, uid_t uid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	gid_t group = NOBODY;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), r;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->daemon.socket_path);
	if (setgroups(1, &group) < 0 || setegid(uid ? group : 0) < 0 || seteuid(uid) < 0) {
		perror("bench_flood: seteuid");
		exit(1);
	}
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (seteuid(0) < 0 || setegid(0) < 0 || setgroups(0, NULL) < 0)
		exit(1);
	if (r < 0) {
		perror("bench_flood: connect");
		exit(1);
	}
	return fd;
}

static double kb_field(struct fixture *f, const char *field)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	double kb = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)f->daemon.pid);
	fp = fopen(path, "r");
	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp))
		if (strncmp(line, field, flen) == 0 && line[flen] == ':')
			kb = strtod(line + flen + 1, NULL);
	fclose(fp);
	return kb / 1024;
}

static size_t clients(struct fixture *f)
{
	json_object *r = vlc_call(f->c, "io.hostdevd.GetStatus", NULL);
	size_t n = (size_t)json_object_get_int64(vlc_param(r, "clients"));

	json_object_put(r);
	return n;
}

/* Turns of the daemon's loop until only f->c is left (or 2,000 turns). */
static void wait_alone(struct fixture *f)
{
	for (int i = 0; i < 2000 && clients(f) > 1; i++)
		;
}

/* Sends `total` bytes of `chunk` over every fd, round after round, until
 * all is sent or no fd takes anything for 200 ms.  Returns bytes sent. */
static size_t push(int *fds, size_t n, const char *chunk, size_t chunk_len, size_t total)
{
	size_t *sent = xcalloc(n, sizeof(*sent)), sum = 0;
	struct pollfd *p = xcalloc(n, sizeof(*p));

	for (;;) {
		bool progress = false;
		size_t waiting = 0;

		for (size_t i = 0; i < n; i++) {
			ssize_t r;

			if (sent[i] >= total || fds[i] < 0)
				continue;
			r = send(fds[i], chunk + sent[i] % chunk_len,
				 chunk_len - sent[i] % chunk_len < total - sent[i]
					 ? chunk_len - sent[i] % chunk_len
					 : total - sent[i],
				 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (r > 0) {
				sent[i] += (size_t)r;
				sum += (size_t)r;
				progress = true;
			} else if (r < 0 && errno != EAGAIN && errno != EINTR) {
				close(fds[i]);
				fds[i] = -1;
			}
		}
		if (progress)
			continue;
		for (size_t i = 0; i < n; i++)
			if (fds[i] >= 0 && sent[i] < total)
				p[waiting++] = (struct pollfd){ .fd = fds[i], .events = POLLOUT };
		if (!waiting || poll(p, waiting, 200) <= 0)
			break;
	}
	free(p);
	free(sent);
	return sum;
}

static void close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static double call_ms(struct fixture *f, const char *method, json_object *params)
{
	uint64_t t0 = now_ns();
	json_object *r = vlc_call(f->c, method, params);
	double ms = (double)(now_ns() - t0) / 1e6;

	if (vlc_error(r))
		fprintf(stderr, "bench_flood: %s: %s\n", method, vlc_error(r));
	json_object_put(r);
	return ms;
}

static void connection_flood(void)
{
	struct fixture *f = start();
	static int fds[1100];
	double first, info[50], claim[20];
	json_object *p = kfix_owner_params("qemu", "vm1", NIC);
	size_t taken;

	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		fds[i] = connect_as(f, U_LIST);
	first = call_ms(f, "org.varlink.service.GetInfo", NULL);
	taken = clients(f) - 1;
	for (size_t i = 0; i < ARRAY_SIZE(info); i++)
		info[i] = call_ms(f, "org.varlink.service.GetInfo", NULL);
	for (size_t i = 0; i < ARRAY_SIZE(claim); i++) {
		claim[i] = call_ms(f, "io.hostdevd.Claim", p);
		call_ms(f, "io.hostdevd.Release", p);
	}
	bench_sort(info, ARRAY_SIZE(info));
	bench_sort(claim, ARRAY_SIZE(claim));
	printf("{\"bench\":\"flood\",\"scenario\":\"1100 connections of a list-only uid\","
	       "\"taken\":%zu,\"first_getinfo_ms\":%.2f,\"getinfo_p50_ms\":%.3f,"
	       "\"claim_p50_ms\":%.2f,\"claim_max_ms\":%.2f,\"rss_mib\":%.1f}\n",
	       taken, first, bench_percentile(info, ARRAY_SIZE(info), 50),
	       bench_percentile(claim, ARRAY_SIZE(claim), 50), claim[ARRAY_SIZE(claim) - 1],
	       kb_field(f, "VmRSS"));
	json_object_put(p);
	close_all(fds, ARRAY_SIZE(fds));
	stop(f);
}

/* RSS before, during, peak and after `n` connections of `uids` uids (cycled)
 * each sent `total` bytes of `chunk`; `deferred`: the first one is a root
 * connection whose Detach waits on a stuck unbind. */
static void memory_load(const char *scenario, size_t n, int uids, const char *chunk,
			size_t chunk_len, size_t total, bool deferred)
{
	struct fixture *f = start();
	int *fds = xcalloc(n, sizeof(*fds));
	double before = kb_field(f, "VmRSS"), during, peak, after;
	size_t sent;

	if (deferred) {
		static const char call[] = "{\"method\":\"io.hostdevd.Detach\",\"parameters\":"
					   "{\"device\":\"" NIC "\"}}";

		kemu_block(f->root, "unbind", NIC);
		fds[0] = connect_as(f, 0);
		if (send(fds[0], call, sizeof(call), 0) != (ssize_t)sizeof(call) ||
		    !kemu_wait_blocked(f->root, "unbind", NIC, 10000)) {
			fprintf(stderr, "bench_flood: the Detach did not start\n");
			exit(1);
		}
	} else {
		for (size_t i = 0; i < n; i++)
			fds[i] = connect_as(f, (uid_t)(U_LIST + (int)(i % (size_t)uids)));
	}
	sent = push(fds, n, chunk, chunk_len, total);
	for (int i = 0; i < 20; i++)
		clients(f);
	during = kb_field(f, "VmRSS");
	peak = kb_field(f, "VmHWM");
	if (deferred)
		kemu_release(f->root, "unbind", NIC);
	close_all(fds, n);
	wait_alone(f);
	clients(f);
	after = kb_field(f, "VmRSS");
	printf("{\"bench\":\"flood\",\"scenario\":\"%s\",\"sent_mib\":%.1f,"
	       "\"rss_before_mib\":%.1f,\"rss_during_mib\":%.1f,\"rss_peak_mib\":%.1f,"
	       "\"rss_after_mib\":%.1f}\n",
	       scenario, (double)sent / MiB, before, during, peak, after);
	free(fds);
	stop(f);
}

int main(void)
{
	size_t len;
	char *reqs, *junk;
	const char *list = "{\"method\":\"io.hostdevd.ListDevices\"}";

	if (geteuid() != 0) {
		fprintf(stderr, "bench_flood: needs root (the flood connects as other uids)\n");
		return 1;
	}
	bench_print_machine("flood");
	setenv("HOSTDEVD_LOG_LEVEL", "warn", 1);
	connection_flood();
	len = strlen(list) + 1;
	reqs = xcalloc(30000, len);
	for (size_t i = 0; i < 30000; i++)
		memcpy(reqs + i * len, list, len);
	memory_load("40 connections pipelining ListDevices, never reading", 40, 1, reqs,
		    30000 * len, 30000 * len, false);
	free(reqs);
	junk = xcalloc(1, 1 << 20);
	memset(junk, 'x', 1 << 20);
	memory_load("300 connections each parking 1 MiB without a NUL", 300, 3, junk, 1 << 20,
		    1 << 20, false);
	memory_load("1 GiB behind a Detach waiting on a stuck unbind", 1, 1, junk, 1 << 20,
		    (size_t)1 << 30, true);
	free(junk);
	return 0;
}
