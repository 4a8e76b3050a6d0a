/*
 * Receive buffers: one provided buffer ring (group 0) per worker, shared by all its connections.
 *
 * The kernel picks a buffer only when data arrives, and we hand it back as soon as on_data returns,
 * so an idle connection holds no receive buffer and the pool only has to cover one completion
 * batch. liburing 2.3 has no io_uring_setup_buf_ring: the ring memory is allocated here and
 * registered with io_uring_register_buf_ring (what 2.4's helper does).
 */
#include "ring_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int rx_init(ring_worker *w)
{
    const ring_config *c = &w->r->cfg;
    size_t ring_bytes = (size_t)c->rx_buf_count * sizeof(struct io_uring_buf);
    size_t data_bytes = (size_t)c->rx_buf_count * c->rx_buf_size;

    /* mmap: page aligned as the kernel requires, and returned to the OS whole on exit */
    void *br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *base = mmap(NULL, data_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (br == MAP_FAILED || base == MAP_FAILED) {
        if (br != MAP_FAILED)
            munmap(br, ring_bytes);
        if (base != MAP_FAILED)
            munmap(base, data_bytes);
        return -ENOMEM;
    }
    w->br = br;
    w->rx_base = base;
    w->rx_size = c->rx_buf_size;
    w->rx_count = c->rx_buf_count;
    io_uring_buf_ring_init(w->br);

    struct io_uring_buf_reg reg = {
        .ring_addr = (uint64_t)(uintptr_t)br, .ring_entries = w->rx_count, .bgid = 0};
    int rc = io_uring_register_buf_ring(&w->ring, &reg, 0);
    if (rc < 0) {
        ring_set_error(w->r,
                       "kernel lacks provided buffer rings (IORING_REGISTER_PBUF_RING, "
                       "Linux 5.19): %s",
                       strerror(-rc));
        return rc == -EINVAL ? -EOPNOTSUPP : rc;
    }
    for (unsigned i = 0; i < w->rx_count; i++)
        rx_recycle(w, i);
    rx_publish(w);
    return 0;
}

/* Queue buffer bid for return; rx_publish makes the batch visible to the kernel. */
void rx_recycle(ring_worker *w, unsigned bid)
{
    io_uring_buf_ring_add(w->br, w->rx_base + (size_t)bid * w->rx_size, w->rx_size,
                          (unsigned short)bid, io_uring_buf_ring_mask(w->rx_count),
                          (int)w->rx_pending++);
}

void rx_publish(ring_worker *w)
{
    if (w->rx_pending) {
        io_uring_buf_ring_advance(w->br, (int)w->rx_pending);
        w->rx_pending = 0;
    }
}

void rx_free(ring_worker *w)
{
    if (w->br)
        munmap(w->br, (size_t)w->rx_count * sizeof(struct io_uring_buf));
    if (w->rx_base)
        munmap(w->rx_base, (size_t)w->rx_count * w->rx_size);
    w->br = NULL;
    w->rx_base = NULL;
}
