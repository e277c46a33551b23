/* The domain XML → the claim list (hookxml.h).  A walk over the tree, not
 * XPath: the few elements that matter sit at fixed places under
 * /domain/devices, and a walk says in its error which element was wrong. */
#include "hookxml.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

struct walk {
	struct hookxml_domain *d;
	char *err;
	size_t errlen;
	size_t cap;
};

__attribute__((format(printf, 3, 4))) static void fail_at(struct walk *w, xmlNode *n,
							  const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(w->err, w->errlen, "domain XML line %ld: %s", n ? xmlGetLineNo(n) : 0L, what);
}

static bool is(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xmlNode *child(xmlNode *n, const char *name)
{
	for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (is(c, name))
			return c;
	return NULL;
}

/* The attribute's value (free with xmlFree), NULL when absent. */
static char *attr(xmlNode *n, const char *name)
{
	return (char *)xmlGetProp(n, (const xmlChar *)name);
}

/* A number as libvirt reads it (virStrToLong_uip, base 0: "0x06", "6",
 * and, as strtoul has it, "06" octal), at most max.  A missing attribute is
 * 0, as libvirt's default is.  Returns false (and sets the error) on text
 * that is not such a number. */
static bool number(struct walk *w, xmlNode *n, const char *name, unsigned long max,
		   unsigned long *out)
{
	char *v = attr(n, name), *end;
	bool ok = true;

	*out = 0;
	if (!v)
		return true;
	errno = 0;
	*out = strtoul(v, &end, 0);
	if (v[0] == '\0' || strchr(v, '-') || *end != '\0' || errno || *out > max) {
		fail_at(w, n, "<%s %s='%s'>: not a number from 0 to %#lx", (const char *)n->name,
			name, v, max);
		ok = false;
	}
	xmlFree(v);
	return ok;
}

static void add(struct walk *w, const char *selector, bool pci, bool managed)
{
	struct hookxml_domain *d = w->d;

	if (d->n_devs == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 4;
		d->devs = realloc(d->devs, w->cap * sizeof(*d->devs));
		if (!d->devs)
			abort();
	}
	d->devs[d->n_devs].selector = strdup(selector);
	if (!d->devs[d->n_devs].selector)
		abort();
	d->devs[d->n_devs].pci = pci;
	d->devs[d->n_devs].managed = managed;
	d->n_devs++;
}

/* managed='yes'|'no', absent: no (libvirt's default). */
static bool managed_attr(struct walk *w, xmlNode *n, bool *managed)
{
	char *v = attr(n, "managed");
	bool ok = true;

	*managed = false;
	if (v && strcmp(v, "yes") == 0)
		*managed = true;
	else if (v && strcmp(v, "no") != 0) {
		fail_at(w, n, "managed='%s': neither yes nor no", v);
		ok = false;
	}
	xmlFree(v);
	return ok;
}

/* <source><address domain= bus= slot= function=/></source> of a PCI
 * hostdev or a hostdev interface. */
static bool pci_source(struct walk *w, xmlNode *dev, bool managed)
{
	xmlNode *addr = child(child(dev, "source"), "address");
	unsigned long dom, bus, slot, fn;
	char sel[32];

	if (!addr) {
		fail_at(w, dev, "<%s> of a PCI device without <source><address>",
			(const char *)dev->name);
		return false;
	}
	if (!number(w, addr, "domain", 0xffff, &dom) || !number(w, addr, "bus", 0xff, &bus) ||
	    !number(w, addr, "slot", 0x1f, &slot) || !number(w, addr, "function", 7, &fn))
		return false;
	snprintf(sel, sizeof(sel), "%04lx:%02lx:%02lx.%lx", dom, bus, slot, fn);
	add(w, sel, true, managed);
	return true;
}

/* USB by <address bus= device=> (what libvirt opens when both forms are
 * given: it looks for a device matching both) or else by <vendor id=>
 * <product id=>. */
static bool usb_source(struct walk *w, xmlNode *dev)
{
	xmlNode *src = child(dev, "source");
	xmlNode *addr = child(src, "address"), *vendor = child(src, "vendor");
	xmlNode *product = child(src, "product");
	unsigned long a, b;
	char sel[48];

	if (addr) {
		if (!number(w, addr, "bus", UINT_MAX, &a) || !number(w, addr, "device", UINT_MAX, &b))
			return false;
		snprintf(sel, sizeof(sel), "usb:%lu.%lu", a, b);
	} else if (vendor && product) {
		if (!number(w, vendor, "id", 0xffff, &a) || !number(w, product, "id", 0xffff, &b))
			return false;
		snprintf(sel, sizeof(sel), "id:%04lx:%04lx", a, b);
	} else {
		fail_at(w, dev, "USB <hostdev> names neither <address bus= device=> nor "
				"<vendor id=> and <product id=>");
		return false;
	}
	add(w, sel, false, false);
	return true;
}

static bool hostdev(struct walk *w, xmlNode *dev)
{
	char *mode = attr(dev, "mode"), *type = attr(dev, "type");
	bool ok = true, managed;

	/* mode='capabilities' (storage, misc, net of an LXC container) moves
	 * no device; libvirt's default mode is subsystem.  scsi, scsi_host and
	 * mdev are not devices hostdevd claims. */
	if (mode && strcmp(mode, "subsystem") != 0)
		goto out;
	if (!type) {
		fail_at(w, dev, "<hostdev mode='subsystem'> without a type");
		ok = false;
	} else if (strcmp(type, "pci") == 0) {
		ok = managed_attr(w, dev, &managed) && pci_source(w, dev, managed);
	} else if (strcmp(type, "usb") == 0) {
		ok = managed_attr(w, dev, &managed) && usb_source(w, dev);
	}
out:
	xmlFree(mode);
	xmlFree(type);
	return ok;
}

/* <interface type='hostdev' managed=...>: an SR-IOV VF given to the guest
 * as its NIC; libvirt detaches it exactly as a PCI hostdev. */
static bool interface(struct walk *w, xmlNode *dev)
{
	char *type = attr(dev, "type");
	bool ok = true, managed;

	if (type && strcmp(type, "hostdev") == 0) {
		xmlNode *addr = child(child(dev, "source"), "address");
		char *atype = addr ? attr(addr, "type") : NULL;

		if (atype && strcmp(atype, "pci") != 0) {
			fail_at(w, dev, "<interface type='hostdev'> with an address of type '%s'",
				atype);
			ok = false;
		} else {
			ok = managed_attr(w, dev, &managed) && pci_source(w, dev, managed);
		}
		xmlFree(atype);
	}
	xmlFree(type);
	return ok;
}

static char *text_of(xmlNode *n)
{
	xmlChar *c = n ? xmlNodeGetContent(n) : NULL;
	char *s = c ? strdup((const char *)c) : NULL;

	xmlFree(c);
	return s;
}

struct hookxml_domain *hookxml_parse(const char *xml, size_t len, char *err, size_t errlen)
{
	struct walk w = { .err = err, .errlen = errlen };
	xmlDoc *doc;
	xmlNode *root;
	bool ok = true;

	if (len > INT_MAX) {
		snprintf(err, errlen, "domain XML of %zu bytes: too long", len);
		return NULL;
	}
	/* No network, no entity expansion (the default), no messages on
	 * stderr: the one sentence goes to err. */
	doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		const xmlError *e = xmlGetLastError();

		snprintf(err, errlen, "domain XML line %d: %s", e ? e->line : 0,
			 e && e->message ? e->message : "not XML\n");
		/* libxml2's messages end in a newline. */
		err[strcspn(err, "\n")] = '\0';
		return NULL;
	}
	root = xmlDocGetRootElement(doc);
	if (!root || !is(root, "domain")) {
		snprintf(err, errlen, "domain XML: the root element is <%s>, not <domain>",
			 root ? (const char *)root->name : "");
		xmlFreeDoc(doc);
		return NULL;
	}
	w.d = calloc(1, sizeof(*w.d));
	if (!w.d)
		abort();
	w.d->name = text_of(child(root, "name"));
	w.d->uuid = text_of(child(root, "uuid"));
	for (xmlNode *c = child(root, "devices") ? child(root, "devices")->children : NULL; c && ok;
	     c = c->next) {
		if (is(c, "hostdev"))
			ok = hostdev(&w, c);
		else if (is(c, "interface"))
			ok = interface(&w, c);
	}
	xmlFreeDoc(doc);
	if (!ok) {
		hookxml_free(w.d);
		return NULL;
	}
	return w.d;
}

void hookxml_free(struct hookxml_domain *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_devs; i++)
		free(d->devs[i].selector);
	free(d->devs);
	free(d->name);
	free(d->uuid);
	free(d);
}
