/* PCI functions as records (state/bus.h): what sysfs says of one, how it
 * is compared and shown, what makes it host-critical on sight. */
#include "state/bus.h"
#include "state/devtable.h"
#include "common/jsonbuf.h"
#include "common/log.h"
#include "common/sysdir.h"
#include "common/util.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCI_CLASS_BRIDGE_HOST 0x0600
#define PCI_CLASS_BRIDGE_PCI 0x0604

bool pci_is_bridge(const struct device *dev)
{
	return dev->bus == HD_BUS_PCI && (dev->pci.class_code >> 8) == PCI_CLASS_BRIDGE_PCI;
}

bool pci_is_host_bridge(const struct device *dev)
{
	return dev->bus == HD_BUS_PCI && (dev->pci.class_code >> 8) == PCI_CLASS_BRIDGE_HOST;
}

/* ---- records ------------------------------------------------------------ */

static void pci_init(struct device *dev)
{
	dev->pci.iommu_group = HD_NO_GROUP;
	dev->pci.sriov_totalvfs = -1;
	dev->pci.sriov_numvfs = -1;
}

static void pci_clear(struct device *dev)
{
	free(dev->pci.driver_override);
	free(dev->pci.physfn);
	free(dev->pci.reset_methods);
}

/* A decimal group number, or HD_NO_GROUP. */
static int group_number(const char *s)
{
	long v = 0;

	if (!*s)
		return HD_NO_GROUP;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (INT_MAX - 9) / 10)
			return HD_NO_GROUP;
		v = v * 10 + (*s - '0');
	}
	return (int)v;
}

static bool pci_fill(struct device *dev, const struct sysdir *d)
{
	struct pci_info *p = &dev->pci;
	char name[NAME_MAX + 1];
	char *override;
	_cleanup_free_ char *resets = NULL;

	if (!sysdir_hex(d, "vendor", &dev->vendor) || !sysdir_hex(d, "device", &dev->product))
		return false;
	sysdir_hex(d, "subsystem_vendor", &p->subsystem_vendor);
	sysdir_hex(d, "subsystem_device", &p->subsystem_device);
	sysdir_hex(d, "class", &p->class_code);
	sysdir_hex(d, "revision", &p->revision);
	/* The kernel prints "(null)" when no override is set. */
	override = sysdir_str(d, "driver_override");
	if (override && !streq(override, "(null)"))
		p->driver_override = override;
	else
		free(override);
	/* The kernel names groups by number; a link to anything else is no
	 * group (atoi would have made it group 0, a real group). */
	if (sysdir_link_name(d, "iommu_group", name, sizeof(name)))
		p->iommu_group = group_number(name);
	if (sysdir_link_name(d, "physfn", name, sizeof(name)))
		p->physfn = utf8_dup(name);
	p->sriov_totalvfs = sysdir_int(d, "sriov_totalvfs", -1);
	p->sriov_numvfs = sysdir_int(d, "sriov_numvfs", -1);
	/* reset_method lists the enabled methods in the order tried. */
	resets = sysdir_str(d, "reset_method");
	p->reset_methods = device_words(resets ? resets : "");
	/* `reset` is write-only: its presence is what tells a reset exists. */
	p->has_reset = sysdir_has(d, "reset");
	p->boot_vga = sysdir_int(d, "boot_vga", 0) == 1;
	dev->numa_node = sysdir_int(d, "numa_node", HD_NO_NUMA);
	if (dev->numa_node < 0)
		dev->numa_node = HD_NO_NUMA;
	return true;
}

static bool strv_equal(char **a, char **b)
{
	if (!a || !b)
		return a == b;
	for (; *a && *b; a++, b++)
		if (strcmp(*a, *b))
			return false;
	return !*a && !*b;
}

static char **words_copy(char **v)
{
	size_t len = 1;
	_cleanup_free_ char *joined = NULL;

	if (!v)
		return NULL;
	for (char **p = v; *p; p++)
		len += strlen(*p) + 1;
	joined = xcalloc(1, len);
	for (char **p = v; *p; p++) {
		if (p != v)
			strcat(joined, " ");
		strcat(joined, *p);
	}
	return device_words(joined);
}

static bool pci_update(struct device *dst, const struct device *src)
{
	struct pci_info *d = &dst->pci;
	const struct pci_info *s = &src->pci;
	bool changed = false;

	DEVICE_SET(changed, d->subsystem_vendor, s->subsystem_vendor);
	DEVICE_SET(changed, d->subsystem_device, s->subsystem_device);
	DEVICE_SET(changed, d->class_code, s->class_code);
	DEVICE_SET(changed, d->revision, s->revision);
	changed |= str_replace(&d->driver_override, s->driver_override);
	DEVICE_SET(changed, d->iommu_group, s->iommu_group);
	changed |= str_replace(&d->physfn, s->physfn);
	DEVICE_SET(changed, d->sriov_totalvfs, s->sriov_totalvfs);
	DEVICE_SET(changed, d->sriov_numvfs, s->sriov_numvfs);
	if (!strv_equal(d->reset_methods, s->reset_methods)) {
		free(d->reset_methods);
		d->reset_methods = words_copy(s->reset_methods);
		changed = true;
	}
	DEVICE_SET(changed, d->has_reset, s->has_reset);
	DEVICE_SET(changed, d->boot_vga, s->boot_vga);
	return changed;
}

/* ---- ids ---------------------------------------------------------------- */

/* "DDDD:BB:DD.F" with hex digits and a domain of 4 or more digits (VMD
 * domains have more). */
static bool pci_is_device_name(const char *s, size_t len)
{
	size_t i = 0, dom = 0;

	while (i < len && isxdigit((unsigned char)s[i])) {
		i++;
		dom++;
	}
	if (dom < 4 || len != i + 8 || s[i] != ':' || s[i + 3] != ':' || s[i + 6] != '.')
		return false;
	return isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2]) &&
	       isxdigit((unsigned char)s[i + 4]) && isxdigit((unsigned char)s[i + 5]) &&
	       s[i + 7] >= '0' && s[i + 7] <= '7';
}

/* The same shape with a domain of at most 8 digits, in either case; or
 * lspci's short form BB:DD.F, which means domain 0000 (lspci leaves the
 * domain out when every device is in domain 0). */
static bool pci_canonical_id(const char *sel, char *out, size_t size)
{
	static const char domain0[] = "0000:";
	size_t len = strlen(sel), dom = strcspn(sel, ":"), skip = 0;

	if (len == 7 && dom == 2) {
		if (sizeof(domain0) - 1 + len >= size)
			return false;
		memcpy(out, domain0, sizeof(domain0) - 1);
		skip = sizeof(domain0) - 1;
	} else if (len >= size || dom > 8) {
		return false;
	}
	for (size_t i = 0; i <= len; i++)
		out[skip + i] = (char)(sel[i] >= 'A' && sel[i] <= 'F' ? sel[i] | 0x20 : sel[i]);
	return pci_is_device_name(out, skip + len);
}

/* ---- relations ---------------------------------------------------------- */

static bool pci_bridge(const struct device *dev)
{
	return pci_is_bridge(dev) || pci_is_host_bridge(dev);
}

/* ---- host-critical ------------------------------------------------------ */

static const char *pci_fixed_critical(const struct device *dev)
{
	if (pci_is_host_bridge(dev))
		return "host bridge";
	if (pci_is_bridge(dev))
		return "PCI bridge: its devices stay with the host";
	if (dev->pci.boot_vga)
		return "boot VGA device: the console may be on it";
	return NULL;
}

/* The host's vsock transports that are PCI functions of their own. */
static const char *pci_transport_critical(const struct device *dev)
{
	if (streq(dev->driver, "vmw_vmci"))
		return "vsock transport (VMCI)";
	if (dev->vendor == 0x1af4 && dev->product == 0x1053)
		return "vsock transport (virtio)";
	return NULL;
}

/* ---- protocol ----------------------------------------------------------- */

static const struct device *next_in_group(const struct device *dev)
{
	return dev->group_next;
}

static const struct device *next_vf(const struct device *dev)
{
	return dev->vf_next;
}

static void append_optional(struct jsonbuf *b, const struct pci_info *p)
{
	JSONBUF_OPT_STRING(b, "driver_override", p->driver_override);
	if (p->iommu_group != HD_NO_GROUP) {
		JSONBUF_KEY(b, "iommu_group");
		jsonbuf_int(b, p->iommu_group);
	}
	JSONBUF_OPT_STRING(b, "physfn", p->physfn);
	if (p->sriov_totalvfs >= 0) {
		JSONBUF_KEY(b, "sriov_totalvfs");
		jsonbuf_int(b, p->sriov_totalvfs);
	}
	if (p->sriov_numvfs >= 0) {
		JSONBUF_KEY(b, "sriov_numvfs");
		jsonbuf_int(b, p->sriov_numvfs);
	}
}

static void pci_append_json(struct jsonbuf *b, const struct devtable *t, const struct device *dev)
{
	const struct pci_info *p = &dev->pci;

	JSONBUF_LIT(b, "{\"subsystem_vendor\":");
	jsonbuf_hex(b, p->subsystem_vendor, 4);
	JSONBUF_KEY(b, "subsystem_device");
	jsonbuf_hex(b, p->subsystem_device, 4);
	JSONBUF_KEY(b, "class");
	jsonbuf_hex(b, p->class_code, 6);
	JSONBUF_KEY(b, "revision");
	jsonbuf_hex(b, p->revision, 2);
	append_optional(b, p);
	JSONBUF_KEY(b, "iommu_group_members");
	bus_json_sorted_ids(b, devtable_group_first(t, p->iommu_group), next_in_group);
	JSONBUF_KEY(b, "virtfns");
	bus_json_sorted_ids(b, devtable_vfs_first(t, dev->id), next_vf);
	JSONBUF_KEY(b, "reset_methods");
	bus_json_words(b, p->reset_methods);
	JSONBUF_KEY(b, "resettable");
	jsonbuf_bool(b, p->has_reset);
	JSONBUF_KEY(b, "boot_vga");
	jsonbuf_bool(b, p->boot_vga);
	JSONBUF_KEY(b, "bridge");
	jsonbuf_bool(b, pci_bridge(dev));
	JSONBUF_LIT(b, "}");
}

/* As udev's modalias rule asks (hwdb.d/20-pci-vendor-model.hwdb). */
static void pci_hwdb_key(const struct device *dev, char *out, size_t size)
{
	snprintf(out, size, "pci:v%08Xd%08X", dev->vendor, dev->product);
}

const struct bus_desc bus_pci = {
	.name = "pci",
	.label = "PCI",
	.plural = "PCI functions",
	.subsystem = "pci",
	.binding_events = true,
	.stub_drivers = true,
	.init = pci_init,
	.clear = pci_clear,
	.fill = pci_fill,
	.update = pci_update,
	.is_device_name = pci_is_device_name,
	.canonical_id = pci_canonical_id,
	.group_offset = offsetof(struct device, pci.iommu_group),
	.physfn_offset = offsetof(struct device, pci.physfn),
	.override_offset = offsetof(struct device, pci.driver_override),
	.is_bridge = pci_bridge,
	.fixed_critical = pci_fixed_critical,
	.transport_critical = pci_transport_critical,
	.append_json = pci_append_json,
	.hwdb_key = pci_hwdb_key,
};
