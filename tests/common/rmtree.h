/* rm -rf for the tests of every tier: the unit tests' scratch trees, the
 * daemon directories of the integration harness and the kernel emulator's
 * sysfs removals.  It neither fails a test nor aborts: the emulator runs
 * inside the program under test, so each caller decides what an error
 * means. */
#pragma once

/* Removes `path` and everything under it, links themselves rather than
 * what they point at.  0, or -errno of the first entry that could not be
 * removed (-ENOENT when `path` does not exist). */
int rmtree(const char *path);
