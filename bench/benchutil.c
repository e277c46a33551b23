#include "bench/benchutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

static void cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) || !colon)
			continue;
		colon += 2;
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(f);
}

void bench_print_machine(const char *bench)
{
	struct utsname u;
	char cpu[256];

	uname(&u);
	cpu_model(cpu, sizeof(cpu));
	printf("{\"bench\":\"%s\",\"machine\":{\"kernel\":\"%s\",\"arch\":\"%s\",\"cpu\":\"%s\","
	       "\"cpus\":%ld}}\n",
	       bench, u.release, u.machine, cpu, sysconf(_SC_NPROCESSORS_ONLN));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void bench_sort(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
}

double bench_percentile(const double *sorted, size_t n, double pct)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(pct / 100.0 * (double)(n - 1) + 0.5);
	return sorted[i < n ? i : n - 1];
}
