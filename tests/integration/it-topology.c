/* The real hostdevd on the standard mock machine, asked over its socket:
 * every record exactly as standard-devices.json (written by hand from the
 * machine's inventory) says, filters, selectors, errors, introspection. */
#include "tests/integration/itest.h"
#include "tests/integration/stdmachine.h"
#include "tests/integration/vlc.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

#ifndef HOSTDEVD_IDL
#error "HOSTDEVD_IDL must name docs/io.hostdevd.varlink"
#endif

struct fixture {
	struct testbed *tb;
	struct hdproc daemon;
	struct vlc *c;
	json_object *expected; /* the devices array */
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	if (!stdm_try_start(&f->tb, &f->daemon)) {
		free(f);
		fail_msg("hostdevd did not start");
	}
	f->c = vlc_connect(f->daemon.socket_path);
	f->expected = stdm_expected();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	/* A failed setup leaves no fixture. */
	if (!f)
		return 0;
	vlc_free(f->c);
	stdm_stop(f->tb, &f->daemon);
	json_object_put(f->expected);
	free(f);
	return 0;
}

static const char *id_of(json_object *dev)
{
	json_object *v;

	assert_true(json_object_object_get_ex(dev, "id", &v));
	return json_object_get_string(v);
}

/* The reply lists exactly `ids`, in order, each record as expected. */
static void assert_devices(struct fixture *f, json_object *reply, const char *const *ids)
{
	json_object *devs;
	size_t n = 0;

	assert_true(json_object_object_get_ex(vlc_params(reply), "devices", &devs));
	while (ids[n])
		n++;
	for (size_t i = 0; i < n || i < json_object_array_length(devs); i++) {
		json_object *d = json_object_array_get_idx(devs, i);

		if (i >= n || !d || !streq(id_of(d), ids[i]))
			fail_msg("device %zu: got %s, expected %s", i, d ? id_of(d) : "nothing",
				 i < n ? ids[i] : "nothing");
		vlc_assert_json_equal(stdm_expected_device(f->expected, ids[i]), d, ids[i]);
	}
}

static void test_list_devices_is_the_machine(void **state)
{
	struct fixture *f = *state;
	json_object *reply = vlc_call(f->c, "io.hostdevd.ListDevices", NULL);
	json_object *devs;

	assert_true(json_object_object_get_ex(vlc_params(reply), "devices", &devs));
	assert_int_equal(json_object_array_length(devs), json_object_array_length(f->expected));
	for (size_t i = 0; i < json_object_array_length(devs); i++)
		vlc_assert_json_equal(json_object_array_get_idx(f->expected, i),
				      json_object_array_get_idx(devs, i),
				      id_of(json_object_array_get_idx(f->expected, i)));
	json_object_put(reply);
}

static json_object *list(struct fixture *f, const char *params_json)
{
	json_object *params = vlc_json(params_json);
	json_object *reply = vlc_call(f->c, "io.hostdevd.ListDevices", params);

	json_object_put(params);
	return reply;
}

static void check_list(struct fixture *f, const char *params_json, const char *const *ids)
{
	json_object *reply = list(f, params_json);

	assert_devices(f, reply, ids);
	json_object_put(reply);
}

static void test_list_filters(void **state)
{
	struct fixture *f = *state;

	check_list(f, "{\"bus\":\"usb\"}",
		   (const char *[]){ "1-2", "1-2.1", "1-2.2", "1-2.3", "usb1", "usb2", NULL });
	check_list(f, "{\"driver\":\"e1000e\"}",
		   (const char *[]){ "0000:02:00.0", "0000:03:00.0", NULL });
	check_list(f, "{\"iommu_group\":10}",
		   (const char *[]){ "0000:04:00.0", "0000:05:00.0", "0000:05:01.0", "0000:05:02.0",
				     NULL });
	check_list(f, "{\"iommu_group\":2}", (const char *[]){ "0000:01:00.0", "0000:01:00.1", NULL });
	check_list(f, "{\"state\":\"detached\"}", (const char *[]){ "0000:06:10.2", NULL });
	check_list(f, "{\"bus\":\"pci\",\"driver\":\"pcieport\",\"iommu_group\":11}",
		   (const char *[]){ "0000:00:1c.3", NULL });
	/* Filters that match nothing list nothing. */
	check_list(f, "{\"bus\":\"pci\",\"driver\":\"usb\"}", (const char *[]){ NULL });
	check_list(f, "{\"iommu_group\":99}", (const char *[]){ NULL });
	check_list(f, "{\"state\":\"claimed\"}", (const char *[]){ NULL });
	/* null is an absent filter. */
	check_list(f, "{\"bus\":\"usb\",\"driver\":null,\"state\":\"host\",\"iommu_group\":null}",
		   (const char *[]){ "1-2", "1-2.1", "1-2.2", "1-2.3", "usb1", "usb2", NULL });
}

static void test_list_filters_all_host(void **state)
{
	struct fixture *f = *state;
	json_object *reply = list(f, "{\"state\":\"host\",\"bus\":\"pci\"}");
	json_object *devs;

	assert_true(json_object_object_get_ex(vlc_params(reply), "devices", &devs));
	assert_int_equal(json_object_array_length(devs), 19);
	for (size_t i = 0; i < json_object_array_length(devs); i++)
		assert_string_not_equal(id_of(json_object_array_get_idx(devs, i)), "0000:06:10.2");
	json_object_put(reply);
}

static void expect_error(struct fixture *f, const char *method, const char *params_json,
			 const char *error, const char *error_params_json)
{
	json_object *params = vlc_json(params_json);
	json_object *reply = vlc_call(f->c, method, params);
	json_object *expected = vlc_json(error_params_json);

	if (!streq(vlc_error(reply), error))
		fail_msg("%s %s: expected %s, got %s", method, params_json, error,
			 json_object_to_json_string(reply));
	vlc_assert_json_equal(expected, vlc_reply_params(reply), error);
	json_object_put(expected);
	json_object_put(reply);
	json_object_put(params);
}

static void test_list_bad_filters(void **state)
{
	struct fixture *f = *state;
	const char *inval = "org.varlink.service.InvalidParameter";

	expect_error(f, "io.hostdevd.ListDevices", "{\"bus\":\"scsi\"}", inval,
		     "{\"parameter\":\"bus\"}");
	expect_error(f, "io.hostdevd.ListDevices", "{\"state\":\"asleep\"}", inval,
		     "{\"parameter\":\"state\"}");
	expect_error(f, "io.hostdevd.ListDevices", "{\"iommu_group\":-3}", inval,
		     "{\"parameter\":\"iommu_group\"}");
	expect_error(f, "io.hostdevd.ListDevices", "{\"iommu_group\":\"10\"}", inval,
		     "{\"parameter\":\"iommu_group\"}");
	expect_error(f, "io.hostdevd.ListDevices", "{\"vendor\":\"8086\"}", inval,
		     "{\"parameter\":\"vendor\"}");
	/* The connection lives on after each of them. */
	check_list(f, "{\"state\":\"detached\"}", (const char *[]){ "0000:06:10.2", NULL });
}

static void expect_device(struct fixture *f, const char *selector, const char *id)
{
	json_object *params = json_object_new_object();
	json_object *reply, *dev;

	json_object_object_add(params, "device", json_object_new_string(selector));
	reply = vlc_call(f->c, "io.hostdevd.GetDevice", params);
	assert_true(json_object_object_get_ex(vlc_params(reply), "device", &dev));
	vlc_assert_json_equal(stdm_expected_device(f->expected, id), dev, selector);
	json_object_put(reply);
	json_object_put(params);
}

static void test_get_device_by_every_selector(void **state)
{
	struct fixture *f = *state;

	expect_device(f, "0000:06:10.2", "0000:06:10.2");
	expect_device(f, "0000:00:00.0", "0000:00:00.0");
	expect_device(f, "1-2.3", "1-2.3");
	expect_device(f, "usb1", "usb1");
	expect_device(f, "id:0781:5567:4C530001140918105142", "1-2.3");
	expect_device(f, "id:0781:5567:4C530001230815117394", "1-2.2");
	expect_device(f, "id:046d:c31c", "1-2.1");
	expect_device(f, "id:046D:C31C", "1-2.1");
	expect_device(f, "usb:1.4", "1-2.2");
	expect_device(f, "usb:2.1", "usb2");
}

static void test_get_device_errors(void **state)
{
	struct fixture *f = *state;
	const char *get = "io.hostdevd.GetDevice";

	expect_error(f, get, "{\"device\":\"id:0781:5567\"}", "io.hostdevd.AmbiguousDevice",
		     "{\"device\":\"id:0781:5567\",\"matches\":[\"1-2.2\",\"1-2.3\"]}");
	expect_error(f, get, "{\"device\":\"0000:09:00.0\"}", "io.hostdevd.DeviceNotFound",
		     "{\"device\":\"0000:09:00.0\"}");
	expect_error(f, get, "{\"device\":\"id:dead:beef\"}", "io.hostdevd.DeviceNotFound",
		     "{\"device\":\"id:dead:beef\"}");
	/* The serial is compared exactly. */
	expect_error(f, get, "{\"device\":\"id:0781:5567:4c530001140918105142\"}",
		     "io.hostdevd.DeviceNotFound",
		     "{\"device\":\"id:0781:5567:4c530001140918105142\"}");
	expect_error(f, get, "{\"device\":\"usb:1.99\"}", "io.hostdevd.DeviceNotFound",
		     "{\"device\":\"usb:1.99\"}");
	/* Absent until plugged. */
	expect_error(f, get, "{\"device\":\"1-2.4\"}", "io.hostdevd.DeviceNotFound",
		     "{\"device\":\"1-2.4\"}");
	expect_error(f, get, "{}", "org.varlink.service.InvalidParameter",
		     "{\"parameter\":\"device\"}");
	expect_error(f, get, "{\"device\":7}", "org.varlink.service.InvalidParameter",
		     "{\"parameter\":\"device\"}");
}

static char *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "re");
	char *buf;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	rewind(fp);
	buf = xcalloc((size_t)n + 1, 1);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static void test_interface_description_is_the_file(void **state)
{
	struct fixture *f = *state;
	json_object *params = vlc_json("{\"interface\":\"io.hostdevd\"}");
	json_object *reply = vlc_call(f->c, "org.varlink.service.GetInterfaceDescription", params);
	json_object *desc;
	size_t len;
	_cleanup_free_ char *file = read_file(HOSTDEVD_IDL, &len);

	assert_true(json_object_object_get_ex(vlc_params(reply), "description", &desc));
	assert_int_equal((size_t)json_object_get_string_len(desc), len);
	assert_memory_equal(json_object_get_string(desc), file, len);
	json_object_put(reply);
	json_object_put(params);
	expect_error(f, "org.varlink.service.GetInterfaceDescription",
		     "{\"interface\":\"io.hostdevd.nope\"}", "org.varlink.service.InterfaceNotFound",
		     "{\"interface\":\"io.hostdevd.nope\"}");
}

static void test_get_info(void **state)
{
	struct fixture *f = *state;
	json_object *reply = vlc_call(f->c, "org.varlink.service.GetInfo", NULL);
	json_object *p = vlc_params(reply), *v;
	json_object *names = vlc_json("[\"org.varlink.service\",\"io.hostdevd\"]");

	assert_true(json_object_object_get_ex(p, "interfaces", &v));
	vlc_assert_json_equal(names, v, "GetInfo interfaces");
	json_object_put(names);
	assert_true(json_object_object_get_ex(p, "version", &v));
	assert_string_equal(json_object_get_string(v), HOSTDEVD_VERSION);
	json_object_put(reply);
}

static void test_status_counts_the_machine(void **state)
{
	struct fixture *f = *state;
	json_object *reply = vlc_call(f->c, "io.hostdevd.GetStatus", NULL);
	json_object *p = vlc_params(reply), *v;
	json_object *counts =
		vlc_json("{\"total\":26,\"pci\":20,\"usb\":6,\"host\":25,\"detached\":1}");

	assert_true(json_object_object_get_ex(p, "devices", &v));
	vlc_assert_json_equal(counts, v, "GetStatus devices");
	assert_true(json_object_object_get_ex(p, "event_source", &v));
	assert_string_equal(json_object_get_string(v), "udev");
	assert_true(json_object_object_get_ex(p, "overflows", &v));
	assert_int_equal(json_object_get_int64(v), 0);
	assert_true(json_object_object_get_ex(p, "resyncs", &v));
	assert_int_equal(json_object_get_int64(v), 0);
	assert_true(json_object_object_get_ex(p, "watchers", &v));
	assert_int_equal(json_object_get_int64(v), 0);
	assert_true(json_object_object_get_ex(p, "clients", &v));
	assert_int_equal(json_object_get_int64(v), 1);
	assert_true(json_object_object_get_ex(p, "version", &v));
	assert_string_equal(json_object_get_string(v), HOSTDEVD_VERSION);
	json_object_put(counts);
	json_object_put(reply);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_devices_is_the_machine),
		cmocka_unit_test(test_list_filters),
		cmocka_unit_test(test_list_filters_all_host),
		cmocka_unit_test(test_list_bad_filters),
		cmocka_unit_test(test_get_device_by_every_selector),
		cmocka_unit_test(test_get_device_errors),
		cmocka_unit_test(test_interface_description_is_the_file),
		cmocka_unit_test(test_get_info),
		cmocka_unit_test(test_status_counts_the_machine),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
