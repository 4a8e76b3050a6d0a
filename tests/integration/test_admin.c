/* The admin surface end to end: a real mpsd on loopback with an [admin] listener, amtsim devices
 * behind it, and the clients an operator runs: curl for the device API and the event stream,
 * `promtool check metrics` on a live scrape, and a real Prometheus server scraping mpsd whose
 * query API must report the simulated devices. Also readiness (drain, a CIRA port held by another
 * process with and without bind_timeout), HTTPS with a certificate from tools/mpsd-certs, the
 * connection cap and the request timeout. Every address is on loopback. */
#include "creds.h"
#include "fixture.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define UUID_BASE "5eed0000-0000-4000-8000-000000000000"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* --- processes: whatever a failed assertion leaves running is killed at the test's end --- */

static pid_t owned[16];
static int nowned;

static void own(pid_t pid)
{
    if (nowned < 16)
        owned[nowned++] = pid;
}

static void kill_owned(void)
{
    for (int i = 0; i < nowned; i++) {
        int st;
        if (waitpid(owned[i], &st, WNOHANG) == 0) {
            kill(owned[i], SIGKILL);
            waitpid(owned[i], &st, 0);
        }
    }
    nowned = 0;
}

TestSuite(admin, .fini = kill_owned);

static void fx_go(struct fx *f, const struct fx_opts *o)
{
    fx_start(f, o);
    own(f->p.pid);
}

static void sim_go(struct fx *f, struct proc *sim, const char *args)
{
    sim_start(f, sim, args);
    own(sim->pid);
}

/* --- the token: made by the operator's tool ------------------------------------------------ */

struct token {
    char token[128];
    char line[512]; /* "token_hash = $argon2id$...\n" */
};

static void make_token(struct token *t)
{
    char *argv[] = {(char *)env_or_die("MPSD_PASSWD"), "--token", NULL};
    struct proc p;
    cr_assert_eq(proc_run(&p, argv, 20000), 0, "mpsd-passwd --token:\n%s", p.out);
    const char *tk = strstr(p.out, "token: "), *h = strstr(p.out, "token_hash = ");
    cr_assert(tk && h, "%s", p.out);
    cr_assert_eq(sscanf(tk + 7, "%127s", t->token), 1);
    char hash[400];
    cr_assert_eq(sscanf(h + 13, "%399s", hash), 1);
    cr_assert(strncmp(hash, "$argon2id$", 10) == 0, "%s", hash);
    snprintf(t->line, sizeof(t->line), "token_hash = %s\n", hash);
    cr_assert_null(strstr(hash, t->token), "the hash must not hold the token");
}

/* A program on PATH, as the absolute path proc_start needs (static storage per name). */
static const char *bin(const char *name)
{
    static char paths[4][256];
    static const char *names[4];
    for (int i = 0; i < 4; i++)
        if (names[i] && !strcmp(names[i], name))
            return paths[i];
    const char *path = getenv("PATH");
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char full[256];
        snprintf(full, sizeof(full), "%s/%s", d, name);
        if (access(full, X_OK) == 0) {
            for (int i = 0; i < 4; i++)
                if (!names[i]) {
                    names[i] = name;
                    snprintf(paths[i], sizeof(paths[i]), "%s", full);
                    return paths[i];
                }
            break;
        }
    }
    cr_assert_fail("%s is not installed (tools/setup.sh installs it)", name);
    return NULL;
}

/* --- curl ----------------------------------------------------------------------------------- */

struct resp {
    int status;
    char *body; /* what curl wrote before the status line (malloc'd) */
};

static void resp_free(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* curl URL [args...] (NULL-terminated). The status is curl's %{http_code} (0: no answer). */
static struct resp curl_v(const char *const *args)
{
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)bin("curl");
    argv[n++] = "-sS";
    argv[n++] = "-g";
    argv[n++] = "--max-time";
    argv[n++] = "10";
    argv[n++] = "-o";
    argv[n++] = "-";
    argv[n++] = "-w";
    argv[n++] = "\n%{http_code}";
    for (; args && *args && n < 30; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    struct proc p;
    proc_run(&p, argv, 20000);
    struct resp r = {0, NULL};
    char *nl = strrchr(p.out, '\n');
    if (nl) {
        r.status = atoi(nl + 1);
        *nl = 0;
    }
    r.body = strdup(p.out);
    return r;
}

#define CURL(...) curl_v((const char *const[]){__VA_ARGS__, NULL})

static char auth_hdr[256];

static const char *bearer(const struct token *t)
{
    snprintf(auth_hdr, sizeof(auth_hdr), "Authorization: Bearer %s", t->token);
    return auth_hdr;
}

static void url(char *out, size_t cap, const struct fx *f, const char *path)
{
    snprintf(out, cap, "http://127.0.0.1:%d%s", f->admin_port, path);
}

/* GET path with the token; the JSON body parsed (asserts status). */
static json_t *api_get(const struct fx *f, const struct token *t, const char *path, int want)
{
    char u[512];
    url(u, sizeof(u), f, path);
    struct resp r = CURL(u, "-H", bearer(t));
    cr_assert_eq(r.status, want, "GET %s: %d\n%s", path, r.status, r.body);
    json_error_t err;
    json_t *o = json_loads(r.body, 0, &err);
    cr_assert_not_null(o, "GET %s: not JSON (%s):\n%s", path, err.text, r.body);
    resp_free(&r);
    return o;
}

static long long jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    cr_assert(json_is_integer(v), "%s is not an integer", key);
    return json_integer_value(v);
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    cr_assert(json_is_string(v), "%s is not a string", key);
    return json_string_value(v);
}

static void guid_of(int i, char out[40])
{
    snprintf(out, 40, "5eed0000-0000-4000-8000-%012x", i);
}

/* Polls the device list until it holds n devices. */
static void wait_devices(const struct fx *f, const struct token *t, int n)
{
    long long end = now_ms() + 30000;
    long long got = -1;
    while (now_ms() < end) {
        json_t *o = api_get(f, t, "/api/v1/devices?limit=1000", 200);
        got = jint(o, "count");
        json_decref(o);
        if (got == n)
            return;
        sleep_ms(100);
    }
    cr_assert_fail("%lld devices listed, want %d", got, n);
}

/* A metric's value in a scrape of /metrics (the whole "name{labels}" before the value). */
static double scrape_value(const struct fx *f, const char *series)
{
    char u[256];
    url(u, sizeof(u), f, "/metrics");
    struct resp r = CURL(u, "-H", "Accept: text/plain");
    cr_assert_eq(r.status, 200);
    char key[256];
    snprintf(key, sizeof(key), "\n%s ", series);
    const char *k = strstr(r.body, key);
    cr_assert_not_null(k, "no %s in the scrape", series);
    double v = atof(k + strlen(key));
    resp_free(&r);
    return v;
}

/* --- the device API -------------------------------------------------------------------------- */

Test(admin, device_api_lists_pages_filters_and_disconnects, .timeout = 120)
{
    struct token t;
    make_token(&t);
    struct fx f;
    fx_go(&f, &(struct fx_opts){.admin = true, .admin_extra = t.line});
    struct proc sim;
    sim_go(&f, &sim, "--count 10 --uuid-base " UUID_BASE " --keepalive 1");
    wait_devices(&f, &t, 10);

    /* the whole list: exactly the ten simulated devices, in GUID order */
    json_t *o = api_get(&f, &t, "/api/v1/devices?limit=1000", 200);
    cr_assert_eq(jint(o, "count"), 10);
    cr_assert_eq(jint(o, "total"), 10);
    cr_assert(json_is_null(json_object_get(o, "next")));
    json_t *arr = json_object_get(o, "devices");
    cr_assert_eq(json_array_size(arr), 10);
    for (int i = 0; i < 10; i++) {
        json_t *d = json_array_get(arr, (size_t)i);
        char g[40], h[16];
        guid_of(i, g);
        snprintf(h, sizeof(h), "amt-%d", i);
        cr_assert_str_eq(jstr(d, "guid"), g);
        cr_assert_str_eq(jstr(d, "hostname"), h);
        cr_assert(strncmp(jstr(d, "peer"), "127.0.0.1:", 10) == 0);
        cr_assert_eq(json_array_size(json_object_get(d, "ports")), 6);
        cr_assert(json_is_object(json_object_get(d, "tls")));
        cr_assert_gt(jint(d, "bytes_from_device"), 0);
    }
    json_decref(o);

    /* pages of three: each device exactly once, the cursor ends with null */
    int seen[10] = {0}, pages = 0;
    char path[256] = "/api/v1/devices?limit=3";
    for (;;) {
        o = api_get(&f, &t, path, 200);
        arr = json_object_get(o, "devices");
        cr_assert_leq(json_array_size(arr), 3);
        cr_assert_eq(jint(o, "count"), (long long)json_array_size(arr));
        for (size_t i = 0; i < json_array_size(arr); i++) {
            const char *g = jstr(json_array_get(arr, i), "guid");
            int idx = -1;
            for (int k = 0; k < 10; k++) {
                char w[40];
                guid_of(k, w);
                if (!strcmp(g, w))
                    idx = k;
            }
            cr_assert_geq(idx, 0, "unknown device %s", g);
            seen[idx]++;
        }
        pages++;
        json_t *next = json_object_get(o, "next");
        if (json_is_null(next)) {
            json_decref(o);
            break;
        }
        snprintf(path, sizeof(path), "/api/v1/devices?limit=3&after=%s", json_string_value(next));
        json_decref(o);
        cr_assert_lt(pages, 10);
    }
    cr_assert_eq(pages, 4);
    for (int k = 0; k < 10; k++)
        cr_assert_eq(seen[k], 1, "device %d listed %d times", k, seen[k]);

    /* filters */
    static const struct {
        const char *q;
        int n;
    } filters[] = {{"hostname=amt-3", 1},
                   {"hostname=AMT-*", 10},
                   {"hostname=amt-1*", 1},
                   {"hostname=nope", 0},
                   {"port=16992", 10},
                   {"port=623", 10},
                   {"port=5900", 0},
                   {"peer=127.0.0.1", 10},
                   {"peer=127.0.0.2", 0},
                   {"hostname=amt-?&limit=2", 2},
                   {"port=16993&hostname=amt-9", 1}};
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        snprintf(path, sizeof(path), "/api/v1/devices?%s", filters[i].q);
        o = api_get(&f, &t, path, 200);
        cr_assert_eq(jint(o, "count"), filters[i].n, "%s", filters[i].q);
        json_decref(o);
    }
    o = api_get(&f, &t, "/api/v1/devices?hostname=amt-3", 200);
    char g3[40];
    guid_of(3, g3);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(o, "devices"), 0), "guid"), g3);
    json_decref(o);
    o = api_get(&f, &t, "/api/v1/devices?limit=0", 400);
    json_decref(o);
    o = api_get(&f, &t, "/api/v1/devices?bogus=1", 400);
    cr_assert_not_null(strstr(jstr(o, "error"), "unknown query parameter"));
    json_decref(o);

    /* one device; HEAD; one that is not there */
    char g[40];
    guid_of(4, g);
    snprintf(path, sizeof(path), "/api/v1/devices/%s", g);
    o = api_get(&f, &t, path, 200);
    cr_assert_str_eq(jstr(o, "guid"), g);
    cr_assert_str_eq(jstr(o, "hostname"), "amt-4");
    json_decref(o);
    char u[512];
    url(u, sizeof(u), &f, path);
    struct resp r = CURL(u, "-I", "-H", bearer(&t));
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(strstr(r.body, "Content-Type: application/json"), "%s", r.body);
    resp_free(&r);
    o = api_get(&f, &t, "/api/v1/devices/5eed0000-0000-4000-8000-0000000000ff", 404);
    json_decref(o);

    /* without a token, with a wrong one */
    r = CURL(u);
    cr_assert_eq(r.status, 401);
    resp_free(&r);
    r = CURL(u, "-H", "Authorization: Bearer wrong-token");
    cr_assert_eq(r.status, 401);
    cr_assert_not_null(strstr(r.body, "wrong bearer token"));
    resp_free(&r);
    r = CURL(u, "-X", "DELETE", "-H", "Authorization: Basic YWRtaW46eA==");
    cr_assert_eq(r.status, 401);
    resp_free(&r);
    cr_assert(fx_wait(&f, "wrong bearer token", 2000));
    cr_assert_eq(fx_count(&f, t.token), 0, "the token was logged");

    /* DELETE: exactly that device goes */
    cr_assert_eq(scrape_value(&f, "mpsd_tunnel_disconnects_total{reason=\"admin\"}"), 0);
    r = CURL(u, "-X", "DELETE", "-H", bearer(&t));
    cr_assert_eq(r.status, 204, "%s", r.body);
    resp_free(&r);
    long long end = now_ms() + 5000;
    for (;;) {
        o = api_get(&f, &t, "/api/v1/devices?limit=1000", 200);
        long long n = jint(o, "count");
        if (n == 9)
            break;
        json_decref(o);
        cr_assert_lt(now_ms(), end, "still %lld devices after DELETE", n);
        sleep_ms(50);
    }
    arr = json_object_get(o, "devices");
    for (size_t i = 0; i < json_array_size(arr); i++)
        cr_assert_str_neq(jstr(json_array_get(arr, i), "guid"), g);
    cr_assert_eq(jint(o, "total"), 9); /* the directory */
    json_decref(o);
    o = api_get(&f, &t, path, 404);
    json_decref(o);
    r = CURL(u, "-X", "DELETE", "-H", bearer(&t));
    cr_assert_eq(r.status, 404);
    resp_free(&r);
    cr_assert_eq(scrape_value(&f, "mpsd_tunnel_disconnects_total{reason=\"admin\"}"), 1);
    cr_assert_eq(scrape_value(&f, "mpsd_directory_entries"), 9);
    cr_assert_eq(scrape_value(&f, "mpsd_tunnels_connected"), 9);
    cr_assert(fx_wait(&f, "disconnected through the admin API", 2000));

    proc_stop(&sim, SIGTERM, 5000);
    fx_stop(&f, SIGTERM);
}

Test(admin, the_api_is_403_without_a_token_hash)
{
    struct fx f;
    fx_go(&f, &(struct fx_opts){.admin = true});
    char u[256];
    const char *paths[] = {"/api/v1/devices", "/api/v1/events",
                           "/api/v1/devices/5eed0000-0000-4000-8000-000000000000"};
    for (size_t i = 0; i < 3; i++) {
        url(u, sizeof(u), &f, paths[i]);
        struct resp r = CURL(u, "-H", "Authorization: Bearer anything");
        cr_assert_eq(r.status, 403, "%s: %d", paths[i], r.status);
        cr_assert_not_null(strstr(r.body, "token_hash"), "%s", r.body);
        resp_free(&r);
    }
    url(u, sizeof(u), &f, "/healthz");
    struct resp r = CURL(u);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "ok\n");
    resp_free(&r);
    /* a method the route does not take: 405 with Allow */
    url(u, sizeof(u), &f, "/metrics");
    r = CURL(u, "-X", "POST", "-i");
    cr_assert_eq(r.status, 405);
    cr_assert_not_null(strstr(r.body, "Allow: GET, HEAD"), "%s", r.body);
    resp_free(&r);
    fx_stop(&f, SIGTERM);
}

Test(admin, metrics_private_need_the_token)
{
    struct token t;
    make_token(&t);
    char extra[700];
    snprintf(extra, sizeof(extra), "%smetrics_public = false\n", t.line);
    struct fx f;
    fx_go(&f, &(struct fx_opts){.admin = true, .admin_extra = extra});
    char u[256];
    url(u, sizeof(u), &f, "/metrics");
    struct resp r = CURL(u);
    cr_assert_eq(r.status, 401);
    resp_free(&r);
    r = CURL(u, "-H", bearer(&t));
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(strstr(r.body, "# TYPE mpsd_tunnels_connected gauge"));
    resp_free(&r);
    fx_stop(&f, SIGTERM);
}

/* --- metrics: promtool and a real Prometheus --------------------------------------------- */

Test(admin, promtool_and_prometheus_see_the_devices, .timeout = 120)
{
    struct fx f;
    fx_go(&f, &(struct fx_opts){.admin = true});
    struct proc sim;
    sim_go(&f, &sim, "--count 5 --uuid-base " UUID_BASE " --keepalive 1");
    long long end = now_ms() + 30000;
    while (scrape_value(&f, "mpsd_tunnels_connected") != 5) {
        cr_assert_lt(now_ms(), end, "5 tunnels never connected");
        sleep_ms(100);
    }
    /* promtool on a live scrape */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "curl -sS --max-time 10 http://127.0.0.1:%d/metrics > %s/scrape.txt && "
             "promtool check metrics < %s/scrape.txt > %s/promtool.out 2>&1",
             f.admin_port, f.dir, f.dir, f.dir);
    int rc = system(cmd);
    char out[320];
    snprintf(out, sizeof(out), "%s/promtool.out", f.dir);
    FILE *pf = fopen(out, "r");
    char msg[4096] = "";
    if (pf) {
        msg[fread(msg, 1, sizeof(msg) - 1, pf)] = 0;
        fclose(pf);
    }
    cr_assert_eq(rc, 0, "promtool check metrics:\n%s", msg);

    /* Prometheus itself */
    int pport = free_port();
    char conf[400], tsdb[400], listen[64], cfgarg[480], tsdbarg[480], listenarg[96], log[400];
    snprintf(conf, sizeof(conf), "%s/prometheus.yml", f.dir);
    snprintf(tsdb, sizeof(tsdb), "%s/tsdb", f.dir);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", pport);
    char yml[1024];
    snprintf(yml, sizeof(yml),
             "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
             "scrape_configs:\n  - job_name: mpsd\n    scrape_interval: 1s\n"
             "    scrape_timeout: 1s\n    static_configs:\n"
             "      - targets: ['127.0.0.1:%d']\n",
             f.admin_port);
    write_file(conf, yml);
    snprintf(cfgarg, sizeof(cfgarg), "--config.file=%s", conf);
    snprintf(tsdbarg, sizeof(tsdbarg), "--storage.tsdb.path=%s", tsdb);
    snprintf(listenarg, sizeof(listenarg), "--web.listen-address=%s", listen);
    snprintf(log, sizeof(log), "%s/prometheus.log", f.dir);
    char *argv[] = {(char *)bin("prometheus"), cfgarg, tsdbarg, listenarg,
                    "--web.enable-lifecycle",  NULL};
    struct proc prom;
    proc_start_logged(&prom, argv, log);
    own(prom.pid);
    char q[256];
    snprintf(q, sizeof(q), "http://%s/api/v1/query?query=mpsd_tunnels_connected", listen);
    end = now_ms() + 45000;
    const char *last = "";
    char lastbuf[2048] = "";
    for (;;) {
        struct resp r = CURL(q);
        if (r.status == 200) {
            json_error_t err;
            json_t *o = json_loads(r.body, 0, &err);
            json_t *res = o ? json_object_get(json_object_get(o, "data"), "result") : NULL;
            if (json_array_size(res) == 1) {
                json_t *v = json_array_get(json_object_get(json_array_get(res, 0), "value"), 1);
                json_t *m = json_object_get(json_array_get(res, 0), "metric");
                if (json_is_string(v) && !strcmp(json_string_value(v), "5")) {
                    cr_assert_str_eq(jstr(m, "job"), "mpsd");
                    json_decref(o);
                    resp_free(&r);
                    break;
                }
            }
            json_decref(o);
        }
        snprintf(lastbuf, sizeof(lastbuf), "%d %s", r.status, r.body);
        last = lastbuf;
        resp_free(&r);
        cr_assert_lt(now_ms(), end, "Prometheus never reported 5 tunnels; last answer: %s\n%s",
                     last, prom.out);
        sleep_ms(500);
    }
    /* the scrape target is up */
    snprintf(q, sizeof(q), "http://%s/api/v1/query?query=up", listen);
    struct resp r = CURL(q);
    cr_assert_not_null(strstr(r.body, "\"1\""), "%s", r.body);
    resp_free(&r);
    proc_stop(&prom, SIGTERM, 10000);
    proc_stop(&sim, SIGTERM, 5000);
    fx_stop(&f, SIGTERM);
}

/* --- the event stream ------------------------------------------------------------------------ */

struct ev {
    unsigned long long id;
    char kind[32];
    char guid[40];
    char reason[64];
};

/* Parses the SSE frames in s (comments and retry lines skipped). */
static int parse_events(const char *s, struct ev *out, int cap)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, "id: ")) && n < cap; p++) {
        if (p != s && p[-1] != '\n')
            continue;
        struct ev *e = &out[n];
        memset(e, 0, sizeof(*e));
        e->id = strtoull(p + 4, NULL, 10);
        const char *k = strstr(p, "\nevent: "), *d = strstr(p, "\ndata: ");
        const char *end = strstr(p, "\n\n");
        if (!k || !d || !end || d > end)
            break; /* incomplete */
        sscanf(k + 8, "%31[a-z_]", e->kind);
        json_error_t err;
        json_t *o = json_loadb(d + 7, (size_t)(end - d - 7), 0, &err);
        cr_assert_not_null(o, "event data is not JSON: %.*s", (int)(end - d - 7), d + 7);
        snprintf(e->guid, sizeof(e->guid), "%s", jstr(o, "guid"));
        json_t *rs = json_object_get(o, "reason");
        if (json_is_string(rs))
            snprintf(e->reason, sizeof(e->reason), "%s", json_string_value(rs));
        json_decref(o);
        n++;
    }
    return n;
}

static int count_kind(const struct ev *v, int n, const char *kind)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += !strcmp(v[i].kind, kind);
    return k;
}

Test(admin, the_event_stream_delivers_connects_then_disconnects, .timeout = 120)
{
    struct token t;
    make_token(&t);
    struct fx f;
    fx_go(&f, &(struct fx_opts){.admin = true, .admin_extra = t.line});
    char u[256];
    url(u, sizeof(u), &f, "/api/v1/events");
    /* without the token: 401, no stream */
    struct resp r = CURL(u);
    cr_assert_eq(r.status, 401);
    resp_free(&r);

    char *argv[] = {(char *)bin("curl"), "-sS", "-N", "--max-time", "60", "-H",
                    (char *)bearer(&t),  u,     NULL};
    struct proc es;
    proc_start(&es, argv);
    own(es.pid);
    cr_assert(proc_wait_output(&es, ": mpsd device events", 5000), "%s", es.out);

    enum { N = 4 };
    struct proc sim;
    sim_go(&f, &sim, "--count 4 --uuid-base " UUID_BASE " --duration 2 --keepalive 1");
    int rc = proc_wait_exit(&sim, 30000);
    cr_assert_eq(rc, 0, "amtsim: %d\n%s", rc, sim.out);

    struct ev v[64];
    int n = 0;
    long long end = now_ms() + 10000;
    for (;;) {
        proc_wait_output(&es, "\x01never\x01", 100);
        n = parse_events(es.out, v, 64);
        if (count_kind(v, n, "disconnect") >= N)
            break;
        cr_assert_lt(now_ms(), end, "only %d events:\n%s", n, es.out);
    }
    cr_assert_eq(count_kind(v, n, "connect"), N, "%s", es.out);
    cr_assert_eq(count_kind(v, n, "disconnect"), N, "%s", es.out);
    for (int i = 1; i < n; i++)
        cr_assert_gt(v[i].id, v[i - 1].id, "ids not increasing:\n%s", es.out);
    for (int d = 0; d < N; d++) {
        char g[40];
        guid_of(d, g);
        int c = -1, x = -1;
        for (int i = 0; i < n; i++) {
            if (strcmp(v[i].guid, g))
                continue;
            if (!strcmp(v[i].kind, "connect")) {
                cr_assert_eq(c, -1, "two connects for %s", g);
                c = i;
            } else if (!strcmp(v[i].kind, "disconnect")) {
                cr_assert_eq(x, -1, "two disconnects for %s", g);
                x = i;
                cr_assert_gt(strlen(v[i].reason), 0);
            }
        }
        cr_assert(c >= 0 && x > c, "%s: connect at %d, disconnect at %d:\n%s", g, c, x, es.out);
    }

    /* a reconnect with Last-Event-ID gets what came after that id, from the history */
    char leid[64];
    snprintf(leid, sizeof(leid), "Last-Event-ID: %llu", v[N - 1].id);
    char *argv2[] = {(char *)bin("curl"),
                     "-sS",
                     "-N",
                     "--max-time",
                     "2",
                     "-H",
                     (char *)bearer(&t),
                     "-H",
                     leid,
                     u,
                     NULL};
    struct proc es2;
    proc_run(&es2, argv2, 10000);
    struct ev w[64];
    int m = parse_events(es2.out, w, 64);
    cr_assert_eq(m, n - N, "resumed after id %llu:\n%s", v[N - 1].id, es2.out);
    for (int i = 0; i < m; i++)
        cr_assert_eq(w[i].id, v[N + i].id);
    proc_stop(&es, SIGTERM, 5000);
    fx_stop(&f, SIGTERM);
}

/* --- readiness ------------------------------------------------------------------------------- */

Test(admin, readyz_is_503_during_the_drain, .timeout = 60)
{
    struct token t;
    make_token(&t);
    struct fx f;
    fx_go(&f, &(struct fx_opts){.admin = true, .admin_extra = t.line});
    char u[256];
    url(u, sizeof(u), &f, "/readyz");
    struct resp r = CURL(u);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.body, "ready\n");
    resp_free(&r);
    struct proc sim;
    sim_go(&f, &sim, "--count 1 --uuid-base " UUID_BASE " --keepalive 1");
    wait_devices(&f, &t, 1);
    /* the drain sends DISCONNECT and closes gracefully, waiting up to drain_timeout (3 s) for
     * the device's side to close: a stopped amtsim never does, so the drain lasts that long */
    kill(sim.pid, SIGSTOP);
    kill(f.p.pid, SIGTERM);
    cr_assert(fx_wait(&f, "draining", 3000), "%s", f.p.out);
    r = CURL(u);
    cr_assert_eq(r.status, 503, "%d %s\n%s", r.status, r.body, f.p.out);
    cr_assert_not_null(strstr(r.body, "draining"), "%s", r.body);
    resp_free(&r);
    /* alive all the same, and the metric says so */
    url(u, sizeof(u), &f, "/healthz");
    r = CURL(u);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    cr_assert_eq(scrape_value(&f, "mpsd_draining"), 1);
    long long t0 = now_ms();
    cr_assert_geq(proc_wait_exit(&f.p, 15000), 0, "mpsd did not exit after the drain");
    cr_assert_lt(now_ms() - t0, 10000);
    kill(sim.pid, SIGCONT);
    proc_stop(&sim, SIGKILL, 5000);
}

/* A config like the fixture's, for the cases fx_start cannot start (mpsd waits before it runs). */
static void own_conf(char *dir, size_t dcap, char *conf, size_t ccap, int cira, int admin,
                     const char *mpsd_extra)
{
    snprintf(dir, dcap, "/tmp/mpsd-it-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    creds_params cheap = {.t_cost = 1, .m_cost_kib = 64, .parallelism = 1};
    char phc[CREDS_PHC_MAX], line[512], path[400];
    cr_assert_eq(creds_hash(FX_PASSWORD, strlen(FX_PASSWORD), &cheap, phc, sizeof(phc)), 0);
    snprintf(line, sizeof(line), "group fleet admin %s\n", phc);
    snprintf(path, sizeof(path), "%s/credentials", dir);
    write_file(path, line);
    const char *certs = env_or_die("MPSD_CERTS");
    char text[4096];
    snprintf(text, sizeof(text),
             "[mpsd]\nname = 127.0.0.1\nlock_file = %s/lock\nworkers = 1\n%s"
             "[cira]\nlisten = 127.0.0.1:%d\ncert = %s/server.pem\nkey = %s/server.key\n"
             "[devices]\ncredentials = %s\ngroup_auth = true\n"
             "[admin]\nlisten = 127.0.0.1:%d\n",
             dir, mpsd_extra, cira, certs, certs, path, admin);
    snprintf(conf, ccap, "%s/mpsd.conf", dir);
    write_file(conf, text);
}

static int hold_port(int *port)
{
    /* close-on-exec: the mpsd we start must not inherit (and so hold) it too */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 4), 0);
    socklen_t l = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    *port = ntohs(a.sin_port);
    return fd;
}

Test(admin, readyz_names_a_listener_that_cannot_bind, .timeout = 60)
{
    int cira;
    int hold = hold_port(&cira);
    int admin = free_port();
    char dir[256], conf[320], log[400], mypid[32];
    snprintf(mypid, sizeof(mypid), "pid %d", (int)getpid());

    /* without bind_timeout: a clear error naming the holder, and a non-zero exit */
    own_conf(dir, sizeof(dir), conf, sizeof(conf), cira, admin, "");
    char *argv[] = {(char *)env_or_die("MPSD_BIN"), "--config", conf, NULL};
    setenv("MPSD_TEST_INSTANCE", dir, 1);
    struct proc p;
    snprintf(log, sizeof(log), "%s/mpsd.log", dir);
    proc_start_logged(&p, argv, log);
    own(p.pid);
    int rc = proc_wait_exit(&p, 10000);
    cr_assert_gt(rc, 0, "mpsd exited %d with its port held:\n%s", rc, p.out);
    cr_assert(proc_wait_output(&p, "already in use by", 1000), "%s", p.out);
    cr_assert_not_null(strstr(p.out, mypid), "the holder is not named:\n%s", p.out);

    /* with bind_timeout: /readyz is 503 naming the listener while it waits, then ready */
    own_conf(dir, sizeof(dir), conf, sizeof(conf), cira, admin, "bind_timeout = 30s\n");
    setenv("MPSD_TEST_INSTANCE", dir, 1);
    snprintf(log, sizeof(log), "%s/mpsd.log", dir);
    struct proc q;
    proc_start_logged(&q, argv, log);
    own(q.pid);
    cr_assert(proc_wait_output(&q, "bind_timeout", 10000), "%s", q.out);
    char u[128], want[96];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/readyz", admin);
    snprintf(want, sizeof(want), "127.0.0.1:%d", cira);
    struct resp r = CURL(u);
    cr_assert_eq(r.status, 503, "%d %s", r.status, r.body);
    cr_assert_not_null(strstr(r.body, want), "%s", r.body);
    cr_assert_not_null(strstr(r.body, mypid), "%s", r.body);
    resp_free(&r);
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/healthz", admin);
    r = CURL(u);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    close(hold); /* the port is free: mpsd binds and runs */
    cr_assert(proc_wait_output(&q, "mpsd running as pid", 10000), "%s", q.out);
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/readyz", admin);
    long long end = now_ms() + 5000;
    for (;;) {
        r = CURL(u);
        if (r.status == 200)
            break;
        cr_assert_lt(now_ms(), end, "not ready after the bind: %d %s", r.status, r.body);
        resp_free(&r);
        sleep_ms(100);
    }
    resp_free(&r);
    proc_stop(&q, SIGTERM, 15000);
}

/* --- HTTPS, the connection cap, the request timeout ---------------------------------------- */

Test(admin, https_with_a_certificate_from_mpsd_certs, .timeout = 120)
{
    const char *dir = scratch_dir();
    char certs[400], cmd[1024];
    snprintf(certs, sizeof(certs), "%s/admin-certs", dir);
    snprintf(cmd, sizeof(cmd), "'%s' --dir '%s' --name 127.0.0.1 --bits 2048 > '%s.log' 2>&1",
             env_or_die("MPSD_CERTS_TOOL"), certs, certs);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    char extra[1024];
    snprintf(extra, sizeof(extra), "cert = %s/server.pem\nkey = %s/server.key\n", certs, certs);
    struct fx f;
    fx_go(&f, &(struct fx_opts){.admin = true, .admin_extra = extra});
    cr_assert(fx_wait(&f, "HTTPS", 2000), "%s", f.p.out);
    char u[256], ca[480];
    snprintf(u, sizeof(u), "https://127.0.0.1:%d/healthz", f.admin_port);
    snprintf(ca, sizeof(ca), "%s/ca.pem", certs);
    struct resp r = CURL(u, "--cacert", ca);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.body, "ok\n");
    resp_free(&r);
    snprintf(u, sizeof(u), "https://127.0.0.1:%d/metrics", f.admin_port);
    r = CURL(u, "--cacert", ca);
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(strstr(r.body, "mpsd_build_info{"));
    resp_free(&r);
    /* a client that does not trust the CA gets no answer; plain HTTP gets none either */
    r = CURL(u);
    cr_assert_eq(r.status, 0, "%s", r.body);
    resp_free(&r);
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/metrics", f.admin_port);
    r = CURL(u);
    cr_assert_neq(r.status, 200, "%s", r.body);
    resp_free(&r);
    fx_stop(&f, SIGTERM);
}

static int connect_admin(const struct fx *f)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)f->admin_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "%s", strerror(errno));
    return fd;
}

/* Reads until EOF or timeout; returns bytes read, -1 on timeout. */
static int read_to_eof(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t n = 0;
    long long end = now_ms() + timeout_ms;
    for (;;) {
        long long left = end - now_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0) {
            buf[n] = 0;
            return (int)n;
        }
        n += (size_t)r;
        if (n >= cap - 1) {
            buf[n] = 0;
            return (int)n;
        }
    }
}

Test(admin, max_connections_refuses_the_next_one)
{
    struct fx f;
    fx_go(&f, &(struct fx_opts){.admin = true, .admin_extra = "max_connections = 2\n"});
    int a = connect_admin(&f), b = connect_admin(&f);
    sleep_ms(200); /* both accepted */
    int c = connect_admin(&f);
    char buf[1024];
    int n = read_to_eof(c, buf, sizeof(buf), 3000);
    cr_assert_gt(n, 0, "the third connection got no answer");
    cr_assert(strncmp(buf, "HTTP/1.1 503", 12) == 0, "%s", buf);
    cr_assert_not_null(strstr(buf, "max_connections"), "%s", buf);
    close(c);
    cr_assert(fx_wait(&f, "max_connections (2) reached", 2000), "%s", f.p.out);
    /* the two held ones still work */
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    cr_assert_eq(send(a, req, sizeof(req) - 1, 0), (ssize_t)sizeof(req) - 1);
    n = read_to_eof(a, buf, sizeof(buf), 3000);
    cr_assert(n > 0 && strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
    close(a);
    close(b);
    /* once they are gone, curl is served */
    char u[256];
    url(u, sizeof(u), &f, "/healthz");
    long long end = now_ms() + 3000;
    for (;;) {
        struct resp r = CURL(u);
        int st = r.status;
        resp_free(&r);
        if (st == 200)
            break;
        cr_assert_lt(now_ms(), end, "still refused: %d", st);
        sleep_ms(50);
    }
    fx_stop(&f, SIGTERM);
}

Test(admin, a_slow_head_is_closed_after_request_timeout)
{
    struct fx f;
    fx_go(&f, &(struct fx_opts){.admin = true, .admin_extra = "request_timeout = 1s\n"});
    int fd = connect_admin(&f);
    const char part[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    cr_assert_eq(send(fd, part, sizeof(part) - 1, 0), (ssize_t)sizeof(part) - 1);
    long long t0 = now_ms();
    char buf[256];
    /* a byte now and then does not extend the deadline: it is for the whole head */
    for (int i = 0; i < 3; i++) {
        sleep_ms(250);
        send(fd, "a", 1, MSG_NOSIGNAL);
    }
    int n = read_to_eof(fd, buf, sizeof(buf), 5000);
    long long took = now_ms() - t0;
    cr_assert_geq(n, 0, "still open after 5 s");
    cr_assert_eq(n, 0, "an answer to an unfinished head: %s", buf);
    cr_assert_geq(took, 900, "closed before request_timeout (%lld ms)", took);
    close(fd);
    cr_assert(fx_wait(&f, "complete request within 1000ms", 2000), "%s", f.p.out);
    /* an idle connection that sent nothing is closed too (no log line needed) */
    fd = connect_admin(&f);
    n = read_to_eof(fd, buf, sizeof(buf), 5000);
    cr_assert_eq(n, 0);
    close(fd);
    fx_stop(&f, SIGTERM);
}

/* --- TLS key exchange: the client's first key share is taken ------------------------------------
 */

/* ClientHellos `openssl s_client -groups G` sent for one TLS 1.3 handshake (2: a HelloRetryRequest
 * made it send a second). */
static int client_hellos(const struct fx *f, const char *groups)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "echo | %s s_client -connect 127.0.0.1:%d -tls1_3 -groups %s -msg 2>&1",
             bin("openssl"), f->port, groups);
    char *argv[] = {(char *)bin("sh"), "-c", cmd, NULL};
    struct proc p;
    proc_run(&p, argv, 10000);
    cr_assert(strstr(p.out, "Server Temp Key") || strstr(p.out, "CONNECTED"), "%s", p.out);
    int n = 0;
    for (const char *s = p.out; (s = strstr(s, ">>> ")); s++) {
        const char *eol = strchr(s, '\n');
        const char *ch = strstr(s, "ClientHello");
        if (ch && (!eol || ch < eol))
            n++;
    }
    return n;
}

Test(admin, first_key_share_x25519_p256_p384_needs_no_hello_retry, .timeout = 60)
{
    struct fx f;
    fx_go(&f, &(struct fx_opts){.admin = true});
    cr_assert_eq(client_hellos(&f, "X25519"), 1, "X25519 (OpenSSL's default first share)");
    cr_assert_eq(client_hellos(&f, "P-256"), 1);
    cr_assert_eq(client_hellos(&f, "P-384"), 1);
    /* a share mpsd does not take: one HelloRetryRequest toward P-256, counted */
    cr_assert_eq(client_hellos(&f, "X448:P-256"), 2);
    double x = scrape_value(&f, "mpsd_tls_key_exchange_group_total{group=\"x25519\"}"),
           p256 = scrape_value(&f, "mpsd_tls_key_exchange_group_total{group=\"secp256r1\"}"),
           p384 = scrape_value(&f, "mpsd_tls_key_exchange_group_total{group=\"secp384r1\"}"),
           hrr = scrape_value(&f, "mpsd_tls_hello_retry_requests_total");
    cr_assert(x == 1 && p256 == 2 && p384 == 1 && hrr == 1,
              "x25519 %g (want 1), P-256 %g (2), P-384 %g (1), HRR %g (1); mpsd:\n%s", x, p256,
              p384, hrr, fx_brief(&f));
    fx_stop(&f, SIGTERM);
}
