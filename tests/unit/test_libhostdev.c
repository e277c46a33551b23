/* libhostdev against a scripted fake daemon: the exact requests each call
 * sends, the decoding of replies, every class of error (Varlink errors with
 * their parameters and sentences, an unreachable socket, a timeout, a lost
 * connection, malformed replies, bad arguments), the bus checks, the list
 * accessors, NULL for err, and one manager shared by threads.
 *
 * It links the shared library itself, so only the public API is in reach. */
#include <hostdev/hostdev.h>

#include "tests/unit/fake_varlink.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef HD_EXAMPLE_BIN
#error "HD_EXAMPLE_BIN must name the example program"
#endif

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define NIC "0000:03:00.0"
#define OWNER_JSON "{\"driver\":\"qemu\",\"domain\":\"vm1\"}"
#define OWNER_UUID_JSON                                                                     \
	"{\"driver\":\"qemu\",\"domain\":\"vm1\",\"uuid\":\"4f7c1a2e-9d1b-4a57-8f3e-0c2d9b6a1e55\"}"

#define GET(sel) "{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":{\"device\":\"" sel "\"}}"
#define DEVICE(id, bus) \
	"{\"parameters\":{\"device\":{\"bus\":\"" bus "\",\"id\":\"" id "\",\"state\":\"host\"}}}"
#define ENTRY(dev, managed)                                                                 \
	"{\"device\":\"" dev "\",\"owner\":" OWNER_JSON ",\"managed\":" managed                 \
	",\"uid\":0,\"gid\":0,\"pid\":42,\"since\":\"2024-05-01T10:00:00Z\"}"
#define CLAIMS(...) "{\"parameters\":{\"claims\":[" __VA_ARGS__ "]}}"
#define OK_EMPTY "{\"parameters\":{}}"
#define ERROR(name, params) "{\"error\":\"" name "\",\"parameters\":" params "}"

static const struct hd_owner owner = { .driver = "qemu", .domain = "vm1" };
static const struct hd_owner owner_uuid = { .driver = "qemu", .domain = "vm1",
					    .uuid = "4f7c1a2e-9d1b-4a57-8f3e-0c2d9b6a1e55" };

/* A manager on a fake serving `steps`. */
static struct hd_manager *open_fake(struct fake_server **f, const struct fake_step *steps, size_t n)
{
	struct hd_error *err = (struct hd_error *)&err; /* must be reset to NULL */
	struct hd_manager *m;

	*f = fake_start(steps, n);
	m = hd_manager_open(fake_socket_path(*f), &err);
	assert_non_null(m);
	assert_null(err);
	assert_string_equal(hd_manager_socket_path(m), fake_socket_path(*f));
	return m;
}

/* Closes the manager, stops the fake and checks what was sent, in order. */
static void close_expect(struct hd_manager *m, struct fake_server *f, const char *const *calls,
			 size_t n)
{
	hd_manager_free(m);
	fake_stop(f);
	for (size_t i = 0; i < n && i < fake_n_calls(f); i++)
		assert_string_equal(fake_call(f, i), calls[i]);
	assert_int_equal(fake_n_calls(f), n);
	fake_free(f);
}

#define CLOSE_EXPECT(m, f, ...)                                                             \
	close_expect(m, f, (const char *const[]){ __VA_ARGS__ },                               \
		     N(((const char *const[]){ __VA_ARGS__ })))
#define CLOSE_NOTHING_SENT(m, f) close_expect(m, f, NULL, 0)

static void assert_error(struct hd_error *err, int r, const char *name, int errnum)
{
	assert_non_null(err);
	assert_string_equal(hd_error_name(err), name);
	assert_int_equal(hd_error_errno(err), errnum);
	assert_int_equal(r, -errnum);
}

/* ---- Requests and replies ------------------------------------------------ */

static void test_version(void **state)
{
	assert_string_equal(hd_version(), "0.1.0");
}

/* A selector that is no PCI address (lspci's short form) is resolved
 * first and the Claim names its canonical id; an address, in any case,
 * goes as given, with no lookup (one round trip, issue 15).  The Claim
 * carries exactly the flags given. */
static void test_prepare_pci_request(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { DEVICE("0000:0a:00.0", "pci") } },
		{ .replies = { CLAIMS(ENTRY("0000:0a:00.0", "true") "," ENTRY(NIC, "true") ","
				      ENTRY("0000:0b:00.0", "true")) } },
	};
	static const char *const ids[] = { "0a:00.0", NIC, "0000:0B:00.0" };
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));
	struct hd_claim_list *claimed = NULL;
	struct hd_error *err = (struct hd_error *)&err;

	assert_int_equal(hd_prepare_pci_devices(m, &owner_uuid, ids, 3,
						HD_WHOLE_GROUP | HD_STUB_PCI_STUB, &claimed, &err),
			 0);
	assert_null(err);
	assert_int_equal(hd_claim_list_count(claimed), 3);
	assert_string_equal(hd_claim_device(hd_claim_list_at(claimed, 0)), "0000:0a:00.0");
	assert_string_equal(hd_claim_device(hd_claim_list_at(claimed, 1)), NIC);
	hd_claim_list_free(claimed);
	CLOSE_EXPECT(m, f, GET("0a:00.0"),
		     "{\"method\":\"io.hostdevd.Claim\",\"parameters\":{\"owner\":" OWNER_UUID_JSON
		     ",\"devices\":[\"0000:0a:00.0\",\"" NIC "\",\"0000:0B:00.0\"],\"whole_group\":true,"
		     "\"driver\":\"pci-stub\"}}");
}

static void test_prepare_flags_in_request(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { CLAIMS(ENTRY(NIC, "false")) } },
		{ .replies = { CLAIMS(ENTRY(NIC, "true")) } },
		{ .replies = { CLAIMS(ENTRY(NIC, "true")) } },
	};
	static const char *const ids[] = { NIC };
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));

	assert_int_equal(hd_prepare_pci_devices(m, &owner, ids, 1, HD_UNMANAGED, NULL, NULL), 0);
	assert_int_equal(hd_prepare_pci_devices(m, &owner, ids, 1, HD_STUB_XEN_PCIBACK, NULL, NULL),
			 0);
	assert_int_equal(hd_prepare_pci_devices(m, &owner, ids, 1, 0, NULL, NULL), 0);
	CLOSE_EXPECT(m, f,
		     "{\"method\":\"io.hostdevd.Claim\",\"parameters\":{\"owner\":" OWNER_JSON
		     ",\"devices\":[\"" NIC "\"],\"managed\":false}}",
		     "{\"method\":\"io.hostdevd.Claim\",\"parameters\":{\"owner\":" OWNER_JSON
		     ",\"devices\":[\"" NIC "\"],\"driver\":\"pciback\"}}",
		     "{\"method\":\"io.hostdevd.Claim\",\"parameters\":{\"owner\":" OWNER_JSON
		     ",\"devices\":[\"" NIC "\"]}}");
}

static void test_prepare_usb_request(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { DEVICE("1-2.2", "usb") } },
		{ .replies = { DEVICE("1-2.3", "usb") } },
		{ .replies = { CLAIMS(ENTRY("1-2.2", "false") "," ENTRY("1-2.3", "false")) } },
		{ .replies = { CLAIMS(ENTRY("1-2.1", "true")) } },
	};
	static const char *const ids[] = { "id:0781:5567:4C530001230815117394", "usb:1.5" };
	static const char *const keyboard[] = { "1-2.1" };
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));
	struct hd_claim_list *claimed;

	assert_int_equal(hd_prepare_usb_devices(m, &owner, ids, 2, HD_UNMANAGED, &claimed, NULL),
			 0);
	assert_int_equal(hd_claim_list_count(claimed), 2);
	assert_string_equal(hd_claim_bus(hd_claim_list_at(claimed, 1)), "usb");
	assert_false(hd_claim_managed(hd_claim_list_at(claimed, 1)));
	hd_claim_list_free(claimed);
	assert_int_equal(hd_prepare_usb_devices(m, &owner, keyboard, 1, HD_UNBIND_INTERFACES, NULL,
						NULL),
			 0);
	CLOSE_EXPECT(m, f, GET("id:0781:5567:4C530001230815117394"), GET("usb:1.5"),
		     "{\"method\":\"io.hostdevd.Claim\",\"parameters\":{\"owner\":" OWNER_JSON
		     ",\"devices\":[\"1-2.2\",\"1-2.3\"],\"managed\":false}}",
		     "{\"method\":\"io.hostdevd.Claim\",\"parameters\":{\"owner\":" OWNER_JSON
		     ",\"devices\":[\"1-2.1\"],\"unbind_interfaces\":true}}");
}

/* PCI and USB in one Claim: all or nothing across both. */
static void test_prepare_domain_request(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { CLAIMS(ENTRY(NIC, "true") "," ENTRY("1-2.2", "true")) } },
	};
	static const char *const pci[] = { NIC }, *const usb[] = { "1-2.2" };
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));

	assert_int_equal(hd_prepare_domain_devices(m, &owner, pci, 1, usb, 1,
						   HD_WHOLE_GROUP | HD_UNBIND_INTERFACES, NULL, NULL),
			 0);
	CLOSE_EXPECT(m, f,
		     "{\"method\":\"io.hostdevd.Claim\",\"parameters\":{\"owner\":" OWNER_JSON
		     ",\"devices\":[\"" NIC "\",\"1-2.2\"],\"whole_group\":true,"
		     "\"unbind_interfaces\":true}}");
}

/* Managed per device: one Claim naming the selectors as given, each entry
 * with its managed said, PCI and USB mixed, the flags beside them; no
 * GetDevice first (no bus to check).  A refusal is hostdevd's, whole. */
static void test_prepare_hostdevs_request(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { CLAIMS(ENTRY(NIC, "true") "," ENTRY("0000:06:10.2", "false") ","
				      ENTRY("1-2.2", "false")) } },
		{ .replies = { CLAIMS(ENTRY(NIC, "true")) } },
		{ .replies = { ERROR("io.hostdevd.DeviceInUse",
				     "{\"device\":\"" NIC "\",\"driver\":\"libxl\","
				     "\"domain\":\"vm2\"}") } },
	};
	static const struct hd_hostdev mixed[] = {
		{ .device = "0000:03:00.0", .managed = true },
		{ .device = "0000:06:10.2", .managed = false },
		{ .device = "usb:1.4", .managed = false },
	};
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));
	struct hd_claim_list *claimed = NULL;
	struct hd_error *err = (struct hd_error *)&err;
	int r;

	assert_int_equal(hd_prepare_hostdevs(m, &owner_uuid, mixed, 3, 0, &claimed, &err), 0);
	assert_null(err);
	assert_int_equal(hd_claim_list_count(claimed), 3);
	assert_true(hd_claim_managed(hd_claim_list_at(claimed, 0)));
	assert_false(hd_claim_managed(hd_claim_list_at(claimed, 1)));
	assert_string_equal(hd_claim_device(hd_claim_list_at(claimed, 2)), "1-2.2");
	assert_string_equal(hd_claim_bus(hd_claim_list_at(claimed, 2)), "usb");
	hd_claim_list_free(claimed);
	assert_int_equal(hd_prepare_hostdevs(m, &owner, mixed, 1,
					     HD_WHOLE_GROUP | HD_STUB_PCI_STUB |
						     HD_UNBIND_INTERFACES | HD_LEASE_KEEP,
					     NULL, NULL),
			 0);
	r = hd_prepare_hostdevs(m, &owner, mixed, 2, HD_LEASE, &claimed, &err);
	assert_error(err, r, HD_ERROR_DEVICE_IN_USE, EBUSY);
	assert_string_equal(hd_error_message(err), NIC " is in use by driver libxl, domain vm2");
	assert_null(claimed);
	hd_error_free(err);
	CLOSE_EXPECT(m, f,
		     "{\"method\":\"io.hostdevd.Claim\",\"parameters\":{\"owner\":" OWNER_UUID_JSON
		     ",\"hostdevs\":[{\"device\":\"" NIC "\",\"managed\":true},"
		     "{\"device\":\"0000:06:10.2\",\"managed\":false},"
		     "{\"device\":\"usb:1.4\",\"managed\":false}]}}",
		     "{\"method\":\"io.hostdevd.Claim\",\"parameters\":{\"owner\":" OWNER_JSON
		     ",\"hostdevs\":[{\"device\":\"" NIC "\",\"managed\":true}],"
		     "\"whole_group\":true,\"driver\":\"pci-stub\",\"unbind_interfaces\":true,"
		     "\"lease\":{\"on_exit\":\"keep\"}}}",
		     "{\"method\":\"io.hostdevd.Claim\",\"parameters\":{\"owner\":" OWNER_JSON
		     ",\"hostdevs\":[{\"device\":\"" NIC "\",\"managed\":true},"
		     "{\"device\":\"0000:06:10.2\",\"managed\":false}],\"lease\":{}}}");
}

/* The driver named goes as the Claim's driver; an empty one, or one with
 * a stub flag, is refused before anything is sent. */
static void test_prepare_hostdevs_driver_request(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { CLAIMS("{\"device\":\"" NIC "\",\"owner\":" OWNER_JSON
				      ",\"managed\":true,\"uid\":0,\"gid\":0,\"pid\":1,"
				      "\"since\":\"2024-05-01T10:00:00Z\","
				      "\"driver\":\"mlx5-vfio-pci\"}") } },
		{ .replies = { CLAIMS(ENTRY(NIC, "true")) } },
	};
	static const struct hd_hostdev dev[] = { { .device = "0000:03:00.0", .managed = true } };
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));
	struct hd_claim_list *claimed = NULL;
	struct hd_error *err = NULL;
	int r;

	assert_int_equal(hd_prepare_hostdevs_driver(m, &owner, dev, 1, "mlx5_vfio_pci",
						    HD_WHOLE_GROUP, &claimed, &err),
			 0);
	assert_string_equal(hd_claim_stub_driver(hd_claim_list_at(claimed, 0)), "mlx5-vfio-pci");
	hd_claim_list_free(claimed);
	/* NULL: as hd_prepare_hostdevs, the flags' stub if any. */
	assert_int_equal(hd_prepare_hostdevs_driver(m, &owner, dev, 1, NULL, HD_STUB_PCI_STUB,
						    NULL, NULL),
			 0);
	r = hd_prepare_hostdevs_driver(m, &owner, dev, 1, "", 0, NULL, &err);
	assert_error(err, r, HD_ERROR_INVALID_ARGUMENT, EINVAL);
	assert_string_equal(hd_error_parameter_string(err, "argument"), "driver");
	hd_error_free(err);
	r = hd_prepare_hostdevs_driver(m, &owner, dev, 1, "vfio-pci", HD_STUB_XEN_PCIBACK, NULL,
				       &err);
	assert_error(err, r, HD_ERROR_INVALID_ARGUMENT, EINVAL);
	assert_string_equal(hd_error_parameter_string(err, "argument"), "flags");
	hd_error_free(err);
	CLOSE_EXPECT(m, f,
		     "{\"method\":\"io.hostdevd.Claim\",\"parameters\":{\"owner\":" OWNER_JSON
		     ",\"hostdevs\":[{\"device\":\"" NIC "\",\"managed\":true}],"
		     "\"whole_group\":true,\"driver\":\"mlx5_vfio_pci\"}}",
		     "{\"method\":\"io.hostdevd.Claim\",\"parameters\":{\"owner\":" OWNER_JSON
		     ",\"hostdevs\":[{\"device\":\"" NIC "\",\"managed\":true}],"
		     "\"driver\":\"pci-stub\"}}");
}

/* Nothing to prepare or reattach: nothing is sent (an empty Claim is an
 * InvalidParameter, an empty Release would release everything). */
static void test_zero_devices_send_nothing(void **state)
{
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, NULL, 0);
	struct hd_claim_list *claimed = NULL;
	struct hd_error *err = (struct hd_error *)&err;

	assert_int_equal(hd_prepare_pci_devices(m, &owner, NULL, 0, 0, &claimed, &err), 0);
	assert_null(err);
	assert_non_null(claimed);
	assert_int_equal(hd_claim_list_count(claimed), 0);
	assert_null(hd_claim_list_at(claimed, 0));
	hd_claim_list_free(claimed);
	assert_int_equal(hd_prepare_domain_devices(m, &owner, NULL, 0, NULL, 0, 0, NULL, NULL), 0);
	assert_int_equal(hd_prepare_hostdevs(m, &owner, NULL, 0, 0, &claimed, &err), 0);
	assert_null(err);
	assert_int_equal(hd_claim_list_count(claimed), 0);
	hd_claim_list_free(claimed);
	assert_int_equal(hd_reattach_pci_devices(m, &owner, NULL, 0, 0, NULL), 0);
	assert_int_equal(hd_reattach_domain_devices(m, &owner, NULL, 0, NULL, 0, 0, NULL), 0);
	CLOSE_NOTHING_SENT(m, f);
}

static void test_reattach_requests(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"released\":[\"" NIC "\"]}}" } },
		{ .replies = { DEVICE("1-2.2", "usb") } },
		{ .replies = { "{\"parameters\":{\"released\":[\"1-2.2\"]}}" } },
		{ .replies = { DEVICE("1-2.2", "usb") } },
		{ .replies = { "{\"parameters\":{\"released\":[]}}" } },
		{ .replies = { "{\"parameters\":{\"released\":[\"" NIC "\"]}}" } },
	};
	static const char *const pci[] = { NIC }, *const usb[] = { "usb:1.4" };
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));
	struct hd_error *err = (struct hd_error *)&err;

	assert_int_equal(hd_reattach_pci_devices(m, &owner_uuid, pci, 1, 0, &err), 0);
	assert_null(err);
	assert_int_equal(hd_reattach_usb_devices(m, &owner, usb, 1, 0, NULL), 0);
	assert_int_equal(hd_reattach_domain_devices(m, &owner, pci, 1, usb, 1, 0, NULL), 0);
	assert_int_equal(hd_reattach_all_devices(m, &owner, 0, NULL), 0);
	CLOSE_EXPECT(m, f,
		     "{\"method\":\"io.hostdevd.Release\",\"parameters\":{\"owner\":" OWNER_UUID_JSON
		     ",\"devices\":[\"" NIC "\"]}}",
		     GET("usb:1.4"),
		     "{\"method\":\"io.hostdevd.Release\",\"parameters\":{\"owner\":" OWNER_JSON
		     ",\"devices\":[\"1-2.2\"]}}",
		     GET("usb:1.4"),
		     "{\"method\":\"io.hostdevd.Release\",\"parameters\":{\"owner\":" OWNER_JSON
		     ",\"devices\":[\"" NIC "\",\"1-2.2\"]}}",
		     "{\"method\":\"io.hostdevd.Release\",\"parameters\":{\"owner\":" OWNER_JSON "}}");
}

/* A claimed device that was unplugged: GetDevice would no longer find
 * it, but its canonical id still names the claim and goes to the Release
 * with no lookup.  A canonical id of the other bus is WrongBus, sent
 * nowhere; any other selector keeps GetDevice's answer. */
static void test_reattach_gone_device(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"released\":[\"0000:07:00.0\"]}}" } },
		{ .replies = { "{\"parameters\":{\"released\":[\"1-4\"]}}" } },
		{ .replies = { ERROR("io.hostdevd.DeviceNotFound", "{\"device\":\"usb:1.9\"}") } },
	};
	static const char *const gone_pci[] = { "0000:07:00.0" }, *const gone_usb[] = { "1-4" };
	static const char *const by_number[] = { "usb:1.9" };
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));
	struct hd_error *err;
	int r;

	assert_int_equal(hd_reattach_pci_devices(m, &owner, gone_pci, 1, 0, NULL), 0);
	assert_int_equal(hd_reattach_usb_devices(m, &owner, gone_usb, 1, 0, NULL), 0);
	r = hd_reattach_usb_devices(m, &owner, gone_pci, 1, 0, &err);
	assert_error(err, r, HD_ERROR_WRONG_BUS, EINVAL);
	hd_error_free(err);
	r = hd_reattach_usb_devices(m, &owner, by_number, 1, 0, &err);
	assert_error(err, r, HD_ERROR_DEVICE_NOT_FOUND, ENODEV);
	assert_string_equal(hd_error_message(err), "no device matches 'usb:1.9'");
	hd_error_free(err);
	CLOSE_EXPECT(m, f,
		     "{\"method\":\"io.hostdevd.Release\",\"parameters\":{\"owner\":" OWNER_JSON
		     ",\"devices\":[\"0000:07:00.0\"]}}",
		     "{\"method\":\"io.hostdevd.Release\",\"parameters\":{\"owner\":" OWNER_JSON
		     ",\"devices\":[\"1-4\"]}}",
		     GET("usb:1.9"));
}

/* A device of the other bus is refused before anything is claimed or
 * released: the call stops at its GetDevice, or, for a canonical id whose
 * form names the other bus, before anything is sent. */
static void test_bus_mismatch(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { DEVICE("1-2.2", "usb") } },
		{ .replies = { DEVICE("1-2.2", "usb") } },
	};
	static const char *const usb[] = { "usb:1.4" }, *const pci[] = { NIC };
	static const char *const port[] = { "1-2.2" };
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));
	struct hd_error *err;
	int r;

	r = hd_prepare_pci_devices(m, &owner, usb, 1, 0, NULL, &err);
	assert_error(err, r, HD_ERROR_WRONG_BUS, EINVAL);
	assert_string_equal(hd_error_message(err),
			    "'usb:1.4' (1-2.2) is a USB device, but this call takes PCI devices "
			    "only; nothing was changed");
	assert_string_equal(hd_error_parameters_json(err),
			    "{\"device\":\"usb:1.4\",\"bus\":\"usb\",\"expected\":\"pci\"}");
	hd_error_free(err);

	r = hd_prepare_usb_devices(m, &owner, pci, 1, 0, NULL, &err);
	assert_error(err, r, HD_ERROR_WRONG_BUS, EINVAL);
	assert_string_equal(hd_error_message(err), NIC " is a PCI device, but this call takes USB "
						       "devices only; nothing was changed");
	assert_string_equal(hd_error_parameters_json(err),
			    "{\"device\":\"" NIC "\",\"bus\":\"pci\",\"expected\":\"usb\"}");
	hd_error_free(err);
	r = hd_prepare_pci_devices(m, &owner, port, 1, 0, NULL, &err);
	assert_error(err, r, HD_ERROR_WRONG_BUS, EINVAL);
	assert_string_equal(hd_error_message(err), "1-2.2 is a USB device, but this call takes PCI "
						   "devices only; nothing was changed");
	hd_error_free(err);

	/* In the domain call each list is checked against its own bus, and
	 * the first bad one stops everything. */
	r = hd_prepare_domain_devices(m, &owner, pci, 1, pci, 1, 0, NULL, &err);
	assert_error(err, r, HD_ERROR_WRONG_BUS, EINVAL);
	assert_string_equal(hd_error_parameter_string(err, "expected"), "usb");
	hd_error_free(err);

	r = hd_reattach_pci_devices(m, &owner, usb, 1, 0, &err);
	assert_error(err, r, HD_ERROR_WRONG_BUS, EINVAL);
	hd_error_free(err);
	r = hd_reattach_usb_devices(m, &owner, pci, 1, 0, NULL);
	assert_int_equal(r, -EINVAL);
	CLOSE_EXPECT(m, f, GET("usb:1.4"), GET("usb:1.4"));
}

static void test_node_requests(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"device\":{\"id\":\"" NIC "\"}}}" } },
		{ .replies = { "{\"parameters\":{\"device\":{\"id\":\"" NIC "\"}}}" } },
		{ .replies = { "{\"parameters\":{\"device\":{},\"driver\":\"e1000e\","
			       "\"outcome\":\"original\"}}" } },
		{ .replies = { "{\"parameters\":{\"device\":{},\"driver\":null,"
			       "\"outcome\":\"unbound\"}}" } },
		{ .replies = { "{\"parameters\":{\"device\":{},\"outcome\":\"original\"}}" } },
		{ .replies = { "{\"parameters\":{\"device\":\"" NIC "\","
			       "\"methods\":[\"flr\",\"pm\",\"bus\"]}}" } },
		{ .replies = { "{\"parameters\":{\"device\":\"" NIC "\",\"methods\":[]}}" } },
	};
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));
	char *driver = (char *)&driver, **methods = NULL;

	assert_int_equal(hd_node_detach(m, NIC, NULL, NULL), 0);
	assert_int_equal(hd_node_detach(m, NIC, "pci-stub", NULL), 0);
	assert_int_equal(hd_node_reattach(m, NIC, &driver, NULL), 0);
	assert_string_equal(driver, "e1000e");
	free(driver);
	assert_int_equal(hd_node_reattach(m, NIC, &driver, NULL), 0);
	assert_null(driver);
	assert_int_equal(hd_node_reattach(m, NIC, NULL, NULL), 0);
	assert_int_equal(hd_node_reset(m, NIC, &owner, &methods, NULL), 0);
	assert_non_null(methods);
	assert_string_equal(methods[0], "flr");
	assert_string_equal(methods[1], "pm");
	assert_string_equal(methods[2], "bus");
	assert_null(methods[3]);
	hd_strv_free(methods);
	assert_int_equal(hd_node_reset(m, NIC, NULL, NULL, NULL), 0);
	hd_strv_free(NULL);
	CLOSE_EXPECT(m, f,
		     "{\"method\":\"io.hostdevd.Detach\",\"parameters\":{\"device\":\"" NIC "\"}}",
		     "{\"method\":\"io.hostdevd.Detach\",\"parameters\":{\"device\":\"" NIC
		     "\",\"driver\":\"pci-stub\"}}",
		     "{\"method\":\"io.hostdevd.Reattach\",\"parameters\":{\"device\":\"" NIC "\"}}",
		     "{\"method\":\"io.hostdevd.Reattach\",\"parameters\":{\"device\":\"" NIC "\"}}",
		     "{\"method\":\"io.hostdevd.Reattach\",\"parameters\":{\"device\":\"" NIC "\"}}",
		     "{\"method\":\"io.hostdevd.Reset\",\"parameters\":{\"device\":\"" NIC
		     "\",\"owner\":" OWNER_JSON "}}",
		     "{\"method\":\"io.hostdevd.Reset\",\"parameters\":{\"device\":\"" NIC "\"}}");
}

/* OpenDevice: the descriptor that came with the reply is the caller's, with
 * the kind and path; a reply without one, or an error, gives -1. */
static void test_open_device(void **state)
{
	char path[] = "/tmp/libhostdev-fd.XXXXXX";
	int tmp = mkstemp(path);
	struct fake_step steps[4] = {
		{ .replies = { "{\"parameters\":{\"fd_index\":0,\"kind\":\"cdev\","
			       "\"path\":\"/dev/vfio/devices/vfio3\",\"device\":\"" NIC "\"}}" } },
		{ .replies = { "{\"parameters\":{\"fd_index\":0,\"kind\":\"group\","
			       "\"path\":\"/dev/vfio/8\",\"device\":\"" NIC "\"}}" } },
		{ .replies = { "{\"parameters\":{\"fd_index\":0,\"kind\":\"group\","
			       "\"path\":\"/dev/vfio/8\",\"device\":\"" NIC "\"}}" } },
		{ .replies = { ERROR("io.hostdevd.NotClaimed", "{\"device\":\"" NIC "\"}") } },
	};
	struct fake_server *f;
	struct hd_manager *m;
	struct hd_error *err = NULL;
	struct stat a, b;
	char *opened = NULL;
	bool cdev = false;
	int fd = -2, r;

	assert_true(tmp >= 0);
	close(tmp);
	steps[0].fd_paths[0] = path;
	steps[1].fd_paths[0] = path;
	m = open_fake(&f, steps, N(steps));
	assert_int_equal(hd_open_device(m, &owner, NIC, &fd, &cdev, &opened, NULL), 0);
	assert_true(fd >= 0);
	assert_true(cdev);
	assert_string_equal(opened, "/dev/vfio/devices/vfio3");
	free(opened);
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(stat(path, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	close(fd);
	assert_int_equal(hd_open_device(m, &owner, NIC, &fd, &cdev, NULL, NULL), 0);
	assert_true(fd >= 0);
	assert_false(cdev);
	close(fd);
	/* No descriptor came: a protocol error, not a -1 handed out as one. */
	r = hd_open_device(m, &owner, NIC, &fd, NULL, NULL, &err);
	assert_int_equal(fd, -1);
	assert_error(err, r, HD_ERROR_PROTOCOL, EPROTO);
	hd_error_free(err);
	/* Reconnected after the protocol error. */
	r = hd_open_device(m, &owner, NIC, &fd, NULL, NULL, &err);
	assert_int_equal(fd, -1);
	assert_error(err, r, HD_ERROR_NOT_CLAIMED, ENOENT);
	hd_error_free(err);
	r = hd_open_device(m, &owner, NIC, NULL, NULL, NULL, &err);
	assert_string_equal(hd_error_name(err), HD_ERROR_INVALID_ARGUMENT);
	hd_error_free(err);
	CLOSE_EXPECT(m, f,
		     "{\"method\":\"io.hostdevd.OpenDevice\",\"parameters\":{\"device\":\"" NIC
		     "\",\"owner\":" OWNER_JSON "}}",
		     "{\"method\":\"io.hostdevd.OpenDevice\",\"parameters\":{\"device\":\"" NIC
		     "\",\"owner\":" OWNER_JSON "}}",
		     "{\"method\":\"io.hostdevd.OpenDevice\",\"parameters\":{\"device\":\"" NIC
		     "\",\"owner\":" OWNER_JSON "}}",
		     "{\"method\":\"io.hostdevd.OpenDevice\",\"parameters\":{\"device\":\"" NIC
		     "\",\"owner\":" OWNER_JSON "}}");
	unlink(path);
}

/* ---- Active lists -------------------------------------------------------- */

/* Six entries: every field; USB with unbound interfaces; the forms of
 * RFC 3339 time; buses from the id's form or the entry itself. */
#define LIST_REPLY                                                                          \
	CLAIMS("{\"device\":\"" NIC "\",\"owner\":" OWNER_UUID_JSON ",\"managed\":true,"      \
	       "\"uid\":107,\"gid\":36,\"pid\":4242,\"since\":\"2024-05-01T10:00:00Z\","          \
	       "\"driver\":\"e1000e-vfio\",\"node_owner\":\"set\",\"from_pool\":true,"             \
	       "\"future\":[1,2]},"                                                             \
	       "{\"device\":\"1-2.1\",\"owner\":{\"driver\":\"libxl\",\"domain\":\"vm2\","      \
	       "\"uuid\":null},\"managed\":true,\"uid\":0,\"gid\":0,\"pid\":1,"                  \
	       "\"unbound_interfaces\":[{\"interface\":\"1-2.1:1.0\",\"driver\":\"usbhid\"},"     \
	       "{\"interface\":\"1-2.1:1.1\",\"driver\":\"usbhid\"}],"                          \
	       "\"since\":\"2024-05-01T12:00:00.250+02:00\"},"                                    \
	       "{\"device\":\"usb3\",\"owner\":" OWNER_JSON ",\"managed\":true,\"uid\":0,"      \
	       "\"gid\":0,\"pid\":1,\"since\":\"2024-05-01T05:30:00-04:30\"},"                   \
	       "{\"device\":\"mdev-1\",\"bus\":\"mdev\",\"owner\":" OWNER_JSON                  \
	       ",\"managed\":true,\"uid\":0,\"gid\":0,\"pid\":1,\"since\":\"yesterday\"},"      \
	       "{\"device\":\"something\",\"owner\":" OWNER_JSON ",\"managed\":true,"           \
	       "\"uid\":0,\"gid\":0,\"pid\":1,\"since\":\"2024-05-01T10:00:00\"},"              \
	       "{\"device\":\"0000:03:00.8\",\"owner\":" OWNER_JSON ",\"managed\":true,"        \
	       "\"uid\":0,\"gid\":0,\"pid\":1,\"since\":\"2024-05-01T10:00:00Zjunk\"}")

/* The list of LIST_REPLY, asked for qemu/vm1. */
static struct hd_claim_list *fetch_list(void)
{
	static const struct fake_step steps[] = { { .replies = { LIST_REPLY } } };
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));
	struct hd_claim_list *list = (struct hd_claim_list *)&list;
	struct hd_error *err = (struct hd_error *)&err;

	assert_int_equal(hd_list_active(m, "qemu", "vm1", &list, &err), 0);
	assert_null(err);
	assert_int_equal(hd_claim_list_count(list), 6);
	assert_null(hd_claim_list_at(list, 6));
	CLOSE_EXPECT(m, f,
		     "{\"method\":\"io.hostdevd.ListClaims\",\"parameters\":{\"driver\":\"qemu\","
		     "\"domain\":\"vm1\"}}");
	return list;
}

static void test_list_entry_fields(void **state)
{
	struct hd_claim_list *list = fetch_list();
	const struct hd_claim *c = hd_claim_list_at(list, 0);
	const char *driver;

	assert_string_equal(hd_claim_device(c), NIC);
	assert_string_equal(hd_claim_bus(c), "pci");
	assert_string_equal(hd_claim_owner_driver(c), "qemu");
	assert_string_equal(hd_claim_owner_domain(c), "vm1");
	assert_string_equal(hd_claim_owner_uuid(c), owner_uuid.uuid);
	assert_true(hd_claim_managed(c));
	assert_int_equal(hd_claim_uid(c), 107);
	assert_int_equal(hd_claim_gid(c), 36);
	assert_int_equal(hd_claim_pid(c), 4242);
	assert_string_equal(hd_claim_since(c), "2024-05-01T10:00:00Z");
	assert_int_equal(hd_claim_since_time(c), 1714557600);
	assert_int_equal(hd_claim_unbound_interface_count(c), 0);
	assert_null(hd_claim_unbound_interface(c, 0, NULL));
	assert_string_equal(hd_claim_stub_driver(c), "e1000e-vfio");
	assert_string_equal(hd_claim_node_owner(c), "set");
	assert_true(hd_claim_from_pool(c));

	/* Absent: NULL and false. */
	c = hd_claim_list_at(list, 1);
	assert_null(hd_claim_stub_driver(c));
	assert_null(hd_claim_node_owner(c));
	assert_false(hd_claim_from_pool(c));
	assert_string_equal(hd_claim_bus(c), "usb");
	assert_string_equal(hd_claim_owner_driver(c), "libxl");
	assert_null(hd_claim_owner_uuid(c));
	assert_true(hd_claim_managed(c));
	assert_int_equal(hd_claim_unbound_interface_count(c), 2);
	assert_string_equal(hd_claim_unbound_interface(c, 0, &driver), "1-2.1:1.0");
	assert_string_equal(driver, "usbhid");
	assert_string_equal(hd_claim_unbound_interface(c, 1, NULL), "1-2.1:1.1");
	assert_null(hd_claim_unbound_interface(c, 2, &driver));
	hd_claim_list_free(list);
}

static void test_list_bus_and_time(void **state)
{
	struct hd_claim_list *list = fetch_list();
	static const struct {
		const char *bus;
		time_t since;
	} want[] = {
		{ "pci", 1714557600 },
		/* The same instant with an offset and fractions, and another offset. */
		{ "usb", 1714557600 },
		{ "usb", 1714557600 },
		/* A bus the entry names itself wins; a form nobody knows has none. */
		{ "mdev", -1 },
		{ NULL, -1 },
		{ NULL, -1 },
	};

	for (size_t i = 0; i < N(want); i++) {
		const struct hd_claim *c = hd_claim_list_at(list, i);

		if (want[i].bus)
			assert_string_equal(hd_claim_bus(c), want[i].bus);
		else
			assert_null(hd_claim_bus(c));
		assert_int_equal(hd_claim_since_time(c), want[i].since);
	}
	hd_claim_list_free(list);
}

/* Filters are sent only when given; an empty list is a list. */
static void test_list_filters(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { CLAIMS() } },
		{ .replies = { CLAIMS() } },
	};
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));
	struct hd_claim_list *list;

	assert_int_equal(hd_list_active(m, NULL, NULL, &list, NULL), 0);
	assert_int_equal(hd_claim_list_count(list), 0);
	assert_null(hd_claim_list_at(list, 0));
	hd_claim_list_free(list);
	assert_int_equal(hd_list_active(m, NULL, "vm2", &list, NULL), 0);
	hd_claim_list_free(list);
	hd_claim_list_free(NULL);
	assert_int_equal(hd_claim_list_count(NULL), 0);
	assert_null(hd_claim_list_at(NULL, 0));
	CLOSE_EXPECT(m, f, "{\"method\":\"io.hostdevd.ListClaims\",\"parameters\":{}}",
		     "{\"method\":\"io.hostdevd.ListClaims\",\"parameters\":{\"domain\":\"vm2\"}}");
}

/* ---- hostdevd's errors --------------------------------------------------- */

static void test_varlink_error_with_parameters(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { ERROR("io.hostdevd.DeviceInUse",
				     "{\"device\":\"" NIC "\",\"driver\":\"qemu\",\"domain\":\"vm1\"}") } },
	};
	static const char *const ids[] = { NIC };
	static const struct hd_owner other = { .driver = "libxl", .domain = "vm2" };
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));
	struct hd_claim_list *claimed = (struct hd_claim_list *)&claimed;
	struct hd_error *err;
	int r;

	r = hd_prepare_pci_devices(m, &other, ids, 1, 0, &claimed, &err);
	assert_error(err, r, HD_ERROR_DEVICE_IN_USE, EBUSY);
	assert_null(claimed);
	assert_string_equal(hd_error_message(err), NIC " is in use by driver qemu, domain vm1");
	assert_string_equal(hd_error_parameter_string(err, "device"), NIC);
	assert_string_equal(hd_error_parameter_string(err, "domain"), "vm1");
	assert_null(hd_error_parameter_string(err, "nonexistent"));
	assert_null(hd_error_parameter_string(err, NULL));
	assert_string_equal(hd_error_parameters_json(err),
			    "{\"device\":\"" NIC "\",\"driver\":\"qemu\",\"domain\":\"vm1\"}");
	hd_error_free(err);
	hd_error_free(NULL);
	CLOSE_EXPECT(m, f,
		     "{\"method\":\"io.hostdevd.Claim\",\"parameters\":{\"owner\":{\"driver\":"
		     "\"libxl\",\"domain\":\"vm2\"},\"devices\":[\"" NIC "\"]}}");
}

struct sentence_case {
	const char *reply;
	const char *name;
	int errnum;
	const char *message;
};

/* Every error hostdevd can answer a Detach with, as one sentence each. */
static const struct sentence_case sentence_cases[] = {
	{ ERROR("io.hostdevd.AmbiguousDevice",
		"{\"device\":\"id:0781:5567\",\"matches\":[\"1-2.2\",\"1-2.3\"]}"),
	  HD_ERROR_AMBIGUOUS_DEVICE, ENOTUNIQ,
	  "'id:0781:5567' matches several devices (1-2.2, 1-2.3); name one by its port path or "
	  "PCI address" },
	{ ERROR("io.hostdevd.DeviceBusy", "{\"device\":\"" NIC "\",\"operation\":\"Reset\"}"),
	  HD_ERROR_DEVICE_BUSY, EAGAIN,
	  "hostdevd is already running a Reset of " NIC "; try again when it has finished" },
	{ ERROR("io.hostdevd.GroupNotViable",
		"{\"device\":\"0000:05:00.0\",\"group\":10,\"members\":[\"0000:05:01.0\","
		"\"0000:05:02.0\"]}"),
	  HD_ERROR_GROUP_NOT_VIABLE, EBUSY,
	  "cannot prepare 0000:05:00.0: IOMMU group 10 is not viable, as these members are not "
	  "on a stub driver: 0000:05:01.0, 0000:05:02.0; detach them first, or prepare with "
	  "HD_WHOLE_GROUP" },
	{ ERROR("io.hostdevd.HostCritical",
		"{\"device\":\"0000:00:00.0\",\"reason\":\"host bridge\"}"),
	  HD_ERROR_HOST_CRITICAL, EPERM,
	  "0000:00:00.0 must stay with the host, so hostdevd refused the node detach (host "
	  "bridge)" },
	{ ERROR("io.hostdevd.InvalidDeviceState", "{\"device\":\"" NIC "\",\"state\":\"claimed\"}"),
	  HD_ERROR_INVALID_DEVICE_STATE, EINVAL,
	  "the node detach of " NIC " was refused: it is in state claimed" },
	{ ERROR("io.hostdevd.OperationFailed",
		"{\"device\":\"" NIC "\",\"step\":\"unbind\",\"errno\":16,"
		"\"message\":\"writing unbind: Device or resource busy\"}"),
	  HD_ERROR_OPERATION_FAILED, EBUSY,
	  "node detach of " NIC " failed at step unbind: Device or resource busy (writing unbind: "
	  "Device or resource busy)" },
	/* No usable errno: EIO, never a 0 that would read as success. */
	{ ERROR("io.hostdevd.OperationFailed",
		"{\"device\":\"" NIC "\",\"step\":\"unbind\",\"errno\":0,\"message\":\"?\"}"),
	  HD_ERROR_OPERATION_FAILED, EIO,
	  "node detach of " NIC " failed at step unbind: Input/output error (?)" },
	{ ERROR("io.hostdevd.OperationFailed", "{\"device\":\"" NIC "\",\"step\":\"check\"}"),
	  HD_ERROR_OPERATION_FAILED, EIO,
	  "node detach of " NIC " failed at step check: Input/output error (?)" },
	{ ERROR("io.hostdevd.Timeout",
		"{\"device\":\"" NIC "\",\"step\":\"confirm_bind\",\"seconds\":10.0}"),
	  HD_ERROR_TIMEOUT, ETIMEDOUT,
	  "node detach of " NIC " timed out at step confirm_bind after 10.0 s" },
	{ ERROR("io.hostdevd.PolicyRefused",
		"{\"device\":\"" NIC "\",\"action\":\"refuse\",\"reason\":\"the policy says "
		"refuse\"}"),
	  HD_ERROR_POLICY_REFUSED, EPERM,
	  "hostdevd's policy refused the node detach of " NIC ": the policy says refuse" },
	{ ERROR("io.hostdevd.StateUnavailable",
		"{\"device\":\"" NIC "\",\"errno\":28,\"message\":\"disk full\"}"),
	  HD_ERROR_STATE_UNAVAILABLE, ENOSPC,
	  "hostdevd could not save its state, so the node detach of " NIC " did not happen: "
	  "disk full" },
	{ ERROR("io.hostdevd.NotClaimed", "{\"device\":\"" NIC "\"}"), HD_ERROR_NOT_CLAIMED,
	  ENOENT, NIC " is not claimed by that owner" },
	{ ERROR("io.hostdevd.PermissionDenied", "{}"), HD_ERROR_PERMISSION_DENIED, EACCES,
	  "hostdevd refused the node detach: permission denied" },
	{ ERROR("org.varlink.service.PermissionDenied", "{}"), HD_ERROR_VARLINK_PERMISSION_DENIED,
	  EACCES, "hostdevd refused the node detach: permission denied" },
	{ ERROR("io.hostdevd.InvalidRequest", "{\"reason\":\"not JSON\"}"),
	  "io.hostdevd.InvalidRequest", EPROTO,
	  "hostdevd could not read the request for io.hostdevd.Detach: not JSON" },
	{ ERROR("io.hostdevd.RequestTooLarge", "{\"limit\":1048576}"),
	  "io.hostdevd.RequestTooLarge", EMSGSIZE,
	  "the request for io.hostdevd.Detach is larger than hostdevd's limit of 1048576 bytes" },
	{ ERROR("org.varlink.service.InvalidParameter", "{\"parameter\":\"driver\"}"),
	  HD_ERROR_INVALID_PARAMETER, EINVAL,
	  "hostdevd rejected the parameter 'driver' of io.hostdevd.Detach" },
	{ ERROR("org.varlink.service.MethodNotFound", "{\"method\":\"io.hostdevd.Detach\"}"),
	  "org.varlink.service.MethodNotFound", EOPNOTSUPP,
	  "hostdevd does not know the method io.hostdevd.Detach; it is older than this "
	  "libhostdev" },
	{ ERROR("org.varlink.service.MethodNotImplemented", "{\"method\":\"io.hostdevd.Detach\"}"),
	  "org.varlink.service.MethodNotImplemented", EOPNOTSUPP,
	  "hostdevd does not implement the method io.hostdevd.Detach; it is older than this "
	  "libhostdev" },
	{ ERROR("org.varlink.service.InterfaceNotFound", "{\"interface\":\"io.hostdevd\"}"),
	  "org.varlink.service.InterfaceNotFound", EOPNOTSUPP,
	  "hostdevd does not serve the interface io.hostdevd" },
	/* A newer daemon's error: named, with every parameter. */
	{ ERROR("io.hostdevd.SomethingNewer", "{\"device\":\"" NIC "\",\"rule\":\"nic-1\"}"),
	  "io.hostdevd.SomethingNewer", EIO,
	  "hostdevd answered io.hostdevd.Detach with io.hostdevd.SomethingNewer {\"device\":\"" NIC
	  "\",\"rule\":\"nic-1\"}" },
	/* What the device reports cannot forge log lines. */
	{ ERROR("io.hostdevd.DeviceNotFound", "{\"device\":\"evil\\nline\\u001b[31m\"}"),
	  HD_ERROR_DEVICE_NOT_FOUND, ENODEV, "no device matches 'evil?line?[31m'" },
	/* Missing parameters read as "?" rather than crash. */
	{ ERROR("io.hostdevd.DeviceInUse", "{}"), HD_ERROR_DEVICE_IN_USE, EBUSY,
	  "? is in use by driver ?, domain ?" },
	{ ERROR("io.hostdevd.GroupNotViable", "{\"device\":\"x\",\"group\":3,\"members\":[]}"),
	  HD_ERROR_GROUP_NOT_VIABLE, EBUSY,
	  "cannot prepare x: IOMMU group 3 is not viable, as these members are not on a stub "
	  "driver: (none); detach them first, or prepare with HD_WHOLE_GROUP" },
	{ ERROR("io.hostdevd.AmbiguousDevice", "{\"device\":\"d\",\"matches\":[1,null]}"),
	  HD_ERROR_AMBIGUOUS_DEVICE, ENOTUNIQ,
	  "'d' matches several devices (1, null); name one by its port path or PCI address" },
};

static void test_error_sentences(void **state)
{
	struct fake_step steps[N(sentence_cases)];
	struct fake_server *f;
	struct hd_manager *m;

	memset(steps, 0, sizeof(steps));
	for (size_t i = 0; i < N(sentence_cases); i++)
		steps[i].replies[0] = sentence_cases[i].reply;
	m = open_fake(&f, steps, N(steps));
	for (size_t i = 0; i < N(sentence_cases); i++) {
		const struct sentence_case *c = &sentence_cases[i];
		struct hd_error *err;
		int r = hd_node_detach(m, NIC, NULL, &err);

		assert_error(err, r, c->name, c->errnum);
		assert_string_equal(hd_error_message(err), c->message);
		hd_error_free(err);
	}
	hd_manager_free(m);
	fake_free(f);
}

/* The verb follows the call. */
static void test_sentence_verbs(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { ERROR("io.hostdevd.PermissionDenied", "{}") } },
		{ .replies = { ERROR("io.hostdevd.PermissionDenied", "{}") } },
		{ .replies = { ERROR("io.hostdevd.PermissionDenied", "{}") } },
		{ .replies = { ERROR("io.hostdevd.PermissionDenied", "{}") } },
		{ .replies = { ERROR("io.hostdevd.PermissionDenied", "{}") } },
		{ .replies = { ERROR("io.hostdevd.PermissionDenied", "{}") } },
	};
	/* lspci's short form is looked up first; the address is not. */
	static const char *const short_form[] = { "03:00.0" }, *const ids[] = { NIC };
	static const char *const want[] = {
		"device lookup", "node reattach", "reset", "claim listing", "prepare", "reattach",
	};
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));
	struct hd_claim_list *list;
	struct hd_error *err[6];
	char buf[128];

	hd_prepare_pci_devices(m, &owner, short_form, 1, 0, NULL, &err[0]);
	hd_node_reattach(m, NIC, NULL, &err[1]);
	hd_node_reset(m, NIC, NULL, NULL, &err[2]);
	hd_list_active(m, NULL, NULL, &list, &err[3]);
	hd_prepare_pci_devices(m, &owner, ids, 1, 0, NULL, &err[4]);
	hd_reattach_pci_devices(m, &owner, ids, 1, 0, &err[5]);
	for (size_t i = 0; i < N(err); i++) {
		snprintf(buf, sizeof(buf), "hostdevd refused the %s: permission denied", want[i]);
		assert_string_equal(hd_error_message(err[i]), buf);
		hd_error_free(err[i]);
	}
	hd_manager_free(m);
	fake_free(f);
}

/* ---- Transport failures -------------------------------------------------- */

static void test_unreachable(void **state)
{
	char *missing = fake_missing_socket_path(), *refusing = fake_refusing_socket_path();
	struct hd_error *err = NULL;

	assert_null(hd_manager_open(missing, &err));
	assert_error(err, -ENOENT, HD_ERROR_UNREACHABLE, ENOENT);
	assert_string_equal(hd_error_parameter_string(err, "socket"), missing);
	assert_non_null(strstr(hd_error_message(err), "hostdevd is not reachable: connecting to "));
	assert_non_null(strstr(hd_error_message(err), "No such file or directory; is it running?"));
	hd_error_free(err);

	assert_null(hd_manager_open(refusing, &err));
	assert_error(err, -ECONNREFUSED, HD_ERROR_UNREACHABLE, ECONNREFUSED);
	hd_error_free(err);
	assert_null(hd_manager_open(refusing, NULL));

	/* The default socket, named by the environment or built in. */
	setenv("HOSTDEVD_SOCKET", missing, 1);
	assert_null(hd_manager_get_default(&err));
	assert_string_equal(hd_error_parameter_string(err, "socket"), missing);
	hd_error_free(err);
	setenv("HOSTDEVD_SOCKET", "", 1);
	if (access(HD_DEFAULT_SOCKET, F_OK) != 0) {
		assert_null(hd_manager_get_default(&err));
		assert_string_equal(hd_error_parameter_string(err, "socket"), HD_DEFAULT_SOCKET);
		hd_error_free(err);
	}
	unsetenv("HOSTDEVD_SOCKET");
	fake_remove_path(missing);
	fake_remove_path(refusing);
}

static void test_get_default_from_environment(void **state)
{
	static const struct fake_step steps[] = { { .replies = { CLAIMS() } } };
	struct fake_server *f = fake_start(steps, N(steps));
	struct hd_claim_list *list;
	struct hd_manager *m;

	setenv("HOSTDEVD_SOCKET", fake_socket_path(f), 1);
	m = hd_manager_get_default(NULL);
	unsetenv("HOSTDEVD_SOCKET");
	assert_non_null(m);
	assert_int_equal(hd_list_active(m, NULL, NULL, &list, NULL), 0);
	hd_claim_list_free(list);
	CLOSE_EXPECT(m, f, "{\"method\":\"io.hostdevd.ListClaims\",\"parameters\":{}}");
}

/* No answer in time: a Timeout naming the method; the next call connects
 * again and works. */
static void test_timeout_then_reconnect(void **state)
{
	static const struct fake_step steps[] = {
		{ .after = FAKE_SILENT },
		{ .replies = { CLAIMS(ENTRY(NIC, "true")) } },
	};
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));
	struct hd_claim_list *list = NULL;
	struct hd_error *err;
	int r;

	hd_manager_set_timeout(m, 100);
	r = hd_list_active(m, NULL, NULL, &list, &err);
	assert_error(err, r, HD_ERROR_CLIENT_TIMEOUT, ETIMEDOUT);
	assert_null(list);
	assert_string_equal(hd_error_parameter_string(err, "method"), "io.hostdevd.ListClaims");
	assert_string_equal(hd_error_message(err),
			    "hostdevd did not answer io.hostdevd.ListClaims within 0.1 s");
	hd_error_free(err);
	/* Waiting forever is allowed; the fake answers at once. */
	hd_manager_set_timeout(m, -1);
	hd_manager_set_timeout(NULL, 5);
	assert_int_equal(hd_list_active(m, NULL, NULL, &list, NULL), 0);
	assert_int_equal(hd_claim_list_count(list), 1);
	hd_claim_list_free(list);
	CLOSE_EXPECT(m, f, "{\"method\":\"io.hostdevd.ListClaims\",\"parameters\":{}}",
		     "{\"method\":\"io.hostdevd.ListClaims\",\"parameters\":{}}");
}

static void test_connection_lost_then_reconnect(void **state)
{
	static const struct fake_step steps[] = {
		{ .after = FAKE_CLOSE },
		{ .replies = { "{\"parameters\":{\"device\":{}}}" } },
	};
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));
	struct hd_error *err;
	int r;

	r = hd_node_detach(m, NIC, NULL, &err);
	assert_error(err, r, HD_ERROR_CONNECTION_LOST, ECONNRESET);
	assert_string_equal(hd_error_parameter_string(err, "method"), "io.hostdevd.Detach");
	hd_error_free(err);
	assert_int_equal(hd_node_detach(m, NIC, NULL, NULL), 0);
	CLOSE_EXPECT(m, f,
		     "{\"method\":\"io.hostdevd.Detach\",\"parameters\":{\"device\":\"" NIC "\"}}",
		     "{\"method\":\"io.hostdevd.Detach\",\"parameters\":{\"device\":\"" NIC "\"}}");
}

/* A daemon gone for good: the reconnect fails as Unreachable. */
static void test_reconnect_fails(void **state)
{
	static const struct fake_step steps[] = { { .after = FAKE_CLOSE } };
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));
	struct hd_claim_list *list;
	struct hd_error *err;
	int r;

	assert_int_equal(hd_list_active(m, NULL, NULL, &list, NULL), -ECONNRESET);
	fake_stop(f);
	r = hd_list_active(m, NULL, NULL, &list, &err);
	assert_error(err, r, HD_ERROR_UNREACHABLE, ENOENT);
	hd_error_free(err);
	hd_manager_free(m);
	fake_free(f);
}

/* Not Varlink at all: the transport says so. */
static void test_reply_not_varlink(void **state)
{
	static const struct fake_step steps[] = { { .replies = { "this is not JSON" } } };
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));
	struct hd_claim_list *list = (struct hd_claim_list *)&list;
	struct hd_error *err;
	int r;

	r = hd_list_active(m, NULL, NULL, &list, &err);
	assert_error(err, r, HD_ERROR_PROTOCOL, EPROTO);
	assert_null(list);
	assert_non_null(strstr(hd_error_message(err), "the reply to io.hostdevd.ListClaims is "
						      "invalid"));
	hd_error_free(err);
	hd_manager_free(m);
	fake_free(f);
}

/* A Protocol error saying what the schema promised. */
static void assert_schema_error(struct hd_error *err, int r, const char *what)
{
	char buf[256];

	assert_error(err, r, HD_ERROR_PROTOCOL, EPROTO);
	snprintf(buf, sizeof(buf), "hostdevd's reply to %s is not what the schema says: %s",
		 hd_error_parameter_string(err, "method"), what);
	assert_string_equal(hd_error_message(err), buf);
	hd_error_free(err);
}

#define BAD_ENTRY(fields)                                                                   \
	CLAIMS("{\"device\":\"1-2\",\"owner\":" OWNER_JSON ",\"managed\":true,\"uid\":0,"       \
	       "\"gid\":0,\"pid\":1" fields "}")

/* ListClaims replies that are Varlink but not a list of ClaimEntry. */
static void test_claims_reply_malformed(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"claim\":[]}}" } },
		{ .replies = { "{\"parameters\":{\"claims\":{}}}" } },
		{ .replies = { BAD_ENTRY("") } },
		{ .replies = { CLAIMS(ENTRY(NIC, "true") ",42") } },
		{ .replies = { CLAIMS("{\"device\":\"" NIC "\",\"owner\":\"qemu\",\"managed\":true,"
				      "\"uid\":0,\"gid\":0,\"pid\":1,\"since\":\"\"}") } },
		{ .replies = { CLAIMS("{\"device\":\"" NIC "\",\"owner\":{\"driver\":\"q\","
				      "\"domain\":\"v\",\"uuid\":7},\"managed\":true,\"uid\":0,"
				      "\"gid\":0,\"pid\":1,\"since\":\"\"}") } },
		{ .replies = { BAD_ENTRY(",\"since\":\"\",\"unbound_interfaces\":{}") } },
		{ .replies = { BAD_ENTRY(",\"since\":\"\",\"unbound_interfaces\":"
					 "[{\"interface\":\"1-2:1.0\"}]") } },
		{ .replies = { BAD_ENTRY(",\"since\":\"\",\"driver\":5") } },
		{ .replies = { BAD_ENTRY(",\"since\":\"\",\"node_owner\":[]") } },
		{ .replies = { BAD_ENTRY(",\"since\":\"\",\"from_pool\":\"yes\"") } },
	};
	static const char *const what[] = {
		"it has no claims array",	 "it has no claims array",
		"claims[0] is not a ClaimEntry", "claims[1] is not a ClaimEntry",
		"claims[0] is not a ClaimEntry", "claims[0] is not a ClaimEntry",
		"claims[0] is not a ClaimEntry", "claims[0] is not a ClaimEntry",
		"claims[0] is not a ClaimEntry", "claims[0] is not a ClaimEntry",
		"claims[0] is not a ClaimEntry",
	};
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));

	for (size_t i = 0; i < N(what); i++) {
		struct hd_claim_list *list = (struct hd_claim_list *)&list;
		struct hd_error *err;
		int r = hd_list_active(m, NULL, NULL, &list, &err);

		assert_null(list);
		assert_schema_error(err, r, what[i]);
	}
	hd_manager_free(m);
	fake_free(f);
}

static void test_other_replies_malformed(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"device\":{\"id\":\"" NIC "\"}}}" } },
		{ .replies = { "{\"parameters\":{\"claims\":{}}}" } },
		{ .replies = { "{\"parameters\":{\"driver\":5}}" } },
		{ .replies = { "{\"parameters\":{\"methods\":[\"flr\",1]}}" } },
		{ .replies = { "{\"parameters\":{\"device\":\"" NIC "\"}}" } },
	};
	static const char *const ids[] = { NIC }, *const short_form[] = { "03:00.0" };
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));
	char *driver = (char *)&driver, **methods = (char **)&methods;
	struct hd_error *err;
	int r;

	r = hd_prepare_pci_devices(m, &owner, short_form, 1, 0, NULL, &err);
	assert_schema_error(err, r, "the device has no id or bus");
	r = hd_prepare_pci_devices(m, &owner, ids, 1, 0, NULL, &err);
	assert_schema_error(err, r, "it has no claims array");
	r = hd_node_reattach(m, NIC, &driver, &err);
	assert_null(driver);
	assert_schema_error(err, r, "driver is not a string");
	r = hd_node_reset(m, NIC, NULL, &methods, &err);
	assert_null(methods);
	assert_schema_error(err, r, "methods is not an array of strings");
	r = hd_node_reset(m, NIC, NULL, NULL, &err);
	assert_schema_error(err, r, "methods is not an array of strings");
	hd_manager_free(m);
	fake_free(f);
}

/* ---- Arguments ----------------------------------------------------------- */

struct bad_call {
	const char *argument;
	int (*call)(struct hd_manager *m, struct hd_error **err);
};

static const char *const one_id[] = { NIC };
static const char *const null_id[] = { NULL };
static const char *const empty_id[] = { "" };
static const struct hd_owner no_domain = { .driver = "qemu", .domain = "" };
static const struct hd_owner no_driver = { .domain = "vm1" };

static int bad_no_owner(struct hd_manager *m, struct hd_error **e)
{
	return hd_prepare_pci_devices(m, NULL, one_id, 1, 0, NULL, e);
}

static int bad_empty_domain(struct hd_manager *m, struct hd_error **e)
{
	return hd_reattach_pci_devices(m, &no_domain, one_id, 1, 0, e);
}

static int bad_no_driver(struct hd_manager *m, struct hd_error **e)
{
	return hd_reattach_all_devices(m, &no_driver, 0, e);
}

static int bad_ids_null(struct hd_manager *m, struct hd_error **e)
{
	return hd_prepare_pci_devices(m, &owner, NULL, 1, 0, NULL, e);
}

static int bad_id_null(struct hd_manager *m, struct hd_error **e)
{
	return hd_prepare_usb_devices(m, &owner, null_id, 1, 0, NULL, e);
}

static int bad_usb_id_empty(struct hd_manager *m, struct hd_error **e)
{
	return hd_prepare_domain_devices(m, &owner, one_id, 1, empty_id, 1, 0, NULL, e);
}

static int bad_pci_ids_null(struct hd_manager *m, struct hd_error **e)
{
	return hd_reattach_domain_devices(m, &owner, NULL, 2, one_id, 1, 0, e);
}

static int bad_unknown_flag(struct hd_manager *m, struct hd_error **e)
{
	return hd_prepare_pci_devices(m, &owner, one_id, 1, 1u << 9, NULL, e);
}

static int bad_usb_whole_group(struct hd_manager *m, struct hd_error **e)
{
	return hd_prepare_usb_devices(m, &owner, one_id, 1, HD_WHOLE_GROUP, NULL, e);
}

static int bad_usb_stub(struct hd_manager *m, struct hd_error **e)
{
	return hd_prepare_usb_devices(m, &owner, one_id, 1, HD_STUB_PCI_STUB, NULL, e);
}

static int bad_pci_unbind_interfaces(struct hd_manager *m, struct hd_error **e)
{
	return hd_prepare_pci_devices(m, &owner, one_id, 1, HD_UNBIND_INTERFACES, NULL, e);
}

static int bad_two_stubs(struct hd_manager *m, struct hd_error **e)
{
	return hd_prepare_pci_devices(m, &owner, one_id, 1, HD_STUB_PCI_STUB | HD_STUB_XEN_PCIBACK,
				      NULL, e);
}

static int bad_unmanaged_stub(struct hd_manager *m, struct hd_error **e)
{
	return hd_prepare_domain_devices(m, &owner, one_id, 1, NULL, 0,
					 HD_UNMANAGED | HD_STUB_XEN_PCIBACK, NULL, e);
}

static int bad_reattach_flags(struct hd_manager *m, struct hd_error **e)
{
	return hd_reattach_usb_devices(m, &owner, one_id, 1, HD_UNMANAGED, e);
}

static const struct hd_hostdev one_hostdev[] = { { NIC, true } };
static const struct hd_hostdev null_device[] = { { NIC, true }, { NULL, false } };
static const struct hd_hostdev empty_device[] = { { "", true } };

static int bad_hostdevs_null(struct hd_manager *m, struct hd_error **e)
{
	return hd_prepare_hostdevs(m, &owner, NULL, 2, 0, NULL, e);
}

static int bad_hostdev_null_device(struct hd_manager *m, struct hd_error **e)
{
	return hd_prepare_hostdevs(m, &owner, null_device, 2, 0, NULL, e);
}

static int bad_hostdev_empty_device(struct hd_manager *m, struct hd_error **e)
{
	return hd_prepare_hostdevs(m, &owner, empty_device, 1, 0, NULL, e);
}

static int bad_hostdevs_owner(struct hd_manager *m, struct hd_error **e)
{
	return hd_prepare_hostdevs(m, &no_driver, one_hostdev, 1, 0, NULL, e);
}

/* Managed is each entry's: a call-wide HD_UNMANAGED would contradict it. */
static int bad_hostdevs_unmanaged(struct hd_manager *m, struct hd_error **e)
{
	return hd_prepare_hostdevs(m, &owner, one_hostdev, 1, HD_UNMANAGED, NULL, e);
}

static int bad_hostdevs_unknown_flag(struct hd_manager *m, struct hd_error **e)
{
	return hd_prepare_hostdevs(m, &owner, one_hostdev, 1, 1u << 12, NULL, e);
}

static int bad_detach_id(struct hd_manager *m, struct hd_error **e)
{
	return hd_node_detach(m, NULL, NULL, e);
}

static int bad_reattach_id(struct hd_manager *m, struct hd_error **e)
{
	return hd_node_reattach(m, "", NULL, e);
}

static int bad_reset_owner(struct hd_manager *m, struct hd_error **e)
{
	return hd_node_reset(m, NIC, &no_domain, NULL, e);
}

static int bad_list_out(struct hd_manager *m, struct hd_error **e)
{
	return hd_list_active(m, NULL, NULL, NULL, e);
}

static int bad_no_manager(struct hd_manager *m, struct hd_error **e)
{
	struct hd_claim_list *list;

	return hd_list_active(NULL, NULL, NULL, &list, e);
}

static const struct bad_call bad_calls[] = {
	{ "owner", bad_no_owner },	   { "owner", bad_empty_domain },
	{ "owner", bad_no_driver },	   { "ids", bad_ids_null },
	{ "ids", bad_id_null },		   { "usb_ids", bad_usb_id_empty },
	{ "pci_ids", bad_pci_ids_null },   { "flags", bad_unknown_flag },
	{ "flags", bad_usb_whole_group },  { "flags", bad_usb_stub },
	{ "flags", bad_two_stubs },	   { "flags", bad_pci_unbind_interfaces },	   { "flags", bad_unmanaged_stub },
	{ "flags", bad_reattach_flags },   { "id", bad_detach_id },
	{ "id", bad_reattach_id },	   { "owner", bad_reset_owner },
	{ "out", bad_list_out },	   { "mgr", bad_no_manager },
	{ "devs", bad_hostdevs_null },	   { "devs", bad_hostdev_null_device },
	{ "devs", bad_hostdev_empty_device }, { "owner", bad_hostdevs_owner },
	{ "flags", bad_hostdevs_unmanaged }, { "flags", bad_hostdevs_unknown_flag },
};

/* Refused in the library: InvalidArgument naming the argument, nothing
 * sent; and the same negative errno when err is NULL. */
static void test_invalid_arguments(void **state)
{
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, NULL, 0);

	for (size_t i = 0; i < N(bad_calls); i++) {
		struct hd_error *err = NULL;
		int r = bad_calls[i].call(m, &err);

		assert_error(err, r, HD_ERROR_INVALID_ARGUMENT, EINVAL);
		if (strcmp(hd_error_parameter_string(err, "argument"), bad_calls[i].argument) != 0)
			fail_msg("bad_calls[%zu]: argument %s, expected %s (%s)", i,
				 hd_error_parameter_string(err, "argument"), bad_calls[i].argument,
				 hd_error_message(err));
		assert_non_null(strstr(hd_error_message(err), "; nothing was sent to hostdevd"));
		hd_error_free(err);
		assert_int_equal(bad_calls[i].call(m, NULL), -EINVAL);
	}
	CLOSE_NOTHING_SENT(m, f);
}

static void test_open_invalid(void **state)
{
	struct hd_error *err;

	assert_null(hd_manager_open(NULL, &err));
	assert_error(err, -EINVAL, HD_ERROR_INVALID_ARGUMENT, EINVAL);
	assert_string_equal(hd_error_parameter_string(err, "argument"), "socket_path");
	hd_error_free(err);
	assert_null(hd_manager_open("", NULL));
	hd_manager_free(NULL);
	assert_null(hd_manager_socket_path(NULL));
}

/* Every failure class with err NULL: the return value alone tells. */
static void test_null_err(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { ERROR("io.hostdevd.DeviceInUse", "{\"device\":\"" NIC "\"}") } },
		{ .replies = { DEVICE("1-2", "usb") } },
		{ .replies = { "{\"parameters\":{}}" } },
		{ .after = FAKE_CLOSE },
	};
	static const char *const ids[] = { NIC }, *const short_form[] = { "03:00.0" };
	struct fake_server *f;
	struct hd_manager *m = open_fake(&f, steps, N(steps));
	struct hd_claim_list *list;

	assert_int_equal(hd_prepare_pci_devices(m, &owner, ids, 1, 0, NULL, NULL), -EBUSY);
	assert_int_equal(hd_prepare_pci_devices(m, &owner, short_form, 1, 0, NULL, NULL), -EINVAL);
	assert_int_equal(hd_list_active(m, NULL, NULL, &list, NULL), -EPROTO);
	assert_int_equal(hd_node_detach(m, NIC, NULL, NULL), -ECONNRESET);
	hd_manager_free(m);
	fake_free(f);
}

/* ---- Threads ------------------------------------------------------------- */

#define THREADS 4
#define ROUNDS 25

static void *list_many(void *arg)
{
	struct hd_manager *m = arg;
	intptr_t failures = 0;

	for (int i = 0; i < ROUNDS; i++) {
		struct hd_claim_list *list;

		if (hd_list_active(m, NULL, NULL, &list, NULL) < 0 ||
		    hd_claim_list_count(list) != 1 ||
		    strcmp(hd_claim_device(hd_claim_list_at(list, 0)), NIC) != 0)
			failures++;
		hd_claim_list_free(list);
	}
	return (void *)failures;
}

/* One manager, several threads: every call gets its own reply whole. */
static void test_threads_share_manager(void **state)
{
	static struct fake_step steps[THREADS * ROUNDS];
	struct fake_server *f;
	struct hd_manager *m;
	pthread_t t[THREADS];

	for (size_t i = 0; i < N(steps); i++)
		steps[i] = (struct fake_step){ .replies = { CLAIMS(ENTRY(NIC, "true")) },
					       .bytewise = i % 2 == 0 };
	m = open_fake(&f, steps, N(steps));
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, list_many, m), 0);
	for (int i = 0; i < THREADS; i++) {
		void *failures;

		assert_int_equal(pthread_join(t[i], &failures), 0);
		assert_int_equal((intptr_t)failures, 0);
	}
	hd_manager_free(m);
	fake_stop(f);
	assert_int_equal(fake_n_calls(f), THREADS * ROUNDS);
	fake_free(f);
}

/* ---- The example program's own failures ---------------------------------- */

/* Runs hd-example with `args`; returns its exit status and what it wrote
 * to stderr (malloc'd). */
static int run_example(const char *const *args, char **err_text)
{
	const char *argv[16] = { HD_EXAMPLE_BIN };
	char path[] = "/tmp/hd-example-err-XXXXXX";
	posix_spawn_file_actions_t fa;
	int fd = mkstemp(path), status;
	size_t n = 1, cap = 0;
	pid_t pid;
	FILE *fp;

	assert_true(fd >= 0);
	for (; *args && n < 15; args++)
		argv[n++] = *args;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fd, 2);
	assert_int_equal(posix_spawn(&pid, HD_EXAMPLE_BIN, &fa, NULL, (char **)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	fp = fdopen(fd, "r");
	rewind(fp);
	*err_text = NULL;
	if (getdelim(err_text, &cap, '\0', fp) < 0) {
		free(*err_text);
		*err_text = strdup("");
	}
	fclose(fp);
	unlink(path);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

#define EXAMPLE_OWNER "{\"driver\":\"example\",\"domain\":\"vm1\"}"
#define EXAMPLE_ENTRY(dev, managed)                                                         \
	"{\"device\":\"" dev "\",\"owner\":" EXAMPLE_OWNER ",\"managed\":" managed          \
	",\"uid\":0,\"gid\":0,\"pid\":42,\"since\":\"2024-05-01T10:00:00Z\"}"

/* Listing fails after the prepare: the example says so, and still gives
 * the devices back.  Its prepare is one Claim, each device's managed from
 * --unmanaged or its own =managed; its reattach names the canonical ids
 * the Claim answered, each in its bus's list. */
static void test_example_list_fails(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { CLAIMS(EXAMPLE_ENTRY(NIC, "true") ","
				      EXAMPLE_ENTRY("0000:06:10.2", "false") ","
				      EXAMPLE_ENTRY("1-2.2", "false")) } },
		{ .replies = { ERROR("io.hostdevd.PermissionDenied", "{}") } },
		{ .replies = { "{\"parameters\":{\"released\":[\"" NIC "\"]}}" } },
	};
	struct fake_server *f = fake_start(steps, N(steps));
	char *err_text;

	assert_int_equal(run_example((const char *const[]){ "--no-wait", "--socket",
							    fake_socket_path(f), "vm1",
							    NIC "=managed", "0000:06:10.2", "--usb",
							    "usb:1.4", "--unmanaged", NULL },
				     &err_text),
			 1);
	assert_string_equal(err_text, "hd-example: listing the domain's devices: hostdevd refused "
				      "the claim listing: permission denied "
				      "(io.hostdevd.PermissionDenied)\n");
	free(err_text);
	fake_stop(f);
	assert_int_equal(fake_n_calls(f), N(steps));
	assert_string_equal(fake_call(f, 0),
			    "{\"method\":\"io.hostdevd.Claim\",\"parameters\":{\"owner\":"
			    EXAMPLE_OWNER ",\"hostdevs\":[{\"device\":\"" NIC "\",\"managed\":true},"
			    "{\"device\":\"0000:06:10.2\",\"managed\":false},"
			    "{\"device\":\"usb:1.4\",\"managed\":false}]}}");
	/* Canonical ids, from the claim list: released with no lookup. */
	assert_string_equal(fake_call(f, 2),
			    "{\"method\":\"io.hostdevd.Release\",\"parameters\":{\"owner\":"
			    EXAMPLE_OWNER ",\"devices\":[\"" NIC "\",\"0000:06:10.2\",\"1-2.2\"]}}");
	fake_free(f);
}

static void test_example_usage(void **state)
{
	static const char *const none[] = { NULL }, *const no_device[] = { "vm1", NULL };
	static const char *const bogus[] = { "--bogus", "vm1", NIC, NULL };
	static const char *const maybe[] = { "vm1", NIC "=maybe", NULL };
	static const char *const *const bad[] = { none, no_device, bogus, maybe };

	for (size_t i = 0; i < N(bad); i++) {
		char *err_text;

		assert_int_equal(run_example(bad[i], &err_text), 2);
		assert_non_null(strstr(err_text, "usage: hd-example "));
		free(err_text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_prepare_pci_request),
		cmocka_unit_test(test_prepare_flags_in_request),
		cmocka_unit_test(test_prepare_usb_request),
		cmocka_unit_test(test_prepare_domain_request),
		cmocka_unit_test(test_prepare_hostdevs_driver_request),
		cmocka_unit_test(test_prepare_hostdevs_request),
		cmocka_unit_test(test_zero_devices_send_nothing),
		cmocka_unit_test(test_reattach_requests),
		cmocka_unit_test(test_reattach_gone_device),
		cmocka_unit_test(test_bus_mismatch),
		cmocka_unit_test(test_node_requests),
		cmocka_unit_test(test_open_device),
		cmocka_unit_test(test_list_entry_fields),
		cmocka_unit_test(test_list_bus_and_time),
		cmocka_unit_test(test_list_filters),
		cmocka_unit_test(test_varlink_error_with_parameters),
		cmocka_unit_test(test_error_sentences),
		cmocka_unit_test(test_sentence_verbs),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_get_default_from_environment),
		cmocka_unit_test(test_timeout_then_reconnect),
		cmocka_unit_test(test_connection_lost_then_reconnect),
		cmocka_unit_test(test_reconnect_fails),
		cmocka_unit_test(test_reply_not_varlink),
		cmocka_unit_test(test_claims_reply_malformed),
		cmocka_unit_test(test_other_replies_malformed),
		cmocka_unit_test(test_invalid_arguments),
		cmocka_unit_test(test_open_invalid),
		cmocka_unit_test(test_null_err),
		cmocka_unit_test(test_threads_share_manager),
		cmocka_unit_test(test_example_list_fails),
		cmocka_unit_test(test_example_usage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
