/* The steps a hypervisor takes to reach a PCI function through VFIO, shared
 * by the guest programs (vfio-open opens the nodes itself; vmm-open is
 * handed one by hostdevd).  Each returns 0 (or a descriptor), or -1 with
 * the step that failed and why in *e, so that each program reports it in
 * its own words.
 *
 * The VFIO cdev and iommufd calls are defined here rather than taken from
 * <linux/vfio.h> and <linux/iommufd.h>: the build host's uAPI headers
 * (Debian 12: 6.1) predate them, while the guest kernel may have them.  They
 * are the kernel's stable ABI (include/uapi/linux/vfio.h, iommufd.h). */
#pragma once

#include <linux/vfio.h>
#include <stdint.h>

struct vfio_step_error {
	const char *step;
	char what[256];
};

/* The container speaks this program's VFIO API and offers type 1. */
int vfio_container_check(int container, struct vfio_step_error *e);
/* The group is viable; it is set into the container, which gets type 1. */
int vfio_group_attach(int group, unsigned group_nr, int container, struct vfio_step_error *e);
/* The device descriptor from a group that is in a container. */
int vfio_group_device(int group, const char *addr, struct vfio_step_error *e);
/* A VFIO cdev (/dev/vfio/devices/vfioN) bound to iommufd and attached to a
 * new IO address space in it, as a VMM does before it can use the device;
 * *ioas receives the address space's id. */
int vfio_cdev_attach(int device, int iommufd, uint32_t *ioas, struct vfio_step_error *e);
/* VFIO_DEVICE_GET_INFO. */
int vfio_device_info(int device, struct vfio_device_info *info, struct vfio_step_error *e);
