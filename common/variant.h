/* vfio-pci variant drivers: the `vfio_pci:` aliases of modules.alias.
 *
 * A variant driver (mlx5_vfio_pci, nvgrace_gpu_vfio_pci, ...) is vfio-pci
 * with device-specific migration or memory support; its module declares
 * the devices it serves as `alias vfio_pci:v<ven>d<dev>sv<sv>sd<sd>bc<bc>
 * sc<sc>i<pi> <module>`; vfio_pci's own catch-all alias (Linux 6.0 on) is
 * no variant's and is skipped.  With no stub named, a PCI function goes to the
 * best match: the pattern with the fewest wildcards, ties by file order
 * (libvirt's choice since 10.0); no match: plain vfio-pci.  The table only
 * names modules: the driver name a module registers comes from sysfs
 * (engine/detach.h), never from the module's name. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct variant_table;

/* Reads <modules_dir>/modules.alias.  Never NULL: a missing or unreadable
 * file gives an empty table (no variants: plain vfio-pci). */
struct variant_table *variant_table_load(const char *modules_dir);
/* The `alias vfio_pci:PATTERN MODULE` lines of fp; anything else, and a
 * malformed vfio_pci line, is skipped. */
struct variant_table *variant_table_parse(FILE *fp);
void variant_table_free(struct variant_table *t);
size_t variant_table_count(const struct variant_table *t);

/* The device's string as the aliases match it:
 * "vfio_pci:v000015B3d0000101Esv000015B3sd00000001bc02sc00i00". */
#define VARIANT_MODALIAS_MAX 64
void variant_modalias(char buf[VARIANT_MODALIAS_MAX], uint32_t vendor, uint32_t device,
		      uint32_t subvendor, uint32_t subdevice, uint32_t class_code);

/* The module of the best alias for `modalias`, or NULL for none (plain
 * vfio-pci).  Valid while t lives. */
const char *variant_choose(const struct variant_table *t, const char *modalias);
/* Whether `module` (as modules.alias and /sys/module name it) declares a
 * vfio_pci: alias. */
bool variant_table_has_module(const struct variant_table *t, const char *module);
/* The table's own copy of that name (valid while t lives), or NULL. */
const char *variant_table_module(const struct variant_table *t, const char *module);
/* The modules, each once, in file order: at most max of them into out;
 * how many. */
size_t variant_table_modules(const struct variant_table *t, const char **out, size_t max);
