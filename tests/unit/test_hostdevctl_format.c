/* hostdevctl's renderings of canned replies, compared line for line. */
#include "client/format.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NIC                                                                                    \
	"{\"bus\":\"pci\",\"id\":\"0000:03:00.0\","                                         \
	"\"syspath\":\"/sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0\",\"state\":\"host\","  \
	"\"vendor\":\"8086\",\"product\":\"10d3\",\"driver\":\"e1000e\","                     \
	"\"parent\":\"0000:00:1c.0\",\"children\":[],\"numa_node\":0,"                        \
	"\"pci\":{\"subsystem_vendor\":\"8086\",\"subsystem_device\":\"a01f\","              \
	"\"class\":\"020000\",\"revision\":\"00\",\"driver_override\":null,"                 \
	"\"iommu_group\":12,\"iommu_group_members\":[\"0000:03:00.0\",\"0000:03:00.1\"],"     \
	"\"physfn\":null,\"virtfns\":[\"0000:03:10.0\",\"0000:03:10.2\"],"                    \
	"\"sriov_totalvfs\":7,\"sriov_numvfs\":2,\"reset_methods\":[\"flr\",\"bus\"],"        \
	"\"resettable\":true,\"boot_vga\":false,\"bridge\":false},\"usb\":null}"

#define XHCI                                                                                   \
	"{\"bus\":\"pci\",\"id\":\"0000:00:14.0\",\"syspath\":\"/sys/x\",\"state\":\"detached\"," \
	"\"vendor\":\"8086\",\"product\":\"a36d\",\"driver\":\"vfio-pci\",\"parent\":null,"   \
	"\"children\":[\"usb1\"],\"numa_node\":null,\"pci\":{\"class\":\"0c0330\"}}"

#define KEYBOARD                                                                               \
	"{\"bus\":\"usb\",\"id\":\"1-2\",\"syspath\":\"/sys/devices/usb1/1-2\","             \
	"\"state\":\"host\",\"vendor\":\"046d\",\"product\":\"c31c\",\"driver\":\"usb\","     \
	"\"parent\":\"usb1\",\"children\":[],\"numa_node\":null,\"pci\":null,"                \
	"\"usb\":{\"busnum\":1,\"devnum\":4,\"device_class\":\"00\",\"bcd_device\":\"6402\","  \
	"\"manufacturer\":\"Logitech\",\"product_name\":\"USB Keyboard\",\"serial\":null,"    \
	"\"speed\":\"1.5\",\"authorized\":true,\"root_hub\":false,\"interfaces\":["           \
	"{\"id\":\"1-2:1.0\",\"class\":\"03\",\"subclass\":\"01\",\"protocol\":\"01\","       \
	"\"driver\":\"usbhid\"},"                                                             \
	"{\"id\":\"1-2:1.1\",\"class\":\"ff\",\"subclass\":\"00\",\"protocol\":\"00\","       \
	"\"driver\":null}]}}"

#define HUB                                                                                    \
	"{\"bus\":\"usb\",\"id\":\"1-3\",\"state\":\"host\",\"vendor\":\"05e3\","             \
	"\"product\":\"0608\",\"driver\":\"usb\",\"usb\":{\"device_class\":\"09\"}}"

static json_object *parse(const char *text)
{
	json_object *obj = json_tokener_parse(text);

	assert_non_null(obj);
	return obj;
}

struct capture {
	char *text;
	size_t len;
	FILE *out;
};

static FILE *capture_start(struct capture *c)
{
	c->text = NULL;
	c->out = open_memstream(&c->text, &c->len);
	assert_non_null(c->out);
	return c->out;
}

/* Ends the capture and compares; frees the text. */
static void capture_expect(struct capture *c, const char *expected)
{
	fclose(c->out);
	if (strcmp(c->text, expected) != 0)
		fprintf(stderr, "--- got:\n%s--- expected:\n%s---\n", c->text, expected);
	assert_string_equal(c->text, expected);
	free(c->text);
}

static void expect_render(void (*render)(FILE *, json_object *), const char *json,
			  const char *expected)
{
	json_object *obj = parse(json);
	struct capture c;

	render(capture_start(&c), obj);
	capture_expect(&c, expected);
	json_object_put(obj);
}

static void test_pci_class_names(void **state)
{
	assert_string_equal(format_pci_class_name(0x020000), "Ethernet controller");
	assert_string_equal(format_pci_class_name(0x0c0330), "USB controller (xHCI)");
	assert_string_equal(format_pci_class_name(0x010802), "NVMe controller");
	/* An unlisted prog-if falls back to the subclass, then the base class. */
	assert_string_equal(format_pci_class_name(0x0c03fe), "USB controller");
	assert_string_equal(format_pci_class_name(0x0b9900), "Processor");
	assert_string_equal(format_pci_class_name(0x770000), "Unknown class");
	assert_string_equal(format_usb_class_name(0x09), "Hub");
	assert_null(format_usb_class_name(0x42));
}

static void test_descriptions(void **state)
{
	static const struct {
		const char *json, *expected;
	} cases[] = {
		{ NIC, "Ethernet controller" },
		{ KEYBOARD, "USB Keyboard" },
		/* No product string: the device class says what it is. */
		{ HUB, "Hub" },
		{ "{\"usb\":{\"product_name\":\"\",\"device_class\":\"42\"}}", "-" },
		{ "{\"pci\":{\"class\":\"not hex\"}}", "-" },
		{ "[]", "-" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_object *dev = parse(cases[i].json);

		assert_string_equal(format_device_description(dev), cases[i].expected);
		json_object_put(dev);
	}
}

static void render_table(FILE *out, json_object *devices)
{
	format_device_table(out, devices, 0);
}

static void test_table(void **state)
{
	expect_render(render_table, "[" NIC "," XHCI "," KEYBOARD "," HUB "]",
		      "ID            BUS  VENDOR:PRODUCT  CLASS   DRIVER    GROUP  STATE     NAME\n"
		      "0000:03:00.0  pci  8086:10d3       020000  e1000e    12     host      "
		      "Ethernet controller\n"
		      "0000:00:14.0  pci  8086:a36d       0c0330  vfio-pci  -      detached  "
		      "USB controller (xHCI)\n"
		      "1-2           usb  046d:c31c       00      usb       -      host      "
		      "USB Keyboard\n"
		      "1-3           usb  05e3:0608       09      usb       -      host      Hub\n");
}

static void render_narrow_table(FILE *out, json_object *devices)
{
	format_device_table(out, devices, 77);
}

static void test_table_fits_terminal(void **state)
{
	/* 65 columns before NAME leave 12 of 77 for it. */
	expect_render(render_narrow_table, "[" NIC "," KEYBOARD "]",
		      "ID            BUS  VENDOR:PRODUCT  CLASS   DRIVER  GROUP  STATE  NAME\n"
		      "0000:03:00.0  pci  8086:10d3       020000  e1000e  12     host   "
		      "Ethernet ...\n"
		      "1-2           usb  046d:c31c       00      usb     -      host   "
		      "USB Keyboard\n");
}

static void test_table_untrusted_fields(void **state)
{
	/* Wrong types and missing fields print as placeholders; a device's
	 * escape sequence never reaches the terminal. */
	expect_render(render_table,
		      "[{\"id\":42,\"bus\":\"usb\",\"vendor\":\"abcd\",\"pci\":[],"
		      "\"usb\":{\"product_name\":\"evil\\u001b[2Jname\"}}, 17]",
		      "ID  BUS  VENDOR:PRODUCT  CLASS  DRIVER  GROUP  STATE  NAME\n"
		      "-   usb  abcd:????       -      -       -      -      evil?[2Jname\n"
		      "-   -    ????:????       -      -       -      -      -\n");
}

/* json, a Device, with the hardware database's names (NULL: not given),
 * as text (malloc'd). */
static char *named(const char *json, const char *vendor, const char *product)
{
	json_object *o = parse(json);
	char *text;

	if (vendor)
		json_object_object_add(o, "vendor_name", json_object_new_string(vendor));
	if (product)
		json_object_object_add(o, "product_name", json_object_new_string(product));
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return text;
}

/* The database names the device as lspci and lsusb do, vendor first; a
 * model it does not know is the description's, and with neither the
 * description is all (test_descriptions). */
static void test_names(void **state)
{
	static const struct {
		const char *json, *vendor, *product, *expected;
	} cases[] = {
		{ NIC, "Intel Corporation", "82574L Gigabit Network Connection",
		  "Intel Corporation 82574L Gigabit Network Connection" },
		{ NIC, "Intel Corporation", NULL, "Intel Corporation Ethernet controller" },
		{ NIC, NULL, "82574L Gigabit Network Connection",
		  "82574L Gigabit Network Connection" },
		{ NIC, "", "", "Ethernet controller" },
		/* lsusb's choice: the database's model over the device's own
		 * string, which stays in show's usb section. */
		{ KEYBOARD, "Logitech, Inc.", "K120 Keyboard", "Logitech, Inc. K120 Keyboard" },
		{ KEYBOARD, "Logitech, Inc.", NULL, "Logitech, Inc. USB Keyboard" },
		{ HUB, "Genesys Logic, Inc.", NULL, "Genesys Logic, Inc. Hub" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = named(cases[i].json, cases[i].vendor, cases[i].product);
		json_object *dev = parse(text);
		char *name = format_device_name(dev);

		assert_string_equal(name, cases[i].expected);
		free(name);
		json_object_put(dev);
		free(text);
	}
}

static void render_table_80(FILE *out, json_object *devices)
{
	format_device_table(out, devices, 80);
}

static void render_table_100(FILE *out, json_object *devices)
{
	format_device_table(out, devices, 100);
}

/* Lines that are not cut carry the vendor; on a terminal a name that does
 * not fit drops its vendor first, then is cut. */
static void test_table_names(void **state)
{
	char *nic = named(NIC, "Intel Corporation", "82574L Gigabit Network Connection");
	char *kbd = named(KEYBOARD, "Logitech, Inc.", "K120 Keyboard");
	char *list = NULL;

	assert_true(asprintf(&list, "[%s,%s," HUB "]", nic, kbd) > 0);
	expect_render(render_table, list,
		      "ID            BUS  VENDOR:PRODUCT  CLASS   DRIVER  GROUP  STATE  NAME\n"
		      "0000:03:00.0  pci  8086:10d3       020000  e1000e  12     host   "
		      "Intel Corporation 82574L Gigabit Network Connection\n"
		      "1-2           usb  046d:c31c       00      usb     -      host   "
		      "Logitech, Inc. K120 Keyboard\n"
		      "1-3           usb  05e3:0608       09      usb     -      host   Hub\n");
	/* 100 columns leave 35 for the names: the NIC's model alone fits. */
	expect_render(render_table_100, list,
		      "ID            BUS  VENDOR:PRODUCT  CLASS   DRIVER  GROUP  STATE  NAME\n"
		      "0000:03:00.0  pci  8086:10d3       020000  e1000e  12     host   "
		      "82574L Gigabit Network Connection\n"
		      "1-2           usb  046d:c31c       00      usb     -      host   "
		      "Logitech, Inc. K120 Keyboard\n"
		      "1-3           usb  05e3:0608       09      usb     -      host   Hub\n");
	/* 80 leave 15: the models, cut. */
	expect_render(render_table_80, list,
		      "ID            BUS  VENDOR:PRODUCT  CLASS   DRIVER  GROUP  STATE  NAME\n"
		      "0000:03:00.0  pci  8086:10d3       020000  e1000e  12     host   "
		      "82574L Gigab...\n"
		      "1-2           usb  046d:c31c       00      usb     -      host   "
		      "K120 Keyboard\n"
		      "1-3           usb  05e3:0608       09      usb     -      host   Hub\n");
	free(list);
	free(kbd);
	free(nic);
}

/* show: the name in full, then the database's two names on lines of their
 * own; a USB device's own strings stay in its section. */
static void test_show_names(void **state)
{
	char *kbd = named(KEYBOARD, "Logitech, Inc.", "K120 Keyboard");
	char *nic = named(NIC, "Intel Corporation", NULL);
	json_object *o = parse(kbd);
	struct capture c;

	format_device_show(capture_start(&c), o);
	fclose(c.out);
	assert_non_null(strstr(c.text, "name:             Logitech, Inc. K120 Keyboard\n"
					"state:            host\n"
					"vendor:product:   046d:c31c\n"
					"vendor name:      Logitech, Inc.\n"
					"model name:       K120 Keyboard\n"
					"driver:           usb\n"));
	assert_non_null(strstr(c.text, "manufacturer:     Logitech\n"
					"product:          USB Keyboard\n"));
	free(c.text);
	json_object_put(o);
	o = parse(nic);
	format_device_show(capture_start(&c), o);
	fclose(c.out);
	assert_non_null(strstr(c.text, "name:             Intel Corporation Ethernet controller\n"));
	assert_non_null(strstr(c.text, "vendor name:      Intel Corporation\n"
					"model name:       -\n"));
	free(c.text);
	json_object_put(o);
	free(nic);
	free(kbd);
}

/* A watch line names the device as list does. */
static void test_watch_names(void **state)
{
	char *nic = named(NIC, "Intel Corporation", "82574L Gigabit Network Connection");
	char *reply = NULL;

	assert_true(asprintf(&reply, "{\"sequence\":7,\"event\":{\"event\":\"add\","
				     "\"id\":\"0000:03:00.0\",\"device\":%s}}",
			     nic) > 0);
	expect_render(format_watch_event, reply,
		      "7 add 0000:03:00.0 driver=e1000e state=host 8086:10d3 Intel Corporation "
		      "82574L Gigabit Network Connection\n");
	free(reply);
	free(nic);
}

static void test_show_pci(void **state)
{
	expect_render(format_device_show, NIC,
		      "id:               0000:03:00.0\n"
		      "bus:              pci\n"
		      "name:             Ethernet controller\n"
		      "state:            host\n"
		      "vendor:product:   8086:10d3\n"
		      "vendor name:      -\n"
		      "model name:       -\n"
		      "driver:           e1000e\n"
		      "syspath:          /sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0\n"
		      "parent:           0000:00:1c.0\n"
		      "children:         -\n"
		      "numa node:        0\n"
		      "subsystem:        8086:a01f\n"
		      "class:            020000 (Ethernet controller)\n"
		      "revision:         00\n"
		      "driver override:  -\n"
		      "iommu group:      12\n"
		      "group members:    0000:03:00.0, 0000:03:00.1\n"
		      "physfn:           -\n"
		      "virtfns:          0000:03:10.0, 0000:03:10.2\n"
		      "sr-iov:           2 of 7 virtual functions enabled\n"
		      "reset methods:    flr, bus\n"
		      "resettable:       yes\n"
		      "boot vga:         no\n"
		      "bridge:           no\n");
}

/* A detached device shows the driver Reattach will bring back; a claimed
 * one its owner. */
static void test_show_detached(void **state)
{
	expect_render(format_device_show,
		      "{\"bus\":\"pci\",\"id\":\"0000:00:14.0\",\"state\":\"detached\","
		      "\"vendor\":\"8086\",\"product\":\"a36d\",\"driver\":\"vfio-pci\","
		      "\"original_driver\":\"xhci_hcd\",\"claim\":{\"driver\":\"qemu\","
		      "\"domain\":\"vm1\"},\"children\":[],"
		      "\"pci\":{\"class\":\"0c0330\",\"driver_override\":\"vfio-pci\"}}",
		      "id:               0000:00:14.0\n"
		      "bus:              pci\n"
		      "name:             USB controller (xHCI)\n"
		      "state:            detached\n"
		      "vendor:product:   8086:a36d\n"
		      "vendor name:      -\n"
		      "model name:       -\n"
		      "driver:           vfio-pci\n"
		      "original driver:  xhci_hcd\n"
		      "claimed by:       qemu/vm1\n"
		      "syspath:          -\n"
		      "parent:           -\n"
		      "children:         -\n"
		      "numa node:        -\n"
		      "subsystem:        ????:????\n"
		      "class:            0c0330 (USB controller (xHCI))\n"
		      "revision:         -\n"
		      "driver override:  vfio-pci\n"
		      "iommu group:      -\n"
		      "group members:    -\n"
		      "physfn:           -\n"
		      "virtfns:          -\n"
		      "sr-iov:           -\n"
		      "reset methods:    -\n"
		      "resettable:       -\n"
		      "boot vga:         -\n"
		      "bridge:           -\n");
}

/* A claimed device the kernel has back on its host driver (issue 12):
 * shown claimed and drifted, on the driver it is on. */
static void test_show_drifted(void **state)
{
	expect_render(format_device_show,
		      "{\"id\":\"0000:03:00.0\",\"state\":\"claimed\",\"drifted\":true,"
		      "\"driver\":\"e1000e\",\"claim\":{\"driver\":\"qemu\",\"domain\":\"vm1\"}}",
		      "id:               0000:03:00.0\n"
		      "bus:              -\n"
		      "name:             -\n"
		      "state:            claimed (drifted)\n"
		      "vendor:product:   ????:????\n"
		      "vendor name:      -\n"
		      "model name:       -\n"
		      "driver:           e1000e\n"
		      "claimed by:       qemu/vm1\n"
		      "syspath:          -\n"
		      "parent:           -\n"
		      "children:         -\n"
		      "numa node:        -\n");
}

static void test_show_usb(void **state)
{
	expect_render(format_device_show, KEYBOARD,
		      "id:               1-2\n"
		      "bus:              usb\n"
		      "name:             USB Keyboard\n"
		      "state:            host\n"
		      "vendor:product:   046d:c31c\n"
		      "vendor name:      -\n"
		      "model name:       -\n"
		      "driver:           usb\n"
		      "syspath:          /sys/devices/usb1/1-2\n"
		      "parent:           usb1\n"
		      "children:         -\n"
		      "numa node:        -\n"
		      "usb address:      bus 1 device 4 (usb:1.4)\n"
		      "device class:     00\n"
		      "bcd device:       6402\n"
		      "manufacturer:     Logitech\n"
		      "product:          USB Keyboard\n"
		      "serial:           -\n"
		      "speed:            1.5 Mbit/s\n"
		      "authorized:       yes\n"
		      "root hub:         no\n"
		      "interfaces:\n"
		      "  1-2:1.0  class 03/01/01 (Human Interface Device)  driver usbhid\n"
		      "  1-2:1.1  class ff/00/00 (Vendor Specific)  driver -\n");
}

static void test_show_sparse_record(void **state)
{
	/* A PCI record missing most fields: every line still printed. */
	expect_render(format_device_show,
		      "{\"id\":\"0000:00:00.0\",\"pci\":{\"iommu_group\":\"x\","
		      "\"sriov_totalvfs\":4,\"virtfns\":[1]},"
		      "\"usb\":{\"busnum\":1,\"interfaces\":[]}}",
		      "id:               0000:00:00.0\n"
		      "bus:              -\n"
		      "name:             -\n"
		      "state:            -\n"
		      "vendor:product:   ????:????\n"
		      "vendor name:      -\n"
		      "model name:       -\n"
		      "driver:           -\n"
		      "syspath:          -\n"
		      "parent:           -\n"
		      "children:         -\n"
		      "numa node:        -\n"
		      "subsystem:        ????:????\n"
		      "class:            -\n"
		      "revision:         -\n"
		      "driver override:  -\n"
		      "iommu group:      -\n"
		      "group members:    -\n"
		      "physfn:           -\n"
		      "virtfns:          ?\n"
		      "sr-iov:           0 of 4 virtual functions enabled\n"
		      "reset methods:    -\n"
		      "resettable:       -\n"
		      "boot vga:         -\n"
		      "bridge:           -\n"
		      "usb address:      -\n"
		      "device class:     -\n"
		      "bcd device:       -\n"
		      "manufacturer:     -\n"
		      "product:          -\n"
		      "serial:           -\n"
		      "speed:            -\n"
		      "authorized:       -\n"
		      "root hub:         -\n"
		      "interfaces:       -\n");
}

static void test_watch_lines(void **state)
{
	expect_render(format_watch_event,
		      "{\"sequence\":42,\"event\":{\"event\":\"add\",\"id\":\"0000:03:00.0\","
		      "\"device\":" NIC "}}",
		      "42 add 0000:03:00.0 driver=e1000e state=host 8086:10d3 Ethernet controller\n");
	/* An interface event shows the interface's driver, not the device's. */
	expect_render(format_watch_event,
		      "{\"sequence\":43,\"event\":{\"event\":\"bind\",\"id\":\"1-2\","
		      "\"interface\":\"1-2:1.0\",\"device\":" KEYBOARD "}}",
		      "43 bind 1-2 interface=1-2:1.0 driver=usbhid state=host 046d:c31c "
		      "USB Keyboard\n");
	expect_render(format_watch_event,
		      "{\"sequence\":44,\"event\":{\"event\":\"unbind\",\"id\":\"1-2\","
		      "\"interface\":\"1-2:1.9\",\"device\":" KEYBOARD "}}",
		      "44 unbind 1-2 interface=1-2:1.9 driver=- state=host 046d:c31c "
		      "USB Keyboard\n");
	expect_render(format_watch_event, "{\"sequence\":45,\"resync\":true}",
		      "45 resync: hostdevd lost kernel events and re-read sysfs; any device may "
		      "have changed (run 'hostdevctl list')\n");
	expect_render(format_watch_event, "{\"event\":{}}",
		      "-1 - - driver=- state=- -:- -\n");
	expect_render(format_watch_event, "{\"sequence\":46}",
		      "46 (a reply with neither an event nor a resync)\n");
	/* What the policy did on its own. */
	expect_render(format_watch_event,
		      "{\"sequence\":47,\"policy\":{\"action\":\"assign\",\"device\":"
		      "\"0000:03:00.0\",\"owner\":{\"driver\":\"qemu\",\"domain\":\"router\"},"
		      "\"rule\":2,\"file\":\"/etc/hostdevd/policy.conf\",\"line\":12,"
		      "\"outcome\":\"done\"}}",
		      "47 policy assign 0000:03:00.0 for qemu/router: done "
		      "(/etc/hostdevd/policy.conf:12)\n");
	expect_render(format_watch_event,
		      "{\"sequence\":48,\"policy\":{\"action\":\"detach\",\"device\":"
		      "\"0000:00:02.0\",\"outcome\":\"failed\",\"error\":"
		      "\"io.hostdevd.HostCritical\",\"reason\":\"it is the boot VGA device\"}}",
		      "48 policy detach 0000:00:02.0: failed: it is the boot VGA device "
		      "(the default)\n");
}

#define STATUS_TAIL                                                                            \
	"\"devices\":{\"total\":12,\"pci\":9,\"usb\":3,\"host\":11,\"detached\":1},"          \
	"\"event_source\":\"udev\",\"events_received\":310,\"overflows\":1,\"resyncs\":2,"     \
	"\"sequence\":77,\"clients\":3,\"watchers\":1,\"log_level\":\"info\"}"

static void test_status(void **state)
{
	expect_render(format_status,
		      "{\"version\":\"0.1.0\",\"uptime_seconds\":93784.5," STATUS_TAIL,
		      "version:          0.1.0\n"
		      "uptime:           1d 02h 03m 04s\n"
		      "devices:          12 (pci 9, usb 3; host 11, detached 1)\n"
		      "event source:     udev\n"
		      "events received:  310\n"
		      "overflows:        1\n"
		      "resyncs:          2\n"
		      "sequence:         77\n"
		      "clients:          3\n"
		      "watchers:         1\n"
		      "log level:        info\n");
}

/* Durable state's part: the claims, the file, and what needs a look. */
static void test_status_attention(void **state)
{
	expect_render(format_status,
		      "{\"version\":\"0.1.0\",\"claims\":2,\"state_file\":\"/run/hostdevd/"
		      "state.json\",\"attention\":[{\"device\":\"0000:03:00.0\",\"what\":"
		      "\"drifted\",\"detail\":\"claimed by qemu/vm1, but on e1000e\"},"
		      "{\"device\":\"0000:06:10.2\",\"what\":\"orphan\",\"detail\":\"on "
		      "vfio-pci with no record of hostdevd's\"}]}",
		      "version:          0.1.0\n"
		      "uptime:           -\n"
		      "devices:          -\n"
		      "event source:     -\n"
		      "events received:  -\n"
		      "overflows:        -\n"
		      "resyncs:          -\n"
		      "sequence:         -\n"
		      "clients:          -\n"
		      "watchers:         -\n"
		      "claims:           2\n"
		      "state file:       /run/hostdevd/state.json\n"
		      "attention:        0000:03:00.0 drifted: claimed by qemu/vm1, but on e1000e\n"
		      "                  0000:06:10.2 orphan: on vfio-pci with no record of "
		      "hostdevd's\n");
	expect_render(format_status, "{\"claims\":0,\"attention\":[]}",
		      "version:          -\n"
		      "uptime:           -\n"
		      "devices:          -\n"
		      "event source:     -\n"
		      "events received:  -\n"
		      "overflows:        -\n"
		      "resyncs:          -\n"
		      "sequence:         -\n"
		      "clients:          -\n"
		      "watchers:         -\n"
		      "claims:           0\n"
		      "attention:        none\n");
}

static void test_status_uptimes(void **state)
{
	static const struct {
		const char *json, *line;
	} cases[] = {
		{ "{\"uptime_seconds\":3}", "uptime:           3.0s\n" },
		{ "{\"uptime_seconds\":0.25}", "uptime:           0.2s\n" },
		{ "{\"uptime_seconds\":61.9}", "uptime:           1m 01s\n" },
		{ "{\"uptime_seconds\":7322}", "uptime:           2h 02m 02s\n" },
		{ "{\"uptime_seconds\":-5}", "uptime:           0.0s\n" },
		{ "{\"uptime_seconds\":\"soon\"}", "uptime:           -\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_object *obj = parse(cases[i].json);
		struct capture c;

		format_status(capture_start(&c), obj);
		fclose(c.out);
		assert_non_null(strstr(c.text, cases[i].line));
		/* Without counts, the devices line is a placeholder. */
		assert_non_null(strstr(c.text, "devices:          -\n"));
		free(c.text);
		json_object_put(obj);
	}
}

static void test_json(void **state)
{
	json_object *obj = parse("{\"syspath\":\"/sys/x\",\"n\":[1]}");
	struct capture c;

	format_json(capture_start(&c), obj, false);
	capture_expect(&c, "{\"syspath\":\"/sys/x\",\"n\":[1]}\n");
	format_json(capture_start(&c), obj, true);
	capture_expect(&c, "{\n  \"syspath\": \"/sys/x\",\n  \"n\": [\n    1\n  ]\n}\n");
	json_object_put(obj);
}

static void expect_error(const char *error, const char *params, const char *expected)
{
	json_object *p = params ? parse(params) : NULL;
	char *text = format_varlink_error("io.hostdevd.GetDevice", error, p);

	assert_string_equal(text, expected);
	free(text);
	json_object_put(p);
}

static void test_varlink_errors(void **state)
{
	expect_error("io.hostdevd.DeviceNotFound", "{\"device\":\"id:1234:5678\"}",
		     "no device matches 'id:1234:5678' (io.hostdevd.DeviceNotFound)");
	expect_error("io.hostdevd.AmbiguousDevice",
		     "{\"device\":\"id:046d:c31c\",\"matches\":[\"1-2\",\"1-3.1\"]}",
		     "'id:046d:c31c' matches 2 devices: 1-2, 1-3.1; name one of them by its port "
		     "path (or PCI address) instead (io.hostdevd.AmbiguousDevice)");
	expect_error("org.varlink.service.InvalidParameter", "{\"parameter\":\"device\"}",
		     "hostdevd rejected the parameter 'device' of io.hostdevd.GetDevice: name a "
		     "device by its PCI address (0000:03:00.0, or 03:00.0 in domain 0000), USB "
		     "port path (1-2.3), id:VVVV:PPPP[:SERIAL] or usb:BUS.DEV "
		     "(org.varlink.service.InvalidParameter)");
	expect_error("org.varlink.service.InvalidParameter", "{\"parameter\":\"driver\"}",
		     "hostdevd rejected the parameter 'driver' of io.hostdevd.GetDevice: name a "
		     "stub or a vfio-pci variant by its driver's or its module's name (letters, "
		     "digits, '-' and '_', at most 63) (org.varlink.service.InvalidParameter)");
	expect_error("io.hostdevd.UnknownDriver",
		     "{\"driver\":\"mlx5_vfio_pci\",\"accepted\":[\"vfio-pci\",\"pci-stub\"]}",
		     "hostdevd has no driver 'mlx5_vfio_pci' to detach to: it takes vfio-pci, "
		     "pci-stub (a stub, or a vfio-pci variant of this host by its driver's or its "
		     "module's name); leave --driver out for the device's own vfio-pci variant, or "
		     "vfio-pci when it has none ('hostdevctl show DEVICE' names it) "
		     "(io.hostdevd.UnknownDriver)");
	/* Whatever the reply holds, a sentence. */
	expect_error("io.hostdevd.UnknownDriver", "{\"accepted\":7}",
		     "hostdevd has no driver '?' to detach to: it takes none (a stub, or a vfio-pci "
		     "variant of this host by its driver's or its module's name); leave --driver "
		     "out for the device's own vfio-pci variant, or vfio-pci when it has none "
		     "('hostdevctl show DEVICE' names it) (io.hostdevd.UnknownDriver)");
	expect_error("org.varlink.service.InvalidParameter", "{\"parameter\":\"state\"}",
		     "hostdevd rejected the parameter 'state' of io.hostdevd.GetDevice "
		     "(org.varlink.service.InvalidParameter)");
	expect_error("org.varlink.service.MethodNotFound",
		     "{\"method\":\"io.hostdevd.GetDevice\"}",
		     "hostdevd does not know the method io.hostdevd.GetDevice; it may be older "
		     "than this hostdevctl (org.varlink.service.MethodNotFound)");
	expect_error("org.varlink.service.MethodNotImplemented",
		     "{\"method\":\"io.hostdevd.GetDevice\"}",
		     "hostdevd does not know the method io.hostdevd.GetDevice; it may be older "
		     "than this hostdevctl (org.varlink.service.MethodNotImplemented)");
	expect_error("org.varlink.service.InterfaceNotFound", "{\"interface\":\"io.hostdevd\"}",
		     "hostdevd does not serve the interface io.hostdevd; it may be older than "
		     "this hostdevctl (org.varlink.service.InterfaceNotFound)");
	expect_error("io.hostdevd.PermissionDenied", "{}",
		     "hostdevd refused io.hostdevd.GetDevice: permission denied; run as root or "
		     "ask the administrator to grant this user the permission in hostdevd's "
		     "policy (io.hostdevd.PermissionDenied)");
	expect_error("org.varlink.service.PermissionDenied", NULL,
		     "hostdevd refused io.hostdevd.GetDevice: permission denied; run as root or "
		     "ask the administrator to grant this user the permission in hostdevd's "
		     "policy (org.varlink.service.PermissionDenied)");
	expect_error("io.hostdevd.InvalidRequest", "{\"reason\":\"message is not valid JSON\"}",
		     "hostdevd could not read the request for io.hostdevd.GetDevice: message is "
		     "not valid JSON (io.hostdevd.InvalidRequest)");
	expect_error("io.hostdevd.RequestTooLarge", "{\"limit\":1048576}",
		     "the request for io.hostdevd.GetDevice is larger than hostdevd's limit of "
		     "1048576 bytes (io.hostdevd.RequestTooLarge)");
	expect_error("io.hostdevd.WatcherTooSlow", "{\"sequence\":900}",
		     "hostdevd dropped this watcher because it fell behind after event 900; "
		     "watch again and run 'hostdevctl list' to catch up "
		     "(io.hostdevd.WatcherTooSlow)");
}

static void test_unknown_errors_name_parameters(void **state)
{
	expect_error("io.hostdevd.SomethingNewer",
		     "{\"device\":\"0000:03:00.0\",\"members\":[\"0000:03:00.1\"],\"errno\":16}",
		     "io.hostdevd.GetDevice failed: device: 0000:03:00.0, members: "
		     "[\"0000:03:00.1\"], errno: 16 (io.hostdevd.SomethingNewer)");
	expect_error("com.example.Odd", "{}", "io.hostdevd.GetDevice failed (com.example.Odd)");
	expect_error("com.example.Odd", "[1]", "io.hostdevd.GetDevice failed (com.example.Odd)");
	/* Parameters of the wrong type or missing print as they are, or "?". */
	expect_error("io.hostdevd.DeviceNotFound", "{\"device\":[\"a/b\"]}",
		     "no device matches '[\"a/b\"]' (io.hostdevd.DeviceNotFound)");
	expect_error("io.hostdevd.AmbiguousDevice", NULL,
		     "'?' matches 0 devices: -; name one of them by its port path (or PCI "
		     "address) instead (io.hostdevd.AmbiguousDevice)");
	/* A hostile daemon cannot put escape sequences on the terminal either. */
	expect_error("io.hostdevd.DeviceNotFound", "{\"device\":\"x\\u0007\"}",
		     "no device matches 'x?' (io.hostdevd.DeviceNotFound)");
	expect_error("com.example.Odd\x1b[31m", "{\"why\":\"\\u001b]0;pwned\\u0007\"}",
		     "io.hostdevd.GetDevice failed: why: ?]0;pwned? (com.example.Odd?[31m)");
}

/* ---- detach and reattach ---- */

#define DETACHED_NIC(original)                                                                 \
	"{\"device\":{\"id\":\"0000:03:00.0\",\"state\":\"detached\",\"driver\":\"vfio-pci\"," \
	"\"original_driver\":" original "}}"

static void test_detach_results(void **state)
{
	expect_render(format_detach_result, DETACHED_NIC("\"e1000e\""),
		      "0000:03:00.0: detached, now on vfio-pci (was e1000e)\n");
	/* On a stub since before hostdevd knew it: no driver to promise. */
	expect_render(format_detach_result, DETACHED_NIC("null"),
		      "0000:03:00.0: detached, now on vfio-pci (no host driver recorded: reattach "
		      "takes whichever driver the kernel binds)\n");
	expect_render(format_detach_result,
		      "{\"device\":{\"id\":\"0000:03:00.0\",\"driver\":null,"
		      "\"original_driver\":\"e1000e\"}}",
		      "0000:03:00.0: detached, now on no driver (was e1000e)\n");
	/* Untrusted: missing fields, wrong types, escape sequences. */
	expect_render(format_detach_result, "{\"device\":[]}",
		      "-: detached, now on no driver (no host driver recorded: reattach takes "
		      "whichever driver the kernel binds)\n");
	expect_render(format_detach_result,
		      "{\"device\":{\"id\":\"x\\u001b[2J\",\"driver\":\"vfio-pci\","
		      "\"original_driver\":7}}",
		      "x?[2J: detached, now on vfio-pci (no host driver recorded: reattach takes "
		      "whichever driver the kernel binds)\n");
}

#define REATTACH(driver, outcome)                                                              \
	"{\"device\":{\"id\":\"0000:03:00.0\",\"state\":\"host\"},\"driver\":" driver           \
	",\"outcome\":" outcome "}"

static void test_reattach_results(void **state)
{
	expect_render(format_reattach_result, REATTACH("\"e1000e\"", "\"original\""),
		      "0000:03:00.0: reattached to e1000e (original driver)\n");
	expect_render(format_reattach_result, REATTACH("\"igb\"", "\"native\""),
		      "0000:03:00.0: reattached to igb (none was recorded; the kernel chose it)\n");
	expect_render(format_reattach_result, REATTACH("null", "\"unbound\""),
		      "0000:03:00.0: reattached, but no driver took it: none was recorded and the "
		      "host has none for it, so it stays unbound\n");
	/* An outcome newer than this hostdevctl is shown as it is. */
	expect_render(format_reattach_result, REATTACH("\"e1000e\"", "\"repaired\""),
		      "0000:03:00.0: reattached to e1000e (outcome repaired)\n");
	expect_render(format_reattach_result, REATTACH("\"e1000e\"", "3"),
		      "0000:03:00.0: reattached to e1000e (outcome -)\n");
	expect_render(format_reattach_result, "{}",
		      "-: reattached, but no driver took it: none was recorded and the host has "
		      "none for it, so it stays unbound\n");
}

static void expect_op_error(const char *method, const char *error, const char *params,
			    const char *expected)
{
	json_object *p = params ? parse(params) : NULL;
	char *text = format_varlink_error(method, error, p);

	if (strcmp(text, expected) != 0)
		fprintf(stderr, "--- got:\n%s\n--- expected:\n%s\n", text, expected);
	assert_string_equal(text, expected);
	free(text);
	json_object_put(p);
}

#define DETACH "io.hostdevd.Detach"
#define REATTACH_M "io.hostdevd.Reattach"

/* ---- reset ---- */

#define RESET_M "io.hostdevd.Reset"

static void test_reset_results(void **state)
{
	expect_render(format_reset_result,
		      "{\"device\":\"0000:03:00.0\",\"methods\":[\"flr\",\"pm\",\"bus\"]}",
		      "0000:03:00.0: reset (kernel methods: flr, pm, bus)\n");
	expect_render(format_reset_result, "{\"device\":\"0000:03:00.0\",\"methods\":[]}",
		      "0000:03:00.0: reset (kernel methods: none listed)\n");
	/* Nothing trusted: wrong types and terminal escapes. */
	expect_render(format_reset_result, "{\"device\":\"x\\u001b[2J\",\"methods\":[3]}",
		      "x?[2J: reset (kernel methods: ?)\n");
	expect_render(format_reset_result, "{}", "-: reset (kernel methods: none listed)\n");
}

static void test_reset_errors(void **state)
{
	expect_op_error(RESET_M, "io.hostdevd.OperationFailed",
			"{\"device\":\"0000:03:00.0\",\"step\":\"reset\",\"errno\":5,"
			"\"message\":\"write /sys/bus/pci/devices/0000:03:00.0/reset: "
			"Input/output error\"}",
			"reset of 0000:03:00.0 failed at step reset: Input/output error (write "
			"/sys/bus/pci/devices/0000:03:00.0/reset: Input/output error); the device "
			"keeps its driver and state (io.hostdevd.OperationFailed)");
	expect_op_error(RESET_M, "io.hostdevd.Timeout",
			"{\"device\":\"0000:03:00.0\",\"step\":\"reset\",\"seconds\":1}",
			"reset of 0000:03:00.0 timed out: the kernel's reset did not return within "
			"1 s; hostdevd answers DeviceBusy for 0000:03:00.0 until it does (its "
			"driver and state are left as they were) (io.hostdevd.Timeout)");
	expect_op_error(RESET_M, "io.hostdevd.DeviceInUse",
			"{\"device\":\"0000:03:00.0\",\"driver\":\"libxl\",\"domain\":\"vm2\"}",
			"0000:03:00.0 is in use by driver libxl, domain vm2; only its owner may "
			"reset it (hostdevctl reset 0000:03:00.0 --owner libxl/vm2) "
			"(io.hostdevd.DeviceInUse)");
	expect_op_error(RESET_M, "io.hostdevd.HostCritical",
			"{\"device\":\"0000:01:00.0\",\"reason\":\"boot VGA device: the console "
			"may be on it\"}",
			"0000:01:00.0 must stay with the host, so hostdevd will not reset it (boot "
			"VGA device: the console may be on it) (io.hostdevd.HostCritical)");
	expect_op_error(RESET_M, "io.hostdevd.DeviceBusy",
			"{\"device\":\"0000:03:00.0\",\"operation\":\"Reset\"}",
			"hostdevd is already running a Reset of 0000:03:00.0; try again when it "
			"has finished (a device in state error waits for a stuck write to return "
			"first: 'hostdevctl watch' shows when its state changes) "
			"(io.hostdevd.DeviceBusy)");
}

static void test_busy_and_critical(void **state)
{
	expect_op_error(REATTACH_M, "io.hostdevd.DeviceBusy",
			"{\"device\":\"0000:03:00.0\",\"operation\":\"Detach\"}",
			"hostdevd is already running a Detach of 0000:03:00.0; try again when it "
			"has finished (a device in state error waits for a stuck write to return "
			"first: 'hostdevctl watch' shows when its state changes) "
			"(io.hostdevd.DeviceBusy)");
	expect_op_error(DETACH, "io.hostdevd.HostCritical",
			"{\"device\":\"0000:00:02.0\",\"reason\":\"boot VGA device: the console "
			"may be on it\"}",
			"0000:00:02.0 must stay with the host, so hostdevd will not detach it (boot "
			"VGA device: the console may be on it) (io.hostdevd.HostCritical)");
	expect_op_error("io.hostdevd.Claim", "io.hostdevd.HostCritical",
			"{\"device\":\"0000:00:00.0\",\"reason\":\"host bridge\"}",
			"0000:00:00.0 must stay with the host, so hostdevd will not claim it (host "
			"bridge) (io.hostdevd.HostCritical)");
	expect_op_error("io.hostdevd.ListDevices", "io.hostdevd.HostCritical",
			"{\"device\":\"0000:00:00.0\",\"reason\":\"host bridge\"}",
			"0000:00:00.0 must stay with the host, so hostdevd refused "
			"io.hostdevd.ListDevices (host bridge) (io.hostdevd.HostCritical)");
	expect_op_error(DETACH, "org.varlink.service.PermissionDenied", NULL,
			"hostdevd refused io.hostdevd.Detach: permission denied (it needs the "
			"'detach' permission); run as root or ask the administrator to grant this "
			"user the permission in hostdevd's policy "
			"(org.varlink.service.PermissionDenied)");
}

static void test_invalid_state(void **state)
{
	expect_op_error(DETACH, "io.hostdevd.InvalidDeviceState",
			"{\"device\":\"0000:03:00.0\",\"state\":\"detached\"}",
			"cannot detach 0000:03:00.0: it is in state detached, and detach needs "
			"state host; it is on another stub: reattach it first, then detach it to "
			"this one (io.hostdevd.InvalidDeviceState)");
	expect_op_error(REATTACH_M, "io.hostdevd.InvalidDeviceState",
			"{\"device\":\"0000:03:00.0\",\"state\":\"host\"}",
			"cannot reattach 0000:03:00.0: it is in state host, and reattach needs "
			"state detached; it is with the host already "
			"(io.hostdevd.InvalidDeviceState)");
	expect_op_error(REATTACH_M, "io.hostdevd.InvalidDeviceState",
			"{\"device\":\"0000:03:00.0\",\"state\":\"error\"}",
			"cannot reattach 0000:03:00.0: it is in state error, and reattach needs "
			"state detached; an earlier operation failed or is stuck in the kernel; "
			"hostdevd's log says which; once the fault is cleared, 'hostdevctl repair "
			"DEVICE' puts it back (io.hostdevd.InvalidDeviceState)");
	expect_op_error(DETACH, "io.hostdevd.InvalidDeviceState",
			"{\"device\":\"0000:03:00.0\",\"state\":\"claimed\"}",
			"cannot detach 0000:03:00.0: it is in state claimed, and detach needs state "
			"host; a guest holds it: release it first (io.hostdevd.InvalidDeviceState)");
	expect_op_error(DETACH, "io.hostdevd.InvalidDeviceState",
			"{\"device\":\"0000:03:00.0\",\"state\":\"missing\"}",
			"cannot detach 0000:03:00.0: it is in state missing, and detach needs state "
			"host; the device is gone from the system (io.hostdevd.InvalidDeviceState)");
	/* A claim naming another stub than the one the device is on. */
	expect_op_error("io.hostdevd.Claim", "io.hostdevd.InvalidDeviceState",
			"{\"device\":\"0000:03:00.0\",\"state\":\"detached\"}",
			"cannot claim 0000:03:00.0: it is detached on another stub than the one "
			"named; reattach it first, or claim it for the stub it is on "
			"(io.hostdevd.InvalidDeviceState)");
	/* A state this hostdevctl does not know, from a method it has no verb for. */
	expect_op_error("io.hostdevd.Reset", "io.hostdevd.InvalidDeviceState",
			"{\"device\":\"0000:03:00.0\",\"state\":\"resetting\"}",
			"hostdevd refused io.hostdevd.Reset on 0000:03:00.0: it is in state "
			"resetting (io.hostdevd.InvalidDeviceState)");
	expect_op_error("io.hostdevd.Reset", "io.hostdevd.InvalidDeviceState",
			"{\"device\":\"0000:03:00.0\",\"state\":\"claimed\"}",
			"hostdevd refused io.hostdevd.Reset on 0000:03:00.0: it is in state "
			"claimed; a guest holds it: release it first "
			"(io.hostdevd.InvalidDeviceState)");
}

static void test_operation_failed(void **state)
{
	expect_op_error(DETACH, "io.hostdevd.OperationFailed",
			"{\"device\":\"0000:03:00.0\",\"step\":\"unbind\",\"errno\":16,\"message\":"
			"\"write /sys/bus/pci/drivers/e1000e/unbind: Device or resource busy\"}",
			"detach of 0000:03:00.0 failed at step unbind: Device or resource busy "
			"(write /sys/bus/pci/drivers/e1000e/unbind: Device or resource busy); "
			"hostdevd undid the steps before it; if that failed too, the message says "
			"so and the device is in state error (io.hostdevd.OperationFailed)");
	expect_op_error(DETACH, "io.hostdevd.OperationFailed",
			"{\"device\":\"1-2\",\"step\":\"check\",\"errno\":95,\"message\":"
			"\"1-2 is a usb device: Detach is for PCI functions\"}",
			"detach of 1-2 failed at step check: Operation not supported (1-2 is a usb "
			"device: Detach is for PCI functions); nothing was changed "
			"(io.hostdevd.OperationFailed)");
	expect_op_error(DETACH, "io.hostdevd.OperationFailed",
			"{\"device\":\"0000:03:00.0\",\"step\":\"load_module\",\"errno\":2,"
			"\"message\":\"module vfio-pci is not loaded\"}",
			"detach of 0000:03:00.0 failed at step load_module: No such file or "
			"directory (module vfio-pci is not loaded); nothing was changed "
			"(io.hostdevd.OperationFailed)");
	expect_op_error(REATTACH_M, "io.hostdevd.OperationFailed",
			"{\"device\":\"0000:03:00.0\",\"step\":\"drivers_probe\",\"errno\":5,"
			"\"message\":\"write /sys/bus/pci/drivers_probe: Input/output error; "
			"rollback failed: write /sys/bus/pci/drivers_probe: Input/output error\"}",
			"reattach of 0000:03:00.0 failed at step drivers_probe: Input/output error "
			"(write /sys/bus/pci/drivers_probe: Input/output error; rollback failed: "
			"write /sys/bus/pci/drivers_probe: Input/output error); hostdevd undid the "
			"steps before it; if that failed too, the message says so and the device is "
			"in state error (io.hostdevd.OperationFailed)");
	/* errno missing, or not one the kernel has. */
	expect_op_error(DETACH, "io.hostdevd.OperationFailed",
			"{\"device\":\"0000:03:00.0\",\"step\":\"unbind\",\"errno\":\"EBUSY\"}",
			"detach of 0000:03:00.0 failed at step unbind: error EBUSY (?); hostdevd "
			"undid the steps before it; if that failed too, the message says so and the "
			"device is in state error (io.hostdevd.OperationFailed)");
	expect_op_error(DETACH, "io.hostdevd.OperationFailed",
			"{\"device\":\"0000:03:00.0\",\"step\":\"check\",\"errno\":-3,"
			"\"message\":\"odd\"}",
			"detach of 0000:03:00.0 failed at step check: error -3 (odd); nothing was "
			"changed (io.hostdevd.OperationFailed)");
}

static void test_operation_timeout(void **state)
{
	expect_op_error(DETACH, "io.hostdevd.Timeout",
			"{\"device\":\"0000:03:00.0\",\"step\":\"unbind\",\"seconds\":0.2}",
			"detach of 0000:03:00.0 timed out: the unbind write did not return within "
			"0.2 s; the device is left in state error until the kernel finishes the "
			"write and hostdevd re-reads it and rolls it back ('hostdevctl watch' shows "
			"when; whatever uses the device may be holding it) (io.hostdevd.Timeout)");
	expect_op_error(REATTACH_M, "io.hostdevd.Timeout",
			"{\"device\":\"0000:03:00.0\",\"step\":\"confirm_bind\",\"seconds\":10}",
			"reattach of 0000:03:00.0 timed out: no driver bound within 10 s; hostdevd "
			"undid the steps (if that failed, the device is in state error: see "
			"'hostdevctl show 0000:03:00.0') (io.hostdevd.Timeout)");
}

/* ---- claims ---- */

#define CLAIM_M "io.hostdevd.Claim"
#define RELEASE_M "io.hostdevd.Release"

#define ENTRY(dev, owner, managed, pid)                                                        \
	"{\"device\":\"" dev "\",\"owner\":" owner ",\"managed\":" managed ",\"uid\":0,"        \
	"\"gid\":0,\"pid\":" pid ",\"since\":\"2026-11-25T00:02:44Z\"}"
#define QEMU_VM1 "{\"driver\":\"qemu\",\"domain\":\"vm1\",\"uuid\":null}"
#define LIBXL_VM2                                                                              \
	"{\"driver\":\"libxl\",\"domain\":\"vm2\",\"uuid\":\"c7a5fdbd-cdaf-9455-926a-"         \
	"d65c16db1809\"}"

static void test_claim_results(void **state)
{
	expect_render(format_claim_result,
		      "{\"claims\":[" ENTRY("0000:03:00.0", QEMU_VM1, "true", "4242") ","
		      ENTRY("0000:06:10.2", LIBXL_VM2, "false", "17") "]}",
		      "0000:03:00.0: claimed by qemu/vm1 (managed: at release it goes back to "
		      "its host driver)\n"
		      "0000:06:10.2: claimed by libxl/vm2 (unmanaged: at release it stays on its "
		      "stub)\n");
	/* Untrusted: wrong types, a missing owner, an escape in a domain name. */
	expect_render(format_claim_result,
		      "{\"claims\":[{\"device\":7,\"managed\":\"yes\"},"
		      "{\"device\":\"0000:03:00.0\",\"owner\":{\"driver\":\"qemu\","
		      "\"domain\":\"v\\u001bm\"},\"managed\":true}, 3]}",
		      "-: claimed by -/-\n"
		      "0000:03:00.0: claimed by qemu/v?m (managed: at release it goes back to its "
		      "host driver)\n"
		      "-: claimed by -/-\n");
	expect_render(format_claim_result, "{\"claims\":{}}", "");
}

static void test_release_results(void **state)
{
	expect_render(format_release_result, "{\"released\":[\"0000:05:00.0\",\"0000:05:01.0\"]}",
		      "0000:05:00.0: released\n0000:05:01.0: released\n");
	expect_render(format_release_result, "{\"released\":[]}",
		      "Nothing was released: the owner held no devices.\n");
	expect_render(format_release_result, "{\"released\":[1,\"a\\nb\"]}",
		      "?: released\na?b: released\n");
}

static void test_claim_table(void **state)
{
	expect_render(format_claim_table,
		      "[" ENTRY("0000:03:00.0", QEMU_VM1, "true", "4242") ","
		      ENTRY("0000:06:10.2", LIBXL_VM2, "false", "17") ","
		      "{\"device\":\"1-2\",\"owner\":[],\"managed\":1,\"pid\":\"x\"},"
		      "{\"device\":\"0000:07:00.0\",\"owner\":" QEMU_VM1 ",\"managed\":true,"
		      "\"pid\":9,\"uid\":1000,\"node_owner\":\"set\"},"
		      "{\"device\":\"0000:08:00.0\",\"owner\":" QEMU_VM1 ",\"managed\":true,"
		      "\"pid\":9,\"uid\":1000,\"node_owner\":\"failed: a\\nb\"}]",
		      "DEVICE        OWNER      MANAGED  PID   UID   SINCE                 LEASE  NODES\n"
		      "0000:03:00.0  qemu/vm1   yes      4242  0     2026-11-25T00:02:44Z  -      -\n"
		      "0000:06:10.2  libxl/vm2  no       17    0     2026-11-25T00:02:44Z  -      -\n"
		      "1-2           -/-        -        -     -     -                     -      -\n"
		      "0000:07:00.0  qemu/vm1   yes      9     1000  -                     -      set\n"
		      "0000:08:00.0  qemu/vm1   yes      9     1000  -                     -      failed: a?b\n");
	expect_render(format_claim_table, "[]",
		      "DEVICE  OWNER  MANAGED  PID  UID  SINCE  LEASE  NODES\n");
}

static void test_claim_errors(void **state)
{
	expect_op_error(CLAIM_M, "io.hostdevd.DeviceInUse",
			"{\"device\":\"0000:03:00.0\",\"driver\":\"qemu\",\"domain\":\"vm1\"}",
			"0000:03:00.0 is in use by driver qemu, domain vm1; it stays theirs until "
			"they release it ('hostdevctl claims' lists who holds what) "
			"(io.hostdevd.DeviceInUse)");
	expect_op_error(CLAIM_M, "io.hostdevd.GroupNotViable",
			"{\"device\":\"0000:05:00.0\",\"group\":10,\"members\":[\"0000:05:01.0\","
			"\"0000:05:02.0\"]}",
			"cannot claim 0000:05:00.0: IOMMU group 10 is not viable, as these members "
			"are not on a stub driver: 0000:05:01.0, 0000:05:02.0; detach them first, "
			"or claim the whole group with --whole-group (io.hostdevd.GroupNotViable)");
	expect_op_error(CLAIM_M, "io.hostdevd.GroupNotViable", "{\"device\":\"0000:05:00.0\"}",
			"cannot claim 0000:05:00.0: IOMMU group ? is not viable, as these members "
			"are not on a stub driver: -; detach them first, or claim the whole group "
			"with --whole-group (io.hostdevd.GroupNotViable)");
	expect_op_error(CLAIM_M, "io.hostdevd.PolicyRefused",
			"{\"device\":\"0000:03:00.0\",\"action\":\"refuse\",\"rule\":1,"
			"\"file\":\"/etc/hostdevd/policy.conf\",\"line\":3,\"reason\":\"the "
			"policy says refuse\"}",
			"hostdevd's policy does not let you claim 0000:03:00.0: the policy says "
			"refuse (rule 1 at /etc/hostdevd/policy.conf:3; 'hostdevctl policy explain "
			"0000:03:00.0' says why) (io.hostdevd.PolicyRefused)");
	expect_op_error(CLAIM_M, "io.hostdevd.StateUnavailable",
			"{\"device\":\"0000:03:00.0\",\"errno\":28,\"message\":\"writing "
			"/run/hostdevd/state.json.tmp: No space left on device\"}",
			"hostdevd could not save its state, so it did not claim 0000:03:00.0: "
			"writing /run/hostdevd/state.json.tmp: No space left on device; free space "
			"in or make writable its state directory (--state-dir) and try again "
			"(io.hostdevd.StateUnavailable)");
	expect_op_error(RELEASE_M, "io.hostdevd.NotClaimed", "{\"device\":\"0000:03:00.0\"}",
			"0000:03:00.0 is not claimed by that owner, so nothing was released "
			"('hostdevctl claims' lists who holds what) (io.hostdevd.NotClaimed)");
	expect_op_error(CLAIM_M, "io.hostdevd.PermissionDenied", "{}",
			"hostdevd refused io.hostdevd.Claim: permission denied (it needs the "
			"'claim' permission); run as root or ask the administrator to grant this "
			"user the permission in hostdevd's policy (io.hostdevd.PermissionDenied)");
	expect_op_error(RELEASE_M, "org.varlink.service.PermissionDenied", NULL,
			"hostdevd refused io.hostdevd.Release: permission denied (it needs the "
			"'release' permission); run as root or ask the administrator to grant this "
			"user the permission in hostdevd's policy "
			"(org.varlink.service.PermissionDenied)");
	expect_op_error("io.hostdevd.ListClaims", "io.hostdevd.PermissionDenied", "{}",
			"hostdevd refused io.hostdevd.ListClaims: permission denied; run as root or "
			"ask the administrator to grant this user the permission in hostdevd's "
			"policy (io.hostdevd.PermissionDenied)");
}

static void test_claim_state_errors(void **state)
{
	expect_op_error(CLAIM_M, "io.hostdevd.InvalidDeviceState",
			"{\"device\":\"0000:03:00.0\",\"state\":\"host\"}",
			"cannot claim 0000:03:00.0: it is in state host, and claim needs state host "
			"or detached (an unmanaged claim: detached); an unmanaged claim takes only "
			"a device already on a stub: detach it first, or claim it without "
			"--unmanaged (io.hostdevd.InvalidDeviceState)");
	expect_op_error(CLAIM_M, "io.hostdevd.InvalidDeviceState",
			"{\"device\":\"0000:03:00.0\",\"state\":\"missing\"}",
			"cannot claim 0000:03:00.0: it is in state missing, and claim needs state "
			"host or detached (an unmanaged claim: detached); the device is gone from "
			"the system (io.hostdevd.InvalidDeviceState)");
	expect_op_error(RELEASE_M, "io.hostdevd.InvalidDeviceState",
			"{\"device\":\"0000:03:00.0\",\"state\":\"detached\"}",
			"cannot release 0000:03:00.0: it is in state detached, and release needs "
			"state claimed; nobody holds it: it is in the detached pool "
			"(io.hostdevd.InvalidDeviceState)");
	expect_op_error(RELEASE_M, "io.hostdevd.InvalidDeviceState",
			"{\"device\":\"0000:03:00.0\",\"state\":\"host\"}",
			"cannot release 0000:03:00.0: it is in state host, and release needs state "
			"claimed; it is with the host already (io.hostdevd.InvalidDeviceState)");
	expect_op_error(RELEASE_M, "io.hostdevd.DeviceBusy",
			"{\"device\":\"0000:03:00.0\",\"operation\":\"Claim\"}",
			"hostdevd is already running a Claim of 0000:03:00.0; try again when it has "
			"finished (a device in state error waits for a stuck write to return first: "
			"'hostdevctl watch' shows when its state changes) (io.hostdevd.DeviceBusy)");
}

static void test_claim_failures(void **state)
{
	expect_op_error(CLAIM_M, "io.hostdevd.OperationFailed",
			"{\"device\":\"0000:05:01.0\",\"step\":\"unbind\",\"errno\":5,\"message\":"
			"\"write /sys/bus/pci/drivers/e1000e/unbind: Input/output error\"}",
			"claim of 0000:05:01.0 failed at step unbind: Input/output error (write "
			"/sys/bus/pci/drivers/e1000e/unbind: Input/output error); hostdevd undid the "
			"steps before it; if that failed too, the message says so and the device is "
			"in state error; nothing was claimed: the devices this claim had already "
			"detached went back to their host drivers (io.hostdevd.OperationFailed)");
	expect_op_error(RELEASE_M, "io.hostdevd.OperationFailed",
			"{\"device\":\"0000:03:00.0\",\"step\":\"check\",\"errno\":22,\"message\":"
			"\"bad\"}",
			"release of 0000:03:00.0 failed at step check: Invalid argument (bad); "
			"nothing was changed; the devices released before it stay released "
			"('hostdevctl claims' shows what the owner still holds) "
			"(io.hostdevd.OperationFailed)");
	expect_op_error(CLAIM_M, "io.hostdevd.Timeout",
			"{\"device\":\"0000:03:00.0\",\"step\":\"confirm_bind\",\"seconds\":1}",
			"claim of 0000:03:00.0 timed out: no driver bound within 1 s; hostdevd undid "
			"the steps (if that failed, the device is in state error: see 'hostdevctl "
			"show 0000:03:00.0'); nothing was claimed: the devices this claim had "
			"already detached went back to their host drivers (io.hostdevd.Timeout)");
	expect_op_error(RELEASE_M, "io.hostdevd.Timeout",
			"{\"device\":\"0000:03:00.0\",\"step\":\"unbind\",\"seconds\":1}",
			"release of 0000:03:00.0 timed out: the unbind write did not return within 1 "
			"s; the device is left in state error until the kernel finishes the write "
			"and hostdevd re-reads it and rolls it back ('hostdevctl watch' shows when; "
			"whatever uses the device may be holding it); the devices released before "
			"it stay released ('hostdevctl claims' shows what the owner still holds) "
			"(io.hostdevd.Timeout)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pci_class_names),
		cmocka_unit_test(test_descriptions),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_fits_terminal),
		cmocka_unit_test(test_table_untrusted_fields),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_table_names),
		cmocka_unit_test(test_show_names),
		cmocka_unit_test(test_watch_names),
		cmocka_unit_test(test_show_pci),
		cmocka_unit_test(test_show_detached),
		cmocka_unit_test(test_show_drifted),
		cmocka_unit_test(test_show_usb),
		cmocka_unit_test(test_show_sparse_record),
		cmocka_unit_test(test_watch_lines),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_status_uptimes),
		cmocka_unit_test(test_status_attention),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_varlink_errors),
		cmocka_unit_test(test_unknown_errors_name_parameters),
		cmocka_unit_test(test_detach_results),
		cmocka_unit_test(test_reattach_results),
		cmocka_unit_test(test_reset_results),
		cmocka_unit_test(test_reset_errors),
		cmocka_unit_test(test_busy_and_critical),
		cmocka_unit_test(test_invalid_state),
		cmocka_unit_test(test_operation_failed),
		cmocka_unit_test(test_operation_timeout),
		cmocka_unit_test(test_claim_results),
		cmocka_unit_test(test_release_results),
		cmocka_unit_test(test_claim_table),
		cmocka_unit_test(test_claim_errors),
		cmocka_unit_test(test_claim_state_errors),
		cmocka_unit_test(test_claim_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
