/* metrics.h - the Prometheus text exposition (format 0.0.4) of a running mpsd. One exporter owns
 * the whole exposition: counters come from the stats tables (stats.h: a row there is a series
 * here), the rest (gauges, histograms, the TLS census, per-worker ring figures, process and build
 * facts) from the tables in metrics.c. Rendering is pure: the caller gathers a metrics_src (sums
 * of the per-worker counters, read without locks) and gets text, so it is testable on its own. */
#ifndef MPSD_ADMIN_METRICS_H
#define MPSD_ADMIN_METRICS_H

#include "abuf.h"
#include "ring.h"
#include "stats.h"
#include "tls.h"

#include <stdbool.h>
#include <stdint.h>

struct metrics_process {
    double cpu_user_seconds, cpu_system_seconds;
    uint64_t resident_bytes, virtual_bytes;
    double start_time_seconds; /* since the Unix epoch */
    long open_fds, max_fds;
    bool ok; /* read from /proc */
};

struct metrics_src {
    const struct stats_snapshot *sum; /* every worker's counters added up */
    unsigned nworkers;
    const ring_stats *rings; /* nworkers entries */
    bool has_census;
    struct tls_census census;
    uint64_t directory_entries;
    uint64_t auth_queue; /* credential checks waiting for the pool */
    uint64_t log_lines_dropped;
    uint64_t events_dropped; /* admin events lost to a full worker queue */
    unsigned sse_clients;
    bool draining;
    struct metrics_process process;
    const char *version, *wolfssl_version;
    bool aesni;
};

/* Reads the process figures of /proc/self (standard process_* metrics). */
void metrics_read_process(struct metrics_process *out);
/* Appends the whole exposition to out; false if it did not fit (out->failed). */
bool metrics_render(const struct metrics_src *src, struct abuf *out);

#endif
