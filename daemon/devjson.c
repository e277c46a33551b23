#include "daemon/devjson.h"
#include "common/log.h"
#include "common/util.h"

#include <string.h>

#define APPEND_LIT(b, lit) devjson_append(b, lit, sizeof(lit) - 1)
/* Every key but an object's first follows a comma. */
#define KEY(b, name) APPEND_LIT(b, ",\"" name "\":")

static void reserve(struct devjson_buf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 4096;

	if (b->cap - b->len >= n)
		return;
	while (cap - b->len < n)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void devjson_append(struct devjson_buf *b, const char *text, size_t len)
{
	reserve(b, len);
	memcpy(b->data + b->len, text, len);
	b->len += len;
}

/* Escapes what JSON requires and passes every other byte through, as json-c
 * does: the kernel's strings are UTF-8 already. */
void devjson_append_string(struct devjson_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	char *p;

	reserve(b, strlen(s) * 6 + 2);
	p = b->data + b->len;
	*p++ = '"';
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\') {
			*p++ = '\\';
			*p++ = (char)*c;
		} else if (*c < 0x20) {
			memcpy(p, "\\u00", 4);
			p[4] = hex[*c >> 4];
			p[5] = hex[*c & 15];
			p += 6;
		} else {
			*p++ = (char)*c;
		}
	}
	*p++ = '"';
	b->len = (size_t)(p - b->data);
}

void devjson_append_int(struct devjson_buf *b, int64_t v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	devjson_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* `width` lower-case hex digits, quoted.  A value wider than the schema
 * allows is printed whole rather than cut, so a bad record shows as such. */
static void append_hex(struct devjson_buf *b, uint32_t v, int width)
{
	static const char digits[] = "0123456789abcdef";
	char buf[10];
	int n = width;

	while (n < 8 && (v >> (4 * n)))
		n++;
	buf[0] = buf[n + 1] = '"';
	for (int i = n; i > 0; i--, v >>= 4)
		buf[i] = digits[v & 15];
	devjson_append(b, buf, (size_t)n + 2);
}

static void append_bool(struct devjson_buf *b, bool v)
{
	if (v)
		APPEND_LIT(b, "true");
	else
		APPEND_LIT(b, "false");
}

/* An optional string: the key is written only when there is a value. */
static void append_opt_string(struct devjson_buf *b, const char *key, size_t key_len,
			      const char *s)
{
	if (!s)
		return;
	devjson_append(b, key, key_len);
	devjson_append_string(b, s);
}

#define OPT_STRING(b, name, s) append_opt_string(b, ",\"" name "\":", sizeof(name) + 3, s)

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef const struct device *(*next_fn)(const struct device *dev);

static const struct device *next_in_group(const struct device *dev)
{
	return dev->group_next;
}

static const struct device *next_child(const struct device *dev)
{
	return dev->child_next;
}

static const struct device *next_vf(const struct device *dev)
{
	return dev->vf_next;
}

static void append_id_array(struct devjson_buf *b, const char *const *ids, size_t n)
{
	APPEND_LIT(b, "[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			APPEND_LIT(b, ",");
		devjson_append_string(b, ids[i]);
	}
	APPEND_LIT(b, "]");
}

/* The ids of an index list, sorted.  Lists are short (a group, a hub's
 * ports), so they are gathered on the stack unless they are not. */
static void append_sorted_ids(struct devjson_buf *b, const struct device *first, next_fn next)
{
	const char *stack[32] = { 0 }; /* zeroed: gcc -O2 cannot see n bounds the reads */
	const char **ids = stack;
	size_t n = 0, cap = ARRAY_SIZE(stack);

	for (const struct device *d = first; d; d = next(d)) {
		if (n == cap) {
			cap *= 2;
			ids = ids == stack ? memcpy(xcalloc(cap, sizeof(*ids)), stack, sizeof(stack))
					   : xrealloc(ids, cap * sizeof(*ids));
		}
		ids[n++] = d->id;
	}
	if (n > 1)
		qsort(ids, n, sizeof(*ids), cmp_str);
	append_id_array(b, ids, n);
	if (ids != stack)
		free(ids);
}

static void append_strv(struct devjson_buf *b, char **v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	append_id_array(b, (const char *const *)v, n);
}

static void append_pci_optional(struct devjson_buf *b, const struct pci_info *p)
{
	OPT_STRING(b, "driver_override", p->driver_override);
	if (p->iommu_group != HD_NO_GROUP) {
		KEY(b, "iommu_group");
		devjson_append_int(b, p->iommu_group);
	}
	OPT_STRING(b, "physfn", p->physfn);
	if (p->sriov_totalvfs >= 0) {
		KEY(b, "sriov_totalvfs");
		devjson_append_int(b, p->sriov_totalvfs);
	}
	if (p->sriov_numvfs >= 0) {
		KEY(b, "sriov_numvfs");
		devjson_append_int(b, p->sriov_numvfs);
	}
}

static void append_pci(struct devjson_buf *b, const struct devtable *t, const struct device *dev)
{
	const struct pci_info *p = &dev->pci;

	APPEND_LIT(b, "{\"subsystem_vendor\":");
	append_hex(b, p->subsystem_vendor, 4);
	KEY(b, "subsystem_device");
	append_hex(b, p->subsystem_device, 4);
	KEY(b, "class");
	append_hex(b, p->class_code, 6);
	KEY(b, "revision");
	append_hex(b, p->revision, 2);
	append_pci_optional(b, p);
	KEY(b, "iommu_group_members");
	append_sorted_ids(b, devtable_group_first(t, p->iommu_group), next_in_group);
	KEY(b, "virtfns");
	append_sorted_ids(b, devtable_vfs_first(t, dev->id), next_vf);
	KEY(b, "reset_methods");
	append_strv(b, p->reset_methods);
	KEY(b, "resettable");
	append_bool(b, p->has_reset);
	KEY(b, "boot_vga");
	append_bool(b, p->boot_vga);
	KEY(b, "bridge");
	append_bool(b, pci_is_bridge(dev) || pci_is_host_bridge(dev));
	APPEND_LIT(b, "}");
}

static void append_usb_iface(struct devjson_buf *b, const struct usb_iface *i)
{
	APPEND_LIT(b, "{\"id\":");
	devjson_append_string(b, i->id);
	KEY(b, "class");
	append_hex(b, i->cls, 2);
	KEY(b, "subclass");
	append_hex(b, i->subcls, 2);
	KEY(b, "protocol");
	append_hex(b, i->proto, 2);
	OPT_STRING(b, "driver", i->driver);
	APPEND_LIT(b, "}");
}

static void append_usb(struct devjson_buf *b, const struct device *dev)
{
	const struct usb_info *u = &dev->usb;

	APPEND_LIT(b, "{\"busnum\":");
	devjson_append_int(b, u->busnum);
	KEY(b, "devnum");
	devjson_append_int(b, u->devnum);
	KEY(b, "device_class");
	append_hex(b, u->device_class, 2);
	KEY(b, "bcd_device");
	append_hex(b, u->bcd_device, 4);
	OPT_STRING(b, "manufacturer", u->manufacturer);
	OPT_STRING(b, "product_name", u->product);
	OPT_STRING(b, "serial", u->serial);
	OPT_STRING(b, "speed", u->speed);
	KEY(b, "authorized");
	append_bool(b, u->authorized);
	KEY(b, "root_hub");
	append_bool(b, u->root_hub);
	KEY(b, "interfaces");
	APPEND_LIT(b, "[");
	for (size_t i = 0; i < u->n_ifaces; i++) {
		if (i)
			APPEND_LIT(b, ",");
		append_usb_iface(b, &u->ifaces[i]);
	}
	APPEND_LIT(b, "]}");
}

/* The owner holding the device, or moving it for a claim or release.  An
 * entry about to go (a release's last state change comes before the entry
 * is dropped) is not shown beside a settled state. */
static void append_claim(struct devjson_buf *b, const struct claims *c, const struct device *dev)
{
	const struct claim_entry *e = c ? claims_find(c, dev->id) : NULL;

	if (!e || (e->phase != CLAIM_HELD && dev->state != DEV_DETACHING &&
		   dev->state != DEV_RELEASING))
		return;
	KEY(b, "claim");
	APPEND_LIT(b, "{\"driver\":");
	devjson_append_string(b, e->driver);
	KEY(b, "domain");
	devjson_append_string(b, e->domain);
	OPT_STRING(b, "uuid", e->uuid);
	APPEND_LIT(b, "}");
}

void devjson_append_device(struct devjson_buf *b, const struct devtable *t,
			   const struct claims *c, const struct device *dev)
{
	APPEND_LIT(b, "{\"bus\":");
	devjson_append_string(b, hd_bus_name(dev->bus));
	KEY(b, "id");
	devjson_append_string(b, dev->id);
	/* Required by the schema: a record built without one still validates. */
	KEY(b, "syspath");
	devjson_append_string(b, dev->syspath ? dev->syspath : "");
	KEY(b, "state");
	devjson_append_string(b, dev_state_name(dev->state));
	KEY(b, "vendor");
	append_hex(b, dev->vendor, 4);
	KEY(b, "product");
	append_hex(b, dev->product, 4);
	OPT_STRING(b, "driver", dev->driver);
	OPT_STRING(b, "original_driver", dev->original_driver);
	append_claim(b, c, dev);
	OPT_STRING(b, "parent", dev->parent);
	KEY(b, "children");
	append_sorted_ids(b, devtable_children_first(t, dev->id), next_child);
	if (dev->numa_node != HD_NO_NUMA) {
		KEY(b, "numa_node");
		devjson_append_int(b, dev->numa_node);
	}
	if (dev->bus == HD_BUS_PCI) {
		KEY(b, "pci");
		append_pci(b, t, dev);
	} else {
		KEY(b, "usb");
		append_usb(b, dev);
	}
	APPEND_LIT(b, "}");
}

void devjson_append_event(struct devjson_buf *b, const struct devtable *t,
			  const struct claims *c, enum dev_event ev, const struct device *dev,
			  const char *detail)
{
	APPEND_LIT(b, "{\"event\":");
	devjson_append_string(b, dev_event_name(ev));
	KEY(b, "id");
	devjson_append_string(b, dev->id);
	OPT_STRING(b, "interface", detail);
	KEY(b, "device");
	devjson_append_device(b, t, c, dev);
	APPEND_LIT(b, "}");
}

static json_object *parse_own(struct devjson_buf *b)
{
	json_object *obj;

	devjson_append(b, "", 1);
	obj = json_tokener_parse(b->data);
	if (!obj)
		fatal("devjson wrote JSON that does not parse: %s", b->data);
	free(b->data);
	return obj;
}

json_object *devjson_device(const struct devtable *t, const struct claims *c,
			    const struct device *dev)
{
	struct devjson_buf b = { 0 };

	devjson_append_device(&b, t, c, dev);
	return parse_own(&b);
}

json_object *devjson_event(const struct devtable *t, const struct claims *c, enum dev_event ev,
			   const struct device *dev, const char *detail)
{
	struct devjson_buf b = { 0 };

	devjson_append_event(&b, t, c, ev, dev, detail);
	return parse_own(&b);
}
