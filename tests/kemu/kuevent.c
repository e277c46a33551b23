#include "tests/kemu/kuevent.h"
#include "tests/kemu/kfs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* libudev's monitor message header (systemd's device-monitor.c).  The
 * monitor attaches a BPF filter that checks the magic and the subsystem and
 * devtype hashes, and it stays attached to the Unix socket umockdev swaps in,
 * so the hashes must be right or the kernel drops the message. */
#define UDEV_MONITOR_MAGIC 0xfeedcafe
struct monitor_netlink_header {
	char prefix[8];
	unsigned magic;
	unsigned header_size;
	unsigned properties_off;
	unsigned properties_len;
	unsigned filter_subsystem_hash;
	unsigned filter_devtype_hash;
	unsigned filter_tag_bloom_hi;
	unsigned filter_tag_bloom_lo;
};

/* A listener's queue holds max_dgram_qlen (10) messages; a daemon that is
 * busy (valgrind, a big enumeration) drains it later, so wait for room.  A
 * monitor that nobody reads for this long is a broken test. */
#define SEND_TIMEOUT_S 30

/* MurmurHash2 with the seed systemd uses (the length). */
static uint32_t murmur2(const char *str)
{
	const uint32_t m = 0x5bd1e995;
	size_t len = strlen(str);
	const unsigned char *d = (const unsigned char *)str;
	uint32_t h = (uint32_t)len;

	for (; len >= 4; d += 4, len -= 4) {
		uint32_t k;

		memcpy(&k, d, 4);
		k *= m;
		k ^= k >> 24;
		k *= m;
		h = h * m ^ k;
	}
	switch (len) {
	case 3:
		h ^= (uint32_t)d[2] << 16;
		/* fall through */
	case 2:
		h ^= (uint32_t)d[1] << 8;
		/* fall through */
	case 1:
		h ^= d[0];
		h *= m;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return h;
}

/* The kernel numbers its events globally; the testbed's process and every
 * emulator in the programs under test share this counter file. */
static int next_seqnum(const char *root, unsigned long long *out)
{
	char path[PATH_MAX], buf[32] = "";
	ssize_t n;
	int fd, r = kfs_path(path, "%s/kemu", root);

	if (r < 0 || (r = kfs_mkdir_p(path)) < 0 ||
	    (r = kfs_path(path, "%s/kemu/seqnum", root)) < 0)
		return r;
	fd = kfs_open_locked(path);
	if (fd < 0)
		return fd;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	*out = strtoull(buf, NULL, 10) + 1;
	n = snprintf(buf, sizeof(buf), "%llu\n", *out);
	if (pwrite(fd, buf, (size_t)n, 0) != n)
		r = -EIO;
	kfs_close(fd); /* drops the lock */
	return r;
}

static int send_to(const char *path, const struct msghdr *msg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = SEND_TIMEOUT_S };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		/* A monitor that was closed leaves its socket file behind. */
		if (errno == ECONNREFUSED)
			unlink(path);
		else if (errno != ENOENT)
			r = -errno;
	} else if (sendmsg(fd, msg, MSG_NOSIGNAL) < 0) {
		if (errno == EAGAIN)
			r = -ETIMEDOUT;
		else if (errno != ECONNREFUSED)
			r = -errno;
	}
	close(fd);
	if (r == -ETIMEDOUT)
		fprintf(stderr, "kemu: uevent listener %s did not read for %d s\n", path,
			SEND_TIMEOUT_S);
	else if (r < 0)
		fprintf(stderr, "kemu: send a uevent to %s: %s\n", path, strerror(-r));
	return r;
}

struct message {
	char buf[4096];
	size_t len;
};

static int msg_add(struct message *m, const char *key, const char *value)
{
	int n = snprintf(m->buf + m->len, sizeof(m->buf) - m->len, "%s=%s", key, value);

	if (n < 0 || (size_t)n >= sizeof(m->buf) - m->len)
		return -E2BIG;
	m->len += (size_t)n + 1;
	return 0;
}

static int build_body(struct message *m, const char *root, const char *action,
		      const char *devpath, const char *subsystem, const char *props, size_t len)
{
	unsigned long long seqnum = 0;
	char seq[32], dp[PATH_MAX + 1];
	int r;

	snprintf(dp, sizeof(dp), "/%s", devpath);
	if ((r = msg_add(m, "ACTION", action)) < 0 || (r = msg_add(m, "DEVPATH", dp)) < 0 ||
	    (r = msg_add(m, "SUBSYSTEM", subsystem)) < 0)
		return r;
	if (len > sizeof(m->buf) - m->len)
		return -E2BIG;
	memcpy(m->buf + m->len, props, len);
	m->len += len;
	if ((r = next_seqnum(root, &seqnum)) < 0)
		return r;
	snprintf(seq, sizeof(seq), "%llu", seqnum);
	return msg_add(m, "SEQNUM", seq);
}

int kuevent_send(const char *root, const char *action, const char *devpath,
		 const char *subsystem, const char *devtype, const char *props, size_t len)
{
	struct monitor_netlink_header h = { .prefix = "libudev" };
	struct message *m = calloc(1, sizeof(*m));
	struct iovec iov[2];
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	char pattern[PATH_MAX];
	glob_t gl;
	int r;

	if (!m)
		return -ENOMEM;
	r = build_body(m, root, action, devpath, subsystem, props, len);
	if (r == 0)
		r = kfs_path(pattern, "%s/event[0-9]*", root);
	if (r < 0) {
		free(m);
		return r;
	}
	h.magic = htonl(UDEV_MONITOR_MAGIC);
	h.header_size = h.properties_off = sizeof(h);
	h.properties_len = (unsigned)m->len;
	h.filter_subsystem_hash = htonl(murmur2(subsystem));
	h.filter_devtype_hash = devtype ? htonl(murmur2(devtype)) : 0;
	iov[0] = (struct iovec){ .iov_base = &h, .iov_len = sizeof(h) };
	iov[1] = (struct iovec){ .iov_base = m->buf, .iov_len = m->len };
	if (glob(pattern, GLOB_NOSORT, NULL, &gl) == 0) {
		/* Every listener gets it, whatever one of them did: a stuck
		 * monitor must not starve the others.  The first error is
		 * the answer. */
		for (size_t i = 0; i < gl.gl_pathc; i++) {
			int e = send_to(gl.gl_pathv[i], &msg);

			if (r == 0)
				r = e;
		}
		globfree(&gl);
	}
	free(m);
	return r;
}
