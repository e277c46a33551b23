#include "tests/common/rmtree.h"

#include <errno.h>
#include <ftw.h>
#include <unistd.h>

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -1 : 0;
}

int rmtree(const char *path)
{
	/* Depth first, so that each directory is empty when its turn comes;
	 * FTW_PHYS, so that no link is followed out of the tree (a testbed's
	 * links point all over its sysfs). */
	return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 ? -errno : 0;
}
