/* hostdevd's libvirt qemu hook: installed as /etc/libvirt/hooks/qemu.d/hostdevd,
 * run by libvirt as `hostdevd DOMAIN OPERATION SUB-OPERATION EXTRA` with
 * the domain XML on stdin (https://libvirt.org/hooks.html).
 *
 * prepare: claims the domain's PCI and USB hostdevs for owner qemu/DOMAIN
 * with the domain's UUID, before libvirt touches any of them; a refusal
 * exits 1 with hostdevd's sentence on stderr, which libvirt shows as the
 * reason the start failed.  release: ends every claim qemu/DOMAIN holds.
 * Any other operation: nothing.  contrib/libvirt/README.md says why each
 * choice (managed='yes', hostdevd not running) is what it is. */
#include "hookxml.h"

#include <hostdev/hostdev.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "hostdevd hook"
/* A managed claim waits for the kernel, up to hostdevd's step timeout per
 * stuck step; libvirt puts no limit on a hook, so this one is generous. */
#define HOOK_TIMEOUT_MS 120000

static char *read_all(FILE *in, size_t *len)
{
	size_t cap = 65536, n = 0, got;
	char *buf = malloc(cap);

	if (!buf)
		abort();
	while ((got = fread(buf + n, 1, cap - n, in)) > 0) {
		n += got;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
	}
	if (ferror(in)) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

static struct hookxml_domain *read_domain(const char *name)
{
	struct hookxml_domain *d;
	char err[512];
	size_t len;
	char *xml = read_all(stdin, &len);

	if (!xml) {
		fprintf(stderr, PROG ": domain %s: cannot read its XML on stdin\n", name);
		return NULL;
	}
	d = hookxml_parse(xml, len, err, sizeof(err));
	free(xml);
	if (!d)
		fprintf(stderr, PROG ": domain %s: %s\n", name, err);
	return d;
}

static void report(const char *name, const char *what, struct hd_error *err)
{
	fprintf(stderr, PROG ": domain %s %s: %s (%s)\n", name, what, hd_error_message(err),
		hd_error_name(err));
	hd_error_free(err);
}

static struct hd_manager *connect_hostdevd(const char *name, const char *what)
{
	struct hd_error *err = NULL;
	struct hd_manager *m = hd_manager_get_default(&err);

	if (!m) {
		/* A host that installed the hook wants every start checked:
		 * without hostdevd nothing would stop a second owner, so the
		 * start fails, saying why. */
		report(name, what, err);
		return NULL;
	}
	hd_manager_set_timeout(m, HOOK_TIMEOUT_MS);
	return m;
}

static int prepare(const char *name)
{
	struct hookxml_domain *d = read_domain(name);
	const char **unmanaged, **managed, **usb;
	size_t n_un = 0, n_man = 0, n_usb = 0;
	struct hd_error *err = NULL;
	struct hd_manager *m;
	struct hd_owner owner;
	int rc = 1;

	if (!d)
		return 1;
	if (d->n_devs == 0) {
		hookxml_free(d);
		return 0;
	}
	unmanaged = calloc(d->n_devs, sizeof(char *));
	managed = calloc(d->n_devs, sizeof(char *));
	usb = calloc(d->n_devs, sizeof(char *));
	if (!unmanaged || !managed || !usb)
		abort();
	for (size_t i = 0; i < d->n_devs; i++) {
		const struct hookxml_dev *x = &d->devs[i];

		if (!x->pci)
			usb[n_usb++] = x->selector;
		else if (x->managed)
			managed[n_man++] = x->selector;
		else
			unmanaged[n_un++] = x->selector;
	}
	owner = (struct hd_owner){ .driver = "qemu", .domain = name, .uuid = d->uuid };
	m = connect_hostdevd(name, "not started: its host devices cannot be claimed");
	if (!m)
		goto out;
	/* libhostdev's managed flag is per call, so a domain that mixes both
	 * takes two claims.  The unmanaged one first: it writes nothing, so
	 * undoing it when the managed one is refused moves no device. */
	if (n_un > 0 && hd_prepare_pci_devices(m, &owner, unmanaged, n_un, HD_UNMANAGED, NULL,
					       &err) < 0) {
		report(name, "not started", err);
		goto out;
	}
	if (n_man + n_usb > 0 &&
	    hd_prepare_domain_devices(m, &owner, managed, n_man, usb, n_usb, 0, NULL, &err) < 0) {
		report(name, "not started", err);
		if (n_un > 0 && hd_reattach_pci_devices(m, &owner, unmanaged, n_un, 0, &err) < 0)
			report(name, "could not undo its unmanaged claims", err);
		goto out;
	}
	rc = 0;
out:
	hd_manager_free(m);
	free(unmanaged);
	free(managed);
	free(usb);
	hookxml_free(d);
	return rc;
}

static int release(const char *name)
{
	/* The XML only gives the UUID: without it (unreadable XML) the claims
	 * of qemu/NAME are still released, libvirt's names being unique. */
	struct hookxml_domain *d = read_domain(name);
	struct hd_owner owner = { .driver = "qemu", .domain = name, .uuid = d ? d->uuid : NULL };
	struct hd_error *err = NULL;
	struct hd_manager *m;
	int rc = 0;

	m = connect_hostdevd(name, "stopped, but its claims cannot be released");
	if (!m) {
		rc = 1;
	} else if (hd_reattach_all_devices(m, &owner, 0, &err) < 0) {
		report(name, "stopped, but its claims were not all released", err);
		rc = 1;
	}
	hd_manager_free(m);
	hookxml_free(d);
	return rc;
}

int main(int argc, char **argv)
{
	bool help = argc == 2 && strcmp(argv[1], "--help") == 0;

	if (argc < 3) {
		fprintf(help ? stdout : stderr,
			"usage: %s DOMAIN OPERATION [SUB-OPERATION EXTRA] < DOMAIN-XML\n"
			"libvirt's qemu hook for hostdevd: prepare claims the domain's PCI and USB\n"
			"hostdevs for qemu/DOMAIN, release releases them; other operations do nothing.\n",
			argv[0]);
		return help ? 0 : 2;
	}
	if (strcmp(argv[2], "prepare") == 0)
		return prepare(argv[1]);
	if (strcmp(argv[2], "release") == 0)
		return release(argv[1]);
	return 0;
}
