/* The control socket, end to end: the real server on a temporary socket, a
 * device table of synthetic records, and clients on real sockets.
 *
 * Everything runs in one thread.  Clients are non-blocking sockets; while a
 * test waits for something (a reply, a client being dropped) it steps the
 * event loop with EVLOOP_ONCE until the condition holds or a deadline timer
 * ends the wait: no sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/log.h"
#include "common/util.h"
#include "common/varlink.h"
#include "daemon/devjson.h"
#include "daemon/dispatch.h"
#include "daemon/methods.h"
#include "daemon/server.h"
#include "daemon/watch.h"
#include "monitor/monitor.h"
#include "state/devtable.h"
#include "tests/unit/testdev.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#define DEADLINE_MS 5000
#define TEST_MAX_MESSAGE 4096
#define TEST_MAX_OUTBUF (64 * 1024)
/* Unread output above which a connection's calls wait. */
#define TEST_OUT_HIGH (16 * 1024)
/* Long enough that no test races it, unless the test is about it. */
#define TEST_DRAIN_MS 60000
#define TEST_SHORT_DRAIN_MS 300

struct fixture {
	char dir[64];
	char path[128];
	struct event_base *base;
	struct devtable *devices;
	struct methods_ctx ctx;
	struct dispatcher dispatcher;
	struct watch *watch;
	struct server *server;
};

struct client {
	int fd;
	char *buf; /* received, not yet consumed */
	size_t len, cap;
	bool eof;
	int err;
};

/* ---- synthetic devices ------------------------------------------------ */

/* Authorized and bound to its device driver, as a plugged-in device is. */
static struct device *usb_dev(const char *id, uint32_t vendor, uint32_t product, int devnum,
			      const char *parent)
{
	struct device *d = testdev_usb(id, vendor, product, devnum, parent);

	d->usb.authorized = true;
	d->driver = device_intern("usb");
	return d;
}

static void add(struct devtable *t, struct device *d)
{
	devtable_upsert(t, d, DEV_EVENT_ADD, NULL);
}

static struct device *nic(void)
{
	struct device *d = testdev_pci("0000:01:00.0", 0x8086, 0x10c9, 0x020000, 5, "igb",
				   "0000:00:1c.0");

	d->pci.revision = 0x01;
	d->pci.subsystem_vendor = 0x8086;
	d->pci.subsystem_device = 0xa03c;
	d->numa_node = 0;
	d->pci.sriov_totalvfs = 7;
	d->pci.sriov_numvfs = 2;
	d->pci.reset_methods = device_words("flr bus");
	d->pci.has_reset = true;
	return d;
}

/* Relations are indexed on upsert: set physfn before filing the VFs. */
static void add_vf(struct devtable *t, const char *id, int group)
{
	struct device *d = testdev_pci(id, 0x8086, 0x10ca, 0x020000, group, NULL, "0000:00:1c.0");

	d->pci.physfn = xstrdup("0000:01:00.0");
	add(t, d);
}

static void add_pci_devices(struct devtable *t)
{
	struct device *d;

	add(t, testdev_pci("0000:00:00.0", 0x8086, 0x29c0, 0x060000, 0, NULL, NULL));
	add(t, testdev_pci("0000:00:1c.0", 0x8086, 0x2940, 0x060400, 1, "pcieport", NULL));
	/* The second function and the VFs arrive before the PF, in reverse
	 * order: lists in a record are sorted whatever the order of arrival. */
	add_vf(t, "0000:01:10.2", 13);
	add_vf(t, "0000:01:10.0", 12);
	d = testdev_pci("0000:01:00.1", 0x8086, 0x10c9, 0x020000, 5, "vfio-pci", "0000:00:1c.0");
	d->pci.driver_override = xstrdup("vfio-pci");
	add(t, d);
	add(t, nic());
	d = testdev_pci("0000:00:02.0", 0x8086, 0x3e92, 0x030000, 2, "i915", NULL);
	d->pci.boot_vga = true;
	add(t, d);
	add(t, testdev_pci("0000:00:14.0", 0x8086, 0xa36d, 0x0c0330, 3, "xhci_hcd", NULL));
}

static struct device *keyboard_receiver(void)
{
	struct device *d = usb_dev("1-2", 0x046d, 0xc52b, 3, "usb1");

	d->usb.bcd_device = 0x1211;
	d->usb.manufacturer = xstrdup("Logitech");
	d->usb.product = xstrdup("USB Receiver");
	d->usb.speed = xstrdup("12");
	testdev_iface(d, "1-2:1.1", 0x03, 0x01, 0x02, "usbhid");
	testdev_iface(d, "1-2:1.0", 0x03, 0x01, 0x01, "usbhid");
	return d;
}

static struct device *usb_stick(const char *iface_driver)
{
	struct device *d = usb_dev("1-3", 0x0781, 0x5567, 4, "usb1");

	d->usb.serial = xstrdup("4C530001");
	d->usb.authorized = false;
	testdev_iface(d, "1-3:1.0", 0x08, 0x06, 0x50, iface_driver);
	return d;
}

static void add_usb_devices(struct devtable *t)
{
	struct device *d = usb_dev("usb1", 0x1d6b, 0x0002, 1, "0000:00:14.0");
	struct device *twin = usb_dev("1-10", 0x046d, 0xc52b, 9, "usb1");

	d->usb.root_hub = true;
	d->usb.device_class = 0x09;
	d->usb.bcd_device = 0x0601;
	d->usb.serial = xstrdup("0000:00:14.0");
	testdev_iface(d, "1-0:1.0", 0x09, 0x00, 0x00, "hub");
	add(t, d);
	add(t, twin);
	add(t, keyboard_receiver());
	add(t, usb_stick(NULL));
}

static void fill_devices(struct devtable *t)
{
	add_pci_devices(t);
	add_usb_devices(t);
}

/* ---- fixture ---------------------------------------------------------- */

/* The real method table, unless a test brings its own. */
static struct fixture *fixture_new_with(const struct server_config *tmpl,
					const struct method_def *methods, size_t n_methods)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct server_config cfg = *tmpl;

	strcpy(f->dir, "/tmp/hd-server-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/hostdevd.sock", f->dir);
	f->base = event_base_new();
	assert_non_null(f->base);
	f->devices = devtable_new();
	fill_devices(f->devices);
	f->watch = watch_new(f->devices, NULL, NULL);
	f->ctx = (struct methods_ctx){ .devices = f->devices, .watch = f->watch,
				       .start_ns = now_ns() };
	f->dispatcher = (struct dispatcher){ .methods = methods, .n_methods = n_methods,
					     .ctx = &f->ctx };
	if (!methods)
		f->dispatcher.methods = methods_table(&f->dispatcher.n_methods);
	cfg.socket_path = f->path;
	cfg.dispatch = dispatch_call;
	cfg.dispatch_ctx = &f->dispatcher;
	f->server = server_new(f->base, &cfg);
	watch_set_server(f->watch, f->server);
	devtable_subscribe(f->devices, watch_listener, f->watch);
	assert_int_equal(server_start(f->server), 0);
	return f;
}

static struct fixture *fixture_new(const struct server_config *tmpl)
{
	return fixture_new_with(tmpl, NULL, 0);
}

static void fixture_free(struct fixture *f)
{
	server_free(f->server);
	watch_free(f->watch);
	devtable_free(f->devices);
	event_base_free(f->base);
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
}

static const struct server_config test_config = {
	.max_message = TEST_MAX_MESSAGE,
	.max_outbuf = TEST_MAX_OUTBUF,
	.out_high = TEST_OUT_HIGH,
	.drain_timeout_ms = TEST_DRAIN_MS,
};

static const struct server_config short_drain_config = {
	.max_message = TEST_MAX_MESSAGE,
	.max_outbuf = TEST_MAX_OUTBUF,
	.out_high = TEST_OUT_HIGH,
	.drain_timeout_ms = TEST_SHORT_DRAIN_MS,
};

static int setup(void **state)
{
	*state = fixture_new(&test_config);
	return 0;
}

static int setup_short_drain(void **state)
{
	*state = fixture_new(&short_drain_config);
	return 0;
}

static int teardown(void **state)
{
	fixture_free(*state);
	return 0;
}

/* ---- stepping the loop ------------------------------------------------ */

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
}

static bool pump_until_base(struct event_base *base, bool (*cond)(void *), void *arg, int ms)
{
	bool expired = false, ok;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	struct event *deadline = evtimer_new(base, on_deadline, &expired);

	evtimer_add(deadline, &tv);
	while (!(ok = cond(arg)) && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(deadline);
	return ok;
}

static bool pump_until(struct fixture *f, bool (*cond)(void *), void *arg)
{
	return pump_until_base(f->base, cond, arg, DEADLINE_MS);
}

struct count_wait {
	struct fixture *f;
	size_t n;
};

static bool clients_are(void *arg)
{
	struct count_wait *w = arg;

	return server_client_count(w->f->server) == w->n;
}

static void wait_clients(struct fixture *f, size_t n)
{
	struct count_wait w = { f, n };

	if (!pump_until(f, clients_are, &w))
		fail_msg("expected %zu clients, the server has %zu", n,
			 server_client_count(f->server));
}

/* ---- clients ---------------------------------------------------------- */

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail_msg("connect %s: %s", path, strerror(errno));
	return fd;
}

static struct client *client_from_fd(int fd)
{
	struct client *c = xcalloc(1, sizeof(*c));

	c->fd = fd;
	return c;
}

/* Connects and waits until the server has accepted. */
static struct client *client_new(struct fixture *f)
{
	size_t before = server_client_count(f->server);
	struct client *c = client_from_fd(connect_to(f->path));

	wait_clients(f, before + 1);
	return c;
}

static void client_free(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
}

struct send_state {
	struct client *c;
	const char *data;
	size_t len, sent;
};

static bool send_some(void *arg)
{
	struct send_state *s = arg;

	while (s->sent < s->len) {
		ssize_t n = send(s->c->fd, s->data + s->sent, s->len - s->sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return false;
		if (n < 0)
			fail_msg("send: %s", strerror(errno));
		s->sent += (size_t)n;
	}
	return true;
}

/* Sends all of data, letting the server read whenever the socket is full. */
static void client_send_raw(struct fixture *f, struct client *c, const char *data, size_t len)
{
	struct send_state s = { c, data, len, 0 };

	if (!pump_until(f, send_some, &s))
		fail_msg("could not send %zu bytes (sent %zu)", len, s.sent);
}

static void client_send(struct fixture *f, struct client *c, const char *text)
{
	client_send_raw(f, c, text, strlen(text) + 1);
}

/* Reads whatever has arrived, without blocking. */
static void client_fill(struct client *c)
{
	while (!c->eof && !c->err) {
		ssize_t n;

		if (c->cap - c->len < 65536) {
			c->cap = c->cap ? c->cap * 2 : 131072;
			c->buf = xrealloc(c->buf, c->cap);
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (n > 0)
			c->len += (size_t)n;
		else if (n == 0)
			c->eof = true;
		else if (errno == EAGAIN)
			return;
		else if (errno != EINTR)
			c->err = errno;
	}
}

static bool client_has_message(void *arg)
{
	struct client *c = arg;

	client_fill(c);
	return memchr(c->buf, '\0', c->len) || c->eof || c->err;
}

/* The next reply, whole (error, parameters, continues). */
static json_object *client_recv(struct fixture *f, struct client *c)
{
	json_object *root;
	struct vl_reply reply;
	const char *reason;
	char *nul;
	size_t n;

	if (!pump_until(f, client_has_message, c))
		fail_msg("no reply within %d ms", DEADLINE_MS);
	nul = c->len ? memchr(c->buf, '\0', c->len) : NULL;
	if (!nul)
		fail_msg("connection ended (%s) before a reply", c->err ? strerror(c->err) : "EOF");
	n = (size_t)(nul - c->buf);
	if (vl_parse_reply(c->buf, n, &root, &reply, &reason) < 0)
		fail_msg("bad reply (%s): %.*s", reason, (int)n, c->buf);
	memmove(c->buf, nul + 1, c->len - n - 1);
	c->len -= n + 1;
	return root;
}

/* After its last reply the server hangs up. */
static void client_expect_end(struct fixture *f, struct client *c)
{
	if (!pump_until(f, client_has_message, c))
		fail_msg("the server did not hang up");
	assert_int_equal(c->len, 0);
	assert_true(c->eof || c->err == ECONNRESET);
}

static json_object *call(struct fixture *f, struct client *c, const char *text)
{
	client_send(f, c, text);
	return client_recv(f, c);
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no \"%s\" in %s", key, json_object_to_json_string(o));
	return v;
}

static bool has(json_object *o, const char *key)
{
	return json_object_object_get_ex(o, key, NULL);
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	assert_true(json_object_is_type(v, json_type_string));
	return json_object_get_string(v);
}

static int64_t get_int(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	assert_true(json_object_is_type(v, json_type_int));
	return json_object_get_int64(v);
}

/* A successful reply: its parameters, still owned by root. */
static json_object *params_ok(json_object *root)
{
	if (has(root, "error"))
		fail_msg("unexpected error reply %s", json_object_to_json_string(root));
	return get(root, "parameters");
}

/* An error reply naming `error`, whose parameter `key` (if given) is the
 * string `value`.  Consumes root. */
static void assert_error(json_object *root, const char *error, const char *key, const char *value)
{
	if (!has(root, "error") || strcmp(get_str(root, "error"), error) != 0)
		fail_msg("expected %s, got %s", error, json_object_to_json_string(root));
	if (key)
		assert_string_equal(get_str(get(root, "parameters"), key), value);
	json_object_put(root);
}

static void call_expect_error(struct fixture *f, struct client *c, const char *text,
			      const char *error, const char *key, const char *value)
{
	assert_error(call(f, c, text), error, key, value);
}

/* The ids of a ListDevices reply, comma-separated, for one comparison. */
static void assert_listed(struct fixture *f, struct client *c, const char *params,
			  const char *expected)
{
	char text[512], ids[1024] = "";
	json_object *root, *devs;

	snprintf(text, sizeof(text),
		 "{\"method\":\"io.hostdevd.ListDevices\",\"parameters\":%s}", params);
	root = call(f, c, text);
	devs = get(params_ok(root), "devices");
	for (size_t i = 0; i < json_object_array_length(devs); i++) {
		if (i)
			strcat(ids, ",");
		strcat(ids, get_str(json_object_array_get_idx(devs, i), "id"));
	}
	if (strcmp(ids, expected) != 0)
		fail_msg("ListDevices %s: got [%s], expected [%s]", params, ids, expected);
	json_object_put(root);
}

/* ---- service interface ------------------------------------------------ */

static void test_get_info(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);
	json_object *root = call(f, c, "{\"method\":\"org.varlink.service.GetInfo\"}");
	json_object *p = params_ok(root), *ifaces = get(p, "interfaces");

	assert_string_equal(get_str(p, "vendor"), "hostdevd");
	assert_string_equal(get_str(p, "product"), "hostdevd");
	assert_string_equal(get_str(p, "version"), HOSTDEVD_VERSION);
	assert_non_null(get_str(p, "url"));
	assert_int_equal(json_object_array_length(ifaces), 2);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(ifaces, 0)),
			    "org.varlink.service");
	assert_string_equal(json_object_get_string(json_object_array_get_idx(ifaces, 1)),
			    "io.hostdevd");
	assert_false(has(root, "continues"));
	json_object_put(root);
	client_free(c);
}

static void test_interface_description(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);
	json_object *root, *desc;

	root = call(f, c, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
			  "\"parameters\":{\"interface\":\"io.hostdevd\"}}");
	desc = get(params_ok(root), "description");
	assert_int_equal(json_object_get_string_len(desc), hostdevd_idl_len);
	assert_memory_equal(json_object_get_string(desc), hostdevd_idl, hostdevd_idl_len);
	json_object_put(root);

	root = call(f, c, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
			  "\"parameters\":{\"interface\":\"org.varlink.service\"}}");
	assert_non_null(strstr(get_str(params_ok(root), "description"),
			       "interface org.varlink.service\n"));
	assert_non_null(strstr(get_str(params_ok(root), "description"), "error ExpectedMore ()"));
	json_object_put(root);

	call_expect_error(f, c,
			  "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
			  "\"parameters\":{\"interface\":\"com.example.nope\"}}",
			  "org.varlink.service.InterfaceNotFound", "interface", "com.example.nope");
	call_expect_error(f, c, "{\"method\":\"org.varlink.service.GetInterfaceDescription\"}",
			  "org.varlink.service.InvalidParameter", "parameter", "interface");
	call_expect_error(f, c,
			  "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
			  "\"parameters\":{\"interface\":7}}",
			  "org.varlink.service.InvalidParameter", "parameter", "interface");
	client_free(c);
}

/* ---- ListDevices and GetDevice ---------------------------------------- */

static void test_list_devices_filters(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);

	assert_listed(f, c, "{}",
		      "0000:00:00.0,0000:00:02.0,0000:00:14.0,0000:00:1c.0,0000:01:00.0,"
		      "0000:01:00.1,0000:01:10.0,0000:01:10.2,1-10,1-2,1-3,usb1");
	assert_listed(f, c, "{\"bus\":\"usb\"}", "1-10,1-2,1-3,usb1");
	assert_listed(f, c, "{\"bus\":\"pci\",\"driver\":\"igb\"}", "0000:01:00.0");
	assert_listed(f, c, "{\"driver\":\"usb\"}", "1-10,1-2,1-3,usb1");
	assert_listed(f, c, "{\"iommu_group\":5}", "0000:01:00.0,0000:01:00.1");
	assert_listed(f, c, "{\"iommu_group\":0}", "0000:00:00.0");
	assert_listed(f, c, "{\"iommu_group\":99}", "");
	assert_listed(f, c, "{\"state\":\"detached\"}", "0000:01:00.1");
	assert_listed(f, c, "{\"state\":\"detached\",\"bus\":\"usb\"}", "");
	assert_listed(f, c, "{\"iommu_group\":null,\"driver\":null}",
		      "0000:00:00.0,0000:00:02.0,0000:00:14.0,0000:00:1c.0,0000:01:00.0,"
		      "0000:01:00.1,0000:01:10.0,0000:01:10.2,1-10,1-2,1-3,usb1");
	client_free(c);
}

static void test_list_devices_bad_parameters(void **state)
{
	static const struct {
		const char *params, *bad;
	} cases[] = {
		{ "{\"bus\":\"scsi\"}", "bus" },
		{ "{\"bus\":1}", "bus" },
		{ "{\"state\":\"gone\"}", "state" },
		{ "{\"state\":true}", "state" },
		{ "{\"iommu_group\":-1}", "iommu_group" },
		{ "{\"iommu_group\":\"5\"}", "iommu_group" },
		{ "{\"iommu_group\":5.0}", "iommu_group" },
		{ "{\"iommu_group\":99999999999999999999999}", "iommu_group" },
		{ "{\"iommu_group\":2147483648}", "iommu_group" },
		{ "{\"driver\":[\"igb\"]}", "driver" },
		{ "{\"buss\":\"pci\"}", "buss" },
	};
	struct fixture *f = *state;
	struct client *c = client_new(f);
	char text[256];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(text, sizeof(text),
			 "{\"method\":\"io.hostdevd.ListDevices\",\"parameters\":%s}",
			 cases[i].params);
		call_expect_error(f, c, text, "org.varlink.service.InvalidParameter", "parameter",
				  cases[i].bad);
	}
	client_free(c);
}

static void assert_device_json(json_object *root, const char *expected_text)
{
	json_object *expected = json_tokener_parse(expected_text);
	json_object *dev = get(params_ok(root), "device");

	assert_non_null(expected);
	if (!json_object_equal(dev, expected))
		fail_msg("device\n  got      %s\n  expected %s",
			 json_object_to_json_string_ext(dev, JSON_C_TO_STRING_NOSLASHESCAPE),
			 json_object_to_json_string_ext(expected, JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(expected);
	json_object_put(root);
}

static void test_device_records(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);

	assert_device_json(
		call(f, c, "{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":"
			   "{\"device\":\"0000:01:00.0\"}}"),
		"{\"bus\":\"pci\",\"id\":\"0000:01:00.0\","
		"\"syspath\":\"/sys/devices/pci0000:00/0000:01:00.0\",\"state\":\"host\","
		"\"vendor\":\"8086\",\"product\":\"10c9\",\"driver\":\"igb\","
		"\"parent\":\"0000:00:1c.0\",\"children\":[],\"numa_node\":0,"
		"\"pci\":{\"subsystem_vendor\":\"8086\",\"subsystem_device\":\"a03c\","
		"\"class\":\"020000\",\"revision\":\"01\",\"iommu_group\":5,"
		"\"iommu_group_members\":[\"0000:01:00.0\",\"0000:01:00.1\"],"
		"\"virtfns\":[\"0000:01:10.0\",\"0000:01:10.2\"],\"sriov_totalvfs\":7,"
		"\"sriov_numvfs\":2,\"reset_methods\":[\"flr\",\"bus\"],\"resettable\":true,"
		"\"boot_vga\":false,\"bridge\":false}}");
	assert_device_json(
		call(f, c, "{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":"
			   "{\"device\":\"0000:01:10.2\"}}"),
		"{\"bus\":\"pci\",\"id\":\"0000:01:10.2\","
		"\"syspath\":\"/sys/devices/pci0000:00/0000:01:10.2\",\"state\":\"host\","
		"\"vendor\":\"8086\",\"product\":\"10ca\",\"parent\":\"0000:00:1c.0\","
		"\"children\":[],\"pci\":{\"subsystem_vendor\":\"0000\","
		"\"subsystem_device\":\"0000\",\"class\":\"020000\",\"revision\":\"00\","
		"\"iommu_group\":13,\"iommu_group_members\":[\"0000:01:10.2\"],"
		"\"physfn\":\"0000:01:00.0\",\"virtfns\":[],\"reset_methods\":[],"
		"\"resettable\":false,\"boot_vga\":false,\"bridge\":false}}");
	assert_device_json(
		call(f, c, "{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":"
			   "{\"device\":\"1-2\"}}"),
		"{\"bus\":\"usb\",\"id\":\"1-2\","
		"\"syspath\":\"/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2\",\"state\":\"host\","
		"\"vendor\":\"046d\",\"product\":\"c52b\",\"driver\":\"usb\",\"parent\":\"usb1\","
		"\"children\":[],\"usb\":{\"busnum\":1,\"devnum\":3,\"device_class\":\"00\","
		"\"bcd_device\":\"1211\",\"manufacturer\":\"Logitech\","
		"\"product_name\":\"USB Receiver\",\"speed\":\"12\",\"authorized\":true,"
		"\"root_hub\":false,\"interfaces\":["
		"{\"id\":\"1-2:1.0\",\"class\":\"03\",\"subclass\":\"01\",\"protocol\":\"01\","
		"\"driver\":\"usbhid\"},"
		"{\"id\":\"1-2:1.1\",\"class\":\"03\",\"subclass\":\"01\",\"protocol\":\"02\","
		"\"driver\":\"usbhid\"}]}}");
	client_free(c);
}

static void expect_relation(struct fixture *f, struct client *c, const char *dev,
			    const char *section, const char *key, const char *expected)
{
	char text[256];
	json_object *root, *o, *arr;
	const char *got;

	snprintf(text, sizeof(text),
		 "{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":{\"device\":\"%s\"}}", dev);
	root = call(f, c, text);
	o = get(params_ok(root), "device");
	if (section)
		o = get(o, section);
	arr = get(o, key);
	got = json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN);
	if (strcmp(got, expected) != 0)
		fail_msg("%s %s: got %s, expected %s", dev, key, got, expected);
	json_object_put(root);
}

static void test_device_relations(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);

	expect_relation(f, c, "usb1", NULL, "children", "[\"1-10\",\"1-2\",\"1-3\"]");
	expect_relation(f, c, "0000:00:14.0", NULL, "children", "[\"usb1\"]");
	expect_relation(f, c, "0000:00:1c.0", NULL, "children",
			"[\"0000:01:00.0\",\"0000:01:00.1\",\"0000:01:10.0\",\"0000:01:10.2\"]");
	expect_relation(f, c, "0000:00:1c.0", "pci", "bridge", "true");
	expect_relation(f, c, "0000:00:00.0", "pci", "bridge", "true");
	expect_relation(f, c, "0000:00:02.0", "pci", "boot_vga", "true");
	expect_relation(f, c, "0000:01:00.1", "pci", "driver_override", "\"vfio-pci\"");
	expect_relation(f, c, "0000:01:00.1", NULL, "state", "\"detached\"");
	expect_relation(f, c, "usb1", "usb", "root_hub", "true");
	expect_relation(f, c, "1-3", "usb", "authorized", "false");
	expect_relation(f, c, "1-3", "usb", "interfaces",
			"[{\"id\":\"1-3:1.0\",\"class\":\"08\",\"subclass\":\"06\","
			"\"protocol\":\"50\"}]");
	client_free(c);
}

/* Values wider than the schema's digits are shown whole, never cut. */
static void test_devjson_wide_values(void **state)
{
	struct fixture *f = *state;
	struct device *d = testdev_pci("0000:02:00.0", 0x1ffff, 0xabcd, 0x1234567, HD_NO_GROUP, NULL,
				   NULL);
	json_object *o, *pci;

	d->pci.revision = 0x1ff;
	d->numa_node = -2;
	o = devjson_device(f->devices, NULL, NULL, d);
	assert_int_equal(get_int(o, "numa_node"), -2);
	json_object_put(o);
	d->numa_node = HD_NO_NUMA;
	o = devjson_device(f->devices, NULL, NULL, d);
	pci = get(o, "pci");
	assert_string_equal(get_str(o, "vendor"), "1ffff");
	assert_string_equal(get_str(o, "product"), "abcd");
	assert_string_equal(get_str(pci, "class"), "1234567");
	assert_string_equal(get_str(pci, "revision"), "1ff");
	assert_false(has(pci, "iommu_group"));
	assert_int_equal(json_object_array_length(get(pci, "iommu_group_members")), 0);
	assert_false(has(o, "numa_node"));
	assert_false(has(o, "driver"));
	assert_false(has(o, "usb"));
	json_object_put(o);
	free(d->syspath);
	d->syspath = NULL;
	o = devjson_device(f->devices, NULL, NULL, d);
	assert_string_equal(get_str(o, "syspath"), "");
	json_object_put(o);
	device_free(d);
}

static void test_devjson_ints(void **state)
{
	static const int64_t values[] = { 0, 7, -1, 1234567890123LL, INT64_MAX, INT64_MIN };
	char expected[32];

	for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
		struct jsonbuf b = { 0 };

		jsonbuf_int(&b, values[i]);
		jsonbuf_add(&b, "", 1);
		snprintf(expected, sizeof(expected), "%lld", (long long)values[i]);
		assert_string_equal(b.data, expected);
		free(b.data);
	}
}

/* Strings from the kernel are escaped as JSON needs and read back intact. */
static void test_devjson_escaping(void **state)
{
	static const char odd[] = "A \"quoted\" \\ back\nslash\x01\x1f\t\x7f \xc3\xbcn\xc3\xaf / end";
	struct fixture *f = *state;
	struct device *d = usb_dev("4-1", 0x1234, 0x5678, 2, "usb4");
	json_object *o, *ev;

	d->usb.manufacturer = xstrdup(odd);
	d->usb.serial = xstrdup("");
	o = devjson_device(f->devices, NULL, NULL, d);
	assert_string_equal(get_str(get(o, "usb"), "manufacturer"), odd);
	assert_string_equal(get_str(get(o, "usb"), "serial"), "");
	json_object_put(o);
	ev = devjson_event(f->devices, NULL, NULL, DEV_EVENT_CHANGE, d, "4-1:1.0");
	assert_string_equal(get_str(ev, "event"), "change");
	assert_string_equal(get_str(ev, "interface"), "4-1:1.0");
	assert_string_equal(get_str(get(get(ev, "device"), "usb"), "manufacturer"), odd);
	json_object_put(ev);
	device_free(d);
}

/* Long relation lists leave the stack buffer and stay sorted. */
static void test_devjson_many_children(void **state)
{
	struct fixture *f = *state;
	json_object *o, *kids;
	char id[32];

	for (int i = 99; i >= 0; i--) {
		snprintf(id, sizeof(id), "3-%d", i + 1);
		add(f->devices, usb_dev(id, 0x1234, 0x0001, i + 2, "usb1"));
	}
	o = devjson_device(f->devices, NULL, NULL, devtable_get(f->devices, "usb1"));
	kids = get(o, "children");
	assert_int_equal(json_object_array_length(kids), 103);
	for (size_t i = 1; i < json_object_array_length(kids); i++)
		assert_true(strcmp(json_object_get_string(json_object_array_get_idx(kids, i - 1)),
				   json_object_get_string(json_object_array_get_idx(kids, i))) < 0);
	json_object_put(o);
}

static void get_device_expect(struct fixture *f, struct client *c, const char *sel,
			      const char *id)
{
	char text[256];
	json_object *root;

	snprintf(text, sizeof(text),
		 "{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":{\"device\":\"%s\"}}", sel);
	root = call(f, c, text);
	assert_string_equal(get_str(get(params_ok(root), "device"), "id"), id);
	json_object_put(root);
}

static void test_get_device_selectors(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);

	get_device_expect(f, c, "0000:00:02.0", "0000:00:02.0");
	get_device_expect(f, c, "0000:00:1C.0", "0000:00:1c.0");
	get_device_expect(f, c, "1-2", "1-2");
	get_device_expect(f, c, "usb1", "usb1");
	get_device_expect(f, c, "id:0781:5567", "1-3");
	get_device_expect(f, c, "id:0781:5567:4C530001", "1-3");
	get_device_expect(f, c, "usb:1.9", "1-10");
	client_free(c);
}

static void test_get_device_errors(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);
	json_object *root, *matches;

	call_expect_error(f, c,
			  "{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":"
			  "{\"device\":\"0000:09:00.0\"}}",
			  "io.hostdevd.DeviceNotFound", "device", "0000:09:00.0");
	call_expect_error(f, c,
			  "{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":"
			  "{\"device\":\"id:0781:5567:nope\"}}",
			  "io.hostdevd.DeviceNotFound", "device", "id:0781:5567:nope");
	call_expect_error(f, c,
			  "{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":"
			  "{\"device\":\"usb:4.4\"}}",
			  "io.hostdevd.DeviceNotFound", "device", "usb:4.4");
	root = call(f, c, "{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":"
			  "{\"device\":\"id:046d:c52b\"}}");
	matches = get(get(root, "parameters"), "matches");
	assert_string_equal(json_object_to_json_string_ext(matches, JSON_C_TO_STRING_PLAIN),
			    "[\"1-10\",\"1-2\"]");
	assert_error(root, "io.hostdevd.AmbiguousDevice", "device", "id:046d:c52b");
	call_expect_error(f, c,
			  "{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":"
			  "{\"device\":\"not a device\"}}",
			  "org.varlink.service.InvalidParameter", "parameter", "device");
	call_expect_error(f, c, "{\"method\":\"io.hostdevd.GetDevice\"}",
			  "org.varlink.service.InvalidParameter", "parameter", "device");
	call_expect_error(f, c,
			  "{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":{\"device\":null}}",
			  "org.varlink.service.InvalidParameter", "parameter", "device");
	call_expect_error(f, c,
			  "{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":{\"device\":12}}",
			  "org.varlink.service.InvalidParameter", "parameter", "device");
	client_free(c);
}

/* ---- GetStatus -------------------------------------------------------- */

static void check_status(struct fixture *f, struct client *c, const char *source)
{
	json_object *root = call(f, c, "{\"method\":\"io.hostdevd.GetStatus\"}");
	json_object *p = params_ok(root), *counts = get(p, "devices");

	assert_string_equal(get_str(p, "version"), HOSTDEVD_VERSION);
	assert_true(json_object_is_type(get(p, "uptime_seconds"), json_type_double));
	assert_true(json_object_get_double(get(p, "uptime_seconds")) >= 0);
	assert_int_equal(get_int(counts, "total"), 12);
	assert_int_equal(get_int(counts, "pci"), 8);
	assert_int_equal(get_int(counts, "usb"), 4);
	assert_int_equal(get_int(counts, "host"), 11);
	assert_int_equal(get_int(counts, "detached"), 1);
	assert_string_equal(get_str(p, "event_source"), source);
	assert_int_equal(get_int(p, "events_received"), 0);
	assert_int_equal(get_int(p, "overflows"), 0);
	assert_int_equal(get_int(p, "resyncs"), 0);
	assert_int_equal(get_int(p, "sequence"), (int64_t)watch_sequence(f->watch));
	assert_int_equal(get_int(p, "clients"), 1);
	assert_int_equal(get_int(p, "watchers"), 0);
	assert_string_equal(get_str(p, "log_level"), log_level_name(log_current_level));
	json_object_put(root);
}

static void test_get_status(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);

	check_status(f, c, "none");
	/* A monitor not started yet has read nothing and picked no source. */
	f->ctx.monitor = monitor_new(f->base, f->devices, MONITOR_SOURCE_KERNEL, NULL);
	check_status(f, c, "auto");
	monitor_free(f->ctx.monitor);
	f->ctx.monitor = NULL;
	call_expect_error(f, c, "{\"method\":\"io.hostdevd.GetStatus\",\"parameters\":{\"x\":1}}",
			  "org.varlink.service.InvalidParameter", "parameter", "x");
	client_free(c);
}

/* ---- bad requests ----------------------------------------------------- */

static void test_invalid_request_keeps_connection(void **state)
{
	static const char *const bad[] = {
		"{\"method\":", "not json", "[\"io.hostdevd.GetStatus\"]", "{\"parameters\":{}}",
		"{\"method\":\"io.hostdevd.GetStatus\",\"more\":1}", "",
	};
	struct fixture *f = *state;
	struct client *c = client_new(f);
	json_object *root;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		root = call(f, c, bad[i]);
		assert_true(strlen(get_str(get(root, "parameters"), "reason")) > 0);
		assert_error(root, "io.hostdevd.InvalidRequest", NULL, NULL);
	}
	root = call(f, c, "{\"method\":\"org.varlink.service.GetInfo\"}");
	assert_string_equal(get_str(params_ok(root), "vendor"), "hostdevd");
	json_object_put(root);
	assert_int_equal(server_client_count(f->server), 1);
	client_free(c);
}

static void test_unknown_methods(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);

	call_expect_error(f, c, "{\"method\":\"io.hostdevd.Nope\"}",
			  "org.varlink.service.MethodNotFound", "method", "io.hostdevd.Nope");
	call_expect_error(f, c, "{\"method\":\"org.varlink.service.Nope\"}",
			  "org.varlink.service.MethodNotFound", "method",
			  "org.varlink.service.Nope");
	call_expect_error(f, c, "{\"method\":\"com.example.Foo\"}",
			  "org.varlink.service.InterfaceNotFound", "interface", "com.example");
	call_expect_error(f, c, "{\"method\":\"io.hostdevd.extra.ListDevices\"}",
			  "org.varlink.service.InterfaceNotFound", "interface",
			  "io.hostdevd.extra");
	call_expect_error(f, c, "{\"method\":\"GetInfo\"}", "io.hostdevd.InvalidRequest", NULL,
			  NULL);
	call_expect_error(f, c, "{\"method\":\"io.hostdevd.\"}", "io.hostdevd.InvalidRequest",
			  NULL, NULL);
	call_expect_error(f, c, "{\"method\":\".GetInfo\"}", "io.hostdevd.InvalidRequest", NULL,
			  NULL);
	call_expect_error(f, c, "{\"method\":\"io.hostdevd.GetStatus\",\"upgrade\":true}",
			  "org.varlink.service.InvalidParameter", "parameter", "upgrade");
	client_free(c);
}

static void test_oneway(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);
	json_object *root;

	/* Neither a reply nor an error comes back for a oneway call. */
	client_send(f, c, "{\"method\":\"org.varlink.service.GetInfo\",\"oneway\":true}");
	client_send(f, c, "{\"method\":\"io.hostdevd.Nope\",\"oneway\":true}");
	client_send(f, c, "{\"method\":\"io.hostdevd.Watch\",\"more\":true,\"oneway\":true}");
	root = call(f, c, "{\"method\":\"io.hostdevd.GetStatus\"}");
	assert_int_equal(get_int(params_ok(root), "watchers"), 0);
	json_object_put(root);
	client_free(c);
}

/* Calls sent together, or a byte at a time, are answered in order. */
static void test_pipelined_and_split(void **state)
{
	static const char calls[] = "{\"method\":\"org.varlink.service.GetInfo\"}\0"
				    "garbage\0"
				    "{\"method\":\"io.hostdevd.GetStatus\"}";
	struct fixture *f = *state;
	struct client *c = client_new(f);
	const char *text = "{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":"
			   "{\"device\":\"1-3\"}}";
	json_object *root;

	client_send_raw(f, c, calls, sizeof(calls));
	root = client_recv(f, c);
	assert_string_equal(get_str(params_ok(root), "vendor"), "hostdevd");
	json_object_put(root);
	assert_error(client_recv(f, c), "io.hostdevd.InvalidRequest", NULL, NULL);
	root = client_recv(f, c);
	assert_int_equal(get_int(params_ok(root), "clients"), 1);
	json_object_put(root);

	for (size_t i = 0; i <= strlen(text); i++) {
		client_send_raw(f, c, text + i, 1);
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	}
	root = client_recv(f, c);
	assert_string_equal(get_str(get(params_ok(root), "device"), "id"), "1-3");
	json_object_put(root);
	client_free(c);
}

static char *padded_call(size_t total)
{
	static const char head[] = "{\"method\":\"io.hostdevd.GetStatus\",\"parameters\":{\"pad\":\"";
	static const char tail[] = "\"}}";
	char *text = xcalloc(1, total + 1);

	memcpy(text, head, sizeof(head) - 1);
	memset(text + sizeof(head) - 1, 'x', total - (sizeof(head) - 1) - (sizeof(tail) - 1));
	memcpy(text + total - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
	return text;
}

static void expect_too_large(json_object *root)
{
	assert_int_equal(get_int(get(root, "parameters"), "limit"), TEST_MAX_MESSAGE);
	assert_error(root, "io.hostdevd.RequestTooLarge", NULL, NULL);
}

static void test_message_size_limit(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);
	_cleanup_free_ char *exact = padded_call(TEST_MAX_MESSAGE);
	_cleanup_free_ char *over = padded_call(TEST_MAX_MESSAGE + 1);

	/* At the limit a message is read (and its unknown parameter refused). */
	call_expect_error(f, c, exact, "org.varlink.service.InvalidParameter", "parameter", "pad");
	/* One byte over, and the connection is closed after the error. */
	client_send(f, c, over);
	expect_too_large(client_recv(f, c));
	client_expect_end(f, c);
	client_free(c);
	wait_clients(f, 0);
}

/* Bytes without a NUL: refused as soon as they exceed the limit; what the
 * client sends afterwards is read and dropped until it hangs up. */
static void test_unterminated_flood(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);
	_cleanup_free_ char *junk = xcalloc(1, TEST_MAX_MESSAGE + 100);

	memset(junk, 'x', TEST_MAX_MESSAGE + 100);
	client_send_raw(f, c, junk, TEST_MAX_MESSAGE + 100);
	expect_too_large(client_recv(f, c));
	client_send_raw(f, c, junk, 1000);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	client_expect_end(f, c);
	/* The drain timeout is a minute away: only the hang-up closes it. */
	assert_int_equal(server_client_count(f->server), 1);
	client_free(c);
	wait_clients(f, 0);
}

/* A client that neither reads its last reply nor hangs up is closed after
 * the drain timeout. */
static void test_drain_timeout(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);
	_cleanup_free_ char *junk = xcalloc(1, TEST_MAX_MESSAGE + 1);

	memset(junk, 'x', TEST_MAX_MESSAGE + 1);
	client_send_raw(f, c, junk, TEST_MAX_MESSAGE + 1);
	wait_clients(f, 0);
	expect_too_large(client_recv(f, c));
	client_free(c);
}

/* ---- connection ends -------------------------------------------------- */

/* A client may send its call and shut its side: the reply still comes. */
static void test_half_close(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);
	json_object *root;

	client_send(f, c, "{\"method\":\"io.hostdevd.GetDevice\",\"parameters\":{\"device\":\"1-2\"}}");
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	root = client_recv(f, c);
	assert_string_equal(get_str(get(params_ok(root), "device"), "id"), "1-2");
	json_object_put(root);
	client_expect_end(f, c);
	wait_clients(f, 0);
	client_free(c);
}

/* Many replies are still unsent when the client shuts its side: they all
 * arrive, then the end. */
static void test_half_close_with_backlog(void **state)
{
	struct server_config cfg = test_config;
	struct fixture *f;
	struct client *c;
	json_object *root;
	int n = 0;

	cfg.max_outbuf = 16 * 1024 * 1024;
	f = fixture_new(&cfg);
	c = client_new(f);
	for (int i = 0; i < 200; i++)
		client_send(f, c, "{\"method\":\"io.hostdevd.ListDevices\"}");
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	for (; n < 200; n++) {
		root = client_recv(f, c);
		assert_int_equal(json_object_array_length(get(params_ok(root), "devices")), 12);
		json_object_put(root);
	}
	client_expect_end(f, c);
	wait_clients(f, 0);
	client_free(c);
	fixture_free(f);
	server_free(NULL);
}

static bool has_unread(void *arg)
{
	char b;

	return recv(*(int *)arg, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
}

/* A client that leaves before its reply is written, or without reading it,
 * is forgotten. */
static void test_client_vanishes(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);

	/* The reply meets a closed socket. */
	client_send(f, c, "{\"method\":\"io.hostdevd.ListDevices\"}");
	close(c->fd);
	c->fd = -1;
	wait_clients(f, 0);
	client_free(c);

	/* The reply is written but never read: the close resets the server's
	 * side of the connection. */
	c = client_new(f);
	client_send(f, c, "{\"method\":\"io.hostdevd.ListDevices\"}");
	assert_true(pump_until(f, has_unread, &c->fd));
	close(c->fd);
	c->fd = -1;
	wait_clients(f, 0);
	client_free(c);
}

/* ---- Watch ------------------------------------------------------------ */

static uint64_t start_watch(struct fixture *f, struct client *c)
{
	json_object *root = call(f, c, "{\"method\":\"io.hostdevd.Watch\",\"more\":true}");
	json_object *p = params_ok(root);
	uint64_t seq = (uint64_t)get_int(p, "sequence");

	assert_true(json_object_get_boolean(get(root, "continues")));
	assert_false(has(p, "event"));
	json_object_put(root);
	return seq;
}

/* The next streamed event: its sequence, kind and device id. */
static void expect_event(struct fixture *f, struct client *c, uint64_t seq, const char *event,
			 const char *id, const char *iface)
{
	json_object *root = client_recv(f, c);
	json_object *p = params_ok(root), *ev = get(p, "event");

	assert_true(json_object_get_boolean(get(root, "continues")));
	assert_int_equal(get_int(p, "sequence"), (int64_t)seq);
	assert_string_equal(get_str(ev, "event"), event);
	assert_string_equal(get_str(ev, "id"), id);
	assert_string_equal(get_str(get(ev, "device"), "id"), id);
	if (iface)
		assert_string_equal(get_str(ev, "interface"), iface);
	else
		assert_false(has(ev, "interface"));
	json_object_put(root);
}

static void test_watch_stream(void **state)
{
	struct fixture *f = *state;
	struct client *w = client_new(f), *other = client_new(f);
	uint64_t seq = start_watch(f, w);
	json_object *root;

	assert_int_equal(seq, watch_sequence(f->watch));
	assert_int_equal(server_watcher_count(f->server), 1);
	add(f->devices, usb_dev("1-4", 0x0bda, 0x8153, 6, "usb1"));
	expect_event(f, w, seq + 1, "add", "1-4", NULL);
	devtable_upsert(f->devices, usb_stick("usb-storage"), DEV_EVENT_BIND, "1-3:1.0");
	expect_event(f, w, seq + 2, "bind", "1-3", "1-3:1.0");
	assert_true(devtable_remove(f->devices, "1-4"));
	expect_event(f, w, seq + 3, "remove", "1-4", NULL);
	watch_resync(f->watch);
	root = client_recv(f, w);
	assert_int_equal(get_int(params_ok(root), "sequence"), (int64_t)seq + 4);
	assert_true(json_object_get_boolean(get(params_ok(root), "resync")));
	assert_false(has(params_ok(root), "event"));
	json_object_put(root);

	/* Other clients are served meanwhile and see the watcher counted. */
	root = call(f, other, "{\"method\":\"io.hostdevd.GetStatus\"}");
	assert_int_equal(get_int(params_ok(root), "watchers"), 1);
	assert_int_equal(get_int(params_ok(root), "sequence"), (int64_t)seq + 4);
	json_object_put(root);
	client_free(other);
	client_free(w);
	wait_clients(f, 0);
	assert_int_equal(server_watcher_count(f->server), 0);
}

/* The stream owns the connection: a further call on it is held, and does
 * not get between events. */
static void test_watch_holds_further_calls(void **state)
{
	struct fixture *f = *state;
	struct client *w = client_new(f);
	uint64_t seq = start_watch(f, w);
	_cleanup_free_ char *big = padded_call(TEST_MAX_MESSAGE);

	client_send(f, w, "{\"method\":\"org.varlink.service.GetInfo\"}");
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	add(f->devices, usb_dev("1-5", 0x0bda, 0x8153, 7, "usb1"));
	expect_event(f, w, seq + 1, "add", "1-5", NULL);
	/* Held input is bounded like any message. */
	client_send(f, w, big);
	expect_too_large(client_recv(f, w));
	client_expect_end(f, w);
	client_free(w);
	wait_clients(f, 0);
	assert_int_equal(server_watcher_count(f->server), 0);
}

static void test_watch_needs_more(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f);

	call_expect_error(f, c, "{\"method\":\"io.hostdevd.Watch\"}",
			  "org.varlink.service.ExpectedMore", NULL, NULL);
	call_expect_error(f, c, "{\"method\":\"io.hostdevd.Watch\",\"more\":false}",
			  "org.varlink.service.ExpectedMore", NULL, NULL);
	assert_int_equal(server_watcher_count(f->server), 0);
	call_expect_error(f, c,
			  "{\"method\":\"io.hostdevd.Watch\",\"more\":true,\"parameters\":{\"a\":1}}",
			  "org.varlink.service.InvalidParameter", "parameter", "a");
	assert_int_equal(server_watcher_count(f->server), 0);
	client_free(c);
}

/* Events nobody watches still take a sequence number. */
static void test_sequence_without_watchers(void **state)
{
	struct fixture *f = *state;
	uint64_t before = watch_sequence(f->watch);
	struct client *w;

	add(f->devices, usb_dev("1-6", 0x0bda, 0x8153, 8, "usb1"));
	watch_resync(f->watch);
	assert_int_equal(watch_sequence(f->watch), before + 2);
	w = client_new(f);
	assert_int_equal(start_watch(f, w), before + 2);
	client_free(w);
}

/* ---- slow and silent clients ------------------------------------------ */

/* Broadcasts events until the server has fewer watchers than `watchers`;
 * each of the NULL-terminated `readers` reads every event as it comes.
 * Returns the last sequence sent. */
static uint64_t flood_until_dropped(struct fixture *f, struct client **readers, size_t watchers)
{
	const struct device *dev = devtable_get(f->devices, "0000:01:00.0");
	uint64_t seq = watch_sequence(f->watch);

	for (int i = 0; server_watcher_count(f->server) >= watchers; i++) {
		if (i > 100000)
			fail_msg("no watcher was ever found too slow");
		watch_device_event(f->watch, DEV_EVENT_CHANGE, dev, NULL);
		seq++;
		for (struct client **r = readers; r && *r; r++)
			expect_event(f, *r, seq, "change", "0000:01:00.0", NULL);
	}
	return seq;
}

/* Reads events first+1, first+2... until WatcherTooSlow, which must name the
 * last one read; returns it. */
static uint64_t read_until_too_slow(struct fixture *f, struct client *c, uint64_t first)
{
	json_object *root;
	uint64_t s;

	for (s = first + 1;; s++) {
		root = client_recv(f, c);
		if (has(root, "error"))
			break;
		assert_int_equal(get_int(params_ok(root), "sequence"), (int64_t)s);
		json_object_put(root);
	}
	assert_int_equal(get_int(get(root, "parameters"), "sequence"), (int64_t)s - 1);
	assert_error(root, "io.hostdevd.WatcherTooSlow", NULL, NULL);
	return s - 1;
}

static void test_slow_watcher(void **state)
{
	struct fixture *f = *state;
	struct client *slow = client_new(f);
	struct client *fast[3] = { client_new(f), client_new(f), NULL };
	uint64_t first = start_watch(f, fast[0]), last, got;
	json_object *root;

	/* In the middle of the server's list of watchers. */
	assert_int_equal(start_watch(f, slow), first);
	assert_int_equal(start_watch(f, fast[1]), first);
	last = flood_until_dropped(f, fast, 3);
	assert_true(last > first + 10);
	/* The slow one reads what had left the server, is told where it
	 * stopped, and the server hangs up: the backlog it never read was
	 * dropped, not sent before the error. */
	got = read_until_too_slow(f, slow, first);
	assert_true(got < last - 1);
	client_expect_end(f, slow);
	client_free(slow);
	wait_clients(f, 2);
	/* The fast ones never noticed. */
	watch_resync(f->watch);
	for (int i = 0; i < 2; i++) {
		root = client_recv(f, fast[i]);
		assert_int_equal(get_int(params_ok(root), "sequence"), (int64_t)last + 1);
		json_object_put(root);
		client_free(fast[i]);
	}
}

/* A slow watcher that hangs up instead of reading is forgotten at once; one
 * that shuts its side and then reads gets the rest, then the end. */
static void test_slow_watcher_hangs_up(void **state)
{
	struct fixture *f = *state;
	struct client *gone = client_new(f), *late = client_new(f);
	uint64_t first = start_watch(f, gone), s;
	json_object *root;

	assert_int_equal(start_watch(f, late), first);
	flood_until_dropped(f, NULL, 1);
	close(gone->fd);
	gone->fd = -1;
	assert_int_equal(shutdown(late->fd, SHUT_WR), 0);
	wait_clients(f, 1);
	client_free(gone);
	/* Events in order, then the error naming the last one it got. */
	for (s = first + 1;; s++) {
		root = client_recv(f, late);
		if (has(root, "error"))
			break;
		assert_int_equal(get_int(params_ok(root), "sequence"), (int64_t)s);
		json_object_put(root);
	}
	assert_int_equal(get_int(get(root, "parameters"), "sequence"), (int64_t)s - 1);
	assert_error(root, "io.hostdevd.WatcherTooSlow", NULL, NULL);
	client_expect_end(f, late);
	wait_clients(f, 0);
	client_free(late);
}

/* A slow watcher that never reads again is closed after the drain timeout;
 * when it reads at last, the error is there right behind the events that
 * had left the server (not a bare EOF after a backlog that never came). */
static void test_slow_watcher_never_reads(void **state)
{
	struct fixture *f = *state;
	struct client *slow = client_new(f);

	start_watch(f, slow);
	flood_until_dropped(f, NULL, 1);
	assert_int_equal(server_client_count(f->server), 1);
	wait_clients(f, 0);
	client_free(slow);
}

static bool has_error_reply(void *arg)
{
	struct client *c = arg;

	client_fill(c);
	return memmem(c->buf, c->len, "WatcherTooSlow", 14) || c->eof || c->err;
}

/* A watcher that read nothing while an event storm left it behind by the
 * whole watch limit (8 MiB by default) then reads: the error is right
 * behind what had left the server, not behind the megabytes it was late
 * by, and names the last event it got. */
static void test_slow_watcher_reads_late(void **state)
{
	struct server_config cfg = test_config;
	struct fixture *f;
	struct client *slow;
	uint64_t first, last, got;
	size_t bytes;

	cfg.max_outbuf = SERVER_DEFAULT_MAX_OUTBUF;
	f = fixture_new(&cfg);
	slow = client_new(f);
	first = start_watch(f, slow);
	last = flood_until_dropped(f, NULL, 1);
	assert_true(pump_until(f, has_error_reply, slow));
	bytes = slow->len;
	got = read_until_too_slow(f, slow, first);
	assert_true(got < last);
	client_expect_end(f, slow);
	/* The socket's buffer, the message being written and the error. */
	if (bytes > 1024 * 1024)
		fail_msg("%zu bytes came before WatcherTooSlow", bytes);
	client_free(slow);
	wait_clients(f, 0);
	fixture_free(f);
}

/* ---- accepting and binding -------------------------------------------- */

struct iterations {
	struct event_base *base;
	int n;
};

static bool count_iterations(void *arg)
{
	struct iterations *it = arg;

	it->n++;
	return false;
}

/* Fills the descriptor table; returns how many were taken. */
static int exhaust_fds(int *fds, int max)
{
	int n = 0;

	while (n < max) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			assert_int_equal(errno, EMFILE);
			return n;
		}
		fds[n++] = fd;
	}
	fail_msg("could not exhaust the descriptor table");
	return n;
}

static void release_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

static bool under_valgrind(void)
{
	const char *preload = getenv("LD_PRELOAD");

	return preload && strstr(preload, "vgpreload");
}

/* Out of descriptors, the server stops accepting for a while instead of
 * spinning on the pending connection, then takes it. */
static void test_accept_backoff(void **state)
{
	struct fixture *f = *state;
	struct rlimit old, low;
	int fds[512], n, pending;
	struct iterations it = { f->base, 0 };
	struct client *c;
	json_object *root;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 256;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	pending = connect_to(f->path);
	n = exhaust_fds(fds, ARRAY_SIZE(fds));
	pump_until_base(f->base, count_iterations, &it, 300);
	assert_int_equal(server_client_count(f->server), 0);
	/* A loop spinning on the listening socket would run thousands of times. */
	assert_true(it.n < 10);
	release_fds(fds, n);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	if (under_valgrind()) {
		/* Valgrind closes a descriptor the kernel handed out beyond its
		 * own limit, so the pending client is lost: use a new one. */
		close(pending);
		pending = connect_to(f->path);
	}
	wait_clients(f, 1);
	c = client_from_fd(pending);
	root = call(f, c, "{\"method\":\"org.varlink.service.GetInfo\"}");
	params_ok(root);
	json_object_put(root);
	client_free(c);
}

static struct server *server_on(struct fixture *f, const char *path, unsigned mode)
{
	struct server_config cfg = { .socket_path = path, .socket_mode = mode,
				     .dispatch = dispatch_call, .dispatch_ctx = &f->dispatcher };

	return server_new(f->base, &cfg);
}

static void test_socket_mode(void **state)
{
	struct fixture *f = *state;
	char path[160];
	struct server *s;
	struct stat st;

	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	snprintf(path, sizeof(path), "%s/private.sock", f->dir);
	s = server_on(f, path, 0600);
	assert_int_equal(server_start(s), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	server_free(s);
	/* The server removes its socket when it goes. */
	assert_int_equal(stat(path, &st), -1);
}

static void test_bind_errors(void **state)
{
	struct fixture *f = *state;
	char path[300];
	struct server *s;

	memset(path, 'a', 200);
	path[0] = '/';
	path[200] = '\0';
	s = server_on(f, path, 0);
	assert_int_equal(server_start(s), -ENAMETOOLONG);
	server_free(s);

	snprintf(path, sizeof(path), "%s/no/such/dir.sock", f->dir);
	s = server_on(f, path, 0);
	assert_int_equal(server_start(s), -ENOENT);
	server_free(s);

	/* The fixture's server is alive on its path: hands off. */
	s = server_on(f, f->path, 0);
	assert_int_equal(server_start(s), -EADDRINUSE);
	server_free(s);
	assert_int_equal(access(f->path, F_OK), 0);
}

static void make_stale_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
}

static void test_stale_socket_replaced(void **state)
{
	struct fixture *f = *state;
	char path[160];
	struct server *s;
	struct client *c;
	json_object *root;

	snprintf(path, sizeof(path), "%s/stale.sock", f->dir);
	make_stale_socket(path);
	s = server_on(f, path, 0);
	assert_int_equal(server_start(s), 0);
	/* It runs on the fixture's loop, which call() steps. */
	c = client_from_fd(connect_to(path));
	root = call(f, c, "{\"method\":\"org.varlink.service.GetInfo\"}");
	params_ok(root);
	json_object_put(root);
	client_free(c);
	server_free(s);
	assert_int_equal(access(path, F_OK), -1);
}

static void test_not_a_socket_kept(void **state)
{
	struct fixture *f = *state;
	char path[160];
	struct server *s;
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/precious", f->dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "data", 4), 4);
	close(fd);
	s = server_on(f, path, 0);
	assert_int_equal(server_start(s), -EEXIST);
	server_free(s);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 4);
	unlink(path);
}

/* A server whose socket file was replaced by another's leaves that one. */
static void test_free_keeps_replaced_socket(void **state)
{
	struct fixture *f = *state;
	char path[160];
	struct server *a, *b;

	snprintf(path, sizeof(path), "%s/shared.sock", f->dir);
	a = server_on(f, path, 0);
	assert_int_equal(server_start(a), 0);
	unlink(path);
	b = server_on(f, path, 0);
	assert_int_equal(server_start(b), 0);
	server_free(a);
	assert_int_equal(access(path, F_OK), 0);
	server_free(b);
	assert_int_equal(access(path, F_OK), -1);
}

/* Without a free descriptor the server cannot start, and with only one it
 * cannot tell whether a socket file is stale: it keeps the file. */
static void test_start_without_descriptors(void **state)
{
	struct fixture *f = *state;
	struct rlimit old, low;
	int fds[512], n;
	char path[160];
	struct server *s;

	snprintf(path, sizeof(path), "%s/stale.sock", f->dir);
	make_stale_socket(path);
	s = server_on(f, path, 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 256;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	n = exhaust_fds(fds, ARRAY_SIZE(fds));
	assert_int_equal(server_start(s), -EMFILE);
	close(fds[--n]);
	assert_int_equal(server_start(s), -EADDRINUSE);
	release_fds(fds, n);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(access(path, F_OK), 0);
	server_free(s);
	unlink(path);
}

/* ---- permissions ------------------------------------------------------ */

static void reply_empty(struct methods_ctx *ctx, struct server_call *call, json_object *params)
{
	server_call_reply(call, NULL, false);
}

static void reply_text_stream(struct methods_ctx *ctx, struct server_call *call,
			      json_object *params)
{
	server_call_reply_text(call, xstrdup("{\"x\":1}"), 7, true);
}

static const struct method_def permission_methods[] = {
	{ "io.hostdevd.TextStream", reply_text_stream, PERM_LIST, 0, NULL },
	{ "io.hostdevd.AdminOnly", reply_empty, PERM_ADMIN, 0, NULL },
	{ "io.hostdevd.ClaimSomething", reply_empty, PERM_CLAIM, 0, NULL },
	{ "io.hostdevd.ListSomething", reply_empty, PERM_LIST, 0, NULL },
	{ "io.hostdevd.Introspect", reply_empty, PERM_ADMIN, METHOD_ANY_PEER, NULL },
};

static void test_peer_has_permission(void **state)
{
	struct hd_peer root = { .uid = 0 }, user = { .uid = 1000 }, unknown = { .uid = (uid_t)-1 };
	struct methods_ctx ctx = { 0 };

	/* No policy: the built-in default. */
	for (int p = 0; p < PERM__COUNT; p++) {
		bool everyone = p == PERM_LIST || p == PERM_WATCH;

		assert_true(peer_has_permission(&ctx, &root, p));
		assert_int_equal(peer_has_permission(&ctx, &user, p), everyone);
		assert_int_equal(peer_has_permission(&ctx, &unknown, p), everyone);
		assert_string_not_equal(permission_name(p), "invalid");
	}
	assert_string_equal(permission_name(PERM_ADMIN), "admin");
	assert_string_equal(permission_name(PERM__COUNT), "invalid");
}

/* A text reply continues only when the caller asked for more. */
static void test_reply_text_continues(void **state)
{
	struct server_config cfg = test_config;
	struct fixture *f;
	struct client *c;
	json_object *root;

	f = fixture_new_with(&cfg, permission_methods, ARRAY_SIZE(permission_methods));
	c = client_new(f);
	root = call(f, c, "{\"method\":\"io.hostdevd.TextStream\",\"more\":true}");
	assert_int_equal(get_int(params_ok(root), "x"), 1);
	assert_true(json_object_get_boolean(get(root, "continues")));
	json_object_put(root);
	root = call(f, c, "{\"method\":\"io.hostdevd.TextStream\"}");
	assert_int_equal(get_int(params_ok(root), "x"), 1);
	assert_false(has(root, "continues"));
	json_object_put(root);
	client_send(f, c, "{\"method\":\"io.hostdevd.TextStream\",\"oneway\":true}");
	root = call(f, c, "{\"method\":\"io.hostdevd.AdminOnly\"}");
	assert_false(has(root, "error"));
	json_object_put(root);
	client_free(c);
	fixture_free(f);
}

/* Connects with the given effective uid: the kernel records the peer's
 * credentials at connect time. */
static struct client *client_as(struct fixture *f, uid_t uid)
{
	struct client *c;

	if (uid != geteuid())
		assert_int_equal(seteuid(uid), 0);
	c = client_from_fd(connect_to(f->path));
	if (geteuid() != 0)
		assert_int_equal(seteuid(0), 0);
	wait_clients(f, server_client_count(f->server) + 1);
	return c;
}

static void test_permission_denied(void **state)
{
	struct server_config cfg = test_config;
	struct fixture *f;
	struct client *user, *admin;
	json_object *root;

	if (geteuid() != 0)
		skip();
	/* Let the unprivileged client reach the socket at all. */
	cfg.socket_mode = 0666;
	f = fixture_new_with(&cfg, permission_methods, ARRAY_SIZE(permission_methods));
	assert_int_equal(chmod(f->dir, 0755), 0);
	user = client_as(f, 65534);
	admin = client_as(f, 0);
	call_expect_error(f, user, "{\"method\":\"io.hostdevd.AdminOnly\"}",
			  "io.hostdevd.PermissionDenied", NULL, NULL);
	call_expect_error(f, user, "{\"method\":\"io.hostdevd.ClaimSomething\"}",
			  "io.hostdevd.PermissionDenied", NULL, NULL);
	root = call(f, user, "{\"method\":\"io.hostdevd.ListSomething\"}");
	params_ok(root);
	json_object_put(root);
	root = call(f, user, "{\"method\":\"io.hostdevd.Introspect\"}");
	params_ok(root);
	json_object_put(root);
	root = call(f, admin, "{\"method\":\"io.hostdevd.AdminOnly\"}");
	params_ok(root);
	json_object_put(root);
	/* The table given replaces the built-in one. */
	call_expect_error(f, admin, "{\"method\":\"io.hostdevd.ListDevices\"}",
			  "org.varlink.service.MethodNotFound", "method", "io.hostdevd.ListDevices");
	client_free(user);
	client_free(admin);
	fixture_free(f);
}

/* ---- broken handlers -------------------------------------------------- */

static void reply_nothing(struct methods_ctx *ctx, struct server_call *call, json_object *params)
{
}

static void reply_twice(struct methods_ctx *ctx, struct server_call *call, json_object *params)
{
	server_call_reply(call, NULL, false);
	server_call_reply(call, NULL, false);
}

static const struct method_def broken_methods[] = {
	{ "io.hostdevd.Silent", reply_nothing, PERM_LIST, 0, NULL },
	{ "io.hostdevd.Twice", reply_twice, PERM_LIST, 0, NULL },
};

static bool never(void *arg)
{
	return false;
}

/* A handler that breaks the reply contract aborts the daemon.  The child
 * runs the parent's server, so that the parent can clean up after it. */
static void expect_abort_on(const char *method)
{
	struct server_config cfg = test_config;
	struct fixture *f;
	char text[128];
	pid_t pid;
	int status;

	f = fixture_new_with(&cfg, broken_methods, ARRAY_SIZE(broken_methods));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct client *c;

		/* The loop's kernel state is shared with the parent until now. */
		if (event_reinit(f->base) < 0)
			_exit(1);
		c = client_new(f);
		snprintf(text, sizeof(text), "{\"method\":\"%s\"}", method);
		client_send(f, c, text);
		pump_until(f, never, NULL);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	fixture_free(f);
}

static void test_handler_contract(void **state)
{
	expect_abort_on("io.hostdevd.Silent");
	expect_abort_on("io.hostdevd.Twice");
}

/* ---- deferred calls --------------------------------------------------- */

static struct server_call *deferred; /* the Later call, until the test answers it */

static void method_later(struct methods_ctx *ctx, struct server_call *call, json_object *params)
{
	deferred = server_call_defer(call);
}

static void method_now(struct methods_ctx *ctx, struct server_call *call, json_object *params)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "now", json_object_new_boolean(1));
	server_call_reply(call, r, false);
}

static const struct method_def deferring_methods[] = {
	{ "io.hostdevd.Later", method_later, PERM_LIST, 0, NULL },
	{ "io.hostdevd.Now", method_now, PERM_LIST, 0, NULL },
};

static struct fixture *deferring_fixture(void)
{
	struct server_config cfg = test_config;

	deferred = NULL;
	return fixture_new_with(&cfg, deferring_methods, ARRAY_SIZE(deferring_methods));
}

static bool call_deferred(void *arg)
{
	return deferred != NULL;
}

static void answer_deferred(void)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "later", json_object_new_boolean(1));
	server_call_reply(deferred, r, false);
	server_call_unref(deferred);
	deferred = NULL;
}

/* A call answered later keeps its place: the next call on the connection
 * waits, other connections do not. */
static void test_deferred_reply_order(void **state)
{
	struct fixture *f = deferring_fixture();
	struct client *c = client_new(f), *other = client_new(f);
	json_object *root;

	client_send(f, c, "{\"method\":\"io.hostdevd.Later\"}");
	client_send(f, c, "{\"method\":\"io.hostdevd.Now\"}");
	assert_true(pump_until(f, call_deferred, NULL));
	root = call(f, other, "{\"method\":\"io.hostdevd.Now\"}");
	assert_true(has(params_ok(root), "now"));
	json_object_put(root);
	client_fill(c);
	assert_int_equal(c->len, 0);
	answer_deferred();
	root = client_recv(f, c);
	assert_true(has(params_ok(root), "later"));
	json_object_put(root);
	root = client_recv(f, c);
	assert_true(has(params_ok(root), "now"));
	json_object_put(root);
	client_free(c);
	client_free(other);
	fixture_free(f);
}

/* The client shuts its side after the call: it still gets the answer, then
 * the end. */
static void test_deferred_half_close(void **state)
{
	struct fixture *f = deferring_fixture();
	struct client *c = client_new(f);
	json_object *root;

	client_send(f, c, "{\"method\":\"io.hostdevd.Later\"}");
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	assert_true(pump_until(f, call_deferred, NULL));
	/* Let the server see the EOF before the answer exists. */
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	answer_deferred();
	root = client_recv(f, c);
	assert_true(has(params_ok(root), "later"));
	json_object_put(root);
	client_expect_end(f, c);
	wait_clients(f, 0);
	client_free(c);
	fixture_free(f);
}

/* The client is gone before the answer (a hang-up cannot be told from a
 * half-close until the answer is written): the answer goes nowhere, the
 * connection closes, and its memory goes with the last reference
 * (ASan/valgrind check that). */
static void test_deferred_client_gone(void **state)
{
	struct fixture *f = deferring_fixture();
	struct client *c = client_new(f);
	struct server_call *extra;

	client_send(f, c, "{\"method\":\"io.hostdevd.Later\"}");
	assert_true(pump_until(f, call_deferred, NULL));
	client_free(c);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	extra = server_call_ref(deferred);
	answer_deferred();
	wait_clients(f, 0);
	server_call_unref(extra);
	fixture_free(f);
}

static void test_deferred_dropped_unanswered(void **state)
{
	struct fixture *f = deferring_fixture();
	struct client *c = client_new(f);

	client_send(f, c, "{\"method\":\"io.hostdevd.Later\"}");
	assert_true(pump_until(f, call_deferred, NULL));
	server_call_unref(deferred);
	deferred = NULL;
	client_expect_end(f, c);
	wait_clients(f, 0);
	client_free(c);
	fixture_free(f);
}

/* ---- limits ----------------------------------------------------------- */

/* Sends as much of data as the server takes now: stops when the socket
 * stays full over a few turns of the loop (the server stopped reading).
 * Returns the bytes sent. */
static size_t send_until_stalled(struct fixture *f, struct client *c, const char *data,
				 size_t len)
{
	size_t sent = 0;

	for (int idle = 0; idle < 20 && sent < len;) {
		ssize_t n = send(c->fd, data + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			sent += (size_t)n;
			idle = 0;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			fail_msg("send: %s", strerror(errno));
		} else {
			idle++;
		}
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	}
	return sent;
}

/* The kernel charges a Unix socket's bytes in flight to the sender: a small
 * send buffer keeps the figures of a test near what the server holds. */
static void small_sndbuf(struct client *c)
{
	int size = 4096;

	assert_int_equal(setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
}

static char *repeat(const char *msg, size_t times, size_t *len)
{
	size_t one = strlen(msg) + 1;
	char *buf = xcalloc(times, one);

	for (size_t i = 0; i < times; i++)
		memcpy(buf + i * one, msg, one);
	*len = times * one;
	return buf;
}

/* A client pipelining ListDevices without reading: its calls wait while its
 * replies are unread (the server builds no more than out_high and one
 * reply), it is not dropped, and once it reads it gets every reply. */
static void test_non_reader_backpressure(void **state)
{
	struct fixture *f = *state;
	struct client *silent = client_new(f), *busy = client_new(f);
	size_t len, sent, bound = TEST_OUT_HIGH + 64 * 1024 + TEST_MAX_MESSAGE + 1;
	_cleanup_free_ char *reqs = repeat("{\"method\":\"io.hostdevd.ListDevices\"}", 20000, &len);
	json_object *root;

	small_sndbuf(silent);
	sent = send_until_stalled(f, silent, reqs, len);
	assert_true(sent < len);
	for (int i = 0; i < 50; i++) {
		root = call(f, busy, "{\"method\":\"org.varlink.service.GetInfo\"}");
		params_ok(root);
		json_object_put(root);
		if (server_buffered(f->server) > bound)
			fail_msg("the server holds %zu bytes for a client that does not read "
				 "(bound %zu)",
				 server_buffered(f->server), bound);
	}
	assert_int_equal(server_client_count(f->server), 2);
	/* Every call sent whole is answered once the client reads. */
	assert_int_equal(shutdown(silent->fd, SHUT_WR), 0);
	for (size_t n = 0; n < sent / (len / 20000); n++) {
		root = client_recv(f, silent);
		assert_int_equal(json_object_array_length(get(params_ok(root), "devices")), 12);
		json_object_put(root);
	}
	client_free(silent);
	client_free(busy);
	wait_clients(f, 0);
}

/* Behind a deferred call no more than one message's worth is read: the
 * client's writes block instead of filling the daemon.  Once answered, the
 * calls behind it run. */
static void test_deferred_input_capped(void **state)
{
	struct fixture *f = deferring_fixture();
	struct client *c = client_new(f);
	size_t len, sent, one = strlen("{\"method\":\"io.hostdevd.Now\"}") + 1;
	_cleanup_free_ char *reqs = repeat("{\"method\":\"io.hostdevd.Now\"}", 5000, &len);
	json_object *root;

	small_sndbuf(c);
	client_send(f, c, "{\"method\":\"io.hostdevd.Later\"}");
	assert_true(pump_until(f, call_deferred, NULL));
	sent = send_until_stalled(f, c, reqs, len);
	assert_true(sent < len);
	if (server_buffered(f->server) > TEST_MAX_MESSAGE + 1)
		fail_msg("%zu bytes read behind a deferred call (cap %d)",
			 server_buffered(f->server), TEST_MAX_MESSAGE + 1);
	answer_deferred();
	root = client_recv(f, c);
	assert_true(has(params_ok(root), "later"));
	json_object_put(root);
	/* The rest goes through too, reading as we go. */
	sent += send_until_stalled(f, c, reqs + sent, len - sent);
	for (size_t n = 0; n < sent / one; n++) {
		root = client_recv(f, c);
		assert_true(has(params_ok(root), "now"));
		json_object_put(root);
		if (n % 64 == 0)
			sent += send_until_stalled(f, c, reqs + sent, len - sent);
	}
	client_free(c);
	fixture_free(f);
}

/* Connect as `uid` (the kernel records the credentials of connect()). */
static struct client *connect_as(struct fixture *f, uid_t uid)
{
	struct client *c;

	assert_int_equal(seteuid(uid), 0);
	c = client_from_fd(connect_to(f->path));
	assert_int_equal(seteuid(0), 0);
	return c;
}

static void expect_refused(struct fixture *f, struct client *c, int64_t limit)
{
	json_object *root = client_recv(f, c);

	assert_int_equal(get_int(get(root, "parameters"), "limit"), limit);
	assert_non_null(strstr(get_str(get(root, "parameters"), "reason"), "connections open"));
	assert_error(root, "io.hostdevd.TooManyConnections", NULL, NULL);
	client_expect_end(f, c);
}

/* Per uid, in total, and root's room beyond the total: a refused peer is
 * told why and closed. */
static void test_connection_limits(void **state)
{
	struct server_config cfg = test_config;
	struct fixture *f;
	struct client *c[9];
	json_object *root;

	if (geteuid() != 0)
		skip();
	cfg.max_conns = 4;
	cfg.max_conns_per_uid = 2;
	cfg.root_conns = 2;
	cfg.socket_mode = 0666;
	f = fixture_new(&cfg);
	assert_int_equal(chmod(f->dir, 0755), 0);
	c[0] = connect_as(f, 60001);
	c[1] = connect_as(f, 60001);
	c[2] = connect_as(f, 60001);
	wait_clients(f, 2);
	expect_refused(f, c[2], 2);
	c[3] = connect_as(f, 60002);
	c[4] = connect_as(f, 60002);
	c[5] = connect_as(f, 60003);
	wait_clients(f, 4);
	expect_refused(f, c[5], 4);
	/* Root gets in beyond the total, up to its room. */
	c[6] = connect_as(f, 0);
	c[7] = connect_as(f, 0);
	c[8] = connect_as(f, 0);
	wait_clients(f, 6);
	expect_refused(f, c[8], 6);
	root = call(f, c[7], "{\"method\":\"io.hostdevd.GetStatus\"}");
	assert_int_equal(get_int(params_ok(root), "clients"), 6);
	json_object_put(root);
	/* A closed connection frees its uid's place. */
	client_free(c[0]);
	wait_clients(f, 5);
	c[0] = connect_as(f, 60001);
	wait_clients(f, 6);
	root = call(f, c[0], "{\"method\":\"org.varlink.service.GetInfo\"}");
	params_ok(root);
	json_object_put(root);
	for (size_t i = 0; i < ARRAY_SIZE(c); i++)
		client_free(c[i]);
	wait_clients(f, 0);
	fixture_free(f);
}

/* Part of a message that is not completed in time closes the connection,
 * with a reason; a connection with nothing going on is closed after the
 * idle timeout, a watcher is not. */
static void test_partial_and_idle_timeouts(void **state)
{
	struct server_config cfg = test_config;
	struct fixture *f;
	struct client *partial, *idle, *watcher;
	json_object *root;
	uint64_t seq, t0, t1;

	cfg.partial_timeout_ms = 200;
	cfg.idle_timeout_ms = 400;
	f = fixture_new(&cfg);
	watcher = client_new(f);
	seq = start_watch(f, watcher);
	/* Before the idle client connects: its 400 ms count from its accept. */
	t0 = now_ns();
	idle = client_new(f);
	partial = client_new(f);
	t1 = now_ns();
	client_send_raw(f, partial, "{\"method\":\"io.hostdevd.Get", 26);
	root = client_recv(f, partial);
	assert_true(now_ns() - t1 >= 200 * 1000000ull);
	assert_non_null(strstr(get_str(get(root, "parameters"), "reason"), "not completed"));
	assert_error(root, "io.hostdevd.InvalidRequest", NULL, NULL);
	client_expect_end(f, partial);
	client_free(partial);
	/* The idle one goes, without a word; the watcher stays. */
	client_expect_end(f, idle);
	wait_clients(f, 1);
	assert_true(now_ns() - t0 >= 400 * 1000000ull);
	add(f->devices, usb_dev("1-4", 0x0bda, 0x8153, 6, "usb1"));
	expect_event(f, watcher, seq + 1, "add", "1-4", NULL);
	client_free(idle);
	client_free(watcher);
	wait_clients(f, 0);
	fixture_free(f);
}

/* Many clients parking input without a NUL: over the budget the largest
 * holders are no longer read, a small call still is, and when they go the
 * count is back to nothing. */
static void test_memory_budget(void **state)
{
	struct server_config cfg = test_config;
	struct fixture *f;
	struct client *park[8], *small;
	size_t budget = 256 * 1024, chunk = 200 * 1024;
	_cleanup_free_ char *junk = xcalloc(1, chunk);
	json_object *root;

	cfg.max_message = 1024 * 1024;
	cfg.memory_budget = budget;
	f = fixture_new(&cfg);
	memset(junk, 'x', chunk);
	for (size_t i = 0; i < ARRAY_SIZE(park); i++) {
		park[i] = client_new(f);
		small_sndbuf(park[i]);
		send_until_stalled(f, park[i], junk, chunk);
	}
	/* Throttled once over the budget: at most one read more each. */
	if (server_buffered(f->server) > budget + ARRAY_SIZE(park) * 64 * 1024)
		fail_msg("%zu bytes buffered with a budget of %zu", server_buffered(f->server),
			 budget);
	small = client_new(f);
	root = call(f, small, "{\"method\":\"org.varlink.service.GetInfo\"}");
	params_ok(root);
	json_object_put(root);
	for (size_t i = 0; i < ARRAY_SIZE(park); i++)
		client_free(park[i]);
	wait_clients(f, 1);
	assert_int_equal(server_buffered(f->server), 0);
	client_free(small);
	wait_clients(f, 0);
	fixture_free(f);
}

/* ---- many clients ----------------------------------------------------- */

static void test_many_clients(void **state)
{
	struct fixture *f = *state;
	struct client *c[300];
	json_object *root;

	for (size_t i = 0; i < ARRAY_SIZE(c); i++)
		c[i] = client_from_fd(connect_to(f->path));
	wait_clients(f, ARRAY_SIZE(c));
	for (size_t i = 0; i < ARRAY_SIZE(c); i++)
		client_send(f, c[i], "{\"method\":\"io.hostdevd.GetStatus\"}");
	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		root = client_recv(f, c[i]);
		assert_int_equal(get_int(params_ok(root), "clients"), (int64_t)ARRAY_SIZE(c));
		json_object_put(root);
	}
	for (size_t i = 0; i < ARRAY_SIZE(c); i++)
		client_free(c[i]);
	wait_clients(f, 0);
}


/* ---- descriptors with replies (SCM_RIGHTS) ---------------------------- */

static char fd_file[192]; /* what PassFd opens */

/* Replies {pad} (pad bytes long, to fill the socket) with fd_file open
 * beside it. */
static void method_pass_fd(struct methods_ctx *ctx, struct server_call *call, json_object *params)
{
	json_object *r = json_object_new_object(), *padv = NULL;
	int64_t pad = 0;
	char *text;
	int fd = open(fd_file, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	if (json_object_object_get_ex(params, "pad", &padv))
		pad = json_object_get_int64(padv);
	text = xcalloc(1, (size_t)pad + 1);
	memset(text, 'x', (size_t)pad);
	json_object_object_add(r, "pad", json_object_new_string(text));
	free(text);
	json_object_object_add(r, "fd_index", json_object_new_int(0));
	server_call_reply_fd(call, r, fd);
}

/* The same, deferred: the test answers it with server_call_reply_fd. */
static void method_pass_fd_later(struct methods_ctx *ctx, struct server_call *call,
				 json_object *params)
{
	deferred = server_call_defer(call);
}

static const struct param_def pass_fd_params[] = {
	{ "pad", PARAM_INT, false },
	{ NULL },
};

static const struct method_def fd_methods[] = {
	{ "io.hostdevd.PassFd", method_pass_fd, PERM_LIST, 0, pass_fd_params },
	{ "io.hostdevd.PassFdLater", method_pass_fd_later, PERM_LIST, 0, NULL },
	{ "io.hostdevd.Now", method_now, PERM_LIST, 0, NULL },
};

/* Room for large replies queued behind each other: calls are not held
 * back by unread output. */
static struct fixture *fd_fixture(void)
{
	struct server_config cfg = test_config;
	struct fixture *f;
	int fd;

	cfg.max_outbuf = 8u * 1024 * 1024;
	cfg.out_high = 8u * 1024 * 1024;
	deferred = NULL;
	f = fixture_new_with(&cfg, fd_methods, ARRAY_SIZE(fd_methods));
	snprintf(fd_file, sizeof(fd_file), "%s/node", f->dir);
	fd = open(fd_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	return f;
}

static void fd_fixture_free(struct fixture *f)
{
	assert_int_equal(unlink(fd_file), 0);
	fixture_free(f);
}

static size_t open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	size_t n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* What a client read with recvmsg: the stream, and each descriptor with
 * the offset in the stream of the last byte of the read that brought it
 * (Linux ends a read at the end of the write that carried descriptors, but
 * may begin it with earlier bytes). */
struct fd_client {
	int fd;
	char *buf;
	size_t len;
	int fds[16];
	size_t at[16];
	size_t n_fds;
	size_t want; /* stop once this many NUL-terminated messages are in */
	bool eof;
};

static size_t nuls(const char *buf, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\0';
	return n;
}

static bool fd_client_fill(void *arg)
{
	struct fd_client *c = arg;

	while (nuls(c->buf, c->len) < c->want && !c->eof) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(4 * sizeof(int))];
		} ctl;
		char chunk[65536];
		struct iovec iov = { chunk, sizeof(chunk) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				     .msg_controllen = sizeof(ctl.buf) };
		ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EAGAIN)
			return false;
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n >= 0);
		assert_false(mh.msg_flags & MSG_CTRUNC);
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			assert_int_equal(cm->cmsg_type, SCM_RIGHTS);
			for (size_t i = 0; i < k; i++) {
				assert_true(c->n_fds < ARRAY_SIZE(c->fds));
				memcpy(&c->fds[c->n_fds], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				c->at[c->n_fds++] = c->len + (size_t)n - 1;
			}
		}
		if (n == 0)
			c->eof = true;
		c->buf = xrealloc(c->buf, c->len + (size_t)n + 1);
		memcpy(c->buf + c->len, chunk, (size_t)n);
		c->len += (size_t)n;
	}
	return true;
}

static void fd_client_free(struct fd_client *c)
{
	for (size_t i = 0; i < c->n_fds; i++)
		close(c->fds[i]);
	free(c->buf);
}

static void assert_same_file(int fd, const char *path)
{
	struct stat a, b;

	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(stat(path, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_dev, b.st_dev);
}

/* A reply with a descriptor carries it with the reply's first byte, one
 * per message, behind a reply too large for one write and ahead of one
 * without; the server keeps no copy. */
static void test_reply_with_fd(void **state)
{
	struct fixture *f = fd_fixture();
	size_t before = open_fds();
	struct client *raw = client_new(f);
	struct fd_client c = { .fd = raw->fd, .want = 4 };

	client_send(f, raw,
		    "{\"method\":\"io.hostdevd.PassFd\"}");
	client_send(f, raw,
		    "{\"method\":\"io.hostdevd.PassFd\",\"parameters\":{\"pad\":1000000}}");
	client_send(f, raw, "{\"method\":\"io.hostdevd.Now\"}");
	client_send(f, raw, "{\"method\":\"io.hostdevd.PassFd\"}");
	if (!pump_until(f, fd_client_fill, &c))
		fail_msg("replies did not arrive: %zu bytes, %zu descriptors", c.len, c.n_fds);
	assert_int_equal(c.n_fds, 3);
	/* Each came in a read ending inside its own message: the first, the
	 * second, the fourth (counted by the NULs before it). */
	assert_int_equal(nuls(c.buf, c.at[0]), 0);
	assert_int_equal(nuls(c.buf, c.at[1]), 1);
	assert_int_equal(nuls(c.buf, c.at[2]), 3);
	for (size_t i = 0; i < c.n_fds; i++)
		assert_same_file(c.fds[i], fd_file);
	fd_client_free(&c);
	client_free(raw);
	wait_clients(f, 0);
	assert_int_equal(open_fds(), before);
	fd_fixture_free(f);
}

struct fds_wait {
	size_t n;
};

static bool fds_at_least(void *arg)
{
	return open_fds() >= ((struct fds_wait *)arg)->n;
}

/* A peer that does not read cannot make the server hold more than
 * SERVER_MAX_QUEUED_FDS of its descriptors: its further calls wait, and
 * run once it reads, every descriptor then arriving. */
static void test_fd_queue_capped(void **state)
{
	struct fixture *f = fd_fixture();
	size_t before = open_fds();
	struct client *raw = client_new(f);
	struct fd_client c = { .fd = raw->fd, .want = 11 };
	/* Both ends of the connection, and the descriptors queued. */
	struct fds_wait w = { before + 2 + SERVER_MAX_QUEUED_FDS };
	static const char big[] = "{\"method\":\"io.hostdevd.PassFd\",\"parameters\":{\"pad\":4000000}}";
	static const char small[] = "{\"method\":\"io.hostdevd.PassFd\"}";
	char text[sizeof(big) + 10 * sizeof(small)];
	size_t len = 0;

	/* The first reply fills the socket; ten more each with a descriptor. */
	memcpy(text, big, sizeof(big));
	len = sizeof(big);
	for (int i = 0; i < 10; i++, len += sizeof(small))
		memcpy(text + len, small, sizeof(small));
	client_send_raw(f, raw, text, len);
	if (!pump_until(f, fds_at_least, &w))
		fail_msg("the server queued %zu descriptors, not %d", open_fds() - before - 2,
			 SERVER_MAX_QUEUED_FDS);
	for (int i = 0; i < 8; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(open_fds(), w.n);
	if (!pump_until(f, fd_client_fill, &c))
		fail_msg("replies did not arrive: %zu bytes, %zu descriptors", c.len, c.n_fds);
	assert_int_equal(c.n_fds, 11);
	for (size_t i = 0; i < c.n_fds; i++) {
		assert_int_equal(nuls(c.buf, c.at[i]), i);
		assert_same_file(c.fds[i], fd_file);
	}
	fd_client_free(&c);
	client_free(raw);
	wait_clients(f, 0);
	assert_int_equal(open_fds(), before);
	fd_fixture_free(f);
}

static bool buffered_over_3m(void *arg)
{
	struct fixture *f = arg;

	return server_buffered(f->server) > 3000000;
}

/* A peer that hangs up before its descriptors left (its socket full, the
 * reply deferred until after it went, or the reply ahead not read) costs
 * the server no descriptor. */
static void test_fd_peer_gone(void **state)
{
	struct fixture *f = fd_fixture();
	size_t before = open_fds();
	struct client *c = client_new(f);
	json_object *r;
	int fd;

	/* Queued behind a reply the peer never reads. */
	client_send(f, c, "{\"method\":\"io.hostdevd.PassFd\",\"parameters\":{\"pad\":4000000}}");
	client_send(f, c, "{\"method\":\"io.hostdevd.PassFd\"}");
	client_send(f, c, "{\"method\":\"io.hostdevd.Now\"}");
	assert_true(pump_until(f, buffered_over_3m, f));
	client_free(c);
	wait_clients(f, 0);
	assert_int_equal(open_fds(), before);

	/* Answered after the peer went. */
	c = client_new(f);
	client_send(f, c, "{\"method\":\"io.hostdevd.PassFdLater\"}");
	assert_true(pump_until(f, call_deferred, NULL));
	client_free(c);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	fd = open(fd_file, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	server_call_reply_fd(deferred, json_object_new_object(), fd);
	server_call_unref(deferred);
	wait_clients(f, 0);
	assert_int_equal(open_fds(), before);

	/* A oneway call gets no reply and no descriptor. */
	c = client_new(f);
	client_send(f, c, "{\"method\":\"io.hostdevd.PassFd\",\"oneway\":true}");
	r = call(f, c, "{\"method\":\"io.hostdevd.Now\"}");
	assert_true(json_object_get_boolean(get(params_ok(r), "now")));
	json_object_put(r);
	client_free(c);
	wait_clients(f, 0);
	assert_int_equal(open_fds(), before);
	fd_fixture_free(f);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_get_info),
		T(test_interface_description),
		T(test_list_devices_filters),
		T(test_list_devices_bad_parameters),
		T(test_device_records),
		T(test_device_relations),
		T(test_devjson_wide_values),
		T(test_devjson_escaping),
		cmocka_unit_test(test_devjson_ints),
		T(test_devjson_many_children),
		T(test_get_device_selectors),
		T(test_get_device_errors),
		T(test_get_status),
		T(test_invalid_request_keeps_connection),
		T(test_unknown_methods),
		T(test_oneway),
		T(test_pipelined_and_split),
		T(test_message_size_limit),
		T(test_unterminated_flood),
		cmocka_unit_test_setup_teardown(test_drain_timeout, setup_short_drain, teardown),
		T(test_half_close),
		cmocka_unit_test(test_half_close_with_backlog),
		T(test_client_vanishes),
		T(test_watch_stream),
		T(test_watch_holds_further_calls),
		T(test_watch_needs_more),
		T(test_sequence_without_watchers),
		T(test_slow_watcher),
		T(test_slow_watcher_hangs_up),
		cmocka_unit_test_setup_teardown(test_slow_watcher_never_reads, setup_short_drain,
						teardown),
		cmocka_unit_test(test_slow_watcher_reads_late),
		T(test_accept_backoff),
		T(test_socket_mode),
		T(test_bind_errors),
		T(test_stale_socket_replaced),
		T(test_not_a_socket_kept),
		T(test_free_keeps_replaced_socket),
		T(test_start_without_descriptors),
		cmocka_unit_test(test_peer_has_permission),
		cmocka_unit_test(test_permission_denied),
		cmocka_unit_test(test_reply_text_continues),
		cmocka_unit_test(test_handler_contract),
		cmocka_unit_test(test_deferred_reply_order),
		cmocka_unit_test(test_deferred_half_close),
		cmocka_unit_test(test_deferred_client_gone),
		cmocka_unit_test(test_deferred_dropped_unanswered),
		T(test_non_reader_backpressure),
		cmocka_unit_test(test_deferred_input_capped),
		cmocka_unit_test(test_connection_limits),
		cmocka_unit_test(test_partial_and_idle_timeouts),
		cmocka_unit_test(test_memory_budget),
		cmocka_unit_test(test_reply_with_fd),
		cmocka_unit_test(test_fd_peer_gone),
		cmocka_unit_test(test_fd_queue_capped),
		T(test_many_clients),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
