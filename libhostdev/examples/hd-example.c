/* hd-example: what a hypervisor does with libhostdev around a guest's life.
 *
 *   hd-example [--driver NAME] [--unmanaged] [--no-wait] [--socket PATH]
 *              DOMAIN [PCI-ADDRESS...] [--usb USB-DEVICE]...
 *
 * It prepares the devices for DOMAIN (one claim, all or nothing: PCI
 * functions are detached to vfio-pci unless --unmanaged), prints what the
 * domain holds, waits for Enter (the guest would run now; --no-wait skips
 * it), and reattaches them.  Every failure is printed with the error's
 * message and name.  Exit status: 0 done, 1 refused or failed, 2 usage,
 * 3 hostdevd unreachable.
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

struct options {
	struct hd_owner owner;
	const char *socket_path;
	const char *pci[MAX_DEVICES], *usb[MAX_DEVICES];
	size_t n_pci, n_usb;
	unsigned flags;
	int wait;
};

static int usage(void)
{
	fprintf(stderr, "usage: hd-example [--driver NAME] [--unmanaged] [--no-wait] "
			"[--socket PATH] DOMAIN [PCI-ADDRESS...] [--usb USB-DEVICE]...\n");
	return 2;
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
			o->flags |= HD_UNMANAGED;
		else if (c == 'n')
			o->wait = 0;
		else if (c == 's')
			o->socket_path = optarg;
		else if (c == 'U' && o->n_usb < MAX_DEVICES)
			o->usb[o->n_usb++] = optarg;
		else if (c == 1 && !o->owner.domain)
			o->owner.domain = optarg;
		else if (c == 1 && o->n_pci < MAX_DEVICES)
			o->pci[o->n_pci++] = optarg;
		else
			return -1;
	}
	return o->owner.domain && o->n_pci + o->n_usb > 0 ? 0 : -1;
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

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct hd_manager *mgr;
	struct hd_error *err;
	int status;

	if (parse(argc, argv, &o) < 0)
		return usage();
	/* HOSTDEVD_SOCKET, else /run/hostdevd/hostdevd.sock. */
	mgr = o.socket_path ? hd_manager_open(o.socket_path, &err) : hd_manager_get_default(&err);
	if (!mgr)
		return report("connecting to hostdevd", err);

	if (hd_prepare_domain_devices(mgr, &o.owner, o.pci, o.n_pci, o.usb, o.n_usb, o.flags, NULL,
				      &err) < 0) {
		status = report("preparing the devices", err);
		hd_manager_free(mgr);
		return status;
	}
	status = print_active(mgr, &o.owner);
	if (o.wait)
		wait_for_enter();
	/* Reattach even when listing failed: the devices must not stay claimed. */
	if (hd_reattach_domain_devices(mgr, &o.owner, o.pci, o.n_pci, o.usb, o.n_usb, 0, &err) < 0)
		status = report("reattaching the devices", err);
	else
		printf("reattached %zu device(s)\n", o.n_pci + o.n_usb);
	hd_manager_free(mgr);
	return status;
}
