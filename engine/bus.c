#include "engine/bus.h"

/* Defined by the buses' operation files. */
extern const struct bus_engine bus_engine_pci, bus_engine_usb;

/* Adding a bus: its operations file, and a line here. */
static const struct bus_engine *const engines[HD_BUS__COUNT] = {
	[HD_BUS_PCI] = &bus_engine_pci,
	[HD_BUS_USB] = &bus_engine_usb,
};

const struct bus_engine *bus_engine_of(const struct device *dev)
{
	return engines[dev->bus];
}
