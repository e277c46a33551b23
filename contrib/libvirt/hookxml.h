/* The libvirt hook's reading of a domain's XML: which host devices it
 * names, as hostdevd selectors, and whether libvirt manages each.
 *
 * libvirt hands its hooks the domain XML on stdin (https://libvirt.org/hooks.html);
 * this module turns the <hostdev mode='subsystem'> entries of type pci and
 * usb, and <interface type='hostdev'> (an SR-IOV VF passed as a NIC, a PCI
 * hostdev to libvirt too), into the list the hook claims.  Every address form
 * libvirt's own parser accepts is accepted here: numbers in any base strtoul
 * takes with base 0 (libvirt writes 0x-hex, people write decimal), a missing
 * attribute counting as 0 as libvirt counts it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct hookxml_dev {
	/* A hostdevd selector: "0000:06:02.0", "id:1234:beef" or "usb:1.2". */
	char *selector;
	bool pci;
	/* libvirt's managed='yes' (PCI only; absent means no, as in libvirt). */
	bool managed;
};

struct hookxml_domain {
	char *name; /* <name>, NULL when absent */
	char *uuid; /* <uuid>, NULL when absent */
	struct hookxml_dev *devs;
	size_t n_devs;
};

/* Parses the domain XML text (len bytes).  Returns the domain, or NULL with
 * one sentence in err (errlen bytes) saying what is wrong and where. */
struct hookxml_domain *hookxml_parse(const char *xml, size_t len, char *err, size_t errlen);
/* NULL is allowed. */
void hookxml_free(struct hookxml_domain *d);
