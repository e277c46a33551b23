/* What one save of the state file costs (state/store.c): temp file,
 * write, fsync, rename, fsync of the directory, with a document of 32
 * claims as bench_claims keeps (the text; persist.c's formatting of it is
 * in bench_claims' figures).  Run outside any mock, on the directory
 * given (default: a temporary directory under TMPDIR), so tmpfs and disk
 * can be compared:
 *   build/bench/bench_store /dev/shm     # tmpfs
 *   build/bench/bench_store /var/tmp     # disk */
#include "bench/benchutil.h"
#include "common/util.h"
#include "state/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SAVES 2000
#define CLAIMS 32

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Members shaped like persist.c's: CLAIMS held claims, an empty pool. */
static char *members_of_claims(size_t *len)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	fputs("  \"claims\": [", f);
	for (int i = 0; i < CLAIMS; i++)
		fprintf(f, "%s\n    {\"device\": \"0000:%02x:00.0\", \"phase\": \"held\", "
			   "\"owner\": {\"driver\": \"qemu\", \"domain\": \"vm1\"}, "
			   "\"vendor\": \"8086\", \"product\": \"10d3\", \"managed\": false, "
			   "\"uid\": 0, \"gid\": 0, \"pid\": 4242, \"since\": 1795571520}",
			i ? "," : "", i + 0x10);
	fputs("\n  ],\n  \"pool\": []", f);
	fclose(f);
	*len = size;
	return text;
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	char dir[256], path[300], err[512];
	size_t len;
	char *members = members_of_claims(&len);
	double *t = xcalloc(SAVES, sizeof(*t));
	struct store *s;

	snprintf(dir, sizeof(dir), "%s/bench_store.XXXXXX",
		 argc > 1 ? argv[1] : tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror(dir);
		return 1;
	}
	s = store_new(dir);
	bench_print_machine("store");
	for (int i = 0; i < SAVES; i++) {
		double t0 = now_us();

		if (store_write(s, members, len, err, sizeof(err)) < 0) {
			fprintf(stderr, "bench_store: %s\n", err);
			return 1;
		}
		t[i] = now_us() - t0;
	}
	bench_sort(t, SAVES);
	printf("{\"bench\":\"store\",\"dir\":\"%s\",\"claims\":%d,\"saves\":%d,\"p50_us\":%.1f,"
	       "\"p99_us\":%.1f,\"max_us\":%.1f}\n",
	       argc > 1 ? argv[1] : "TMPDIR", CLAIMS, SAVES, bench_percentile(t, SAVES, 50),
	       bench_percentile(t, SAVES, 99), t[SAVES - 1]);
	store_free(s);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	unlink(path);
	rmdir(dir);
	free(members);
	free(t);
	return 0;
}
