// SPDX-License-Identifier: GPL-2.0
/* The qcow2 L2/refcount cache, exactly as dm-vstorage-qcow2 builds it. */
#include "cache.c"
