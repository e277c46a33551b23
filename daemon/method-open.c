/* OpenDevice: a claimed PCI function's VFIO node, opened by the daemon and
 * handed to the claim's holder over the socket (SCM_RIGHTS), so that an
 * unprivileged VMM needs no access to /dev/vfio of its own (Cloud
 * Hypervisor takes a pre-opened cdev; QEMU and libvirt a group or device
 * descriptor). */
#include "daemon/methods.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/server.h"
#include "engine/claim.h"
#include "engine/vfionode.h"
#include "state/bus.h"
#include "state/claims.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Whether the claim entitles the caller to the device; the call answered
 * when not.  Busy while a Claim or Release of it runs. */
static bool open_allowed(struct methods_ctx *ctx, struct server_call *call,
			 const struct claim_owner *owner, const struct device *dev)
{
	const struct hd_peer *peer = server_call_peer(call);
	const struct claim_entry *e = claims_find(ctx->claims, dev->id);
	struct claim_actor actor = { .admin = peer_has_permission(ctx, peer, PERM_ADMIN),
				     .may_list = peer_has_permission(ctx, peer, PERM_LIST) };
	struct hd_err err;

	if (!e || !claim_owned_by(e, owner)) {
		err_set(&err, HDE_NOT_CLAIMED, dev->id);
	} else if (!claim_may_act(e, peer->uid, &actor, "io.hostdevd.OpenDevice", &err)) {
		/* err is PermissionDenied */
	} else if (e->phase != CLAIM_HELD) {
		err_set(&err, HDE_DEVICE_BUSY, dev->id);
		err.operation = e->phase == CLAIM_RESERVED ? "Claim" : "Release";
		err.driver = e->driver;
		err.domain = e->domain;
	} else if (dev->bus != HD_BUS_PCI || !vfionode_driver_is_vfio(dev->driver)) {
		err_set(&err, HDE_INVALID_DEVICE_STATE, dev->id);
		err.state = dev_state_name(dev->state);
	} else {
		return true;
	}
	if (err.code == HDE_PERMISSION_DENIED)
		log_info("client pid %d uid %d: %s", (int)peer->pid, (int)peer->uid, err.reason);
	server_call_err(call, &err);
	return false;
}

static void method_open_device(struct methods_ctx *ctx, struct server_call *call,
			       json_object *params)
{
	const char *dev_root = ctx->dev_root ? ctx->dev_root : "/dev";
	struct claim_owner owner;
	const char *bad, *sel = NULL, *kind;
	char path[PATH_MAX], name[VFIONODE_NAME_MAX];
	struct device *dev;
	struct hd_err err;
	json_object *r;
	int fd;

	if ((bad = methods_owner(params, &owner)) ||
	    (vl_param_string(params, "device", &sel) != 1 && (bad = "device"))) {
		reply_invalid_parameter(call, bad);
		return;
	}
	dev = methods_resolve(ctx, call, sel, "device");
	if (!dev || !open_allowed(ctx, call, &owner, dev))
		return;
	if (!vfionode_open_name(dev, name, sizeof(name), &kind)) {
		err_set(&err, HDE_INVALID_DEVICE_STATE, dev->id);
		err.state = dev_state_name(dev->state);
		server_call_err(call, &err);
		return;
	}
	vfionode_path(dev_root, name, path, sizeof(path));
	/* Whatever sits at the path, it never becomes our terminal (O_NOCTTY)
	 * nor stalls the event loop (O_NONBLOCK: a FIFO put there); the
	 * descriptor then goes out blocking, as an open of the node would be. */
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd >= 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		int e = errno;

		err_set(&err, HDE_OPERATION_FAILED, dev->id);
		op_error_set(&err.failure, e, "open", path, "cannot open %s: %s", path, strerror(e));
		log_dev_info(dev->id, "OpenDevice: %s", err.failure.message);
		server_call_err(call, &err);
		return;
	}
	log_dev_info(dev->id, "OpenDevice: %s passed to pid %d uid %d for %s/%s", path,
		     (int)server_call_peer(call)->pid, (int)server_call_peer(call)->uid,
		     owner.driver, owner.domain);
	r = json_object_new_object();
	json_object_object_add(r, "fd_index", json_object_new_int(0));
	json_object_object_add(r, "kind", json_object_new_string(kind));
	json_object_object_add(r, "path", json_object_new_string(path));
	json_object_object_add(r, "device", json_object_new_string(dev->id));
	server_call_reply_fd(call, r, fd);
}

static const struct param_def open_device_params[] = {
	{ "owner", PARAM_OBJECT, true },
	{ "device", PARAM_STRING, true },
	{ NULL },
};

const struct method_def open_methods[] = {
	{ "io.hostdevd.OpenDevice", method_open_device, PERM_CLAIM, 0, open_device_params },
	{ NULL },
};
