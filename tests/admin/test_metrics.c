/* src/admin/metrics.c: metrics_render of a crafted metrics_src, read back by a small parser of the
 * text exposition format (0.0.4): every family has one HELP and one TYPE before its samples,
 * counter names end in _total, no series appears twice, histogram buckets are cumulative with
 * +Inf == _count, label names and values are well-formed; the crafted values come back; and
 * Prometheus' own `promtool check metrics` accepts the text. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"

/* --- a parsed exposition ------------------------------------------------------------------------
 */

#define MAXF 256
#define MAXS 4096

struct fam {
    char name[128], type[16];
    int helps, types;
    int first_sample; /* line number of its first sample, 0 = none yet */
    int type_line;
};

struct sample {
    char name[128];   /* as written (with _bucket/_sum/_count) */
    char labels[512]; /* the raw label block, without braces */
    char le[32];      /* the le label's value, "" if none */
    double value;
};

static struct fam F[MAXF];
static int nf;
static struct sample S[MAXS];
static int ns;

static struct fam *fam_get(const char *name)
{
    for (int i = 0; i < nf; i++)
        if (!strcmp(F[i].name, name))
            return &F[i];
    cr_assert_lt(nf, MAXF);
    snprintf(F[nf].name, sizeof(F[nf].name), "%s", name);
    return &F[nf++];
}

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* The family a sample name belongs to: itself, or the histogram it is a part of. */
static struct fam *family_of(const char *name)
{
    for (int i = 0; i < nf; i++)
        if (!strcmp(F[i].name, name))
            return &F[i];
    static const char *const parts[] = {"_bucket", "_sum", "_count"};
    for (int k = 0; k < 3; k++) {
        size_t n = strlen(name), p = strlen(parts[k]);
        if (n > p && !strcmp(name + n - p, parts[k]))
            for (int i = 0; i < nf; i++)
                if (strlen(F[i].name) == n - p && !strncmp(F[i].name, name, n - p) &&
                    !strcmp(F[i].type, "histogram"))
                    return &F[i];
    }
    return NULL;
}

/* Parses label block s (after '{') up to '}', checking names and values; returns the position
 * after '}'. */
static const char *parse_labels(const char *s, struct sample *x, int line)
{
    const char *start = s;
    char seen[16][64];
    int nseen = 0;
    while (*s != '}') {
        cr_assert(name_char(*s, true) && *s != ':', "line %d: bad label name at '%.20s'", line, s);
        char key[64];
        size_t k = 0;
        while (name_char(*s, false) && *s != ':') {
            cr_assert_lt(k, sizeof(key) - 1);
            key[k++] = *s++;
        }
        key[k] = 0;
        cr_assert(strncmp(key, "__", 2) != 0, "line %d: reserved label name %s", line, key);
        for (int i = 0; i < nseen; i++)
            cr_assert_str_neq(seen[i], key, "line %d: label %s twice", line, key);
        cr_assert_lt(nseen, 16);
        snprintf(seen[nseen++], sizeof(seen[0]), "%s", key);
        cr_assert_eq(*s, '=', "line %d: '=' expected after %s", line, key);
        s++;
        cr_assert_eq(*s, '"', "line %d: label value of %s not quoted", line, key);
        s++;
        char val[256];
        size_t v = 0;
        while (*s != '"') {
            cr_assert(*s && *s != '\n', "line %d: unterminated label value", line);
            char c = *s++;
            if (c == '\\') {
                cr_assert(*s == '\\' || *s == '"' || *s == 'n', "line %d: bad escape \\%c", line,
                          *s);
                c = *s++;
            }
            /* our values are bounded, printable ASCII: no free text */
            cr_assert(c >= 0x20 && c < 0x7f, "line %d: control byte in a label value", line);
            cr_assert_lt(v, sizeof(val) - 1, "line %d: label value too long", line);
            val[v++] = c;
        }
        val[v] = 0;
        cr_assert_gt(v, 0, "line %d: empty label value for %s", line, key);
        s++;
        if (!strcmp(key, "le"))
            snprintf(x->le, sizeof(x->le), "%s", val);
        if (*s == ',')
            s++;
        else
            cr_assert_eq(*s, '}', "line %d: ',' or '}' expected", line);
    }
    snprintf(x->labels, sizeof(x->labels), "%.*s", (int)(s - start), start);
    return s + 1;
}

static void parse_exposition(const char *text)
{
    nf = ns = 0;
    memset(F, 0, sizeof(F));
    int line = 0;
    const char *p = text;
    cr_assert_gt(strlen(text), 0);
    cr_assert_eq(text[strlen(text) - 1], '\n', "the exposition ends with a newline");
    while (*p) {
        line++;
        const char *eol = strchr(p, '\n');
        cr_assert_not_null(eol);
        char l[1024];
        cr_assert_lt((size_t)(eol - p), sizeof(l), "line %d too long", line);
        snprintf(l, sizeof(l), "%.*s", (int)(eol - p), p);
        p = eol + 1;
        cr_assert_gt(strlen(l), 0, "line %d is empty", line);
        if (!strncmp(l, "# HELP ", 7) || !strncmp(l, "# TYPE ", 7)) {
            char name[128];
            const char *s = l + 7;
            size_t k = 0;
            while (*s && *s != ' ' && k < sizeof(name) - 1)
                name[k++] = *s++;
            name[k] = 0;
            cr_assert_eq(*s, ' ', "line %d: %s", line, l);
            s++;
            struct fam *f = fam_get(name);
            cr_assert_eq(f->first_sample, 0, "line %d: %s comes after its samples", line, l);
            if (l[2] == 'H') {
                f->helps++;
                cr_assert_gt(strlen(s), 0, "line %d: empty HELP", line);
                cr_assert_null(strchr(s, '\\'), "line %d: HELP holds a backslash", line);
            } else {
                f->types++;
                f->type_line = line;
                snprintf(f->type, sizeof(f->type), "%s", s);
                cr_assert(!strcmp(s, "counter") || !strcmp(s, "gauge") || !strcmp(s, "histogram"),
                          "line %d: type %s", line, s);
            }
            continue;
        }
        cr_assert_neq(l[0], '#', "line %d: a comment that is neither HELP nor TYPE: %s", line, l);
        cr_assert_lt(ns, MAXS);
        struct sample *x = &S[ns++];
        memset(x, 0, sizeof(*x));
        const char *s = l;
        size_t k = 0;
        cr_assert(name_char(*s, true), "line %d: %s", line, l);
        while (name_char(*s, false) && k < sizeof(x->name) - 1)
            x->name[k++] = *s++;
        if (*s == '{')
            s = parse_labels(s + 1, x, line);
        cr_assert_eq(*s, ' ', "line %d: one space before the value: %s", line, l);
        s++;
        char *end;
        x->value = strtod(s, &end);
        cr_assert(end != s && *end == 0, "line %d: value '%s'", line, s);
        cr_assert(isfinite(x->value) && x->value >= 0, "line %d: value %s", line, s);
        struct fam *f = family_of(x->name);
        cr_assert_not_null(f, "line %d: sample %s has no HELP/TYPE", line, x->name);
        cr_assert_gt(f->types, 0, "line %d: sample %s before its TYPE", line, x->name);
        if (!f->first_sample)
            f->first_sample = line;
        /* no series twice */
        for (int i = 0; i < ns - 1; i++)
            cr_assert(strcmp(S[i].name, x->name) || strcmp(S[i].labels, x->labels),
                      "line %d: series %s{%s} appears twice", line, x->name, x->labels);
    }
}

static const struct sample *find(const char *name, const char *labels)
{
    for (int i = 0; i < ns; i++)
        if (!strcmp(S[i].name, name) && !strcmp(S[i].labels, labels ? labels : ""))
            return &S[i];
    return NULL;
}

static double value_of(const char *name, const char *labels)
{
    const struct sample *x = find(name, labels);
    cr_assert_not_null(x, "no series %s{%s}", name, labels ? labels : "");
    return x->value;
}

/* --- a crafted source ----------------------------------------------------------------------------
 */

static struct stats_snapshot SUM;
static ring_stats RINGS[3];

static void craft(struct metrics_src *src, bool census)
{
    memset(&SUM, 0, sizeof(SUM));
    uint64_t v = 1000;
#define FILL(field, fam, label, help) SUM.field = v++;
    STATS_FIELDS(FILL)
#undef FILL
    for (int i = 0; i < APF_ERR_COUNT; i++)
        SUM.apf_error_by_code[i] = 500 + (uint64_t)i;
    SUM.tunnels = 12;
    SUM.ready = 10;
    SUM.handshakes = 2;
    SUM.consoles = 3;
    for (int h = 0; h < STATS_HIST_COUNT; h++) {
        for (int b = 0; b <= STATS_HIST_BUCKETS; b++)
            SUM.hist[h][b] = (uint64_t)((b * 7 + h) % 5); /* some empty buckets */
        SUM.hist_sum_us[h] = 123456789;
    }
    memset(RINGS, 0, sizeof(RINGS));
    for (unsigned w = 0; w < 3; w++) {
        RINGS[w].accepts = 10 + w;
        RINGS[w].conns = 100 + w;
        RINGS[w].stale_cqes = 7 * w;
    }
    memset(src, 0, sizeof(*src));
    src->sum = &SUM;
    src->nworkers = 3;
    src->rings = RINGS;
    src->directory_entries = 10;
    src->auth_queue = 4;
    src->log_lines_dropped = 5;
    src->events_dropped = 6;
    src->sse_clients = 2;
    src->draining = true;
    src->version = "0.9.1-dev+g1234abc";
    src->wolfssl_version = "5.5.4";
    src->aesni = true;
    src->process.ok = true;
    src->process.cpu_user_seconds = 1.25;
    src->process.cpu_system_seconds = 0.5;
    src->process.resident_bytes = 12 << 20;
    src->process.virtual_bytes = 100 << 20;
    src->process.start_time_seconds = 1700000000.5;
    src->process.open_fds = 17;
    src->process.max_fds = 1048576;
    if (census) {
        src->has_census = true;
        struct tls_census *c = &src->census;
        for (int r = 0; r < TLS_FAIL__COUNT; r++)
            c->failed[r] = 30 + (uint64_t)r;
        for (int i = 0; i < TLS_VIDX__COUNT; i++) {
            c->version[i] = 40 + (uint64_t)i;
            c->offered_max[i] = 50 + (uint64_t)i;
        }
        for (int i = 0; i < TLS_SUITE_SLOTS; i++)
            c->suite[i] = 60 + (uint64_t)i; /* every slot, named or not */
        c->resumed = 9;
    }
}

static char *render(const struct metrics_src *src)
{
    struct abuf b;
    abuf_init(&b, 0);
    cr_assert(metrics_render(src, &b));
    cr_assert(!b.failed);
    cr_assert_gt(b.len, 0);
    char *s = malloc(b.len + 1);
    memcpy(s, b.p, b.len);
    s[b.len] = 0;
    cr_assert_eq(strlen(s), b.len, "the exposition holds a NUL");
    abuf_free(&b);
    return s;
}

static void check_families(void)
{
    cr_assert_gt(nf, 20);
    for (int i = 0; i < nf; i++) {
        struct fam *f = &F[i];
        cr_assert_eq(f->helps, 1, "%s: %d HELP lines", f->name, f->helps);
        cr_assert_eq(f->types, 1, "%s: %d TYPE lines", f->name, f->types);
        size_t n = strlen(f->name);
        bool total = n > 6 && !strcmp(f->name + n - 6, "_total");
        if (!strcmp(f->type, "counter"))
            cr_assert(total, "counter %s does not end in _total", f->name);
        else
            cr_assert(!total, "%s %s ends in _total", f->type, f->name);
        cr_assert(!strncmp(f->name, "mpsd_", 5) || !strncmp(f->name, "process_", 8), "%s", f->name);
    }
}

static void check_histograms(void)
{
    int hists = 0;
    for (int i = 0; i < nf; i++) {
        if (strcmp(F[i].type, "histogram"))
            continue;
        hists++;
        char bucket[160], count[160], sum[160];
        snprintf(bucket, sizeof(bucket), "%s_bucket", F[i].name);
        snprintf(count, sizeof(count), "%s_count", F[i].name);
        snprintf(sum, sizeof(sum), "%s_sum", F[i].name);
        double prev_le = -1, prev = 0, inf = -1;
        int nb = 0;
        for (int k = 0; k < ns; k++) {
            if (strcmp(S[k].name, bucket))
                continue;
            cr_assert_gt(strlen(S[k].le), 0, "%s without le", bucket);
            cr_assert_lt(inf, 0, "%s: a bucket after +Inf", bucket);
            nb++;
            cr_assert_geq(S[k].value, prev, "%s: buckets not cumulative at le=%s", bucket, S[k].le);
            prev = S[k].value;
            if (!strcmp(S[k].le, "+Inf")) {
                inf = S[k].value;
                continue;
            }
            char *end;
            double le = strtod(S[k].le, &end);
            cr_assert_eq(*end, 0, "%s: le=%s", bucket, S[k].le);
            cr_assert_gt(le, prev_le, "%s: le not increasing at %s", bucket, S[k].le);
            prev_le = le;
        }
        cr_assert_eq(nb, STATS_HIST_BUCKETS + 1, "%s: %d buckets", F[i].name, nb);
        cr_assert_geq(inf, 0, "%s: no +Inf bucket", F[i].name);
        cr_assert_eq(value_of(count, NULL), inf, "%s: _count != +Inf bucket", F[i].name);
        cr_assert(find(sum, NULL), "%s: no _sum", F[i].name);
        /* the crafted counts: +Inf is every bucket added up; bounds in seconds */
        cr_assert_eq(prev_le, (double)stats_hist_bounds_us[STATS_HIST_BUCKETS - 1] / 1e6);
    }
    cr_assert_eq(hists, STATS_HIST_COUNT);
    uint64_t all = 0;
    for (int b = 0; b <= STATS_HIST_BUCKETS; b++)
        all += SUM.hist[HIST_LOGIN][b];
    cr_assert_eq(value_of("mpsd_apf_login_duration_seconds_count", NULL), (double)all);
    cr_assert_float_eq(value_of("mpsd_apf_login_duration_seconds_sum", NULL), 123.456789, 1e-9);
}

Test(metrics, exposition_is_well_formed)
{
    struct metrics_src src;
    craft(&src, true);
    char *text = render(&src);
    parse_exposition(text);
    check_families();
    check_histograms();
    free(text);
}

Test(metrics, the_crafted_values_come_back)
{
    struct metrics_src src;
    craft(&src, true);
    char *text = render(&src);
    parse_exposition(text);
    cr_assert_eq(value_of("mpsd_tunnels_connected", NULL), 10);
    cr_assert_eq(value_of("mpsd_tunnels", NULL), 12);
    cr_assert_eq(value_of("mpsd_tls_handshakes_in_flight", NULL), 2);
    cr_assert_eq(value_of("mpsd_console_sessions", NULL), 3);
    cr_assert_eq(value_of("mpsd_directory_entries", NULL), 10);
    cr_assert_eq(value_of("mpsd_auth_queue_depth", NULL), 4);
    cr_assert_eq(value_of("mpsd_workers", NULL), 3);
    cr_assert_eq(value_of("mpsd_draining", NULL), 1);
    cr_assert_eq(value_of("mpsd_admin_event_subscribers", NULL), 2);
    cr_assert_eq(value_of("mpsd_admin_events_dropped_total", NULL), 6);
    cr_assert_eq(value_of("mpsd_log_lines_dropped_total", NULL), 5);
    cr_assert_eq(value_of("mpsd_device_connections_accepted_total", NULL), (double)SUM.accepted);
    cr_assert_eq(value_of("mpsd_tls_handshakes_total", "result=\"ok\""), (double)SUM.tls_ok);
    cr_assert_eq(value_of("mpsd_tunnel_disconnects_total", "reason=\"admin\""),
                 (double)SUM.admin_disconnects);
    /* every stats row is one series with its own value */
#define ROW(field, fam, label, help)                                                               \
    {                                                                                              \
        int hits = 0;                                                                              \
        for (int i = 0; i < ns; i++)                                                               \
            if (!strcmp(S[i].labels, label) && S[i].value == (double)SUM.field)                    \
                hits++;                                                                            \
        cr_assert_eq(hits, 1, "stats field %s: %d series", #field, hits);                          \
    }
    STATS_FIELDS(ROW)
#undef ROW
    /* protocol errors by symbolic kind */
    for (int i = 1; i < APF_ERR_COUNT; i++) {
        const char *kind = apf_err_name(-i);
        if (!kind)
            continue;
        char l[128];
        snprintf(l, sizeof(l), "kind=\"%s\"", kind);
        cr_assert_eq(value_of("mpsd_apf_protocol_errors_total", l), 500.0 + i);
    }
    /* per worker */
    cr_assert_eq(value_of("mpsd_ring_accepts_total", "worker=\"2\""), 12);
    cr_assert_eq(value_of("mpsd_ring_connections", "worker=\"1\""), 101);
    cr_assert_eq(value_of("mpsd_ring_stale_completions_total", "worker=\"2\""), 14);
    cr_assert_null(find("mpsd_ring_connections", "worker=\"3\""));
    /* the census */
    cr_assert_eq(value_of("mpsd_tls_resumed_total", NULL), 9);
    cr_assert_eq(value_of("mpsd_tls_negotiated_version_total", "version=\"1.3\""), 43);
    cr_assert_eq(value_of("mpsd_tls_offered_max_version_total", "version=\"1.0\""), 50);
    char suite[128];
    snprintf(suite, sizeof(suite), "suite=\"%s\"", tls_suite_name(tls_suite_id_at(0)));
    cr_assert_eq(value_of("mpsd_tls_negotiated_suite_total", suite), 60);
    cr_assert_eq(value_of("mpsd_tls_negotiated_suite_total", "suite=\"other\""),
                 60.0 + (double)tls_suite_count());
    /* build and process */
    cr_assert_eq(
        value_of("mpsd_build_info",
                 "version=\"0.9.1-dev+g1234abc\",wolfssl_version=\"5.5.4\",aesni=\"true\""),
        1);
    cr_assert_float_eq(value_of("process_cpu_seconds_total", NULL), 1.75, 0.011);
    cr_assert_eq(value_of("process_resident_memory_bytes", NULL), 12 << 20);
    cr_assert_eq(value_of("process_open_fds", NULL), 17);
    cr_assert_eq(value_of("process_max_fds", NULL), 1048576);
    cr_assert_float_eq(value_of("process_start_time_seconds", NULL), 1700000000.5, 1e-3);
    free(text);
}

Test(metrics, optional_parts_and_odd_strings)
{
    struct metrics_src src;
    craft(&src, false);
    /* label values mpsd does not own are reduced to a safe set, never escaped free text */
    src.version = "1.0\"} 1\nevil_total 9\n#";
    src.wolfssl_version = "5.5\\4";
    src.aesni = false;
    src.process.ok = false;
    src.process.max_fds = -1;
    src.nworkers = 0;
    src.draining = false;
    char *text = render(&src);
    parse_exposition(text);
    check_families();
    check_histograms();
    cr_assert_null(strstr(text, "evil"));
    cr_assert_eq(value_of("mpsd_build_info",
                          "version=\"unknown\",wolfssl_version=\"unknown\",aesni=\"false\""),
                 1);
    cr_assert_null(find("process_open_fds", NULL));
    cr_assert_null(family_of("mpsd_tls_resumed_total"));
    cr_assert_eq(value_of("mpsd_draining", NULL), 0);
    free(text);
}

Test(metrics, a_full_buffer_fails_cleanly)
{
    struct metrics_src src;
    craft(&src, true);
    struct abuf b;
    abuf_init(&b, 1024);
    cr_assert(!metrics_render(&src, &b));
    cr_assert(b.failed);
    cr_assert_leq(b.len, 1024);
    abuf_free(&b);
}

/* --- promtool --------------------------------------------------------------------------------- */

static void promtool_accepts(const char *text)
{
    char path[] = "/tmp/mpsd-metrics-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s > %s.out 2>&1", path, path);
    int rc = system(cmd);
    char out[8192] = "";
    snprintf(cmd, sizeof(cmd), "%s.out", path);
    FILE *f = fopen(cmd, "r");
    if (f) {
        size_t n = fread(out, 1, sizeof(out) - 1, f);
        out[n] = 0;
        fclose(f);
    }
    unlink(cmd);
    unlink(path);
    cr_assert_eq(rc, 0, "promtool check metrics failed (%d):\n%s", rc, out);
}

Test(metrics, promtool_check_metrics)
{
    if (system("command -v promtool > /dev/null 2>&1") != 0)
        cr_skip("promtool is not installed (Debian package prometheus)");
    struct metrics_src src;
    craft(&src, true);
    char *text = render(&src);
    promtool_accepts(text);
    free(text);
    craft(&src, false);
    src.process.ok = false;
    text = render(&src);
    promtool_accepts(text);
    free(text);
    /* the real process figures too */
    craft(&src, true);
    metrics_read_process(&src.process);
    cr_assert(src.process.ok);
    cr_assert_gt(src.process.resident_bytes, 0);
    cr_assert_gt(src.process.open_fds, 0);
    text = render(&src);
    promtool_accepts(text);
    free(text);
}
