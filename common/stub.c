#include "common/stub.h"
#include "common/util.h"

#include <pthread.h>
#include <string.h>

static const struct {
	const char *name;
	bool target; /* hostdevd may detach to it */
} stubs[] = {
#define STUB_ROW(name, target) { name, target },
	STUB_DRIVERS(STUB_ROW)
#undef STUB_ROW
};

bool stub_is_target(const char *driver)
{
	for (size_t i = 0; driver && i < ARRAY_SIZE(stubs); i++)
		if (streq(stubs[i].name, driver))
			return stubs[i].target;
	return false;
}

static char targets_text[128];

static void targets_text_build(void)
{
	size_t n = 0, k = 0;

	for (size_t i = 0; i < ARRAY_SIZE(stubs); i++)
		n += stubs[i].target;
	for (size_t i = 0; i < ARRAY_SIZE(stubs); i++) {
		if (!stubs[i].target)
			continue;
		strcat(targets_text, stubs[i].name);
		if (++k + 1 < n)
			strcat(targets_text, ", ");
		else if (k + 1 == n)
			strcat(targets_text, " or ");
	}
}

const char *stub_targets_text(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, targets_text_build);
	return targets_text;
}
