/* What the guest programs (vfio-open, bench/vm/detach-latency) share. */
#pragma once

#include <stdbool.h>

/* DDDD:BB:DD.F, as sysfs names PCI functions: the address becomes part of
 * paths, so nothing else gets through. */
bool guest_pci_address_valid(const char *s);

/* Prints "PROG: <message>" and the usage text to stderr; returns 2, the
 * usage-error exit status. */
/* The program's one operand, a PCI address, from argv[optind]: -1 with it
 * in *addr, else the exit status after the usage error. */
int guest_pci_address_operand(const char *prog, const char *usage, int argc, char **argv,
			      const char **addr);

int guest_usage_error(const char *prog, const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
