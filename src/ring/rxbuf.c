/*
 * Receive buffers: two provided buffer rings per worker, shared by all its connections. Group 0
 * (rx_buf_count x rx_buf_size) serves multishot receives; group 1 (rx_big_count x rx_big_size)
 * serves bounded, single-shot receives (ring_conn_set_recv_bounded), which take one buffer per
 * loop pass and so want a bigger one. Group 1's buffer ids follow group 0's (rx_count..), so a
 * completion's buffer id alone says where the buffer goes back.
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

/* One group's ring and data area, registered as bgid. */
static int group_init(ring_worker *w, unsigned bgid, unsigned count, unsigned size,
                      struct io_uring_buf_ring **brp, uint8_t **basep)
{
    size_t ring_bytes = (size_t)count * sizeof(struct io_uring_buf);
    size_t data_bytes = (size_t)count * size;
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
    *brp = br;
    *basep = base;
    io_uring_buf_ring_init(br);
    struct io_uring_buf_reg reg = {
        .ring_addr = (uint64_t)(uintptr_t)br, .ring_entries = count, .bgid = (uint16_t)bgid};
    int rc = io_uring_register_buf_ring(&w->ring, &reg, 0);
    if (rc < 0) {
        ring_set_error(w->r,
                       "kernel lacks provided buffer rings (IORING_REGISTER_PBUF_RING, "
                       "Linux 5.19): %s",
                       strerror(-rc));
        return rc == -EINVAL ? -EOPNOTSUPP : rc;
    }
    return 0;
}

int rx_init(ring_worker *w)
{
    const ring_config *c = &w->r->cfg;
    w->rx_size = c->rx_buf_size;
    w->rx_count = c->rx_buf_count;
    w->rx_big_size = c->rx_big_size;
    w->rx_big_count = c->rx_big_count;
    int rc = group_init(w, 0, w->rx_count, w->rx_size, &w->br, &w->rx_base);
    if (rc == 0)
        rc = group_init(w, 1, w->rx_big_count, w->rx_big_size, &w->br_big, &w->rx_big_base);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < w->rx_count + w->rx_big_count; i++)
        rx_recycle(w, i);
    rx_publish(w);
    return 0;
}

uint8_t *rx_ptr(ring_worker *w, unsigned bid)
{
    if (bid < w->rx_count)
        return w->rx_base + (size_t)bid * w->rx_size;
    return w->rx_big_base + (size_t)(bid - w->rx_count) * w->rx_big_size;
}

/* Queue buffer bid for return; rx_publish makes the batch visible to the kernel. */
void rx_recycle(ring_worker *w, unsigned bid)
{
    if (bid < w->rx_count)
        io_uring_buf_ring_add(w->br, rx_ptr(w, bid), w->rx_size, (unsigned short)bid,
                              io_uring_buf_ring_mask(w->rx_count), (int)w->rx_pending++);
    else
        io_uring_buf_ring_add(w->br_big, rx_ptr(w, bid), w->rx_big_size, (unsigned short)bid,
                              io_uring_buf_ring_mask(w->rx_big_count), (int)w->rx_big_pending++);
}

void rx_publish(ring_worker *w)
{
    if (w->rx_pending) {
        io_uring_buf_ring_advance(w->br, (int)w->rx_pending);
        w->rx_pending = 0;
    }
    if (w->rx_big_pending) {
        io_uring_buf_ring_advance(w->br_big, (int)w->rx_big_pending);
        w->rx_big_pending = 0;
    }
}

void rx_free(ring_worker *w)
{
    if (w->br)
        munmap(w->br, (size_t)w->rx_count * sizeof(struct io_uring_buf));
    if (w->rx_base)
        munmap(w->rx_base, (size_t)w->rx_count * w->rx_size);
    if (w->br_big)
        munmap(w->br_big, (size_t)w->rx_big_count * sizeof(struct io_uring_buf));
    if (w->rx_big_base)
        munmap(w->rx_big_base, (size_t)w->rx_big_count * w->rx_big_size);
    w->br = w->br_big = NULL;
    w->rx_base = w->rx_big_base = NULL;
}
