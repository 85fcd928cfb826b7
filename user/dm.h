/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Device-mapper client (libdevmapper): device info, creation in three
 * steps (create, load, resume) with cleanup on failure, removal; udev
 * synchronised unless DM_DISABLE_UDEV is set. libdevmapper's own logging
 * is silenced; callers print one line.
 */
#ifndef VS_DM_H
#define VS_DM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VS_DM_NAME_LEN	128
#define VS_DM_UUID_LEN	129

struct vs_dm_info {
	bool exists;
	bool read_only;
	bool suspended;
	bool live_table;
	int open_count;
	uint32_t major, minor;
	char name[VS_DM_NAME_LEN];
	char uuid[VS_DM_UUID_LEN];
};

struct vs_dm_spec {
	const char *name;
	const char *uuid;
	const char *target;	/* target type */
	const char *params;
	uint64_t sectors;
	bool read_only;
	uint16_t udev_flags;	/* DM_UDEV_* of the resume */
};

void vs_dm_init(void);
void vs_dm_exit(void);

/* Info by name or (name NULL) by uuid. Returns 0 or a negative errno. */
int vs_dm_info(const char *name, const char *uuid, struct vs_dm_info *info);
/* Info by device number. */
int vs_dm_info_dev(uint32_t major, uint32_t minor, struct vs_dm_info *info);

/*
 * Creates the device with one target covering it. On failure removes what
 * was created, returns a negative errno and puts the reason into err
 * (the target's own message from the kernel log when there is one).
 */
int vs_dm_create(const struct vs_dm_spec *spec, struct vs_dm_info *info,
		 char *err, size_t errlen);

/* Removes a device, retrying briefly while it is busy (udev probing). */
int vs_dm_remove(const char *name);

/*
 * Sends a target message (sector 0). On failure puts the target's reason
 * from the kernel log (see vs_kmsg_message_reason(); dev "MAJ:MIN", node
 * the node name) or strerror() into err.
 */
int vs_dm_message(const char *name, const char *dev, const char *target,
		  const char *node, const char *msg, char *err, size_t errlen);

/* The target type and parameters of a one-target table (malloc'd). */
int vs_dm_get_table(const char *name, char **target, char **params,
		    char *err, size_t errlen);
/* The same, and the table's length in sectors. */
int vs_dm_get_table_len(const char *name, char **target, char **params,
			uint64_t *sectors, char *err, size_t errlen);

/*
 * Loads a one-target table of SECTORS and resumes (udev-synchronised).
 * On failure the reason (kernel log or strerror()) is in err.
 */
int vs_dm_reload(const char *name, const char *dev, const char *target,
		 const char *params, uint64_t sectors, bool read_only,
		 char *err, size_t errlen);

/* Loads a table (inactive until a resume). Reason in err on failure. */
int vs_dm_load(const char *name, const char *dev, const char *target,
	       const char *params, uint64_t sectors, bool read_only,
	       char *err, size_t errlen);

/* Suspends (flushing, freezing a file system on it). */
int vs_dm_suspend(const char *name, char *err, size_t errlen);

/*
 * Resumes (switching to a loaded table), udev-synchronised with the
 * DM_UDEV_* flags given. dev and target name the reason to look for in
 * the kernel log on failure.
 */
int vs_dm_resume(const char *name, const char *dev, const char *target,
		 uint16_t udev_flags, char *err, size_t errlen);

/*
 * How many devices hold block device MAJOR:MINOR (device-mapper tables and
 * the like: sysfs "holders"), the first one's name in first. Returns the
 * count or a negative errno.
 */
int vs_dm_holders(uint32_t major, uint32_t minor, char *first, size_t len);
/* The same, not counting the device-mapper device named SKIP. */
int vs_dm_holders_except(uint32_t major, uint32_t minor, const char *skip,
			 char *first, size_t len);

/* libdevmapper's last error message, for reports when errno is 0. */
const char *vs_dm_last_error(void);

#endif /* VS_DM_H */
