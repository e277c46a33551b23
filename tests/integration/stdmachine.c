#include "tests/integration/stdmachine.h"
#include "tests/integration/itest.h"
#include "common/util.h"

#ifndef STANDARD_DEVICES_JSON
#error "STANDARD_DEVICES_JSON must name the expected ListDevices of the standard machine"
#endif

bool stdm_try_start(struct testbed **tb, struct hdproc *daemon)
{
	*tb = tb_new();
	tb_build_standard(*tb);
	if (hdproc_try_start(daemon, NULL))
		return true;
	tb_free(*tb);
	*tb = NULL;
	return false;
}

void stdm_stop(struct testbed *tb, struct hdproc *daemon)
{
	hdproc_stop_ok(daemon);
	hdproc_cleanup(daemon);
	tb_free(tb);
}

json_object *stdm_expected(void)
{
	json_object *expected = json_object_from_file(STANDARD_DEVICES_JSON);

	assert_non_null(expected);
	return expected;
}

json_object *stdm_expected_device(json_object *expected, const char *id)
{
	for (size_t i = 0; i < json_object_array_length(expected); i++) {
		json_object *d = json_object_array_get_idx(expected, i), *v;

		if (json_object_object_get_ex(d, "id", &v) && streq(json_object_get_string(v), id))
			return d;
	}
	fail_msg("%s is not in the expected devices", id);
	return NULL;
}
