/*
 * Abortive close as a TCP RST: SO_LINGER {1, 0} set through io_uring on the direct descriptor
 * just before close_direct, so the last reference's tcp_close() resets the connection instead of
 * sending a FIN.
 *
 * A direct descriptor has no process fd, so setsockopt(2) cannot reach it; io_uring gained
 * socket commands (IORING_OP_URING_CMD with cmd_op SOCKET_URING_OP_SETSOCKOPT) in Linux 6.7.
 * liburing 2.3 (Debian 12) has no io_uring_prep_cmd_sock (liburing 2.5), and its io_uring.h has
 * neither the socket cmd_op enum nor the level/optname/optlen/optval SQE aliases, so the SQE is
 * filled by hand from the 6.7 UAPI (include/uapi/linux/io_uring.h):
 *
 *   enum io_uring_socket_op { SOCKET_URING_OP_SIOCINQ = 0, SOCKET_URING_OP_SIOCOUTQ,
 *                             SOCKET_URING_OP_GETSOCKOPT, SOCKET_URING_OP_SETSOCKOPT };  (= 3)
 *   sqe->cmd_op   low 32 bits of the `off` union             (present in liburing 2.3)
 *   sqe->level    low 32 bits of the `addr` union            (addr = level | optname << 32)
 *   sqe->optname  high 32 bits of the `addr` union
 *   sqe->optlen   the `splice_fd_in` / `file_index` union     (file_index in liburing 2.3)
 *   sqe->optval   the `addr3` union                           (addr3 in liburing 2.3)
 *
 * The kernel copies optval while it issues the SQE (do_sock_setsockopt on a user pointer), and
 * it points at a constant, so no memory has to outlive the SQE. Each ring probes it once at start
 * on a scratch socket in slot 0 and checks with getsockopt that the option really landed; where
 * it did not (older kernel, or a kernel built without it), abortive closes stay FINs and
 * ring_notice() says so.
 */
#include "ring_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RING_SOCKET_URING_OP_SETSOCKOPT 3u

static const struct linger rst_linger = {.l_onoff = 1, .l_linger = 0};

static void prep_linger0(struct io_uring_sqe *sqe, unsigned slot)
{
    io_uring_prep_rw(IORING_OP_URING_CMD, sqe, (int)slot, NULL, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE;
    sqe->cmd_op = RING_SOCKET_URING_OP_SETSOCKOPT;
    sqe->addr = (uint64_t)SOL_SOCKET | ((uint64_t)SO_LINGER << 32); /* level, optname */
    sqe->file_index = sizeof(rst_linger);                           /* optlen */
    sqe->addr3 = (uint64_t)(uintptr_t)&rst_linger;                  /* optval */
}

static void note_no_rst(ring_worker *w, const char *why)
{
    struct ring *r = w->r;
    pthread_mutex_lock(&r->lock);
    if (!r->note[0])
        snprintf(r->note, sizeof(r->note),
                 "abortive closes send a FIN, not a RST: setting SO_LINGER on a direct "
                 "descriptor through io_uring (Linux 6.7) failed: %s",
                 why);
    pthread_mutex_unlock(&r->lock);
}

void rst_probe(ring_worker *w)
{
    w->rst_ok = false;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        note_no_rst(w, strerror(errno));
        return;
    }
    int rc = io_uring_register_files_update(&w->ring, 0, &fd, 1);
    if (rc != 1) {
        note_no_rst(w, rc < 0 ? strerror(-rc) : "files update installed nothing");
        close(fd);
        return;
    }
    struct io_uring_sqe *sqe = ring_sqe(w);
    prep_linger0(sqe, 0);
    io_uring_sqe_set_data64(sqe, ud_ptr(OP_PROBE, NULL));
    io_uring_submit(&w->ring);
    struct io_uring_cqe *cqe;
    int res = -EIO;
    if (io_uring_wait_cqe(&w->ring, &cqe) == 0) {
        res = cqe->res;
        io_uring_cqe_seen(&w->ring, cqe);
    }
    struct linger got = {0};
    socklen_t len = sizeof(got);
    if (res < 0)
        note_no_rst(w, strerror(-res));
    else if (getsockopt(fd, SOL_SOCKET, SO_LINGER, &got, &len) != 0 || got.l_onoff != 1 ||
             got.l_linger != 0)
        note_no_rst(w, "the option did not reach the socket");
    else
        w->rst_ok = true;
    int none = -1;
    io_uring_register_files_update(&w->ring, 0, &none, 1);
    close(fd);
}

void rst_submit(ring_conn *c)
{
    struct io_uring_sqe *sqe = ring_sqe(c->w);
    prep_linger0(sqe, c->slot);
    io_uring_sqe_set_data64(sqe, ud_conn(OP_SOCKOPT, c->slot, c->gen));
    c->inflight++;
}

bool ring_abort_sends_rst(const ring_worker *w)
{
    return w->rst_ok;
}

const char *ring_notice(const ring_t *r)
{
    return r->note;
}
