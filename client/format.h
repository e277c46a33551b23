/* Human-readable renderings of hostdevd's replies, for hostdevctl.
 *
 * Everything here reads json-c objects that came over the socket, so nothing
 * is trusted: a missing field or one of the wrong type prints as "-" (or is
 * skipped), never crashes.  Device strings (USB product names come from the
 * device itself) have control characters replaced before they reach a
 * terminal.  Kept apart from the CLI so that tests can feed canned replies
 * and compare the text. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Name of a 24-bit PCI class code (class, subclass, prog-if) from a small
 * built-in table of common ones, falling back to the base class; never NULL. */
const char *format_pci_class_name(uint32_t class_code);
/* Name of a USB bDeviceClass / bInterfaceClass; NULL when unknown. */
const char *format_usb_class_name(uint32_t usb_class);

/* What the record says the device is without the hardware database: the
 * PCI class name, or the USB product string (falling back to the USB
 * class).  Never NULL. */
const char *format_device_description(json_object *device);
/* What a person would call the device, as lspci and lsusb do: the
 * database's vendor_name and product_name ("Intel Corporation 82574L
 * Gigabit Network Connection"); the description stands in for a model the
 * database does not know, and alone when it knows neither.  malloc'd, not
 * yet sanitized. */
char *format_device_name(json_object *device);

/* A table of devices with a header and aligned columns.  max_width > 0 cuts
 * the last column so that lines fit a terminal of that width. */
void format_device_table(FILE *out, json_object *devices, int max_width);

/* Every field of one record as aligned "key: value" lines. */
void format_device_show(FILE *out, json_object *device);

/* One line for one reply of Watch: "SEQ EVENT ID [interface=IFACE] driver=..
 * state=.. VVVV:PPPP description", or the resync notice. */
void format_watch_event(FILE *out, json_object *reply);

/* The GetStatus reply as "key: value" lines. */
void format_status(FILE *out, json_object *status);
/* CheckPolicy's reply: the explanation's lines, as the daemon wrote them. */
void format_policy_explain(FILE *out, json_object *reply);
/* ReloadPolicy's reply: the counts, then each claim the new policy would
 * refuse. */
void format_policy_reload(FILE *out, json_object *reply);

/* One line for a Detach reply: "ID: detached, now on STUB (was DRIVER)". */
void format_detach_result(FILE *out, json_object *reply);

/* One line for a Reattach reply, worded by its outcome ("original", "native",
 * "unbound"). */
void format_reattach_result(FILE *out, json_object *reply);

/* One line for a Reset reply: "ID: reset (kernel methods: flr, pm, bus)", the
 * methods the kernel has enabled, in its order (it does not say which one it
 * used). */
void format_reset_result(FILE *out, json_object *reply);

/* One line per entry of a Claim reply: "ID: claimed by DRIVER/DOMAIN (managed:
 * ...)".  A ClaimEntry does not carry the device's driver, so neither does
 * the line. */
void format_claim_result(FILE *out, json_object *reply);

/* One line per id of a Release reply, or a sentence when there were none. */
void format_release_result(FILE *out, json_object *reply);

/* A table of ClaimEntry records: DEVICE OWNER MANAGED PID UID SINCE LEASE
 * NODES. */
void format_claim_table(FILE *out, json_object *claims);

/* JSON with slashes left alone; pretty for people, one line for scripts. */
void format_json(FILE *out, json_object *obj, bool pretty);

/* A sentence explaining a Varlink error reply to `method`, ending with the
 * error's name in parentheses.  Returns a malloc'd string. */
char *format_varlink_error(const char *method, const char *error, json_object *params);
