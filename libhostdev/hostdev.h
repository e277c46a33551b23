/* libhostdev: hostdevd's C client library.
 *
 * A hypervisor links this instead of writing sysfs code: it asks hostdevd to
 * prepare host devices for a domain (claim them, detaching PCI functions to a
 * stub), to reattach them when the domain is done, to detach, reattach and
 * reset single devices, and to list who holds what.  Every call is one or a
 * few Varlink calls on a Unix socket (docs/io.hostdevd.varlink); the daemon
 * does the sysfs work and keeps the one in-use table for the whole machine.
 *
 * Installed as <hostdev/hostdev.h>; compile with
 * `pkg-config --cflags --libs libhostdev`.  docs/libhostdev.md is the guide,
 * and libhostdev/examples/hd-example.c a program to copy from.
 *
 * Conventions, for every call below:
 * - Calls that can fail return 0 (or a pointer) on success and a negative
 *   errno (or NULL) on failure.  When `err` is not NULL, *err is set to NULL
 *   on success and to a new error on failure, which the caller frees with
 *   hd_error_free().  `err` may always be NULL.
 * - The return value is always -hd_error_errno() of the error: see
 *   hd_error_errno() for the errno of each error name.
 * - Strings passed in are copied or used during the call only; strings
 *   handed out are owned by the object they came from, unless a function
 *   says the caller frees them.
 * - A manager is one connection to hostdevd, locked internally: calls from
 *   several threads on one manager are safe and run one after another.  For
 *   calls in parallel, open one manager per thread.
 * - Allocation failure aborts the process, as in GLib.
 *
 * ABI: the SONAME is libhostdev.so.0 and every symbol carries a version,
 * LIBHOSTDEV_0 or the later node named where its section starts below;
 * structures are opaque except struct hd_owner and struct hd_hostdev, which
 * the library only reads.  docs/libhostdev.md says what may change. */
#ifndef HOSTDEV_HOSTDEV_H
#define HOSTDEV_HOSTDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define HD_EXPORT __attribute__((visibility("default")))
#else
#define HD_EXPORT
#endif

/* Where hostdevd listens unless HOSTDEVD_SOCKET says otherwise. */
#define HD_DEFAULT_SOCKET "/run/hostdevd/hostdevd.sock"
/* How long one library call waits for hostdevd, unless changed with
 * hd_manager_set_timeout(). */
#define HD_DEFAULT_TIMEOUT_MS 30000

struct hd_manager;
struct hd_error;
struct hd_claim_list;
struct hd_claim;

/* Who holds a claim: a hypervisor driver ("qemu", "libxl", "ch") and one of
 * its domains.  driver and domain must be non-empty; uuid may be NULL.  When
 * both the claim and a later call give a uuid, they must agree: it tells two
 * incarnations of a domain of the same name apart. */
struct hd_owner {
	const char *driver;
	const char *domain;
	const char *uuid;
};

/* Flags of the prepare calls (combine with |). */
enum {
	/* The PCI functions are already detached (on a stub): only record the
	 * claim.  Default: managed, hostdevd detaches each PCI function not on a
	 * stub and reattaches it to its host driver when it is reattached.  No
	 * effect on USB devices (see HD_UNBIND_INTERFACES). */
	HD_UNMANAGED = 1u << 0,
	/* Take every endpoint of each PCI function's IOMMU group too (bridges
	 * stay with the host).  PCI only. */
	HD_WHOLE_GROUP = 1u << 1,
	/* The stub a managed PCI function is detached to: vfio-pci unless one
	 * of these is given (at most one; not with HD_UNMANAGED).  PCI only. */
	HD_STUB_PCI_STUB = 1u << 2,
	/* Xen's pciback (the driver of the module xen-pciback). */
	HD_STUB_XEN_PCIBACK = 1u << 3,
	/* A USB claim records the claim and moves nothing by default (QEMU's
	 * libusb detaches the kernel's drivers itself).  With this flag hostdevd
	 * unbinds the device's interface drivers (all but usbfs) and binds them
	 * again at reattach, as Xen's usbback needs.  USB only. */
	HD_UNBIND_INTERFACES = 1u << 4,
	/* A lease on the calling process (io.hostdevd.Claim's lease): when this
	 * process ends, however it ends, hostdevd releases the claim as a
	 * reattach would.  With HD_LEASE_KEEP instead the claim is kept and
	 * reported (hostdevd's GetStatus, lease_ended). */
	HD_LEASE = 1u << 5,
	HD_LEASE_KEEP = 1u << 6,
};

/* ---- Errors -------------------------------------------------------------- */

/* Error names.  hostdevd's own errors are those of docs/io.hostdevd.varlink;
 * io.hostdevd.client.* are raised by this library; hostdevd may also answer
 * the standard org.varlink.service.* errors.  An error name not listed here
 * can appear (a newer daemon): treat it as a failure with a message. */
#define HD_ERROR_DEVICE_NOT_FOUND "io.hostdevd.DeviceNotFound"
#define HD_ERROR_AMBIGUOUS_DEVICE "io.hostdevd.AmbiguousDevice"
#define HD_ERROR_DEVICE_IN_USE "io.hostdevd.DeviceInUse"
#define HD_ERROR_DEVICE_BUSY "io.hostdevd.DeviceBusy"
#define HD_ERROR_GROUP_NOT_VIABLE "io.hostdevd.GroupNotViable"
#define HD_ERROR_HOST_CRITICAL "io.hostdevd.HostCritical"
#define HD_ERROR_INVALID_DEVICE_STATE "io.hostdevd.InvalidDeviceState"
#define HD_ERROR_OPERATION_FAILED "io.hostdevd.OperationFailed"
#define HD_ERROR_TIMEOUT "io.hostdevd.Timeout"
#define HD_ERROR_NOT_CLAIMED "io.hostdevd.NotClaimed"
/* hostdevd's policy refuses the device (refuse, ignore, or assigned to
 * another owner); the parameters name the rule (rule, file, line). */
#define HD_ERROR_POLICY_REFUSED "io.hostdevd.PolicyRefused"
/* The device has no IOMMU group, so vfio-pci cannot take it: the IOMMU is
 * off (the sentence says which kernel parameter turns it on). */
#define HD_ERROR_NO_IOMMU "io.hostdevd.NoIommu"
/* hostdevd has no stub or vfio-pci variant driver by the name asked for;
 * the parameter "accepted" lists the names it takes. */
#define HD_ERROR_UNKNOWN_DRIVER "io.hostdevd.UnknownDriver"
/* hostdevd refused the connection: the caller's uid (or everyone) has as
 * many connections open as it allows; close some and try again. */
#define HD_ERROR_TOO_MANY_CONNECTIONS "io.hostdevd.TooManyConnections"
/* hostdevd's state directory is full or read-only: nothing was done. */
#define HD_ERROR_STATE_UNAVAILABLE "io.hostdevd.StateUnavailable"
/* The caller may not do this (the policy's clients): the parameters name
 * the method, the permission it needs and why (method, permission,
 * reason).  hostdevd has answered this since its clients permissions;
 * HD_ERROR_VARLINK_PERMISSION_DENIED is the standard error an older one
 * answered instead: treat both alike. */
#define HD_ERROR_PERMISSION_DENIED "io.hostdevd.PermissionDenied"
#define HD_ERROR_VARLINK_PERMISSION_DENIED "org.varlink.service.PermissionDenied"
#define HD_ERROR_INVALID_PARAMETER "org.varlink.service.InvalidParameter"
/* hostdevd's socket could not be connected to (not running, no access). */
#define HD_ERROR_UNREACHABLE "io.hostdevd.client.Unreachable"
/* No complete answer within the manager's timeout.  What became of the
 * request is unknown: hostdevd may still complete it; hd_list_active()
 * tells. */
#define HD_ERROR_CLIENT_TIMEOUT "io.hostdevd.client.Timeout"
/* The connection broke during the call (hostdevd stopped or dropped it). */
#define HD_ERROR_CONNECTION_LOST "io.hostdevd.client.ConnectionLost"
/* hostdevd's answer was not a Varlink reply, or lacked what the schema
 * promises. */
#define HD_ERROR_PROTOCOL "io.hostdevd.client.Protocol"
/* The caller passed something the library cannot send (NULL where a value
 * is needed, unknown or conflicting flags).  Nothing was sent. */
#define HD_ERROR_INVALID_ARGUMENT "io.hostdevd.client.InvalidArgument"
/* A device given to a PCI call is not a PCI function, or one given to a USB
 * call is not a USB device.  Nothing was claimed or released. */
#define HD_ERROR_WRONG_BUS "io.hostdevd.client.WrongBus"

/* The Varlink error name, e.g. "io.hostdevd.DeviceInUse"; never NULL. */
HD_EXPORT const char *hd_error_name(const struct hd_error *err);
/* One sentence to log, e.g. "0000:03:00.0 is in use by driver qemu, domain
 * vm1"; never NULL.  Control characters are replaced with '?'. */
HD_EXPORT const char *hd_error_message(const struct hd_error *err);
/* The string parameter `name` of the error (e.g. "device"), or NULL when the
 * error has no such parameter or it is not a string. */
HD_EXPORT const char *hd_error_parameter_string(const struct hd_error *err, const char *name);
/* Every parameter as one JSON object text (never NULL, "{}" when none).
 * Library errors have parameters too: Unreachable {socket}, Timeout,
 * ConnectionLost and Protocol {method}, InvalidArgument {argument},
 * WrongBus {device, bus, expected}. */
HD_EXPORT const char *hd_error_parameters_json(const struct hd_error *err);
/* A positive errno for the error: for OperationFailed the kernel's (its
 * "errno" parameter), for the library's transport errors the system call's
 * (e.g. ENOENT or ECONNREFUSED for Unreachable); for the other names a fixed
 * one (docs/libhostdev.md has the table: DeviceInUse EBUSY, DeviceNotFound
 * ENODEV, ...).  The failed call returned its negative. */
HD_EXPORT int hd_error_errno(const struct hd_error *err);
/* NULL is allowed. */
HD_EXPORT void hd_error_free(struct hd_error *err);

/* ---- The manager: one connection ----------------------------------------- */

/* The library's version, "0.1.0". */
HD_EXPORT const char *hd_version(void);

/* Connects to hostdevd's socket: $HOSTDEVD_SOCKET when set and not empty
 * (ignored in set-user-ID programs), else HD_DEFAULT_SOCKET.  Each call
 * opens a new manager; free it with hd_manager_free(). */
HD_EXPORT struct hd_manager *hd_manager_get_default(struct hd_error **err);
/* Connects to the socket at socket_path. */
HD_EXPORT struct hd_manager *hd_manager_open(const char *socket_path, struct hd_error **err);
/* Closes the connection; NULL is allowed. */
HD_EXPORT void hd_manager_free(struct hd_manager *mgr);
/* How long each following call may wait for hostdevd, in milliseconds
 * (default HD_DEFAULT_TIMEOUT_MS); a negative value waits forever.  A managed
 * prepare of many devices may take one hostdevd step timeout (10 s by
 * default) per stuck device. */
HD_EXPORT void hd_manager_set_timeout(struct hd_manager *mgr, int timeout_ms);
/* The socket the manager connects to. */
HD_EXPORT const char *hd_manager_socket_path(const struct hd_manager *mgr);

/* After a transport error (Timeout, ConnectionLost, Protocol) the connection
 * is closed; the next call connects again, so a manager outlives a restart
 * of hostdevd.  A call is never sent twice. */

/* ---- Prepare and reattach devices for a domain --------------------------- */

/* Claims PCI functions for owner, all or nothing (io.hostdevd.Claim).  ids
 * are selectors.  A PCI address ("0000:03:00.0", in any case) goes to the
 * Claim as given, one round trip in all; a USB port path is WrongBus at
 * once.  Any other selector is first resolved with io.hostdevd.GetDevice,
 * which must say bus "pci" (else WrongBus, and nothing is claimed), and
 * the Claim names the address GetDevice returned.  n == 0 claims nothing
 * and sends nothing.
 *
 * When `claimed` is not NULL it receives the entries hostdevd recorded, in
 * request order (with HD_WHOLE_GROUP, the group members added too); free it
 * with hd_claim_list_free().  Preparing what the owner holds already
 * succeeds and changes nothing. */
HD_EXPORT int hd_prepare_pci_devices(struct hd_manager *mgr, const struct hd_owner *owner,
				     const char *const *ids, size_t n, unsigned flags,
				     struct hd_claim_list **claimed, struct hd_error **err);
/* The same for USB devices: ids are the port path ("1-2.3"),
 * "id:VVVV:PPPP[:SERIAL]" or "usb:BUS.DEV", and must resolve to bus "usb"
 * (two identical devices matching one selector: AmbiguousDevice).  Hubs are
 * refused (HostCritical).  HD_WHOLE_GROUP and the stub flags are PCI only,
 * HD_UNBIND_INTERFACES is USB only: InvalidArgument in the other call. */
HD_EXPORT int hd_prepare_usb_devices(struct hd_manager *mgr, const struct hd_owner *owner,
				     const char *const *ids, size_t n, unsigned flags,
				     struct hd_claim_list **claimed, struct hd_error **err);
/* Both at once, in one io.hostdevd.Claim: all or nothing across both lists.
 * Each flag applies to the bus it is for.  Managed per device (a domain
 * that mixes both): hd_prepare_hostdevs(), below. */
HD_EXPORT int hd_prepare_domain_devices(struct hd_manager *mgr, const struct hd_owner *owner,
					const char *const *pci_ids, size_t n_pci,
					const char *const *usb_ids, size_t n_usb, unsigned flags,
					struct hd_claim_list **claimed, struct hd_error **err);

/* Ends the owner's claims on the devices (io.hostdevd.Release): managed
 * devices go back to their host driver, unmanaged ones stay detached.  The
 * bus is checked as for prepare (a canonical id goes as given, so a
 * claimed device that left the machine is released by its id).  hostdevd
 * checks every device before it
 * releases any (NotClaimed if the owner does not hold one), then stops at
 * the first reattach that fails: those released before it stay released,
 * and the claim on the one that failed is over too (the device is left
 * detached on its stub, or in state error; hd_node_reattach() retries).
 * n == 0 releases nothing.  flags must be 0 (reserved). */
HD_EXPORT int hd_reattach_pci_devices(struct hd_manager *mgr, const struct hd_owner *owner,
				      const char *const *ids, size_t n, unsigned flags,
				      struct hd_error **err);
HD_EXPORT int hd_reattach_usb_devices(struct hd_manager *mgr, const struct hd_owner *owner,
				      const char *const *ids, size_t n, unsigned flags,
				      struct hd_error **err);
HD_EXPORT int hd_reattach_domain_devices(struct hd_manager *mgr, const struct hd_owner *owner,
					 const char *const *pci_ids, size_t n_pci,
					 const char *const *usb_ids, size_t n_usb, unsigned flags,
					 struct hd_error **err);
/* Ends every claim the owner holds, whatever the bus: what a hypervisor
 * does after a domain crashed.  flags must be 0 (reserved). */
HD_EXPORT int hd_reattach_all_devices(struct hd_manager *mgr, const struct hd_owner *owner,
				      unsigned flags, struct hd_error **err);

/* ---- Node level: one device, no owner ------------------------------------ */

/* Detaches a PCI function to a stub (io.hostdevd.Detach), like `virsh
 * nodedev-detach`: driver is "vfio-pci" (NULL means that), "pci-stub" or
 * "pciback" (Xen's; "xen-pciback", its module's name, is taken as pciback).
 * It then sits in the detached pool, claimable unmanaged. */
HD_EXPORT int hd_node_detach(struct hd_manager *mgr, const char *id, const char *driver,
			     struct hd_error **err);
/* Hands a detached PCI function back to its host driver
 * (io.hostdevd.Reattach).  When driver_out is not NULL it receives the
 * driver bound at the end (the caller frees it), or NULL when no driver took
 * the device. */
HD_EXPORT int hd_node_reattach(struct hd_manager *mgr, const char *id, char **driver_out,
			       struct hd_error **err);
/* Resets a PCI function (io.hostdevd.Reset).  A claimed device is reset
 * only for its owner, so a hypervisor passes the owner it claimed with; NULL
 * for an unclaimed device.  When methods_out is not NULL it receives the
 * kernel's enabled reset methods in its order (the kernel does not say which
 * one it used), a NULL-terminated array freed with hd_strv_free(). */
HD_EXPORT int hd_node_reset(struct hd_manager *mgr, const char *id, const struct hd_owner *owner,
			    char ***methods_out, struct hd_error **err);
/* Frees a NULL-terminated array of strings; NULL is allowed. */
HD_EXPORT void hd_strv_free(char **strv);

/* ---- Active lists -------------------------------------------------------- */

/* The completed claims (io.hostdevd.ListClaims), sorted by device: all of
 * them, or those of one driver and/or one domain (NULL: any).  A claimed
 * device that left the machine is still listed. */
HD_EXPORT int hd_list_active(struct hd_manager *mgr, const char *driver, const char *domain,
			     struct hd_claim_list **out, struct hd_error **err);
HD_EXPORT size_t hd_claim_list_count(const struct hd_claim_list *list);
/* Entry i (< count), valid until the list is freed. */
HD_EXPORT const struct hd_claim *hd_claim_list_at(const struct hd_claim_list *list, size_t i);
/* NULL is allowed. */
HD_EXPORT void hd_claim_list_free(struct hd_claim_list *list);

/* The canonical device id: "0000:03:00.0" or "1-2.3". */
HD_EXPORT const char *hd_claim_device(const struct hd_claim *c);
/* "pci" or "usb": the entry's "bus" when hostdevd sends one, else read
 * from the canonical id's form; NULL for a form this library does not know
 * (a bus newer than it). */
HD_EXPORT const char *hd_claim_bus(const struct hd_claim *c);
HD_EXPORT const char *hd_claim_owner_driver(const struct hd_claim *c);
HD_EXPORT const char *hd_claim_owner_domain(const struct hd_claim *c);
/* NULL when the claim was made without one. */
HD_EXPORT const char *hd_claim_owner_uuid(const struct hd_claim *c);
/* Whether hostdevd moved drivers for this claim and moves them back at
 * reattach (PCI: detached to a stub; USB: interface drivers unbound). */
HD_EXPORT bool hd_claim_managed(const struct hd_claim *c);
/* The interface drivers a USB claim with HD_UNBIND_INTERFACES unbound, to
 * be bound again at reattach: their number, and interface i ("1-2.3:1.0")
 * with its driver in *driver (may be NULL).  i out of range: NULL. */
HD_EXPORT size_t hd_claim_unbound_interface_count(const struct hd_claim *c);
HD_EXPORT const char *hd_claim_unbound_interface(const struct hd_claim *c, size_t i,
						 const char **driver);
/* The claiming process, as the kernel told hostdevd (SO_PEERCRED). */
HD_EXPORT uid_t hd_claim_uid(const struct hd_claim *c);
HD_EXPORT gid_t hd_claim_gid(const struct hd_claim *c);
HD_EXPORT pid_t hd_claim_pid(const struct hd_claim *c);
/* When the claim completed: RFC 3339 UTC text ("2024-05-01T10:00:00Z"), and
 * the same as a time_t ((time_t)-1 if the text is not RFC 3339). */
HD_EXPORT const char *hd_claim_since(const struct hd_claim *c);
HD_EXPORT time_t hd_claim_since_time(const struct hd_claim *c);

/* ---- Symbol version LIBHOSTDEV_0.2 from here on ---------------------------- */

/* ---- Devices and the detached pool (io.hostdevd.ListDevices) ---------------- */

struct hd_device;
struct hd_device_list;

/* Every device hostdevd knows, sorted by bus and id, or those of one bus
 * ("pci", "usb") and/or in one state ("host", "detached", "claimed",
 * ...); NULL: any. */
HD_EXPORT int hd_list_devices(struct hd_manager *mgr, const char *bus, const char *state,
			      struct hd_device_list **out, struct hd_error **err);
/* The detached pool: devices on a stub that nobody holds (state
 * "detached"; hd_node_detach puts a device there, hd_node_reattach takes it
 * out).  libvirt's inactive list. */
HD_EXPORT int hd_list_detached(struct hd_manager *mgr, struct hd_device_list **out,
			       struct hd_error **err);
HD_EXPORT size_t hd_device_list_count(const struct hd_device_list *list);
/* Entry i (< count), valid until the list is freed. */
HD_EXPORT const struct hd_device *hd_device_list_at(const struct hd_device_list *list, size_t i);
/* NULL is allowed. */
HD_EXPORT void hd_device_list_free(struct hd_device_list *list);
/* A device record's fields (NULL when absent): the canonical id, "pci" or
 * "usb", the state, the driver bound now, the host driver a detached device
 * goes back to, the claim's owner. */
HD_EXPORT const char *hd_device_id(const struct hd_device *d);
HD_EXPORT const char *hd_device_bus(const struct hd_device *d);
HD_EXPORT const char *hd_device_state(const struct hd_device *d);
HD_EXPORT const char *hd_device_driver(const struct hd_device *d);
HD_EXPORT const char *hd_device_original_driver(const struct hd_device *d);
HD_EXPORT const char *hd_device_claim_driver(const struct hd_device *d);
HD_EXPORT const char *hd_device_claim_domain(const struct hd_device *d);
/* The whole record as JSON text (io.hostdevd.Device), for every other
 * field; valid as long as the device. */
HD_EXPORT const char *hd_device_json(const struct hd_device *d);

/* ---- Watch (io.hostdevd.Watch) --------------------------------------------- */

struct hd_watch;
struct hd_device_event;

/* Opens a device event stream on its own connection to the manager's
 * socket (a stream owns its connection).  Poll hd_watch_fd() in your loop
 * for POLLIN and call hd_watch_next(..., 0, ...) until it returns 0. */
HD_EXPORT struct hd_watch *hd_watch_open(struct hd_manager *mgr, struct hd_error **err);
/* The socket to poll; -1 while the stream is not connected (after a
 * failure: the next hd_watch_next connects again). */
HD_EXPORT int hd_watch_fd(const struct hd_watch *w);
/* The next event: 1 with *ev (free it with hd_device_event_free), 0 when
 * none came within timeout_ms (0: do not wait; negative: wait for ever),
 * or a negative errno.  When the stream broke (hostdevd restarted) the
 * watch opens a new one once and hands out a "resync" event: list again. */
HD_EXPORT int hd_watch_next(struct hd_watch *w, int timeout_ms, struct hd_device_event **ev,
			    struct hd_error **err);
/* NULL is allowed. */
HD_EXPORT void hd_watch_free(struct hd_watch *w);
/* "add", "remove", "bind", "unbind", "change", "move" (a device's), or
 * "resync" (events were lost: list again) or "policy" (what the policy did;
 * the JSON says). */
HD_EXPORT const char *hd_device_event_kind(const struct hd_device_event *ev);
HD_EXPORT int64_t hd_device_event_sequence(const struct hd_device_event *ev);
/* The record after the event; NULL for resync and policy. */
HD_EXPORT const struct hd_device *hd_device_event_device(const struct hd_device_event *ev);
/* The reply's event as JSON text. */
HD_EXPORT const char *hd_device_event_json(const struct hd_device_event *ev);
HD_EXPORT void hd_device_event_free(struct hd_device_event *ev);

/* ---- Symbol version LIBHOSTDEV_0.3 from here on ---------------------------- */

/* ---- The device for an unprivileged VMM (io.hostdevd.OpenDevice) ----------- */

/* Has hostdevd open the VFIO node of a PCI function the owner holds and
 * pass it over the socket, so that the caller needs no access to
 * /dev/vfio: *fd_out receives the open descriptor (read-write,
 * close-on-exec), the caller's to close.  On kernels with VFIO cdev it is
 * the device's /dev/vfio/devices/vfioN (*cdev_out true: bind it to an
 * iommufd), else its group's /dev/vfio/N (*cdev_out false).  When path_out
 * is not NULL it receives the path hostdevd opened (the caller frees it).
 * Only for the claim's uid or an admin (PermissionDenied); a device the
 * owner does not hold: NotClaimed; not on vfio-pci: InvalidDeviceState.
 * cdev_out may be NULL.  On failure *fd_out is -1. */
HD_EXPORT int hd_open_device(struct hd_manager *mgr, const struct hd_owner *owner, const char *id,
			     int *fd_out, bool *cdev_out, char **path_out, struct hd_error **err);

/* ---- Symbol version LIBHOSTDEV_0.4 from here on ---------------------------- */

/* ---- Managed per device (io.hostdevd.Claim's hostdevs) --------------------- */

/* One device of hd_prepare_hostdevs(), as a hypervisor's domain names it
 * (libvirt's <hostdev managed='yes|no'>).  Like struct hd_owner it is
 * filled by the caller and only read by the library. */
struct hd_hostdev {
	/* A selector of either bus, as the PCI and USB calls take them. */
	const char *device;
	/* PCI: true detaches the function to a stub if it is not on one, and
	 * reattaches it to its host driver at reattach; false: it must
	 * already be detached, and is only recorded (HD_UNMANAGED's meaning,
	 * for this device alone).  No effect on USB devices (see
	 * HD_UNBIND_INTERFACES). */
	bool managed;
};

/* Claims a domain's devices, PCI and USB in any order, each managed as its
 * entry says, in one io.hostdevd.Claim: all or nothing, so a domain that
 * mixes managed and unmanaged devices needs no second claim to undo when
 * one is refused.  The selectors go to hostdevd as given and it resolves
 * them (no GetDevice first: there is no bus to check); `claimed` gives
 * the canonical ids, in request order.  The same device named twice with
 * two managed values: hostdevd's InvalidParameter (hostdevs).  flags as for
 * the other prepares, each applying to the bus it is for, except
 * HD_UNMANAGED, which the entries replace (InvalidArgument); members
 * HD_WHOLE_GROUP adds are claimed managed.  A devs entry without a device,
 * or devs NULL with n > 0: InvalidArgument, nothing sent.  n == 0 claims
 * nothing and sends nothing.  Too many devices for one message (hostdevd's
 * limit, 1 MiB by default): hostdevd's RequestTooLarge, nothing claimed.
 * A hostdevd that predates the Claim's hostdevs answers InvalidParameter
 * (hostdevs). */
HD_EXPORT int hd_prepare_hostdevs(struct hd_manager *mgr, const struct hd_owner *owner,
				  const struct hd_hostdev *devs, size_t n, unsigned flags,
				  struct hd_claim_list **claimed, struct hd_error **err);

/* ---- Symbol version LIBHOSTDEV_0.5 from here on ---------------------------- */

/* ---- More of a claim entry ------------------------------------------------ */

/* A PCI claim's driver: the stub or vfio-pci variant driver the function
 * is on ("vfio-pci", "mlx5_vfio_pci", "pci-stub", "pciback"), so that a
 * VMM knows which one its claim chose (none named: the variant
 * modules.alias picks, else vfio-pci).  NULL for USB, and from a hostdevd
 * that does not say. */
HD_EXPORT const char *hd_claim_stub_driver(const struct hd_claim *c);
/* Whether the claiming uid was given the function's VFIO nodes for the
 * life of the claim (hostdevd's ClaimEntry node_owner): "set" (every node
 * there is the uid's), "none" (no node was there yet), or "failed: " and
 * why; NULL when none are handed over (a claim by root, a USB device, a
 * stub other than vfio-pci or its variants, hostdevd run with
 * --node-owner off).  hd_open_device() needs none of this. */
HD_EXPORT const char *hd_claim_node_owner(const struct hd_claim *c);
/* Whether the device was in hostdevd's detached pool when claimed: a
 * reattach returns it there, not to its host driver. */
HD_EXPORT bool hd_claim_from_pool(const struct hd_claim *c);

/* ---- Naming the driver ----------------------------------------------------- */

/* hd_prepare_hostdevs() with the driver each managed PCI function not on a
 * stub is detached to, by its driver's or its module's name: a vfio-pci
 * variant ("mlx5_vfio_pci", what libvirt's <driver model=...> names),
 * "vfio-pci" for the plain one even where a variant exists, "pci-stub",
 * "pciback".  NULL chooses as hd_prepare_hostdevs() does (the flags, else
 * the variant modules.alias picks, else vfio-pci).  A name this host has
 * no driver for: hostdevd's UnknownDriver {driver, accepted}, nothing
 * claimed.  An empty name, or a name with a stub flag: InvalidArgument,
 * nothing sent.  Which driver was used: hd_claim_stub_driver(). */
HD_EXPORT int hd_prepare_hostdevs_driver(struct hd_manager *mgr, const struct hd_owner *owner,
					 const struct hd_hostdev *devs, size_t n, const char *driver,
					 unsigned flags, struct hd_claim_list **claimed,
					 struct hd_error **err);

#ifdef __cplusplus
}
#endif

#endif /* HOSTDEV_HOSTDEV_H */
