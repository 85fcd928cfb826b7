// SPDX-License-Identifier: GPL-2.0
/* The qcow2 table-entry encoding, exactly as dm-vstorage-qcow2 builds it. */
#include "entries.c"
