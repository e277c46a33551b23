#include "tests/integration/itest.h"

#include <stdlib.h>

int it_timeout_ms(void)
{
	const char *wrapper = getenv("HOSTDEVD_TEST_WRAPPER");

	return wrapper && *wrapper ? 120000 : 10000;
}
