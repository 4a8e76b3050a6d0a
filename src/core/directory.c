/* directory.c - the in-process sharded device directory.
 *
 * Two sets of shards: GUID shards hold the entries, host shards map a lower-cased hostname to the
 * GUID that owns it. Lock order: a GUID shard lock may be held while taking a host shard lock,
 * never the other way round, and never two locks of the same set. Registering a GUID updates its
 * entry and its hostname mapping under the GUID shard lock, so racing registrations of one device
 * cannot leave a mapping behind that disagrees with the entry. A hostname lookup reads the mapping,
 * drops that lock, then reads the entry and checks that the entry still carries the name (it may
 * have changed in between: the lookup then misses, as it would a moment later).
 */
#include "hash.h"
#include "directory.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int dir_lookup_guid_str(dir *d, const char *s, size_t len, dir_entry *out)
{
    guid g;
    if (guid_parse(s, len, &g) < 0)
        return -EINVAL;
    return dir_lookup_guid(d, &g, out);
}

int dir_lookup_name(dir *d, const char *name, size_t len, dir_entry *out)
{
    guid g;
    if (guid_parse_loose(name, len, &g) == 0)
        return dir_lookup_guid(d, &g, out);
    return dir_lookup_host(d, name, len, out);
}

/* --- hashing --- */

/* Seeded per directory so that hostile names cannot be chosen to pile into one chain. */
static uint64_t hash_guid(uint64_t seed, const guid *g)
{
    uint64_t a, b;
    memcpy(&a, g->b, 8);
    memcpy(&b, g->b + 8, 8);
    return hash_fmix64(hash_fmix64(a ^ seed) ^ b);
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
}

static uint64_t hash_host(uint64_t seed, const char *h, size_t len)
{
    uint64_t x = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < len; i++)
        x = (x ^ (uint8_t)lower(h[i])) * 0x100000001b3ULL;
    return hash_fmix64(x);
}

static bool host_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

static bool host_valid(const char *h, size_t len)
{
    if (len > DIR_HOSTNAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)h[i] <= 0x20 || (unsigned char)h[i] >= 0x7f)
            return false;
    return true;
}

/* --- tables --- */

/* An entry as stored: a dir_entry is 432 bytes (a sockaddr_storage and a 256-byte name buffer,
 * the copy-out form), a node keeps the same values in a 112-byte size class plus the name's own
 * bytes: at 100k devices the difference is ~32 MB. */
typedef struct gnode {
    struct gnode *next;
    uint64_t hash;
    guid guid;
    uint32_t worker;
    uint64_t tunnel_id, generation;
    int64_t connected_since;
    struct sockaddr_in6 peer; /* holds a sockaddr_in too; family 0 when unknown */
    char *host;               /* NULL when the device has not named itself */
} gnode;

_Static_assert(sizeof(gnode) <= 112, "a directory node stays in jemalloc's 112-byte class");

static void peer_store(struct sockaddr_in6 *to, const struct sockaddr_storage *from)
{
    memset(to, 0, sizeof(*to));
    if (from->ss_family == AF_INET)
        memcpy(to, from, sizeof(struct sockaddr_in));
    else if (from->ss_family == AF_INET6)
        memcpy(to, from, sizeof(struct sockaddr_in6));
}

static void node_out(const gnode *n, dir_entry *out)
{
    memset(out, 0, sizeof(*out));
    out->guid = n->guid;
    out->worker = n->worker;
    out->tunnel_id = n->tunnel_id;
    out->generation = n->generation;
    out->connected_since = n->connected_since;
    if (n->peer.sin6_family == AF_INET)
        memcpy(&out->peer, &n->peer, sizeof(struct sockaddr_in));
    else if (n->peer.sin6_family == AF_INET6)
        memcpy(&out->peer, &n->peer, sizeof(struct sockaddr_in6));
    if (n->host)
        snprintf(out->hostname, sizeof(out->hostname), "%s", n->host);
}

static const char *node_host(const gnode *n)
{
    return n->host ? n->host : "";
}

/* A host name and every live device that registered it: one in a healthy fleet; two or more is
 * ambiguous, and a console naming it gets -ENOTUNIQ rather than a guess. */
typedef struct hnode {
    struct hnode *next;
    uint64_t hash;
    guid first;   /* claims[0] */
    guid *more;   /* claims[1..n-1] */
    uint32_t n;   /* claimants */
    uint32_t len; /* <= DIR_HOSTNAME_MAX; 48 bytes before the name: a 15-byte name fits 64 */
    char name[];  /* as first registered; compared case-insensitively */
} hnode;
_Static_assert(sizeof(hnode) <= 48, "a host node's header: a short name fits the 64-byte class");

/* A chained table; buckets double when the chain average passes one. */
typedef struct table {
    void **buckets;
    size_t cap, n;
} table;

typedef struct shard {
    pthread_mutex_t mu;
    table t;
} __attribute__((aligned(64))) shard; /* one cache line each: no false sharing of locks */

typedef struct dir_local {
    dir base;
    uint32_t mask; /* shards - 1 */
    uint64_t seed;
    atomic_size_t count;
    shard *gs; /* GUID -> entry */
    shard *hs; /* hostname -> GUID */
} dir_local;

/* Both node types start with (next, hash): the table code works on that prefix. */
typedef struct link {
    struct link *next;
    uint64_t hash;
} link;

static shard *shard_of(shard *set, const dir_local *L, uint64_t h)
{
    return &set[(h >> 40) & L->mask]; /* high bits pick the shard, low bits the bucket */
}

static void **slot_of(table *t, uint64_t h)
{
    return &t->buckets[h & (t->cap - 1)];
}

static void table_grow(table *t)
{
    size_t ncap = t->cap * 2;
    void **nb = calloc(ncap, sizeof *nb);
    if (!nb)
        return; /* keep the longer chains; still correct */
    for (size_t i = 0; i < t->cap; i++) {
        link *n = t->buckets[i];
        while (n) {
            link *next = n->next;
            n->next = nb[n->hash & (ncap - 1)];
            nb[n->hash & (ncap - 1)] = n;
            n = next;
        }
    }
    free(t->buckets);
    t->buckets = nb;
    t->cap = ncap;
}

static void table_insert(table *t, link *n)
{
    if (t->n >= t->cap)
        table_grow(t);
    void **s = slot_of(t, n->hash);
    n->next = *s;
    *s = n;
    t->n++;
}

static void table_unlink(table *t, link *n)
{
    link **pp = (link **)slot_of(t, n->hash);
    while (*pp != n)
        pp = &(*pp)->next;
    *pp = n->next;
    t->n--;
}

static gnode *gfind(table *t, uint64_t h, const guid *g)
{
    for (gnode *n = *slot_of(t, h); n; n = n->next)
        if (n->hash == h && memcmp(n->guid.b, g->b, 16) == 0)
            return n;
    return NULL;
}

static hnode *hfind(table *t, uint64_t h, const char *name, size_t len)
{
    for (hnode *n = *slot_of(t, h); n; n = n->next)
        if (n->hash == h && host_eq(n->name, n->len, name, len))
            return n;
    return NULL;
}

static bool same_tunnel(const gnode *e, uint32_t worker, uint64_t id, uint64_t gen)
{
    return e->worker == worker && e->tunnel_id == id && e->generation == gen;
}

/* --- hostname mappings (called with the owning GUID's shard lock held) --- */

static guid *claim_at(hnode *n, uint32_t i)
{
    return i == 0 ? &n->first : &n->more[i - 1];
}

static bool claims_has(hnode *n, const guid *g)
{
    for (uint32_t i = 0; i < n->n; i++)
        if (guid_eq(claim_at(n, i), g))
            return true;
    return false;
}

static int claims_add(hnode *n, const guid *g)
{
    if (claims_has(n, g))
        return 0;
    if (n->n > 0) {
        guid *m = realloc(n->more, n->n * sizeof *m);
        if (!m)
            return -ENOMEM;
        n->more = m;
    }
    *claim_at(n, n->n++) = *g;
    return 0;
}

/* Drops g's claim; true when none is left. */
static bool claims_drop(hnode *n, const guid *g)
{
    for (uint32_t i = 0; i < n->n; i++) {
        if (guid_eq(claim_at(n, i), g)) {
            *claim_at(n, i) = *claim_at(n, n->n - 1);
            n->n--;
            break;
        }
    }
    if (n->n <= 1) {
        free(n->more);
        n->more = NULL;
    }
    return n->n == 0;
}

/* Adds g to name's claimants. -ENOMEM leaves the mapping as it was. */
static int host_map(dir_local *L, const char *name, size_t len, const guid *g)
{
    uint64_t h = hash_host(L->seed, name, len);
    shard *s = shard_of(L->hs, L, h);
    pthread_mutex_lock(&s->mu);
    hnode *n = hfind(&s->t, h, name, len);
    if (!n) {
        n = malloc(sizeof *n + len + 1);
        if (!n) {
            pthread_mutex_unlock(&s->mu);
            return -ENOMEM;
        }
        n->hash = h;
        n->len = (uint32_t)len;
        n->n = 0;
        n->more = NULL;
        memcpy(n->name, name, len);
        n->name[len] = '\0';
        table_insert(&s->t, (link *)n);
    }
    int rc = claims_add(n, g);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Removes g's claim on name; the mapping goes with the last claimant. */
static void host_unmap(dir_local *L, const char *name, size_t len, const guid *g)
{
    if (len == 0)
        return;
    uint64_t h = hash_host(L->seed, name, len);
    shard *s = shard_of(L->hs, L, h);
    pthread_mutex_lock(&s->mu);
    hnode *n = hfind(&s->t, h, name, len);
    if (n && claims_drop(n, g)) {
        table_unlink(&s->t, (link *)n);
        free(n);
    }
    pthread_mutex_unlock(&s->mu);
}

/* Moves the node's hostname to (name, len), claiming the new name before dropping the old.
 * -ENOMEM leaves name and mapping as they were. */
static int host_change(dir_local *L, gnode *e, const char *name, size_t len)
{
    const char *old = node_host(e);
    size_t old_len = strlen(old);
    if (host_eq(old, old_len, name, len) && (len == 0 || memcmp(old, name, len) == 0))
        return 0; /* the same bytes: nothing moves */
    char *copy = NULL;
    if (len > 0) {
        if (!(copy = malloc(len + 1)))
            return -ENOMEM;
        memcpy(copy, name, len);
        copy[len] = '\0';
        int rc = host_map(L, name, len, &e->guid);
        if (rc < 0) {
            free(copy);
            return rc;
        }
    }
    if (!host_eq(old, old_len, name, len))
        host_unmap(L, old, old_len, &e->guid);
    free(e->host);
    e->host = copy;
    return 0;
}

/* --- operations --- */

static int local_reg(dir *d, const dir_entry *e, dir_entry *superseded)
{
    dir_local *L = (dir_local *)d;
    size_t hlen = strnlen(e->hostname, sizeof e->hostname);
    if (hlen > DIR_HOSTNAME_MAX || !host_valid(e->hostname, hlen))
        return -EINVAL;
    uint64_t h = hash_guid(L->seed, &e->guid);
    shard *s = shard_of(L->gs, L, h);
    int ret = 0;
    pthread_mutex_lock(&s->mu);
    gnode *n = gfind(&s->t, h, &e->guid);
    if (n) {
        if (superseded)
            node_out(n, superseded);
        ret = 1;
    } else {
        n = calloc(1, sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&s->mu);
            return -ENOMEM;
        }
        n->hash = h;
        n->guid = e->guid;
        table_insert(&s->t, (link *)n);
        atomic_fetch_add_explicit(&L->count, 1, memory_order_relaxed);
    }
    /* The new tunnel's identity is in place before the hostname moves, so a hostname lookup racing
     * with this sees either the old tunnel under the old name or the new one. */
    n->worker = e->worker;
    n->tunnel_id = e->tunnel_id;
    n->generation = e->generation;
    n->connected_since = e->connected_since;
    peer_store(&n->peer, &e->peer);
    if (host_change(L, n, e->hostname, hlen) < 0) {
        /* Out of memory for the mapping: the tunnel stays registered by GUID, without a name. */
        host_unmap(L, node_host(n), strlen(node_host(n)), &n->guid);
        free(n->host);
        n->host = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    return ret;
}

static int local_unreg(dir *d, const guid *g, uint32_t worker, uint64_t id, uint64_t gen)
{
    dir_local *L = (dir_local *)d;
    uint64_t h = hash_guid(L->seed, g);
    shard *s = shard_of(L->gs, L, h);
    pthread_mutex_lock(&s->mu);
    gnode *n = gfind(&s->t, h, g);
    int ret = !n ? -ENOENT : !same_tunnel(n, worker, id, gen) ? -ESTALE : 0;
    if (ret == 0) {
        host_unmap(L, node_host(n), strlen(node_host(n)), g);
        table_unlink(&s->t, (link *)n);
        atomic_fetch_sub_explicit(&L->count, 1, memory_order_relaxed);
        free(n->host);
        free(n);
    }
    pthread_mutex_unlock(&s->mu);
    return ret;
}

static int local_set_hostname(dir *d, const guid *g, uint32_t worker, uint64_t id, uint64_t gen,
                              const char *host, size_t len)
{
    dir_local *L = (dir_local *)d;
    if (!host_valid(host, len))
        return -EINVAL;
    uint64_t h = hash_guid(L->seed, g);
    shard *s = shard_of(L->gs, L, h);
    pthread_mutex_lock(&s->mu);
    gnode *n = gfind(&s->t, h, g);
    int ret = !n ? -ENOENT : !same_tunnel(n, worker, id, gen) ? -ESTALE : 0;
    if (ret == 0)
        ret = host_change(L, n, host, len);
    pthread_mutex_unlock(&s->mu);
    return ret;
}

static int local_lookup_guid(dir *d, const guid *g, dir_entry *out)
{
    dir_local *L = (dir_local *)d;
    uint64_t h = hash_guid(L->seed, g);
    shard *s = shard_of(L->gs, L, h);
    pthread_mutex_lock(&s->mu);
    gnode *n = gfind(&s->t, h, g);
    if (n)
        node_out(n, out);
    pthread_mutex_unlock(&s->mu);
    return n ? 0 : -ENOENT;
}

static int local_lookup_host(dir *d, const char *host, size_t len, dir_entry *out)
{
    dir_local *L = (dir_local *)d;
    if (len == 0 || !host_valid(host, len))
        return -ENOENT;
    uint64_t h = hash_host(L->seed, host, len);
    shard *s = shard_of(L->hs, L, h);
    guid g;
    uint32_t claims = 0;
    pthread_mutex_lock(&s->mu);
    hnode *n = hfind(&s->t, h, host, len);
    if (n) {
        g = n->first;
        claims = n->n;
    }
    pthread_mutex_unlock(&s->mu);
    if (claims > 1)
        return -ENOTUNIQ;
    if (!claims || local_lookup_guid(d, &g, out) < 0)
        return -ENOENT;
    return host_eq(out->hostname, strlen(out->hostname), host, len) ? 0 : -ENOENT;
}

static size_t local_count(dir *d)
{
    return atomic_load_explicit(&((dir_local *)d)->count, memory_order_relaxed);
}

static int local_snapshot(dir *d, dir_entry **out, size_t *np)
{
    dir_local *L = (dir_local *)d;
    size_t n = 0, cap = local_count(d) + 16;
    dir_entry *v = malloc(cap * sizeof *v);
    if (!v)
        return -ENOMEM;
    for (uint32_t i = 0; i <= L->mask; i++) {
        shard *s = &L->gs[i];
        pthread_mutex_lock(&s->mu);
        if (n + s->t.n > cap) {
            size_t ncap = (n + s->t.n) * 2;
            dir_entry *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                pthread_mutex_unlock(&s->mu);
                free(v);
                return -ENOMEM;
            }
            v = nv;
            cap = ncap;
        }
        for (size_t b = 0; b < s->t.cap; b++)
            for (gnode *g = s->t.buckets[b]; g; g = g->next)
                node_out(g, &v[n++]);
        pthread_mutex_unlock(&s->mu);
    }
    *out = v;
    *np = n;
    return 0;
}

static void shards_free(shard *set, uint32_t count, bool hosts)
{
    if (!set)
        return;
    for (uint32_t i = 0; i < count; i++) {
        table *t = &set[i].t;
        for (size_t b = 0; t->buckets && b < t->cap; b++) {
            link *n = t->buckets[b];
            while (n) {
                link *next = n->next;
                if (hosts)
                    free(((hnode *)n)->more);
                else
                    free(((gnode *)n)->host);
                free(n);
                n = next;
            }
        }
        free(t->buckets);
        pthread_mutex_destroy(&set[i].mu);
    }
    free(set);
}

static void local_destroy(dir *d)
{
    dir_local *L = (dir_local *)d;
    shards_free(L->gs, L->mask + 1, false);
    shards_free(L->hs, L->mask + 1, true);
    free(L);
}

static const dir_ops local_ops = {
    .reg = local_reg,
    .unreg = local_unreg,
    .set_hostname = local_set_hostname,
    .lookup_guid = local_lookup_guid,
    .lookup_host = local_lookup_host,
    .count = local_count,
    .snapshot = local_snapshot,
    .destroy = local_destroy,
};

static shard *shards_new(uint32_t count)
{
    shard *set = aligned_alloc(64, count * sizeof *set);
    if (!set)
        return NULL;
    memset(set, 0, count * sizeof *set);
    for (uint32_t i = 0; i < count; i++) {
        pthread_mutex_init(&set[i].mu, NULL);
        set[i].t.cap = 16;
        set[i].t.buckets = calloc(set[i].t.cap, sizeof(void *));
        if (!set[i].t.buckets) {
            shards_free(set, count, false);
            return NULL;
        }
    }
    return set;
}

dir *dir_local_new(unsigned shards)
{
    uint32_t count = 1;
    if (shards == 0)
        shards = 64;
    while (count < shards && count < (1u << 16))
        count <<= 1;
    dir_local *L = calloc(1, sizeof *L);
    if (!L)
        return NULL;
    L->base.ops = &local_ops;
    L->mask = count - 1;
    if (getrandom(&L->seed, sizeof L->seed, 0) != sizeof L->seed)
        L->seed = (uint64_t)(uintptr_t)L ^ 0x9e3779b97f4a7c15ULL; /* hashing only; not a secret */
    atomic_init(&L->count, 0);
    L->gs = shards_new(count);
    L->hs = shards_new(count);
    if (!L->gs || !L->hs) {
        shards_free(L->gs, count, false);
        shards_free(L->hs, count, true);
        free(L);
        return NULL;
    }
    return &L->base;
}
