/* What the libFuzzer targets share: a scratch directory of their own, a
 * small deterministic generator seeded by the input, and a check that ends
 * the run loudly (libFuzzer then saves the input that caused it). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A fresh directory for this process (on /dev/shm when it exists: the
 * targets write files at every execution), removed at exit.  Never under
 * /sys. */
const char *fuzz_scratch_dir(const char *tag);
/* Empties `dir`, keeping it. */
void fuzz_empty_dir(const char *dir);
/* Writes `len` bytes to `path`; aborts on failure (a full disk is not a
 * finding, but silently fuzzing nothing would be worse). */
void fuzz_write_file(const char *path, const void *data, size_t len);
/* The same, for a file an input names: false when it cannot be written.
 * Never follows a link at `path` itself. */
bool fuzz_try_write_file(const char *path, const void *data, size_t len);

/* xorshift64*: the same input always gives the same values. */
struct fuzz_rng {
	uint64_t s;
};
void fuzz_rng_seed(struct fuzz_rng *r, const uint8_t *data, size_t size);
uint64_t fuzz_rng_next(struct fuzz_rng *r);
/* A value in [0, n); n > 0. */
size_t fuzz_rng_below(struct fuzz_rng *r, size_t n);

/* Ends the run with a message: libFuzzer reports the input as a crash. */
#define FUZZ_CHECK(cond, ...)                                                              \
	do {                                                                               \
		if (!(cond))                                                               \
			fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                  \
	} while (0)
_Noreturn void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
