#include "tests/fuzz/fuzzutil.h"
#include "tests/common/rmtree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[256];

static void remove_scratch(void)
{
	if (scratch[0])
		rmtree(scratch);
}

const char *fuzz_scratch_dir(const char *tag)
{
	struct stat st;
	const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";

	if (scratch[0])
		return scratch;
	snprintf(scratch, sizeof(scratch), "%s/hd-fuzz-%s.XXXXXX", base, tag);
	if (!mkdtemp(scratch)) {
		perror("fuzz: mkdtemp");
		abort();
	}
	atexit(remove_scratch);
	return scratch;
}

void fuzz_empty_dir(const char *dir)
{
	int r = rmtree(dir);

	if ((r < 0 && r != -ENOENT) || mkdir(dir, 0700) < 0) {
		fprintf(stderr, "fuzz: cannot empty %s: %s\n", dir, strerror(r < 0 ? -r : errno));
		abort();
	}
}

bool fuzz_try_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	const char *p = data;

	if (fd < 0)
		return false;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n <= 0) {
			close(fd);
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	close(fd);
	return true;
}

void fuzz_write_file(const char *path, const void *data, size_t len)
{
	if (!fuzz_try_write_file(path, data, len)) {
		fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
		abort();
	}
}

void fuzz_rng_seed(struct fuzz_rng *r, const uint8_t *data, size_t size)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 0x100000001b3ull;
	r->s = h ? h : 1;
}

uint64_t fuzz_rng_next(struct fuzz_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dull;
}

size_t fuzz_rng_below(struct fuzz_rng *r, size_t n)
{
	return (size_t)(fuzz_rng_next(r) % n);
}

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "\n==fuzz== %s:%d: check failed: %s\n==fuzz== ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
