#include "tests/vm/guest/guestutil.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool guest_pci_address_valid(const char *s)
{
	static const char form[] = "xxxx:xx:xx.x";

	if (strlen(s) != sizeof(form) - 1)
		return false;
	for (size_t i = 0; form[i]; i++)
		if (form[i] == 'x' ? !isxdigit((unsigned char)s[i]) : s[i] != form[i])
			return false;
	return s[11] <= '7';
}

int guest_usage_error(const char *prog, const char *usage, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage, stderr);
	return 2;
}

int guest_pci_address_operand(const char *prog, const char *usage, int argc, char **argv,
			      const char **addr)
{
	if (optind != argc - 1)
		return guest_usage_error(prog, usage, "%s", optind == argc ? "no PCI address given"
							 : "more than one PCI address given");
	*addr = argv[optind];
	if (!guest_pci_address_valid(*addr))
		return guest_usage_error(prog, usage, "'%s' is not a PCI address (DDDD:BB:DD.F)", *addr);
	return -1;
}
