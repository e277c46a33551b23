/* udev rules from a policy: what `hostdevctl rules generate` writes
 * (docs/udev.md).  On a device's `add` event, before 80-drivers.rules loads
 * its host driver's module, the rules write a detach or assign rule's stub
 * to the PCI function's driver_override, and deauthorize a USB device a
 * refuse + deauthorize rule names: at boot a device headed for a guest
 * never binds its host driver.
 *
 * The policy's first match wins in the rules too: one line per policy rule
 * and bus, in policy order, each ending in GOTO="hostdevd_end".  A rule udev
 * cannot express exactly (a key it cannot match, a `when`, an acting rule
 * that does not name one device or model, a detach or assign rule whose
 * driver is "auto" or a vfio-pci variant's, whose driver name only the
 * daemon learns at run time) is not generated, and listed with the reason; a later rule is generated only if no device can match both
 * it and an earlier rule left out, so the rules never decide a device
 * otherwise than hostdevd's policy would.
 *
 * The lines are kept as data (tokens) before they are text: the tests
 * evaluate what the rules would do to a device without reading the text. */
#pragma once

#include "policy/policy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct udevgen;

/* One key of a line, as `key op "value"`: the value as written between the
 * quotes (patterns for matches; escaped for assignments). */
struct udevgen_token {
	char *key;      /* "ATTR{vendor}", "ENV{HOSTDEVD_POLICY}", "GOTO" */
	const char *op; /* "==", "=", "+=" */
	char *value;
};

/* A policy rule's line for the devices of one bus. */
struct udevgen_line {
	size_t rule;      /* the policy rule, from 0 */
	const char *file; /* where it is (the policy's) */
	int line;
	enum hd_bus bus;
	enum policy_action action;
	bool acts;   /* writes to the device: driver_override and bind, or authorized */
	struct udevgen_token *tokens;
	size_t n_matches; /* tokens[0..n_matches) are matches, the rest assignments */
	size_t n_tokens;
};

/* A rule (on one bus, or on every bus it is about) the rules leave to
 * hostdevd, or the default when it would act. */
struct udevgen_skip {
	size_t rule;      /* the policy rule, from 0; the rule count for the default */
	const char *file; /* NULL: the built-in default */
	int line;
	char *reason;
};

/* The plan for p, which must outlive it. */
struct udevgen *udevgen_new(const struct policy *p);
void udevgen_free(struct udevgen *g);

size_t udevgen_line_count(const struct udevgen *g);
const struct udevgen_line *udevgen_line(const struct udevgen *g, size_t i);
/* In policy order. */
size_t udevgen_skip_count(const struct udevgen *g);
const struct udevgen_skip *udevgen_skip(const struct udevgen *g, size_t i);

/* The rules file: a header naming source (the policy path as given) and
 * the files read, then each rule's comment and line or why it is not
 * generated, in policy order, then the default and the label.  No
 * timestamp: the same policy gives the same bytes. */
void udevgen_write(const struct udevgen *g, const char *source, FILE *out);

/* Where the generated file goes: before 80-drivers.rules. */
#define UDEVGEN_INSTALL_PATH "/etc/udev/rules.d/60-hostdevd-policy.rules"
