/* The emulator's state files under <root>/kemu, shared by the control API
 * (kemu.c, in the test) and the emulator (in every preloaded process):
 *
 *   lock                 flock()ed around every emulated change
 *   seqnum               the uevent counter (kuevent.c)
 *   log                  one line per emulated write
 *   native/<id>          the driver a device binds when nothing overrides
 *   fault/<op>@<id>      "<errno> <times>" (times -1: until cleared)
 *   block/<op>@<id>      present while writes of that kind must wait
 *   blocked/<op>@<id>@<pid>.<tid>   one per write waiting now
 *   never_bind/<id>      empty: no driver binds it; else the one driver that refuses
 *   count/<op>@<id>      one byte appended per write: its size is the count
 *
 * <id> "*" stands for any device.  Functions return 0 or -errno. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum kstate_op {
	KOP_DRIVER_OVERRIDE,
	KOP_UNBIND,
	KOP_BIND,
	KOP_DRIVERS_PROBE,
	KOP_RESET,
	KOP_REMOVE,
	KOP_AUTHORIZED,
	KOP__COUNT
};

const char *kstate_op_name(enum kstate_op op);
/* -1 for a name that is not an op. */
int kstate_op_from_name(const char *name);

/* <root>/kemu/<dir>/<op>@<id> (op NULL: <root>/kemu/<dir>/<id>); id NULL
 * is "*" and a '/' in it becomes '_'. */
int kstate_file(char *buf, const char *root, const char *dir, const char *op, const char *id);
int kstate_ensure_dirs(const char *root);

/* The global lock: returns a descriptor to pass to kstate_unlock(). */
int kstate_lock(const char *root);
void kstate_unlock(int fd);

int kstate_count(const char *root, const char *op, const char *id);
unsigned kstate_count_get(const char *root, const char *op, const char *id);
/* Waits while a block is set for (op, id) or (op, any); 0 at once when
 * none is. */
int kstate_block_wait(const char *root, const char *op, const char *id);
/* Under the lock: the errno a fault injects into this write, or 0. */
int kstate_fault_take(const char *root, const char *op, const char *id);
/* Whether `driver`'s probe() refuses the device (driver NULL: any). */
bool kstate_never_bind(const char *root, const char *id, const char *driver);
/* The native driver, or -ENOENT. */
int kstate_native(const char *root, const char *id, char *buf, size_t len);
void kstate_log(const char *root, const char *op, const char *id, const char *value,
		size_t len, int err);
