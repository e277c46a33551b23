/* The fixture of the tests that let the daemon write: the real hostdevd on
 * the standard machine with the kernel emulator (tests/kemu) preloaded,
 * HOSTDEVD_REQUIRE_MOCK=1 and a one-second step timeout, plus the helpers
 * that read the kernel's view.  Register such tests with
 * hd_integration_test(... KEMU ...). */
#pragma once

#include "tests/integration/hdproc.h"
#include "tests/integration/itest.h"
#include "tests/integration/testbed.h"
#include "tests/integration/vlc.h"

struct fixture {
	struct testbed *tb;
	struct hdproc daemon;
	struct vlc *c;
	const char *root;
	char policy_path[64]; /* kfix_setup_policy(): the daemon's policy file */
	char modules_dir[64]; /* kfix_setup_variants(): its modules.alias's */
};

/* Writes `content` to the file `rel` under the testbed's root (dirs made
 * as needed), or makes `rel` a symlink to `target`: sysfs class entries
 * and the fake /proc (<root>/proc, the daemon's HOSTDEVD_PROC_ROOT: empty
 * mount table, no swap, no routes, unless a test writes them). */
void kfix_put(struct fixture *f, const char *rel, const char *content);
void kfix_link(struct fixture *f, const char *rel, const char *target);

/* cmocka setup and teardown: *state is a struct fixture. */
int kfix_setup(void **state);
/* The same with the daemon started on a policy file holding `text`
 * (f->policy_path, removed by kfix_teardown). */
int kfix_setup_policy(void **state, const char *text);
/* The vfio-pci variant machine: the daemon reads a modules.alias
 * (HOSTDEVD_MODULES_DIR, f->modules_dir) in which two aliases take the
 * 82574L NICs (8086:10d3, subsystem 8086:a01f: NIC 0000:03:00.0 and NIC2
 * 0000:02:00.0) and the one with fewer wildcards names
 * KFIX_VARIANT_MODULE; the other names KFIX_VARIANT_ABSENT; one more takes
 * Intel's display controllers (class 03), no NIC; and vfio_pci's own
 * catch-all is there, as on Linux 6.0 on.  KFIX_VARIANT_MODULE is loaded
 * before the daemon starts, its driver registered as KFIX_VARIANT_DRIVER
 * (found through its module link; a driver directory named like the
 * module, without one, catches a guess by name); KFIX_VARIANT_ABSENT is
 * not, and in the mock never loads.  policy_text NULL: no policy. */
#define KFIX_VARIANT_MODULE "e1000e_vfio_pci"
#define KFIX_VARIANT_DRIVER "e1000e-vfio"
#define KFIX_VARIANT_ABSENT "e1000e_generic_vfio"
int kfix_setup_variants(void **state, const char *policy_text);
/* Writes text to a new temporary file; its path goes to path. */
void kfix_write_policy(char path[64], const char *text);
int kfix_teardown(void **state);

/* kill -9, nothing else: the daemon gets no chance to write anything (one
 * a failpoint killed is only reaped).  f->c is closed and the dead daemon
 * moved to *dead: its directory may hold the state directory the next one
 * starts on, so the caller cleans it up later (hdproc_cleanup). */
void kfix_crash(struct fixture *f, struct hdproc *dead);
/* Starts a daemon on `state_dir` and connects f->c to it. */
void kfix_start_on(struct fixture *f, const char *state_dir);

/* The kernel's view: the driver a PCI function, USB device or USB
 * interface is bound to now ("" if none) and
 * its driver_override ("(null)" when clear).  Static buffers. */
const char *kfix_kernel_driver(struct fixture *f, const char *id);
const char *kfix_kernel_override(struct fixture *f, const char *id);

/* {device: id, driver?}: a new reference. */
json_object *kfix_dev_params(const char *id, const char *driver);
/* Calls method with {device: id, driver?} and returns the whole reply. */
json_object *kfix_call_dev(struct fixture *f, const char *method, const char *id,
			   const char *driver);

/* o[k1][k2] (k2 may be NULL) as a string, NULL when absent. */
const char *kfix_str_at(json_object *o, const char *k1, const char *k2);

/* The schema's Owner {driver, domain}: a new reference. */
json_object *kfix_owner(const char *driver, const char *domain);
/* {owner, devices: [id]}, a Claim or Release of one device; id NULL leaves
 * devices out (a Release of all the owner holds).  A new reference.  It
 * asserts nothing, so that client threads, which must not fail a cmocka
 * test, build their requests with it too. */
json_object *kfix_owner_params(const char *driver, const char *domain, const char *id);

/* Claim or Release (method) of one device for qemu/vm1; the whole reply. */
json_object *kfix_owner_call(struct fixture *f, const char *method, const char *id);

/* How many claims ListClaims lists now. */
size_t kfix_claims(struct fixture *f);

/* Calls cond until it holds, with a round trip to the daemon between
 * tries (each is a turn of its loop: no sleep); fails at the deadline
 * naming `what`. */
void kfix_wait_until(struct fixture *f, bool (*cond)(struct fixture *f, const void *arg),
		     const void *arg, const char *what);
/* Waits until the daemon's log holds `text`. */
void kfix_wait_log(struct fixture *f, const char *text);
/* How many times the daemon's log holds `text` now (it writes each line
 * unbuffered, before the reply it concerns). */
size_t kfix_log_count(struct fixture *f, const char *text);
/* A connection to the daemon made as uid with effective group gid (the
 * socket's group, so that the 0660 socket lets it in), as another user's
 * client would be; the test's own ids are back to root's after. */
struct vlc *kfix_connect_as(struct fixture *f, uid_t uid, gid_t gid);
/* Whether the daemon under test can watch processes, so that a Claim with
 * a lease is taken: not under valgrind 3.19 (HOSTDEVD_TEST_WRAPPER), which
 * answers pidfd_open with ENOSYS, and where hostdevd refuses leases. */
bool kfix_leases_available(void);
/* Asks GetDevice until the device's state is `want`; fails at the deadline. */
void kfix_wait_state(struct fixture *f, const char *id, const char *want);
