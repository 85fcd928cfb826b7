// SPDX-License-Identifier: GPL-2.0
/* The leaky-bucket arithmetic (not exported by vstorage.ko), for the suites. */
#include "filters/bucket.c"
