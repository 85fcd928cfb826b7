// SPDX-License-Identifier: GPL-2.0
/*
 * nlprobe: send arbitrary, also malformed, requests to the vstorage
 * generic netlink family and report the result in one line. A test helper.
 *
 *   nlprobe [--dump] CMD [ATTR:TYPE[:VALUE] ...]
 *   nlprobe --family-only
 *
 * CMD: a number or node-get, node-new, node-change, node-del, block-status.
 * ATTR: attribute type number (0..65535, may include NLA_F_NESTED 0x8000).
 * TYPE:
 *   u8 u16 u32 u64  unsigned number (decimal or 0x hex), range-checked
 *   str             string without its NUL
 *   strz            string with its NUL
 *   bin             hex bytes ("0011ff"; empty for an empty payload)
 *   flag            no payload (VALUE, if any, is ignored)
 *   nest-empty      empty nest, with NLA_F_NESTED set (VALUE ignored)
 *   raw-len         a bare 4-byte attribute header whose nla_len field is
 *                   VALUE; no payload follows (claims more than it carries
 *                   when VALUE > 4, is malformed when VALUE < 4)
 * Without --dump the request carries NLM_F_ACK.
 *
 * Output: "ok N" (N reply messages), exit 0; "error ENAME MESSAGE" (the
 * kernel's errno and extended-ACK message, possibly empty), exit 1;
 * --family-only: "id=N version=N mcgrp-events=N", exit 0.
 * Usage errors: exit 2. Local failures: "Error: ..." on stderr, exit 1.
 *
 * Environment: NLPROBE_FAMILY=name talks to another generic netlink family
 * (e.g. "nlctrl", to check nlprobe itself on a machine without vstorage).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/family.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include <linux/vstorage.h>

#include "nl.h"
#include "parse.h"
#include "util.h"

static const struct {
	const char *name;
	int cmd;
} cmds[] = {
	{ "node-get", VSTORAGE_CMD_NODE_GET },
	{ "node-new", VSTORAGE_CMD_NODE_NEW },
	{ "node-change", VSTORAGE_CMD_NODE_CHANGE },
	{ "node-del", VSTORAGE_CMD_NODE_DEL },
	{ "block-status", VSTORAGE_CMD_BLOCK_STATUS },
};

static const char *family_name(void)
{
	const char *f = getenv("NLPROBE_FAMILY");

	return f && *f ? f : VSTORAGE_GENL_NAME;
}

static int usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "nlprobe: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nUsage: nlprobe [--dump] CMD [ATTR:TYPE[:VALUE] ...]\n"
			"       nlprobe --family-only\n"
			"TYPE := { u8 | u16 | u32 | u64 | str | strz | bin | flag | nest-empty | raw-len }\n");
	return EXIT_USAGE;
}

static int parse_cmd(const char *s, int *cmd)
{
	uint64_t v;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		if (!strcmp(s, cmds[i].name)) {
			*cmd = cmds[i].cmd;
			return 0;
		}
	}
	if (parse_uint(s, 255, &v))
		return -1;
	*cmd = (int)v;
	return 0;
}

/* Appends one ATTR:TYPE[:VALUE]. Returns 0 or -1 (bad spec). */
static int put_attr(struct nl_msg *msg, const char *spec)
{
	char buf[64], *type, *value;
	const char *colon;
	uint64_t attr, v;
	size_t n;
	int ret;

	colon = strchr(spec, ':');
	if (!colon)
		return -1;
	n = colon - spec;
	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, spec, n);
	buf[n] = '\0';
	if (parse_uint(buf, 0xffff, &attr))
		return -1;
	type = xstrdup(colon + 1);
	value = strchr(type, ':');
	if (value)
		*value++ = '\0';

	ret = -1;
	if (!strcmp(type, "u8") || !strcmp(type, "u16") ||
	    !strcmp(type, "u32") || !strcmp(type, "u64")) {
		int bits = atoi(type + 1);
		uint64_t max = bits == 64 ? UINT64_MAX : (1ULL << bits) - 1;

		if (!value || parse_uint(value, max, &v))
			goto out;
		if (bits == 8)
			ret = nla_put_u8(msg, attr, v);
		else if (bits == 16)
			ret = nla_put_u16(msg, attr, v);
		else if (bits == 32)
			ret = nla_put_u32(msg, attr, v);
		else
			ret = nla_put_u64(msg, attr, v);
	} else if (!strcmp(type, "str")) {
		if (!value)
			goto out;
		ret = nla_put(msg, attr, strlen(value), value);
	} else if (!strcmp(type, "strz")) {
		if (!value)
			goto out;
		ret = nla_put(msg, attr, strlen(value) + 1, value);
	} else if (!strcmp(type, "bin")) {
		size_t len = value ? strlen(value) : 0, i;
		unsigned char *bytes;

		if (len % 2)
			goto out;
		bytes = xmalloc(len / 2);
		for (i = 0; i < len / 2; i++) {
			int hi = parse_hex_digit(value[2 * i]), lo = parse_hex_digit(value[2 * i + 1]);

			if (hi < 0 || lo < 0) {
				free(bytes);
				goto out;
			}
			bytes[i] = hi << 4 | lo;
		}
		ret = nla_put(msg, attr, len / 2, bytes);
		free(bytes);
	} else if (!strcmp(type, "flag")) {
		ret = nla_put_flag(msg, attr);		/* VALUE ignored */
	} else if (!strcmp(type, "nest-empty")) {
		ret = nla_put(msg, attr | NLA_F_NESTED, 0, NULL);
	} else if (!strcmp(type, "raw-len")) {
		struct nlattr *nla;

		if (!value || parse_uint(value, 0xffff, &v))
			goto out;
		nla = nlmsg_reserve(msg, sizeof(*nla), NLMSG_ALIGNTO);
		if (!nla) {
			ret = -NLE_NOMEM;
		} else {
			nla->nla_type = attr;
			nla->nla_len = v;
			ret = 0;
		}
	} else {
		goto out;
	}
	if (ret < 0) {
		fprintf(stderr, "Error: cannot add attribute '%s': %s\n", spec,
			nl_geterror(ret));
		exit(EXIT_ERR);
	}
	ret = 0;
out:
	free(type);
	return ret;
}

static int family_only(void)
{
	struct nl_cache *cache = NULL;
	struct genl_family *fam;
	struct vs_nl nl;
	int grp, ret;

	if (vs_nl_open(&nl, false))
		return EXIT_ERR;
	ret = genl_ctrl_alloc_cache(nl.sk, &cache);
	if (ret < 0) {
		fprintf(stderr, "Error: cannot read generic netlink families: %s\n",
			nl_geterror(ret));
		vs_nl_close(&nl);
		return EXIT_ERR;
	}
	fam = genl_ctrl_search_by_name(cache, VSTORAGE_GENL_NAME);
	grp = genl_ctrl_resolve_grp(nl.sk, VSTORAGE_GENL_NAME,
				    VSTORAGE_GENL_MCGRP_EVENTS);
	if (!fam) {
		fprintf(stderr, "Error: family '%s' vanished\n", VSTORAGE_GENL_NAME);
		ret = EXIT_ERR;
	} else {
		printf("id=%d version=%d mcgrp-events=%d\n", nl.family,
		       genl_family_get_version(fam), grp < 0 ? -1 : grp);
		ret = EXIT_OK;
		genl_family_put(fam);
	}
	nl_cache_free(cache);
	vs_nl_close(&nl);
	return ret;
}

int main(int argc, char **argv)
{
	struct nl_msg *msg;
	struct vs_nl nl;
	bool dump = false;
	int i = 1, cmd, ret;

	if (argc == 2 && !strcmp(argv[1], "--family-only"))
		return family_only();
	if (argc > 1 && !strcmp(argv[1], "--dump")) {
		dump = true;
		i++;
	}
	if (i >= argc)
		return usage("missing CMD%s", "");
	if (parse_cmd(argv[i], &cmd))
		return usage("bad CMD '%s'", argv[i]);

	/* Build first, so that a bad spec is a usage error even without the
	 * module; the family id is filled in once resolved.
	 */
	msg = nlmsg_alloc_size(VS_NL_BUF_SIZE);
	if (!msg || !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, 0, 0,
				 dump ? NLM_F_DUMP : NLM_F_ACK, cmd,
				 VSTORAGE_GENL_VERSION)) {
		fprintf(stderr, "Error: out of memory\n");
		return EXIT_ERR;
	}
	for (i++; i < argc; i++) {
		if (put_attr(msg, argv[i])) {
			nlmsg_free(msg);
			return usage("bad attribute '%s'", argv[i]);
		}
	}
	if (vs_nl_open_family(&nl, family_name(), false)) {
		nlmsg_free(msg);
		return EXIT_ERR;
	}
	nlmsg_hdr(msg)->nlmsg_type = nl.family;

	ret = vs_nl_transact(&nl, msg, NULL, NULL);
	nlmsg_free(msg);
	if (ret >= 0) {
		printf("ok %d\n", ret);
		ret = EXIT_OK;
	} else if (nl.local[0]) {
		fprintf(stderr, "Error: %s\n", nl.local);
		ret = EXIT_ERR;
	} else {
		const char *name = strerrorname_np(nl.err);

		const char *sep = nl.extack[0] ? " " : "";

		if (name)
			printf("error %s%s%s\n", name, sep, nl.extack);
		else
			printf("error E%d%s%s\n", nl.err, sep, nl.extack);
		ret = EXIT_ERR;
	}
	vs_nl_close(&nl);
	return ret;
}
