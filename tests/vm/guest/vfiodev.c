#include "tests/vm/guest/vfiodev.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

/* VFIO cdev (Linux 6.6): include/uapi/linux/vfio.h. */
struct hd_vfio_device_bind_iommufd {
	uint32_t argsz;
	uint32_t flags;
	int32_t iommufd;
	uint32_t out_devid;
};
#define HD_VFIO_DEVICE_BIND_IOMMUFD _IO(VFIO_TYPE, VFIO_BASE + 18)

struct hd_vfio_device_attach_iommufd_pt {
	uint32_t argsz;
	uint32_t flags;
	uint32_t pt_id;
};
#define HD_VFIO_DEVICE_ATTACH_IOMMUFD_PT _IO(VFIO_TYPE, VFIO_BASE + 19)

/* iommufd (Linux 6.2): include/uapi/linux/iommufd.h. */
struct hd_iommu_ioas_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t out_ioas_id;
};
#define HD_IOMMUFD_TYPE ';'
#define HD_IOMMU_IOAS_ALLOC _IO(HD_IOMMUFD_TYPE, 0x81)

__attribute__((format(printf, 3, 4))) static int fail(struct vfio_step_error *e, const char *step,
						      const char *fmt, ...)
{
	va_list ap;

	e->step = step;
	va_start(ap, fmt);
	vsnprintf(e->what, sizeof(e->what), fmt, ap);
	va_end(ap);
	return -1;
}

int vfio_container_check(int container, struct vfio_step_error *e)
{
	int r = ioctl(container, VFIO_GET_API_VERSION);

	if (r < 0)
		return fail(e, "VFIO_GET_API_VERSION", "%s", strerror(errno));
	if (r != VFIO_API_VERSION)
		return fail(e, "VFIO_GET_API_VERSION", "the kernel speaks version %d, this program %d",
			    r, VFIO_API_VERSION);
	r = ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU);
	if (r < 0)
		return fail(e, "VFIO_CHECK_EXTENSION", "%s", strerror(errno));
	if (r == 0)
		return fail(e, "VFIO_CHECK_EXTENSION", "the container does not offer VFIO_TYPE1_IOMMU");
	return 0;
}

int vfio_group_attach(int group, unsigned group_nr, int container, struct vfio_step_error *e)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };

	if (ioctl(group, VFIO_GROUP_GET_STATUS, &status) < 0)
		return fail(e, "VFIO_GROUP_GET_STATUS", "%s", strerror(errno));
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		return fail(e, "VFIO_GROUP_GET_STATUS",
			    "group %u is not viable: a device in it is bound to a host driver",
			    group_nr);
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) < 0)
		return fail(e, "VFIO_GROUP_SET_CONTAINER", "%s", strerror(errno));
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) < 0)
		return fail(e, "VFIO_SET_IOMMU", "%s", strerror(errno));
	return 0;
}

int vfio_group_device(int group, const char *addr, struct vfio_step_error *e)
{
	int fd = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, addr);

	return fd < 0 ? fail(e, "VFIO_GROUP_GET_DEVICE_FD", "%s", strerror(errno)) : fd;
}

int vfio_cdev_attach(int device, int iommufd, uint32_t *ioas, struct vfio_step_error *e)
{
	struct hd_vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = iommufd };
	struct hd_iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct hd_vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };

	if (ioctl(device, HD_VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0)
		return fail(e, "VFIO_DEVICE_BIND_IOMMUFD", "%s", strerror(errno));
	if (ioctl(iommufd, HD_IOMMU_IOAS_ALLOC, &alloc) < 0)
		return fail(e, "IOMMU_IOAS_ALLOC", "%s", strerror(errno));
	attach.pt_id = alloc.out_ioas_id;
	if (ioctl(device, HD_VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) < 0)
		return fail(e, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", "%s", strerror(errno));
	*ioas = alloc.out_ioas_id;
	return 0;
}

int vfio_device_info(int device, struct vfio_device_info *info, struct vfio_step_error *e)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	if (ioctl(device, VFIO_DEVICE_GET_INFO, info) < 0)
		return fail(e, "VFIO_DEVICE_GET_INFO", "%s", strerror(errno));
	return 0;
}
