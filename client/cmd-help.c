/* --help, written from the command table so that it says what the parser
 * accepts: each entry's synopsis and text, each common option, the device
 * states --state takes. */
#include "client/cmd.h"
#include "common/log.h"
#include "common/util.h"
#include "state/device.h"

#include <string.h>

#define HELP_COLUMN 23 /* where descriptions start */
#define HELP_WIDTH 79

static const char intro[] =
	"Usage: hostdevctl [OPTIONS] COMMAND [ARGS]\n"
	"\n"
	"Ask hostdevd, the host device daemon, which PCI and USB devices this machine\n"
	"has, which driver holds each, and what changes.\n"
	"\n"
	"Commands:\n";

static const char notes[] =
	"\n"
	"An owner is the hypervisor driver and the guest's name, e.g. qemu/vm1; the\n"
	"guest's UUID is recorded when given.  claim and release need hostdevd's\n"
	"'claim' and 'release' permissions (root by default).\n"
	"\n"
	"DEVICE is a PCI address (0000:03:00.0, or 03:00.0 in domain 0000), a USB\n"
	"port path (1-2.3, usb1 for a root hub), id:VVVV:PPPP[:SERIAL] (USB vendor,\n"
	"product, serial) or usb:BUS.DEV (USB bus and device number); detach,\n"
	"reattach and reset take PCI functions only; detach, reattach and repair\n"
	"need hostdevd's 'detach' permission, reset its 'reset' permission (root by\n"
	"default).\n";

static const char interrupting[] =
	"\n"
	"Interrupting detach, reattach, reset, repair, claim or release, or giving up\n"
	"waiting, does not stop hostdevd: 'hostdevctl show DEVICE' tells where the\n"
	"device ended, 'hostdevctl claims' what is claimed.\n"
	"\n"
	"Options (before or after the command):\n";

static const char exit_status[] =
	"\n"
	"Exit status:\n"
	"  0  done\n"
	"  1  hostdevd refused or the request failed (its error is printed); for\n"
	"     check, a check failed: passthrough cannot work on this host yet\n"
	"  2  usage error\n"
	"  3  hostdevd could not be reached: not running, no permission on the socket,\n"
	"     or it stopped answering\n";

/* Prints text's lines in the description column, the first one on the line
 * already holding `used` columns when at least a space is left before it. */
static void print_text(FILE *out, int used, const char *text)
{
	const char *line, *nl;

	if (used >= HELP_COLUMN) {
		fputc('\n', out);
		used = 0;
	}
	for (line = text; *line; line = *nl ? nl + 1 : nl) {
		nl = strchrnul(line, '\n');
		fprintf(out, "%*s%.*s\n", HELP_COLUMN - used, "", (int)(nl - line), line);
		used = 0;
	}
}

/* "  name [sub] usage", the usage's later lines aligned under its first;
 * returns the width of the last line. */
static int print_synopsis(FILE *out, const struct cmd_entry *e)
{
	int width = fprintf(out, "  %s%s%s", e->name, e->sub ? " " : "", e->sub ? e->sub : "");
	int indent = width + 1;
	const char *line, *nl;

	if (!e->usage || !*e->usage)
		return width;
	fputc(' ', out);
	width = indent;
	for (line = e->usage;; line = nl + 1) {
		nl = strchrnul(line, '\n');
		width += fprintf(out, "%.*s", (int)(nl - line), line);
		if (!*nl)
			return width;
		fprintf(out, "\n%*s", indent, "");
		width = indent;
	}
}

/* The synopsis is written by hand, as tmux's are; an option it forgets
 * would be one the user never hears of. */
static void check_synopsis(const struct cmd_entry *e)
{
	char flag[64];

	for (const struct cmd_option *o = e->options; o && o->name; o++) {
		snprintf(flag, sizeof(flag), "--%s", o->name);
		if (!e->usage || !strstr(e->usage, flag))
			fatal("the synopsis of '%s' does not show %s", e->name, flag);
	}
}

static void print_option(FILE *out, const struct cmd_option *o)
{
	int used = o->short_name ? fprintf(out, "  -%c, --%s", o->short_name, o->name)
				 : fprintf(out, "      --%s", o->name);

	if (o->arg)
		used += fprintf(out, " %s", o->arg);
	print_text(out, used, o->help);
}

/* Greedy, at word boundaries: text made at run time has no hand-set breaks. */
static void print_wrapped(FILE *out, const char *text)
{
	size_t col = 0, len;

	for (const char *w = text + strspn(text, " "); *w; w += len, w += strspn(w, " ")) {
		len = strcspn(w, " ");
		if (col && col + 1 + len > HELP_WIDTH) {
			fputc('\n', out);
			col = 0;
		} else if (col) {
			fputc(' ', out);
			col++;
		}
		col += fwrite(w, 1, len, out);
	}
	fputc('\n', out);
}

/* From the daemon's state names, which --state is checked against. */
static void print_states(FILE *out)
{
	char text[512];
	size_t len = snprintf(text, sizeof(text), "STATE is");

	for (int i = 0; i < DEV_STATE__COUNT && len < sizeof(text); i++)
		len += snprintf(text + len, sizeof(text) - len, " %s%s", dev_state_name(i),
				i + 1 == DEV_STATE__COUNT   ? "."
				: i + 2 == DEV_STATE__COUNT ? " or"
							    : ",");
	print_wrapped(out, text);
}

void cmd_help_print(FILE *out)
{
	fputs(intro, out);
	for (const struct cmd_entry *const *e = cmd_table; *e; e++) {
		check_synopsis(*e);
		print_text(out, print_synopsis(out, *e), (*e)->text);
	}
	fputs(notes, out);
	print_states(out);
	fputs(interrupting, out);
	for (const struct cmd_option *o = cmd_common_options; o->name; o++)
		print_option(out, o);
	fputs(exit_status, out);
}
