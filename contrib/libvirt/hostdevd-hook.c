/* hostdevd's libvirt qemu hook: installed as /etc/libvirt/hooks/qemu.d/hostdevd,
 * run by libvirt as `hostdevd DOMAIN OPERATION SUB-OPERATION EXTRA` with
 * the domain XML on stdin (https://libvirt.org/hooks.html).
 *
 * prepare: claims the domain's PCI and USB hostdevs for owner qemu/DOMAIN
 * with the domain's UUID, before libvirt touches any of them, in one claim
 * with each device's managed= (all or nothing); a refusal exits 1 with
 * hostdevd's sentence on stderr, which libvirt shows as the reason the
 * start failed.  release: ends every claim qemu/DOMAIN holds.
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
	struct hd_error *err = NULL;
	struct hd_hostdev *devs;
	struct hd_manager *m;
	struct hd_owner owner;
	int rc = 1;

	if (!d)
		return 1;
	if (d->n_devs == 0) {
		hookxml_free(d);
		return 0;
	}
	devs = calloc(d->n_devs, sizeof(*devs));
	if (!devs)
		abort();
	/* A USB hostdev is never managed here: hostdevd records it and moves
	 * nothing, whatever libvirt's managed= says (README.md). */
	for (size_t i = 0; i < d->n_devs; i++)
		devs[i] = (struct hd_hostdev){ .device = d->devs[i].selector,
					       .managed = d->devs[i].managed };
	owner = (struct hd_owner){ .driver = "qemu", .domain = name, .uuid = d->uuid };
	m = connect_hostdevd(name, "not started: its host devices cannot be claimed");
	if (!m)
		goto out;
	/* One claim, managed per device: a refusal leaves nothing held and
	 * nothing to undo. */
	if (hd_prepare_hostdevs(m, &owner, devs, d->n_devs, 0, NULL, &err) < 0) {
		report(name, "not started", err);
		goto out;
	}
	rc = 0;
out:
	hd_manager_free(m);
	free(devs);
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
			"hostdevs for qemu/DOMAIN in one claim (a PCI one managed as its managed=\n"
			"says); release releases them; other operations do nothing.\n",
			argv[0]);
		return help ? 0 : 2;
	}
	if (strcmp(argv[2], "prepare") == 0)
		return prepare(argv[1]);
	if (strcmp(argv[2], "release") == 0)
		return release(argv[1]);
	return 0;
}
