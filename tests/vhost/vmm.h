/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The VMM harness of vhost-blk (tests/vhost/vmm): guest memory, split
 * virtqueues and a vhost device, all in this process (ring.c), and the test
 * modes (vmm.c). Documentation/vhost-blk.rst.
 */
#ifndef VMM_H
#define VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/virtio_ring.h>

#define VMM_MAX_QUEUES 16
#define VMM_RING_NUM 1024
#define VMM_REGIONS 3
#define VMM_REGION_SIZE (32u << 20)
/* device-writable pieces of a chain the harness reads back */
#define VMM_MAX_IN 72

struct vmm_region {
	uint64_t gpa;
	uint8_t *hva;
	size_t size;
	size_t used;		/* bump allocator, reset between steps */
	int fd;			/* its memfd, for a vhost-user back end */
};

/* One request the harness has put on a ring. */
struct vmm_req {
	bool busy, done;
	uint32_t used_len;
	uint16_t descs[64];	/* ring descriptors it holds */
	unsigned int ndescs;
	/* where the device-writable bytes are, in order */
	uint8_t *in_hva[VMM_MAX_IN];
	uint32_t in_len[VMM_MAX_IN];
	unsigned int nin;
	uint64_t t_submit;	/* load mode: ns */
	unsigned int slot;
};

struct vmm_vq {
	unsigned int index, num;
	struct vring vr;
	uint16_t avail_idx, last_used;
	uint16_t free[VMM_RING_NUM];
	unsigned int nfree;
	int kick, call, err;
	struct vmm_req *reqs;	/* by head */
};

struct vmm {
	int fd;			/* /dev/vhost-blk, or -1 */
	int sock;		/* a vhost-user back end, or -1 */
	uint64_t capacity;	/* vhost-user: sectors, from its config */
	uint64_t features;
	bool event_idx;
	unsigned int nq;
	struct vmm_region reg[VMM_REGIONS];
	struct vmm_vq vq[VMM_MAX_QUEUES];
	const char *backend;
};

/* A piece of guest memory to put in a descriptor. */
struct vmm_seg {
	uint64_t gpa;
	uint32_t len;
	bool write;		/* device-writable */
	uint8_t *hva;		/* NULL: not ours (hostile addresses) */
};

int vmm_open(struct vmm *m, const char *backend, unsigned int nq,
	     bool event_idx, bool read_only);
/* The same over the vhost-user protocol (vhost-user.c). */
int vmm_open_user(struct vmm *m, const char *socket, unsigned int nq,
		  bool event_idx);
int vmm_user_setup(struct vmm *m, bool event_idx);
int vmm_setup_rings(struct vmm *m);
/* A vhost ioctl of ring setup, sent as its vhost-user message. */
int vmm_user_ioctl(struct vmm *m, unsigned long req, void *arg,
		   const char *what);
void vmm_close(struct vmm *m);
int vmm_set_backend(struct vmm *m, unsigned int q, int fd);
int vmm_backend_fd(struct vmm *m, bool read_only);

void vmm_mem_reset(struct vmm *m);
uint8_t *vmm_alloc(struct vmm *m, unsigned int region, size_t len,
		   size_t align, size_t offset, uint64_t *gpa);
uint64_t vmm_region_end(struct vmm *m, unsigned int region);
uint8_t *vmm_hva(struct vmm *m, uint64_t gpa, uint32_t len);

/* Writes a chain (or an indirect table of it); returns the head. */
int vmm_build(struct vmm *m, struct vmm_vq *vq, const struct vmm_seg *segs,
	      unsigned int n, bool indirect);
/* Makes a chain available to the device (no kick). */
void vmm_publish(struct vmm_vq *vq, uint16_t head);
/* Both. */
int vmm_submit(struct vmm *m, struct vmm_vq *vq, const struct vmm_seg *segs,
	       unsigned int n, bool indirect);
void vmm_kick(struct vmm_vq *vq);
/* Collects used entries; waits up to @ms for the call eventfd if none. */
int vmm_reap(struct vmm *m, struct vmm_vq *vq, int ms);
int vmm_wait(struct vmm *m, struct vmm_vq *vq, int head, int ms);
bool vmm_err_signalled(struct vmm_vq *vq, int ms);

uint64_t vmm_now_ns(void);
void vmm_fill_random(uint8_t *p, size_t len, uint64_t *seed);
uint64_t vmm_rand(uint64_t *seed);

#endif
