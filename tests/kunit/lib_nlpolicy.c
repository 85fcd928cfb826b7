// SPDX-License-Identifier: GPL-2.0
/* The netlink family's attribute policies, as vstorage.ko builds them. */
#include "nlpolicy.c"
