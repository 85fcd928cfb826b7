// SPDX-License-Identifier: GPL-2.0
/*
 * vstorage core module: the node graph, the "vstorage" generic netlink
 * family and the helpers every format and filter target uses to reach its
 * children. Targets live in their own modules and depend on this one, so it
 * cannot be unloaded while any node exists.
 */
#include <linux/module.h>
#include <net/genetlink.h>

#include "vstorage.h"
#include "jobs/job.h"
#include "jobs/mirror_top.h"

static int __init vs_core_init(void)
{
	int ret = vs_mirror_top_init();

	if (ret) {
		pr_err("vstorage: cannot register the vstorage-mirror target: %d\n",
		       ret);
		return ret;
	}
	ret = vs_nl_init();
	if (ret) {
		pr_err("vstorage: cannot register the netlink family: %d\n", ret);
		vs_mirror_top_exit();
		return ret;
	}
	return 0;
}

static void __exit vs_core_exit(void)
{
	vs_nl_exit();
	vs_mirror_top_exit();
	vs_jobs_exit();
	vs_tgroups_exit();
	vs_bitmaps_exit();
}

module_init(vs_core_init);
module_exit(vs_core_exit);

MODULE_DESCRIPTION("vstorage core: node graph and netlink control for vstorage targets");
MODULE_AUTHOR("vstorage developers");
MODULE_LICENSE("GPL");
MODULE_ALIAS_GENL_FAMILY(VSTORAGE_GENL_NAME);
/* what device-mapper asks for when a table names the jobs' filter */
MODULE_ALIAS("dm-vstorage-mirror");
