/* hd-example: what a hypervisor does with libhostdev around a guest's life.
 *
 *   hd-example [--driver NAME] [--unmanaged] [--no-wait] [--socket PATH]
 *              DOMAIN [PCI-ADDRESS[=managed|=unmanaged]...] [--usb USB-DEVICE]...
 *
 * It prepares the devices for DOMAIN (one claim, all or nothing: PCI
 * functions are detached to vfio-pci unless --unmanaged, or their own
 * =unmanaged, says they are detached already; =managed overrides
 * --unmanaged), prints what the domain holds, waits for Enter (the guest
 * would run now; --no-wait skips it), and reattaches what was claimed.
 * Every failure is printed with the error's message and name.  Exit
 * status: 0 done, 1 refused or failed, 2 usage, 3 hostdevd unreachable.
 *
 * Build it against an installed libhostdev:
 *   cc hd-example.c $(pkg-config --cflags --libs libhostdev) -o hd-example
 *
 * Copy freely: this file is meant to be taken apart. */
#include <hostdev/hostdev.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEVICES 64

/* A PCI address's own managed: absent, =managed or =unmanaged. */
enum { AS_DEFAULT, AS_MANAGED, AS_UNMANAGED };

struct options {
	struct hd_owner owner;
	const char *socket_path;
	/* Each device with its managed, as a domain definition names them. */
	struct hd_hostdev devs[MAX_DEVICES];
	int as[MAX_DEVICES];
	size_t n_devs;
	int unmanaged;
	int wait;
};

static int usage(void)
{
	fprintf(stderr, "usage: hd-example [--driver NAME] [--unmanaged] [--no-wait] "
			"[--socket PATH] DOMAIN [PCI-ADDRESS[=managed|=unmanaged]...] "
			"[--usb USB-DEVICE]...\n");
	return 2;
}

/* "0000:03:00.0=unmanaged": the suffix is cut off the argument. */
static int add_pci(struct options *o, char *arg)
{
	char *eq = strchr(arg, '=');
	int as = AS_DEFAULT;

	if (eq && strcmp(eq, "=managed") == 0)
		as = AS_MANAGED;
	else if (eq && strcmp(eq, "=unmanaged") == 0)
		as = AS_UNMANAGED;
	else if (eq)
		return -1;
	if (eq)
		*eq = '\0';
	o->as[o->n_devs] = as;
	o->devs[o->n_devs++].device = arg;
	return 0;
}

/* USB has no managed side: the device is recorded, nothing moved. */
static void add_usb(struct options *o, const char *arg)
{
	o->as[o->n_devs] = AS_UNMANAGED;
	o->devs[o->n_devs++].device = arg;
}

/* Prints a failure the way a hypervisor would log it, and says which exit
 * status it deserves. */
static int report(const char *what, struct hd_error *err)
{
	int unreachable = strcmp(hd_error_name(err), HD_ERROR_UNREACHABLE) == 0;

	fprintf(stderr, "hd-example: %s: %s (%s)\n", what, hd_error_message(err),
		hd_error_name(err));
	hd_error_free(err);
	return unreachable ? 3 : 1;
}

static int parse(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "driver", required_argument, NULL, 'd' },
		{ "unmanaged", no_argument, NULL, 'u' },
		{ "no-wait", no_argument, NULL, 'n' },
		{ "socket", required_argument, NULL, 's' },
		{ "usb", required_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->owner.driver = "example";
	o->wait = 1;
	/* "-" first: PCI addresses may come between the options. */
	while ((c = getopt_long(argc, argv, "-", longopts, NULL)) != -1) {
		if (c == 'd')
			o->owner.driver = optarg;
		else if (c == 'u')
			o->unmanaged = 1;
		else if (c == 'n')
			o->wait = 0;
		else if (c == 's')
			o->socket_path = optarg;
		else if (c == 'U' && o->n_devs < MAX_DEVICES)
			add_usb(o, optarg);
		else if (c == 1 && !o->owner.domain)
			o->owner.domain = optarg;
		else if (c != 1 || o->n_devs == MAX_DEVICES || add_pci(o, optarg) < 0)
			return -1;
	}
	/* --unmanaged may come after the addresses it is the default for. */
	for (size_t i = 0; i < o->n_devs; i++)
		o->devs[i].managed = o->as[i] == AS_MANAGED ||
				     (o->as[i] == AS_DEFAULT && !o->unmanaged);
	return o->owner.domain && o->n_devs > 0 ? 0 : -1;
}

static int print_active(struct hd_manager *mgr, const struct hd_owner *owner)
{
	struct hd_claim_list *list;
	struct hd_error *err;

	if (hd_list_active(mgr, owner->driver, owner->domain, &list, &err) < 0)
		return report("listing the domain's devices", err);
	printf("%s/%s holds %zu device(s):\n", owner->driver, owner->domain,
	       hd_claim_list_count(list));
	printf("%-14s %-4s %-9s %-8s %s\n", "DEVICE", "BUS", "MANAGED", "PID", "SINCE");
	for (size_t i = 0; i < hd_claim_list_count(list); i++) {
		const struct hd_claim *c = hd_claim_list_at(list, i);
		const char *bus = hd_claim_bus(c);

		printf("%-14s %-4s %-9s %-8ld %s\n", hd_claim_device(c), bus ? bus : "?",
		       hd_claim_managed(c) ? "yes" : "no", (long)hd_claim_pid(c),
		       hd_claim_since(c));
	}
	hd_claim_list_free(list);
	return 0;
}

static void wait_for_enter(void)
{
	int c;

	printf("The guest would run now; press Enter to reattach the devices.\n");
	fflush(stdout);
	while ((c = getchar()) != EOF && c != '\n')
		;
}

/* Gives back what the prepare claimed, named as hostdevd named it: the
 * canonical ids, each in the list of its bus. */
static int reattach(struct hd_manager *mgr, const struct hd_owner *owner,
		    const struct hd_claim_list *claimed)
{
	const char *pci[MAX_DEVICES], *usb[MAX_DEVICES];
	size_t n_pci = 0, n_usb = 0;
	struct hd_error *err;

	for (size_t i = 0; i < hd_claim_list_count(claimed) && i < MAX_DEVICES; i++) {
		const struct hd_claim *c = hd_claim_list_at(claimed, i);
		const char *bus = hd_claim_bus(c);

		if (bus && strcmp(bus, "usb") == 0)
			usb[n_usb++] = hd_claim_device(c);
		else
			pci[n_pci++] = hd_claim_device(c);
	}
	if (hd_reattach_domain_devices(mgr, owner, pci, n_pci, usb, n_usb, 0, &err) < 0)
		return report("reattaching the devices", err);
	printf("reattached %zu device(s)\n", n_pci + n_usb);
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct hd_claim_list *claimed;
	struct hd_manager *mgr;
	struct hd_error *err;
	int status, r;

	if (parse(argc, argv, &o) < 0)
		return usage();
	/* HOSTDEVD_SOCKET, else /run/hostdevd/hostdevd.sock. */
	mgr = o.socket_path ? hd_manager_open(o.socket_path, &err) : hd_manager_get_default(&err);
	if (!mgr)
		return report("connecting to hostdevd", err);

	/* One claim, each device managed as its entry says. */
	if (hd_prepare_hostdevs(mgr, &o.owner, o.devs, o.n_devs, 0, &claimed, &err) < 0) {
		status = report("preparing the devices", err);
		hd_manager_free(mgr);
		return status;
	}
	status = print_active(mgr, &o.owner);
	if (o.wait)
		wait_for_enter();
	/* Reattach even when listing failed: the devices must not stay claimed. */
	r = reattach(mgr, &o.owner, claimed);
	hd_claim_list_free(claimed);
	hd_manager_free(mgr);
	return r ? r : status;
}
