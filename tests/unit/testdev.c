#include "tests/unit/testdev.h"
#include "common/util.h"

#include <stdio.h>

struct device *testdev_pci(const char *id, uint32_t vendor, uint32_t product, uint32_t cls,
			   int group, const char *driver, const char *parent)
{
	struct device *d = device_new(HD_BUS_PCI, id);
	char path[256];

	snprintf(path, sizeof(path), "/sys/devices/pci0000:00/%s", id);
	d->syspath = xstrdup(path);
	d->vendor = vendor;
	d->product = product;
	d->pci.class_code = cls;
	d->pci.iommu_group = group;
	d->driver = device_intern(driver);
	d->parent = xstrdup(parent);
	return d;
}

struct device *testdev_usb(const char *id, uint32_t vendor, uint32_t product, int devnum,
			   const char *parent)
{
	struct device *d = device_new(HD_BUS_USB, id);
	char path[256];

	snprintf(path, sizeof(path), "/sys/devices/pci0000:00/0000:00:14.0/usb1/%s", id);
	d->syspath = xstrdup(path);
	d->vendor = vendor;
	d->product = product;
	d->usb.busnum = 1;
	d->usb.devnum = devnum;
	d->parent = xstrdup(parent);
	return d;
}

void testdev_iface(struct device *d, const char *id, uint8_t cls, uint8_t sub, uint8_t proto,
		   const char *driver)
{
	struct usb_iface i = { .id = (char *)id, .cls = cls, .subcls = sub, .proto = proto,
			       .driver = (char *)driver };

	device_usb_iface_set(d, &i);
}

static uint64_t rnd_state;

void testdev_seed(uint64_t seed)
{
	rnd_state = seed;
}

unsigned testdev_rnd(unsigned n)
{
	rnd_state = rnd_state * 6364136223846793005u + 1442695040888963407u;
	return (unsigned)(rnd_state >> 33) % n;
}
