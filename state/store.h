/* The durable state file: <state-dir>/state.json (docs/state.md).
 *
 * One human-readable JSON document holding everything hostdevd must not
 * forget across a crash: the claims (settled and in flight), the detached
 * pool with each device's original driver.  It is replaced whole on every
 * change: written to state.json.tmp, fsync'd, renamed over state.json, and
 * the directory fsync'd, so a crash at any moment leaves either the old or
 * the new document, never a mixture.  One file keeps a multi-device claim
 * one transaction.
 *
 * The document carries "format": "hostdevd-state" and "version"; a reader
 * upgrades older versions step by step (store_read) and refuses newer ones
 * or anything malformed, naming the file and the problem.  This module knows
 * the envelope only; state/snapshot.h writes and reads the body. */
#pragma once

#include <json-c/json.h>
#include <stddef.h>

#define STORE_FILE "state.json"
#define STORE_FORMAT "hostdevd-state"
#define STORE_VERSION 1

struct store;

/* dir must exist (the daemon holds its lock there).  Reads nothing. */
struct store *store_new(const char *dir);
void store_free(struct store *s);
const char *store_path(const struct store *s);

/* Replaces the document: the envelope (format, version, written) and then
 * `members`, the body's members as JSON text ("\"claims\": [...],
 * \"pool\": [...]"; len bytes, no braces), written as they are: the caller
 * lays them out to be read by people.  0, or -errno with a sentence in err
 * ("writing /run/hostdevd/state.json.tmp: No space left on device"); on
 * failure the previous document is untouched and no temporary file stays. */
int store_write(struct store *s, const char *members, size_t len, char *err, size_t size);

/* Reads the document: 0 with *body (the caller's reference; the envelope
 * keys removed), -ENOENT when there is none (a first start), or -EINVAL /
 * -errno with a sentence in err naming the file and the problem. */
int store_read(struct store *s, json_object **body, char *err, size_t size);
