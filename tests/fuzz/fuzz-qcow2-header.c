// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz-qcow2-header - the header, its extensions and the open policy.
 *
 * Input: the image from offset 0 (usually its first cluster), optionally
 * followed by the file size trailer (fuzz.h). Runs qcow2_header_parse() the
 * way a reader does (growing the buffer on -ENODATA), then
 * qcow2_extensions_parse(), qcow2_feature_name(), qcow2_check_open(),
 * qcow2_header_encode(), qcow2_ext_put() and the fixed metadata ranges,
 * checking the invariants in common.c.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_image img;
	struct fuzz_parsed p;

	fuzz_image_init(&img, data, size);
	if (!fuzz_parse_header(&img, &p))
		free(p.area);
	return 0;
}
