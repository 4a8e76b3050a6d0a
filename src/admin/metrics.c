#include "metrics.h"
#include "apf.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void family(struct abuf *o, const char *name, const char *type, const char *help)
{
    /* HELP text escapes only backslash and newline; ours hold neither. */
    abuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* --- counters from the stats tables --------------------------------------------------------- */

static const struct {
    const char *name, *help;
} families[STATS_FAMILY_COUNT] = {
#define FAM_ROW(id, name, help) [id] = {name, help},
    STATS_FAMILIES(FAM_ROW)
#undef FAM_ROW
};

static void stats_counters(const struct stats_snapshot *s, struct abuf *o)
{
    for (int f = 0; f < STATS_FAMILY_COUNT; f++) {
        family(o, families[f].name, "counter", families[f].help);
#define SERIES(field, fam, label, help)                                                            \
    if ((fam) == f)                                                                                \
        abuf_printf(o, "%s%s%s%s %llu\n", families[f].name, *label ? "{" : "", label,              \
                    *label ? "}" : "", (unsigned long long)s->field);
        STATS_FIELDS(SERIES)
#undef SERIES
    }
    family(o, "mpsd_apf_protocol_errors_total", "counter",
           "Tunnels ended by an APF protocol error, by kind.");
    for (int i = 1; i < APF_ERR_COUNT; i++) {
        const char *kind = apf_err_name(-i);
        if (kind)
            abuf_printf(o, "mpsd_apf_protocol_errors_total{kind=\"%s\"} %llu\n", kind,
                        (unsigned long long)s->apf_error_by_code[i]);
    }
}

static void console_matrix(const struct stats_snapshot *s, struct abuf *o)
{
#define NAME(x) #x,
    static const char *const protos[] = {STATS_CONSOLE_PROTOS(NAME)};
    static const char *const results[] = {STATS_CONSOLE_RESULTS(NAME)};
#undef NAME
    family(o, "mpsd_console_sessions_total", "counter",
           "Console sessions by protocol and the result of their request (ok, or the error "
           "answered).");
    for (int p = 0; p < STATS_CONSOLE_PROTO_COUNT; p++)
        for (int r = 0; r < STATS_CONSOLE_RESULT_COUNT; r++)
            abuf_printf(o, "mpsd_console_sessions_total{protocol=\"%s\",result=\"%s\"} %llu\n",
                        protos[p], results[r], (unsigned long long)s->console_sessions[p][r]);
}

static void gauge(struct abuf *o, const char *name, const char *help, double v)
{
    family(o, name, "gauge", help);
    abuf_printf(o, "%s %.17g\n", name, v);
}

static void counter1(struct abuf *o, const char *name, const char *help, unsigned long long v)
{
    family(o, name, "counter", help);
    abuf_printf(o, "%s %llu\n", name, v);
}

/* --- histograms ----------------------------------------------------------------------------- */

static const struct {
    const char *name, *help;
} hists[STATS_HIST_COUNT] = {
#define HIST_ROW(id, name, help) [id] = {name, help},
    STATS_HISTS(HIST_ROW)
#undef HIST_ROW
};

static void histograms(const struct stats_snapshot *s, struct abuf *o)
{
    for (int h = 0; h < STATS_HIST_COUNT; h++) {
        family(o, hists[h].name, "histogram", hists[h].help);
        unsigned long long cum = 0;
        for (int b = 0; b < STATS_HIST_BUCKETS; b++) {
            cum += s->hist[h][b];
            abuf_printf(o, "%s_bucket{le=\"%g\"} %llu\n", hists[h].name,
                        (double)stats_hist_bounds_us[b] / 1e6, cum);
        }
        cum += s->hist[h][STATS_HIST_BUCKETS];
        abuf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n", hists[h].name, cum);
        abuf_printf(o, "%s_sum %.6f\n%s_count %llu\n", hists[h].name,
                    (double)s->hist_sum_us[h] / 1e6, hists[h].name, cum);
    }
}

/* --- the TLS census --------------------------------------------------------------------------- */

static const char *const vlabel[TLS_VIDX__COUNT] = {"1.0", "1.1", "1.2", "1.3", "other"};

static void census(const struct tls_census *c, struct abuf *o)
{
    family(o, "mpsd_tls_handshake_failures_total", "counter",
           "Device TLS handshakes that failed, by reason.");
    for (int r = 0; r < TLS_FAIL__COUNT; r++)
        abuf_printf(o, "mpsd_tls_handshake_failures_total{reason=\"%s\"} %llu\n",
                    tls_fail_reason_name((enum tls_fail_reason)r),
                    (unsigned long long)c->failed[r]);
    counter1(o, "mpsd_tls_resumed_total", "Device TLS handshakes that resumed a session.",
             (unsigned long long)c->resumed);
    family(o, "mpsd_tls_negotiated_version_total", "counter",
           "Device TLS handshakes completed, by negotiated protocol version.");
    for (int i = 0; i < TLS_VIDX__COUNT; i++)
        abuf_printf(o, "mpsd_tls_negotiated_version_total{version=\"%s\"} %llu\n", vlabel[i],
                    (unsigned long long)c->version[i]);
    family(o, "mpsd_tls_offered_max_version_total", "counter",
           "ClientHellos by the highest protocol version the device offered (the census: which "
           "devices still need the legacy profile).");
    for (int i = 0; i < TLS_VIDX__COUNT; i++)
        abuf_printf(o, "mpsd_tls_offered_max_version_total{version=\"%s\"} %llu\n", vlabel[i],
                    (unsigned long long)c->offered_max[i]);
    family(o, "mpsd_tls_key_exchange_group_total", "counter",
           "Device TLS handshakes completed, by key exchange group (none: static RSA).");
    for (int i = 0; i < TLS_GIDX__COUNT; i++)
        abuf_printf(o, "mpsd_tls_key_exchange_group_total{group=\"%s\"} %llu\n", tls_group_label(i),
                    (unsigned long long)c->group[i]);
    counter1(o, "mpsd_tls_hello_retry_requests_total",
             "HelloRetryRequests sent: the device's first key share was a group mpsd does not "
             "take (an extra round trip).",
             (unsigned long long)c->hello_retry);
    family(o, "mpsd_tls_negotiated_suite_total", "counter",
           "Device TLS handshakes completed, by negotiated cipher suite.");
    size_t n = tls_suite_count();
    for (size_t i = 0; i <= n && i < TLS_SUITE_SLOTS; i++) {
        if (!c->suite[i])
            continue; /* the suite table is long; an absent series reads as 0 */
        const char *name = i < n ? tls_suite_name(tls_suite_id_at(i)) : NULL;
        abuf_printf(o, "mpsd_tls_negotiated_suite_total{suite=\"%s\"} %llu\n",
                    name ? name : "other", (unsigned long long)c->suite[i]);
    }
}

/* --- per-worker ring figures ------------------------------------------------------------------ */

static void rings(const struct metrics_src *src, struct abuf *o)
{
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } rows[] = {
#define R(field, name, type, help) {name, type, help, offsetof(ring_stats, field)}
        R(accepts, "mpsd_ring_accepts_total", "counter", "Connections accepted, per worker."),
        R(connects, "mpsd_ring_connects_total", "counter", "Outgoing connects, per worker."),
        R(recvs, "mpsd_ring_receives_total", "counter", "Receive completions, per worker."),
        R(sends, "mpsd_ring_sends_total", "counter", "Send completions, per worker."),
        R(bytes_in, "mpsd_ring_received_bytes_total", "counter", "Bytes received, per worker."),
        R(bytes_out, "mpsd_ring_sent_bytes_total", "counter", "Bytes sent, per worker."),
        R(enobufs, "mpsd_ring_buffer_exhausted_total", "counter",
          "Receives that found the provided-buffer pool empty (ENOBUFS), per worker."),
        R(send_cap_hits, "mpsd_ring_send_cap_hits_total", "counter",
          "Sends that hit a connection's send-queue cap, per worker."),
        R(stale_cqes, "mpsd_ring_stale_completions_total", "counter",
          "Completions for connections already gone, per worker."),
        R(errors, "mpsd_ring_errors_total", "counter", "Connections ended by a socket error."),
        R(timers_fired, "mpsd_ring_timers_fired_total", "counter", "Timer expiries, per worker."),
        R(msgs, "mpsd_ring_mailbox_messages_total", "counter",
          "Mailbox messages handled, per worker."),
        R(conns, "mpsd_ring_connections", "gauge", "Open connections, per worker."),
        R(enters, "mpsd_ring_enters_total", "counter",
          "Event loop passes (one io_uring_enter each: submit and wait), per worker."),
        R(sqes, "mpsd_ring_submissions_total", "counter", "SQEs submitted, per worker."),
        R(cqes, "mpsd_ring_completions_total", "counter", "CQEs reaped, per worker."),
        R(tx_queued, "mpsd_ring_send_queue_bytes", "gauge",
          "Bytes queued in the connections' send queues, per worker."),
        R(tx_cached, "mpsd_ring_send_chunks_cached", "gauge",
          "Free send chunks kept for reuse (half of those unused for a second are freed), per "
          "worker."),
        R(aborts, "mpsd_ring_aborts_total", "counter", "Abortive closes, per worker."),
        R(aborts_rst, "mpsd_ring_aborts_rst_total", "counter",
          "Abortive closes sent as a TCP RST, per worker."),
        R(rx_buffers, "mpsd_ring_receive_buffers", "gauge",
          "Provided receive buffers (the pool; each returns to the kernel in the batch that used "
          "it, so none stays in use between batches), per worker."),
        R(rx_big_buffers, "mpsd_ring_receive_big_buffers", "gauge",
          "Provided 64 KiB receive buffers for bounded (console) receives, per worker."),
#undef R
    };
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        family(o, rows[r].name, rows[r].type, rows[r].help);
        for (unsigned w = 0; w < src->nworkers; w++) {
            uint64_t v;
            memcpy(&v, (const char *)&src->rings[w] + rows[r].off, sizeof(v));
            abuf_printf(o, "%s{worker=\"%u\"} %llu\n", rows[r].name, w, (unsigned long long)v);
        }
    }
}

/* --- process and build ---------------------------------------------------------------------- */

void metrics_read_process(struct metrics_process *p)
{
    memset(p, 0, sizeof(*p));
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    /* the command may hold spaces and parentheses: fields start after the last ')' */
    char *s = strrchr(buf, ')');
    if (!s)
        return;
    unsigned long long utime, stime, start, vsize;
    long long rss;
    if (sscanf(s + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
               "%llu %llu %lld",
               &utime, &stime, &start, &vsize, &rss) != 5)
        return;
    double hz = (double)sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    p->cpu_user_seconds = (double)utime / hz;
    p->cpu_system_seconds = (double)stime / hz;
    p->virtual_bytes = vsize;
    p->resident_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
    /* start is in ticks since boot: add the boot time (btime in /proc/stat) */
    f = fopen("/proc/stat", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof(line), f)) {
            unsigned long long btime;
            if (sscanf(line, "btime %llu", &btime) == 1) {
                p->start_time_seconds = (double)btime + (double)start / hz;
                break;
            }
        }
        fclose(f);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        long fds = 0;
        for (struct dirent *e; (e = readdir(d));)
            if (e->d_name[0] != '.')
                fds++;
        closedir(d);
        p->open_fds = fds - 1; /* the directory's own descriptor */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        p->max_fds = rl.rlim_cur == RLIM_INFINITY ? -1 : (long)rl.rlim_cur;
    p->ok = true;
}

static void process(const struct metrics_process *p, struct abuf *o)
{
    if (!p->ok)
        return;
    family(o, "process_cpu_seconds_total", "counter", "User and system CPU time spent, seconds.");
    abuf_printf(o, "process_cpu_seconds_total %.2f\n", p->cpu_user_seconds + p->cpu_system_seconds);
    family(o, "mpsd_process_cpu_seconds_total", "counter",
           "CPU time spent, by mode (user: mpsd's own code; system: the kernel on its behalf).");
    abuf_printf(o, "mpsd_process_cpu_seconds_total{mode=\"user\"} %.2f\n", p->cpu_user_seconds);
    abuf_printf(o, "mpsd_process_cpu_seconds_total{mode=\"system\"} %.2f\n", p->cpu_system_seconds);
    gauge(o, "process_resident_memory_bytes", "Resident memory size in bytes.",
          (double)p->resident_bytes);
    gauge(o, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
          (double)p->virtual_bytes);
    gauge(o, "process_start_time_seconds", "Start time of the process since the Unix epoch.",
          p->start_time_seconds);
    gauge(o, "process_open_fds",
          "Open file descriptors (io_uring direct descriptors are not "
          "counted: see mpsd_ring_connections).",
          (double)p->open_fds);
    if (p->max_fds >= 0)
        gauge(o, "process_max_fds", "The file descriptor limit.", (double)p->max_fds);
}

/* Label values we print that are not ours (versions) are checked: only [-+.A-Za-z0-9_]. */
static const char *label_safe(const char *s)
{
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '-' || *c == '+' || *c == '_'))
            return "unknown";
    return s;
}

bool metrics_render(const struct metrics_src *src, struct abuf *o)
{
    const struct stats_snapshot *s = src->sum;
    family(o, "mpsd_build_info", "gauge", "Build facts; the value is always 1.");
    abuf_printf(o, "mpsd_build_info{version=\"%s\",wolfssl_version=\"%s\",aesni=\"%s\"} 1\n",
                label_safe(src->version), label_safe(src->wolfssl_version),
                src->aesni ? "true" : "false");
    gauge(o, "mpsd_tunnels", "Device connections held (TLS handshake, login or ready).",
          (double)s->tunnels);
    gauge(o, "mpsd_tunnels_connected", "Tunnels logged in and registered in the directory.",
          (double)s->ready);
    gauge(o, "mpsd_tls_handshakes_in_flight", "Device TLS handshakes in progress.",
          (double)s->handshakes);
    gauge(o, "mpsd_console_sessions", "Console sessions held (channels open or opening).",
          (double)s->consoles);
    gauge(o, "mpsd_directory_entries", "Devices in the directory (reachable by GUID).",
          (double)src->directory_entries);
    gauge(o, "mpsd_auth_queue_depth", "Credential checks (argon2id) waiting for the auth pool.",
          (double)src->auth_queue);
    gauge(o, "mpsd_workers", "io_uring worker threads.", (double)src->nworkers);
    gauge(o, "mpsd_draining", "1 while mpsd drains before exit.", src->draining ? 1 : 0);
    gauge(o, "mpsd_admin_event_subscribers", "Clients of /api/v1/events.",
          (double)src->sse_clients);
    counter1(o, "mpsd_admin_events_dropped_total",
             "Device events lost because a worker's event queue was full.",
             (unsigned long long)src->events_dropped);
    counter1(o, "mpsd_log_lines_dropped_total",
             "Log lines lost because stderr was not being read fast enough.",
             (unsigned long long)src->log_lines_dropped);
    stats_counters(s, o);
    console_matrix(s, o);
    histograms(s, o);
    if (src->has_census)
        census(&src->census, o);
    rings(src, o);
    process(&src->process, o);
    return !o->failed;
}
