// SPDX-License-Identifier: GPL-2.0
/*
 * Image locks: two writers of one image corrupt it. Nodes follow one rule
 * among themselves (an image has one read-write node, or any number of
 * read-only ones), and on image files they also take QEMU 7.2's own
 * locks, so that QEMU's tools and vstorage refuse each other the same way
 * two QEMU processes do. Documentation/locking-images.rst has the rules
 * and the bytes.
 *
 * QEMU (block/file-posix.c) holds shared OFD locks of one byte: byte
 * 100 + i for each permission i it holds, byte 200 + i for each one it
 * does not share. Before that it makes sure nobody else holds byte 200 + i
 * for a permission it wants, nor byte 100 + i for one it does not share.
 * A node holds what a qcow2 format node's file child holds in QEMU: it
 * reads, a read-write node also writes and resizes, and neither lets
 * anybody else write or resize the image.
 *
 * OFD locks belong to an open file description, never conflict with one
 * another on the same one, and go with its last reference. An image is
 * therefore locked through one struct file that its registry entry keeps:
 * the instances of one node (a table reload builds the new one while the
 * old one still runs) and the read-only nodes sharing an image all hold
 * the same locks, and never see them as somebody else's.
 */
#include <linux/fs.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "vstorage.h"

#define DM_MSG_PREFIX "vstorage"

/* QEMU's permissions (BLK_PERM_*): bit i is lock byte 100 + i and 200 + i */
enum {
	VS_PERM_CONSISTENT_READ,
	VS_PERM_WRITE,
	VS_PERM_WRITE_UNCHANGED,
	VS_PERM_RESIZE,
	VS_PERM_NR
};

#define VS_LOCK_PERM_BASE	100	/* byte 100 + i: holds permission i */
#define VS_LOCK_SHARED_BASE	200	/* byte 200 + i: does not share it */

#define VS_PERMS_RO	BIT(VS_PERM_CONSISTENT_READ)
#define VS_PERMS_RW	(VS_PERMS_RO | BIT(VS_PERM_WRITE) | BIT(VS_PERM_RESIZE))
#define VS_UNSHARED	(BIT(VS_PERM_WRITE) | BIT(VS_PERM_RESIZE))

/* QEMU's own words, which its users search for */
static char * const vs_qemu_lock_errors[2][VS_PERM_NR] = {
	{	/* somebody else does not share a permission we want */
		"image is in use by another process: failed to get \"consistent read\" lock",
		"image is in use by another process: failed to get \"write\" lock",
		"image is in use by another process: failed to get \"write unchanged\" lock",
		"image is in use by another process: failed to get \"resize\" lock",
	}, {	/* somebody else holds a permission we do not share */
		"image is in use by another process: failed to get shared \"consistent read\" lock",
		"image is in use by another process: failed to get shared \"write\" lock",
		"image is in use by another process: failed to get shared \"write unchanged\" lock",
		"image is in use by another process: failed to get shared \"resize\" lock",
	},
};

/* One image that nodes have open: an inode, or a block device. */
struct vs_image {
	struct list_head list;
	struct inode *inode;		/* a file's; kept alive by ->file */
	dev_t dev;			/* a block device's, when no inode */
	struct file *file;		/* carries QEMU's locks; NULL: none */
	struct list_head holders;
	unsigned int qemu_users[2];	/* locks asking for QEMU's bytes, [writable] */
	u8 perm_locked;			/* bytes 100 + i held */
	u8 unshared_locked;		/* bytes 200 + i held */
};

/* The locks of one node name on an image. */
struct vs_image_holder {
	struct list_head list;
	unsigned int users[2];		/* [writable] */
	char name[VSTORAGE_NODE_NAME_MAX + 1];
};

struct vs_image_lock {
	struct vs_image *img;
	struct vs_image_holder *holder;
	bool writable;
	bool qemu;
};

static LIST_HEAD(vs_images);
/* Control path only (target constructors and destructors). */
static DEFINE_MUTEX(vs_images_lock);

static void vs_ofd_init(struct file_lock *fl, struct file *file, loff_t byte,
			unsigned char type)
{
	/* what fcntl(F_OFD_SETLK/F_OFD_GETLK) builds from a struct flock */
	locks_init_lock(fl);
	fl->fl_flags = FL_POSIX | FL_OFDLCK;
	fl->fl_owner = file;
	fl->fl_pid = current->tgid;
	fl->fl_file = file;
	fl->fl_start = byte;
	fl->fl_end = byte;
	fl->fl_type = type;
}

/* A shared lock on BYTE (F_RDLCK), or none (F_UNLCK), like F_OFD_SETLK. */
static int vs_ofd_set(struct file *file, loff_t byte, unsigned char type)
{
	struct file_lock fl;
	int ret;

	vs_ofd_init(&fl, file, byte, type);
	ret = vfs_lock_file(file, F_SETLK, &fl, NULL);
	/* a file system's ->lock() may have attached private state */
	locks_release_private(&fl);
	return ret;
}

/* Whether another open file description holds a lock on BYTE. */
static int vs_ofd_held(struct file *file, loff_t byte, bool *held)
{
	struct file_lock fl;
	int ret;

	vs_ofd_init(&fl, file, byte, F_WRLCK);
	ret = vfs_test_lock(file, &fl);
	*held = !ret && fl.fl_type != F_UNLCK;
	/* a conflicting lock copied into fl may hold an owner reference */
	locks_release_private(&fl);
	return ret;
}

/* Unlock the bytes BASE + i of MASK. Failing leaves them to the last fput. */
static void vs_ofd_unlock_bytes(struct file *file, loff_t base, u8 mask)
{
	unsigned int i;

	for (i = 0; i < VS_PERM_NR; i++)
		if (mask & BIT(i))
			vs_ofd_set(file, base + i, F_UNLCK);
}

static int vs_ofd_lock_bytes(struct file *file, loff_t base, u8 mask)
{
	unsigned int i;
	int ret;

	for (i = 0; i < VS_PERM_NR; i++) {
		if (!(mask & BIT(i)))
			continue;
		ret = vs_ofd_set(file, base + i, F_RDLCK);
		if (ret) {
			vs_ofd_unlock_bytes(file, base, mask & (BIT(i) - 1));
			return ret;
		}
	}
	return 0;
}

/* QEMU's raw_check_lock_bytes(): nobody else excludes what we want. */
static int vs_qemu_check(struct file *file, u8 perm, u8 unshared,
			 char **error)
{
	unsigned int i, j;
	bool held;
	int ret;

	for (j = 0; j < 2; j++) {
		u8 mask = j ? unshared : perm;
		loff_t base = j ? VS_LOCK_PERM_BASE : VS_LOCK_SHARED_BASE;

		for (i = 0; i < VS_PERM_NR; i++) {
			if (!(mask & BIT(i)))
				continue;
			ret = vs_ofd_held(file, base + i, &held);
			if (ret) {
				*error = "cannot test the image's locks (locking off skips them)";
				return ret;
			}
			if (held) {
				*error = vs_qemu_lock_errors[j][i];
				return -EBUSY;
			}
		}
	}
	return 0;
}

/*
 * Hold the bytes that the entry's users need now. Like QEMU, take new bytes
 * first and check afterwards: of two openers racing, both then fail rather
 * than both succeed. Giving bytes up never fails (ERROR may be NULL).
 */
static int vs_image_qemu_sync(struct vs_image *img, char **error)
{
	u8 perm = 0, unshared = 0, more_perm, more_unshared;
	int ret;

	if (img->qemu_users[true])
		perm = VS_PERMS_RW;
	else if (img->qemu_users[false])
		perm = VS_PERMS_RO;
	if (perm)
		unshared = VS_UNSHARED;
	more_perm = perm & ~img->perm_locked;
	more_unshared = unshared & ~img->unshared_locked;

	if (more_perm || more_unshared) {
		ret = vs_ofd_lock_bytes(img->file, VS_LOCK_PERM_BASE, more_perm);
		if (ret) {
			*error = "cannot lock the image (locking off skips its locks)";
			return ret;
		}
		ret = vs_ofd_lock_bytes(img->file, VS_LOCK_SHARED_BASE,
					more_unshared);
		if (ret) {
			*error = "cannot lock the image (locking off skips its locks)";
			goto out_perm;
		}
		ret = vs_qemu_check(img->file, perm, unshared, error);
		if (ret)
			goto out_unshared;
	}

	vs_ofd_unlock_bytes(img->file, VS_LOCK_PERM_BASE,
			    img->perm_locked & ~perm);
	vs_ofd_unlock_bytes(img->file, VS_LOCK_SHARED_BASE,
			    img->unshared_locked & ~unshared);
	img->perm_locked = perm;
	img->unshared_locked = unshared;
	return 0;

out_unshared:
	vs_ofd_unlock_bytes(img->file, VS_LOCK_SHARED_BASE, more_unshared);
out_perm:
	vs_ofd_unlock_bytes(img->file, VS_LOCK_PERM_BASE, more_perm);
	return ret;
}

static struct vs_image *vs_image_find(struct inode *inode, dev_t dev)
{
	struct vs_image *img;

	list_for_each_entry(img, &vs_images, list)
		if (inode ? img->inode == inode :
			    !img->inode && img->dev == dev)
			return img;
	return NULL;
}

/* Forget one lock of HOLDER on IMG, and what nobody uses any more. */
static void vs_image_drop(struct vs_image *img, struct vs_image_holder *holder,
			  bool writable, bool qemu)
{
	holder->users[writable]--;
	if (!holder->users[false] && !holder->users[true]) {
		list_del(&holder->list);
		kfree(holder);
	}
	if (qemu) {
		img->qemu_users[writable]--;
		vs_image_qemu_sync(img, NULL);
	}
	if (!list_empty(&img->holders))
		return;
	if (img->file)
		fput(img->file);
	list_del(&img->list);
	kfree(img);
}

/*
 * Whether live node NAME is the backing node of another node (that one's
 * name into PARENT): what a read-only holder of an image usually is.
 */
static bool vs_image_backing_of(const char *name, char *parent, size_t len)
{
	struct vs_node *node = vs_node_get_by_name(name), *p;
	unsigned long idx;
	unsigned int c;
	bool found = false;
	dev_t dev;

	if (!node)
		return false;
	dev = vs_node_devt(node);
	vs_node_put(node);
	for (idx = 0; !found && (p = vs_node_get_nth(idx)); idx++) {
		for (c = 0; c < p->nr_children; c++) {
			if (p->children[c].dev == dev &&
			    !strcmp(p->children[c].role, "backing")) {
				strscpy(parent, p->name, len);
				found = true;
			}
		}
		vs_node_put(p);
	}
	return found;
}

#define VS_IMAGE_NAME_MAX 256

/*
 * How the kernel log names the image: "image PATH" (the file's whole path,
 * or its last components if that is too long) or "block device MAJ:MIN".
 */
static void vs_image_name(struct file *file, dev_t dev, char *buf, size_t len)
{
	char path[VS_IMAGE_NAME_MAX];
	char *p;

	if (!file) {
		snprintf(buf, len, "block device %u:%u", MAJOR(dev), MINOR(dev));
		return;
	}
	p = file_path(file, path, sizeof(path));
	if (IS_ERR(p))
		snprintf(buf, len, "image %pD4", file);
	else
		snprintf(buf, len, "image %s", p);
}

static void vs_image_qemu_refused(const char *node_name, struct file *file,
				  const char *error)
{
	char img[VS_IMAGE_NAME_MAX + 8];

	vs_image_name(file, 0, img, sizeof(img));
	DMERR("node '%s': %s: %s", node_name, img, error);
}

/* Why node NODE_NAME may not have the image that node OTHER holds. */
static void vs_image_refuse(const char *node_name, struct file *file,
			    dev_t dev, const char *other, bool other_rw,
			    char **error)
{
	char parent[VSTORAGE_NODE_NAME_MAX + 1], img[VS_IMAGE_NAME_MAX + 8];

	vs_image_name(file, dev, img, sizeof(img));
	if (other_rw) {
		*error = "image is open read-write by another node";
		DMERR("node '%s': %s is open read-write by node '%s'",
		      node_name, img, other);
	} else if (vs_image_backing_of(other, parent, sizeof(parent))) {
		*error = "image is the backing of another node";
		DMERR("node '%s': %s is the backing of node '%s' (open read-only by node '%s')",
		      node_name, img, parent, other);
	} else {
		*error = "image is open read-only by another node";
		DMERR("node '%s': %s is open read-only by node '%s'",
		      node_name, img, other);
	}
}

/**
 * vs_image_lock_get - lock an image for a node
 * @node_name: the node's name; its instances share their locks
 * @file: the image file, or NULL for a block device
 * @bdev_dev: the block device, when @file is NULL
 * @writable: the node writes the image
 * @qemu_locks: also take QEMU's lock bytes (files only)
 * @error: set to the reason (a static string) on failure
 *
 * An image has either one read-write node or any number of read-only ones;
 * instances of one node name (a reload, or a node moving to another dm
 * device) join the same locks. Returns the lock or an ERR_PTR; the names
 * of the conflicting nodes go to the kernel log.
 */
struct vs_image_lock *vs_image_lock_get(const char *node_name,
					struct file *file, dev_t bdev_dev,
					bool writable, bool qemu_locks,
					char **error)
{
	char other[VSTORAGE_NODE_NAME_MAX + 1];
	struct vs_image_holder *h, *holder = NULL;
	struct vs_image_lock *lock;
	struct inode *inode = file ? file_inode(file) : NULL;
	struct vs_image *img;
	bool other_rw = false;
	int ret;

	if (strlen(node_name) >= sizeof(holder->name)) {
		*error = VS_NODE_NAME_RULES;
		return ERR_PTR(-EINVAL);
	}
	qemu_locks = qemu_locks && file;
	other[0] = '\0';

	lock = kzalloc(sizeof(*lock), GFP_KERNEL);
	if (!lock)
		goto out_nomem;

	mutex_lock(&vs_images_lock);
	img = vs_image_find(inode, bdev_dev);
	if (!img) {
		img = kzalloc(sizeof(*img), GFP_KERNEL);
		if (!img)
			goto out_nomem_unlock;
		img->inode = inode;
		img->dev = inode ? 0 : bdev_dev;
		INIT_LIST_HEAD(&img->holders);
		list_add(&img->list, &vs_images);
	}

	list_for_each_entry(h, &img->holders, list) {
		if (!strcmp(h->name, node_name)) {
			holder = h;
			continue;
		}
		if (writable || h->users[true]) {
			strscpy(other, h->name, sizeof(other));
			other_rw = h->users[true];
			break;
		}
	}
	if (other[0]) {
		ret = -EBUSY;
		goto out_unused;
	}

	if (!holder) {
		holder = kzalloc(sizeof(*holder), GFP_KERNEL);
		if (!holder)
			goto out_nomem_unused;
		strscpy(holder->name, node_name, sizeof(holder->name));
		list_add_tail(&holder->list, &img->holders);
	}
	holder->users[writable]++;
	if (qemu_locks) {
		if (!img->file)
			img->file = get_file(file);
		img->qemu_users[writable]++;
		ret = vs_image_qemu_sync(img, error);
		if (ret) {
			vs_image_drop(img, holder, writable, true);
			goto out_qemu;
		}
	}
	mutex_unlock(&vs_images_lock);

	lock->img = img;
	lock->holder = holder;
	lock->writable = writable;
	lock->qemu = qemu_locks;
	return lock;

out_qemu:
	mutex_unlock(&vs_images_lock);
	kfree(lock);
	vs_image_qemu_refused(node_name, file, *error);
	return ERR_PTR(ret);

out_nomem_unused:
	ret = -ENOMEM;
out_unused:
	/* an entry made for this call and nobody else */
	if (list_empty(&img->holders)) {
		list_del(&img->list);
		kfree(img);
	}
	mutex_unlock(&vs_images_lock);
	kfree(lock);
	if (ret == -ENOMEM)
		goto out_nomem;
	vs_image_refuse(node_name, file, bdev_dev, other, other_rw, error);
	return ERR_PTR(ret);

out_nomem_unlock:
	mutex_unlock(&vs_images_lock);
	kfree(lock);
out_nomem:
	*error = "cannot allocate the image lock";
	return ERR_PTR(-ENOMEM);
}

void vs_image_lock_put(struct vs_image_lock *lock)
{
	if (!lock)
		return;
	mutex_lock(&vs_images_lock);
	vs_image_drop(lock->img, lock->holder, lock->writable, lock->qemu);
	mutex_unlock(&vs_images_lock);
	kfree(lock);
}
