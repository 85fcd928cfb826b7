// SPDX-License-Identifier: GPL-2.0
/* The qcow2 metadata library, exactly as dm-vstorage-qcow2 builds it. */
#include "format.c"
