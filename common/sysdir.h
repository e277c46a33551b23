/* Reading a sysfs device directory: one descriptor of the directory, and
 * every attribute read relative to it.
 * One path walk per device instead of one per attribute (a sysfs lookup,
 * and under umockdev one redirection), and a directory listing tells which
 * optional attributes exist, so absent ones cost nothing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sysdir {
	int fd;
	const char *syspath;
	bool listed;  /* names holds the directory's entries */
	char **names; /* sorted entries of the directory */
	size_t n_names;
};

/* How many reads have failed for want of a descriptor or memory (EMFILE,
 * ENFILE, ENOMEM), in any thread, since start.  Such a failure says
 * nothing about the device, so a reader compares the count before and
 * after building a record: a change means "could not read", which must
 * never be taken for "gone" (or for "this attribute is absent"). */
unsigned long sysdir_starvations(void);
/* Counts errno as a starvation when it is one; for readers outside this
 * file that open sysfs themselves. */
void sysdir_note_errno(int err);

/* Opens and lists the directory; false when it is gone. */
bool sysdir_open(struct sysdir *d, const char *syspath);
void sysdir_close(struct sysdir *d);

/* Whether an attribute may exist: without a listing, or for a path into a
 * subdirectory, the read itself tells. */
bool sysdir_has(const struct sysdir *d, const char *name);
/* Reads a small attribute, without its trailing newline; false when absent
 * or unreadable (write-only attributes, attributes of a vanishing device). */
bool sysdir_read(const struct sysdir *d, const char *name, char *buf, size_t len);
/* A sysfs attribute holds at most a page. */
#define SYSDIR_ATTR_MAX 4096
/* The attribute as a malloc'd string, read whole, without its trailing
 * newline, and valid UTF-8 (U+FFFD for any byte that is not, a NUL
 * included); NULL when absent, unreadable or empty. */
char *sysdir_str(const struct sysdir *d, const char *name);
bool sysdir_hex(const struct sysdir *d, const char *name, uint32_t *out);
int sysdir_int(const struct sysdir *d, const char *name, int fallback);
/* The last component of a link's target, e.g. iommu_group -> "12". */
bool sysdir_link_name(const struct sysdir *d, const char *name, char *out, size_t len);
/* The driver bound to the directory (sub NULL) or to its entry `sub` (a USB
 * interface): malloc'd, NULL when unbound. */
char *sysdir_driver(const struct sysdir *d, const char *sub);
