/* The libvirt hook (contrib/libvirt): the domain XML → the claim list on
 * domains written as libvirt writes them (tests/unit/libvirt-xml/), every
 * address form libvirt's parser takes, malformed XML, the hook program
 * itself where it must not call hostdevd at all, and the one Claim it sends
 * a scripted fake daemon (tests/unit/fake_varlink.c). */
#include "hookxml.h"
#include "tests/unit/fake_varlink.h"

#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef SAMPLES_DIR
#error "SAMPLES_DIR must name tests/unit/libvirt-xml"
#endif
#ifndef HOOK_BIN
#error "HOOK_BIN must name the hook program"
#endif

static char *slurp(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", SAMPLES_DIR, name);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static struct hookxml_domain *parse_file(const char *name)
{
	char err[512] = "";
	size_t len;
	char *xml = slurp(name, &len);
	struct hookxml_domain *d = hookxml_parse(xml, len, err, sizeof(err));

	free(xml);
	if (!d)
		fail_msg("%s: %s", name, err);
	return d;
}

static struct hookxml_domain *parse_str(const char *xml)
{
	char err[512] = "";
	struct hookxml_domain *d = hookxml_parse(xml, strlen(xml), err, sizeof(err));

	if (!d)
		fail_msg("%s", err);
	return d;
}

static void assert_dev(const struct hookxml_domain *d, size_t i, const char *sel, bool pci,
		       bool managed)
{
	assert_true(i < d->n_devs);
	assert_string_equal(d->devs[i].selector, sel);
	assert_int_equal(d->devs[i].pci, pci);
	assert_int_equal(d->devs[i].managed, managed);
}

/* A running domain as `virsh dumpxml` prints it: PCI managed and not, USB
 * by ids and by address, a VF as <interface type='hostdev'>, and devices
 * that are none of hostdevd's (disk, network NIC, scsi and mdev hostdevs). */
static void test_full_domain(void **state)
{
	struct hookxml_domain *d = parse_file("full.xml");

	assert_string_equal(d->name, "vm1");
	assert_string_equal(d->uuid, "c7a5fdbd-cdaf-9455-926a-d65c16db1809");
	assert_int_equal(d->n_devs, 5);
	assert_dev(d, 0, "0000:03:00.0", true, true);
	assert_dev(d, 1, "0000:06:10.2", true, false);
	assert_dev(d, 2, "id:046d:c31c", false, false);
	assert_dev(d, 3, "usb:1.5", false, false);
	assert_dev(d, 4, "0000:06:10.4", true, true);
	hookxml_free(d);
}

/* An LXC container's <hostdev mode='capabilities'> passes a node, not a
 * device: nothing to claim. */
static void test_capabilities_ignored(void **state)
{
	struct hookxml_domain *d = parse_file("lxc-capabilities.xml");

	assert_string_equal(d->name, "ct1");
	assert_int_equal(d->n_devs, 0);
	hookxml_free(d);
}

static void test_no_hostdevs(void **state)
{
	struct hookxml_domain *d = parse_file("none.xml");

	assert_string_equal(d->uuid, "11111111-2222-3333-4444-555555555555");
	assert_int_equal(d->n_devs, 0);
	hookxml_free(d);
}

#define DOM(devs) "<domain type='kvm'><name>a</name><devices>" devs "</devices></domain>"

/* What libvirt's parser accepts (base 0: 0x-hex, 0X, decimal, and octal
 * with a leading 0), a missing attribute as 0, mode and managed absent
 * as libvirt defaults them, both USB forms at once taking the address. */
static void test_address_forms(void **state)
{
	struct hookxml_domain *d = parse_str(DOM(
		"<hostdev type='pci'><source><address bus='6' slot='2' function='0'/></source></hostdev>"
		"<hostdev mode='subsystem' type='pci' managed='yes'><source>"
		"<address domain='0X0001' bus='0XaB' slot='0x1f' function='0x7'/></source></hostdev>"
		"<hostdev mode='subsystem' type='pci'><source><address type='pci' domain='0'"
		" bus='010' slot='0x00' function='1'/></source></hostdev>"
		"<hostdev mode='subsystem' type='pci'><source><address/></source></hostdev>"
		"<hostdev mode='subsystem' type='usb'><source><vendor id='1133'/>"
		"<product id='0XC31C'/></source></hostdev>"
		"<hostdev mode='subsystem' type='usb'><source><vendor id='0x046d'/>"
		"<product id='0xc31c'/><address bus='0x3' device='012'/></source></hostdev>"
		"<interface type='hostdev'><source><address type='pci' bus='0x06' slot='0x10'"
		" function='0x2'/></source></interface>"));

	assert_null(d->uuid);
	assert_int_equal(d->n_devs, 7);
	assert_dev(d, 0, "0000:06:02.0", true, false);
	assert_dev(d, 1, "0001:ab:1f.7", true, true);
	assert_dev(d, 2, "0000:08:00.1", true, false);
	assert_dev(d, 3, "0000:00:00.0", true, false);
	assert_dev(d, 4, "id:046d:c31c", false, false);
	assert_dev(d, 5, "usb:3.10", false, false);
	assert_dev(d, 6, "0000:06:10.2", true, false);
	hookxml_free(d);
}

static void assert_refused(const char *xml, const char *part)
{
	char err[512] = "";
	struct hookxml_domain *d = hookxml_parse(xml, strlen(xml), err, sizeof(err));

	if (d)
		fail_msg("accepted: %s", xml);
	if (!strstr(err, part))
		fail_msg("error '%s' does not say '%s'", err, part);
	assert_null(strchr(err, '\n'));
}

static void test_malformed(void **state)
{
	assert_refused("", "domain XML line");
	assert_refused("<domain><devices><hostdev", "domain XML line 1:");
	assert_refused("not xml at all", "domain XML line 1:");
	assert_refused("<network><name>default</name></network>", "root element is <network>");
	assert_refused(DOM("\n<hostdev mode='subsystem' type='pci'><source>"
			   "<address bus='0x100' slot='0' function='0'/></source></hostdev>"),
		       "line 2: <address bus='0x100'>: not a number from 0 to 0xff");
	assert_refused(DOM("<hostdev type='pci'><source><address bus='x3'/></source></hostdev>"),
		       "bus='x3'");
	assert_refused(DOM("<hostdev type='pci'><source><address bus='-1'/></source></hostdev>"),
		       "bus='-1'");
	assert_refused(DOM("<hostdev type='pci'><source><address bus=''/></source></hostdev>"),
		       "bus=''");
	assert_refused(DOM("<hostdev type='pci'><source><address function='8'/></source></hostdev>"),
		       "function='8'");
	assert_refused(DOM("<hostdev type='pci'><source><address slot='0x20'/></source></hostdev>"),
		       "slot='0x20'");
	assert_refused(DOM("<hostdev type='pci'><source><address domain='0x10000'/></source>"
			   "</hostdev>"),
		       "domain='0x10000'");
	assert_refused(DOM("<hostdev type='pci' managed='maybe'><source><address/></source>"
			   "</hostdev>"),
		       "managed='maybe'");
	assert_refused(DOM("<hostdev type='pci'/>"), "without <source><address>");
	assert_refused(DOM("<hostdev mode='subsystem'/>"), "without a type");
	assert_refused(DOM("<hostdev type='usb'><source><vendor id='0x046d'/></source></hostdev>"),
		       "names neither");
	assert_refused(DOM("<hostdev type='usb'><source><vendor id='0x10000'/>"
			   "<product id='1'/></source></hostdev>"),
		       "id='0x10000'");
	assert_refused(DOM("<interface type='hostdev'><source><address type='usb' bus='1'"
			   " port='1'/></source></interface>"),
		       "address of type 'usb'");
}

/* Runs the hook with the sample on stdin and hostdevd's socket at `socket`.
 * $HOOK_WRAPPER, when set, prefixes the command (valgrind, whose exit 99
 * then fails the test). */
static int run_hook_on(const char *socket, const char *sample, const char *op, char *errout,
		       size_t errlen)
{
	const char *wrapper = getenv("HOOK_WRAPPER");
	char cmd[1024], errfile[] = "/tmp/hook-err-XXXXXX";
	int fd = mkstemp(errfile), status;
	FILE *f;
	size_t n;

	assert_true(fd >= 0);
	close(fd);
	snprintf(cmd, sizeof(cmd),
		 "HOSTDEVD_SOCKET='%s' %s '%s' vm1 %s begin - <'%s/%s' 2>'%s'", socket,
		 wrapper ? wrapper : "", HOOK_BIN, op, SAMPLES_DIR, sample, errfile);
	status = system(cmd);
	f = fopen(errfile, "r");
	assert_non_null(f);
	n = fread(errout, 1, errlen - 1, f);
	errout[n] = '\0';
	fclose(f);
	unlink(errfile);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* hostdevd's socket pointing nowhere: an exit 0 proves no call was made. */
static int run_hook(const char *sample, const char *op, char *errout, size_t errlen)
{
	return run_hook_on("/nonexistent/hostdevd.sock", sample, op, errout, errlen);
}

#define FULL_CLAIM                                                                           \
	"{\"method\":\"io.hostdevd.Claim\",\"parameters\":{\"owner\":{\"driver\":\"qemu\","    \
	"\"domain\":\"vm1\",\"uuid\":\"c7a5fdbd-cdaf-9455-926a-d65c16db1809\"},\"hostdevs\":["  \
	"{\"device\":\"0000:03:00.0\",\"managed\":true},"                                    \
	"{\"device\":\"0000:06:10.2\",\"managed\":false},"                                   \
	"{\"device\":\"id:046d:c31c\",\"managed\":false},"                                   \
	"{\"device\":\"usb:1.5\",\"managed\":false},"                                        \
	"{\"device\":\"0000:06:10.4\",\"managed\":true}]}}"

/* full.xml mixes managed and unmanaged PCI hostdevs with USB ones: the
 * hook sends one Claim naming all five with their managed, and nothing
 * else, whether hostdevd grants it or refuses it (a refusal leaves no
 * first claim to undo). */
static void test_hook_one_claim(void **state)
{
	static const struct fake_step steps[] = {
		{ .replies = { "{\"parameters\":{\"claims\":[]}}" } },
		{ .replies = { "{\"error\":\"io.hostdevd.DeviceInUse\",\"parameters\":"
			       "{\"device\":\"0000:03:00.0\",\"driver\":\"libxl\","
			       "\"domain\":\"vm2\"}}" } },
	};
	struct fake_server *f = fake_start(steps, 2);
	char err[1024];

	assert_int_equal(run_hook_on(fake_socket_path(f), "full.xml", "prepare", err, sizeof(err)),
			 0);
	assert_string_equal(err, "");
	assert_int_equal(run_hook_on(fake_socket_path(f), "full.xml", "prepare", err, sizeof(err)),
			 1);
	assert_string_equal(err, "hostdevd hook: domain vm1 not started: 0000:03:00.0 is in use by "
				 "driver libxl, domain vm2 (io.hostdevd.DeviceInUse)\n");
	fake_stop(f);
	assert_int_equal(fake_n_calls(f), 2);
	assert_string_equal(fake_call(f, 0), FULL_CLAIM);
	assert_string_equal(fake_call(f, 1), FULL_CLAIM);
	fake_free(f);
}

static void test_hook_no_call(void **state)
{
	char err[1024];
	int status;

	/* No hostdev: nothing to check, no connection. */
	assert_int_equal(run_hook("none.xml", "prepare", err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(run_hook("lxc-capabilities.xml", "prepare", err, sizeof(err)), 0);
	/* The other operations do nothing, whatever the domain holds. */
	assert_int_equal(run_hook("full.xml", "start", err, sizeof(err)), 0);
	assert_int_equal(run_hook("full.xml", "stopped", err, sizeof(err)), 0);
	assert_int_equal(run_hook("full.xml", "migrate", err, sizeof(err)), 0);
	assert_string_equal(err, "");
	/* Not run by libvirt (no operation): a usage error, 2. */
	status = system("'" HOOK_BIN "' vm1 </dev/null 2>/dev/null");
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 2);
}

/* hostdevd not running: the start fails, saying so. */
static void test_hook_without_hostdevd(void **state)
{
	char err[1024];

	assert_int_equal(run_hook("full.xml", "prepare", err, sizeof(err)), 1);
	if (!strstr(err, "hostdevd hook: domain vm1 not started: its host devices cannot be "
			 "claimed: ") ||
	    !strstr(err, "io.hostdevd.client.Unreachable"))
		fail_msg("stderr: %s", err);
	assert_int_equal(run_hook("full.xml", "release", err, sizeof(err)), 1);
	assert_non_null(strstr(err, "stopped, but its claims cannot be released"));
}

/* Malformed XML fails prepare with the parser's sentence, before any call. */
static void test_hook_malformed(void **state)
{
	char err[1024];

	assert_int_equal(run_hook("../test_libvirt_hook.c", "prepare", err, sizeof(err)), 1);
	if (!strstr(err, "hostdevd hook: domain vm1: domain XML line 1: "))
		fail_msg("stderr: %s", err);
	assert_null(strstr(err, "Unreachable"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_domain),
		cmocka_unit_test(test_capabilities_ignored),
		cmocka_unit_test(test_no_hostdevs),
		cmocka_unit_test(test_address_forms),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_hook_no_call),
		cmocka_unit_test(test_hook_without_hostdevd),
		cmocka_unit_test(test_hook_one_claim),
		cmocka_unit_test(test_hook_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
