/* What hostdevctl's rendering knows of each bus, after the daemon's
 * state/bus.h: one row per bus object a Device may carry
 * (docs/io.hostdevd.varlink), filled in client/format-bus.c.  format.c asks
 * the rows and never names a bus, so adding one to the output is a row and
 * its small functions.  Internal to hdformat. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>

struct format_bus {
	/* The Device member holding the bus's object, and the DeviceCounts
	 * member counting its devices: "pci". */
	const char *key;
	/* The object's member in list's CLASS column. */
	const char *class_member;
	/* Its integer member in the GROUP column; NULL: none. */
	const char *group_member;
	/* Its array of parts that have drivers of their own, each with an id
	 * and a driver (USB interfaces): what an event's `interface` names.
	 * NULL: none. */
	const char *parts_member;

	/* What a person calls the device, from the object; NULL when it does
	 * not say. */
	const char *(*describe)(json_object *info);
	/* The object's lines in `show`. */
	void (*show)(FILE *out, json_object *info);

	/* Whether id is written as one of this bus's: a ClaimEntry names its
	 * device by id alone. */
	bool (*is_id)(const char *id);
	/* What release does with a managed and with an unmanaged claim, for
	 * the Claim result; NULL when the entry says it itself (USB: its
	 * unbound_interfaces). */
	const char *managed_release;
	const char *unmanaged_release;
};

/* The rows, ending in NULL.  Their order is the output's: the counts in
 * `status`, the sections of `show`, which object names a device first. */
extern const struct format_bus *const format_buses[];

/* ---- format.c's line writers, shared with the rows' show functions ---- */

#define NONE "-"

/* "yes", "no", or NONE when the member is missing or not a boolean. */
const char *get_yes_no(json_object *obj, const char *key);
/* A copy of s safe for a terminal, NONE for NULL; malloc'd. */
char *sanitized(const char *s);
const char *or_none(const char *s);
/* "key              value": value sanitized, NONE for NULL. */
void put_field(FILE *out, const char *key, const char *value);
void put_int_field(FILE *out, json_object *obj, const char *key, const char *label);
void put_list(FILE *out, const char *label, json_object *array);
/* "label            AAAA:BBBB" from two string members. */
void show_hex_pair(FILE *out, const char *label, json_object *obj, const char *a,
		   const char *b);
