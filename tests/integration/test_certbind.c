/* APF method none binds a device to the GUID its client certificate names (docs/tls.md "Peer
 * identity"): the one subject CN decoded from the DER, compared as a parsed GUID. The crafted
 * certificates are made at build time by tests/certs/gen-ident-certs.sh from the test CA. */
#include "fixture.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define VICTIM FX_DEVICE_GUID
#define OTHER  "0bb8f7c2-2222-4e2f-9a3b-5c6d7e8f9a0b"

#define REFUSED_LINE "method none needs a client certificate whose CN is the device GUID"

static void start(struct fx *f)
{
    char extra[512];
    snprintf(extra, sizeof(extra), "client_ca = %s/ca.pem\n", env_or_die("MPSD_CERTS"));
    fx_start(f, &(struct fx_opts){.cira = extra});
}

/* One device claiming `guid` logs in with method none and certificate `cert` (no ".pem"). */
static int login(struct fx *f, struct proc *sim, const char *cert, const char *guid, bool ok,
                 const char *more)
{
    char args[1024];
    const char *dir = env_or_die("IDENT_CERTS");
    snprintf(args, sizeof(args),
             "--count 1 %s --auth-none --uuid-base %s --cert %s/%s.pem --key %s/id.key %s",
             ok ? "--duration 1" : "--mode bad-password", guid, dir, cert, dir, more ? more : "");
    return sim_run(f, sim, args, 20000);
}

/* fx_count drains for 50 ms per call: about 5 s in all. */
static bool count_reaches(struct fx *f, const char *needle, int n)
{
    for (int i = 0; i < 100; i++)
        if (fx_count(f, needle) >= n)
            return true;
    return false;
}

static void accepted(struct fx *f, const char *cert, const char *guid)
{
    struct proc sim;
    int rc = login(f, &sim, cert, guid, true, NULL);
    cr_expect_eq(rc, 0, "%s as %s must log in:\n%s\n%s", cert, guid, sim.out, f->p.out);
    cr_expect_eq(sim_field(&sim, "ready_total"), 1, "%s as %s:\n%s", cert, guid, sim.out);
}

static void refused(struct fx *f, const char *cert, const char *guid)
{
    struct proc sim;
    int before = fx_count(f, REFUSED_LINE);
    int rc = login(f, &sim, cert, guid, false, NULL);
    cr_expect_eq(rc, 0, "%s as %s must be refused:\n%s\n%s", cert, guid, sim.out, f->p.out);
    cr_expect(count_reaches(f, REFUSED_LINE, before + 1), "%s as %s: no refusal line:\n%s", cert,
              guid, f->p.out);
    cr_expect_eq(fx_count(f, REFUSED_LINE), before + 1, "%s as %s", cert, guid);
}

/* (1) rendered "/O=x/CN=<victim>/CN=rogue": the old strstr("/CN=") read the victim's GUID, so
 * this certificate logged in as the victim and superseded its live tunnel. */
Test(certbind, slash_in_another_attribute_does_not_name_the_victim, .timeout = 90)
{
    struct fx f;
    start(&f);
    struct proc victim;
    char args[1024];
    const char *dir = env_or_die("IDENT_CERTS");
    snprintf(args, sizeof(args),
             "--count 1 --duration 6 --auth-none --uuid-base %s --cert %s/id-normal.pem "
             "--key %s/id.key",
             VICTIM, dir, dir);
    sim_start(&f, &victim, args);
    cr_assert(fx_wait(&f, "guid=" VICTIM " msg=\"ready", 10000), "%s", f.p.out);
    refused(&f, "id-slash-o", VICTIM);
    cr_expect_eq(fx_count(&f, "superseded"), 0, "%s", f.p.out);
    int rc = proc_wait_exit(&victim, 30000);
    cr_expect_eq(rc, 0, "the victim's tunnel must survive:\n%s", victim.out);
    cr_expect_eq(sim_field(&victim, "closed_by_server"), 0, "%s", victim.out);
    cr_expect_eq(fx_stat(&f, "superseded"), 0);
    fx_stop(&f, SIGTERM);
}

/* (1b) several CNs, in separate RDNs or in one multi-valued RDN: the certificate names no one. */
Test(certbind, several_cns_name_no_one, .timeout = 60)
{
    struct fx f;
    start(&f);
    refused(&f, "id-two-cn", VICTIM);
    refused(&f, "id-multi-rdn", VICTIM);
    fx_stop(&f, SIGTERM);
}

/* (2) a '/' inside another attribute, the real CN a GUID: that GUID only. */
Test(certbind, slash_elsewhere_binds_the_real_cn_only, .timeout = 60)
{
    struct fx f;
    start(&f);
    accepted(&f, "id-slash-b", OTHER);
    refused(&f, "id-slash-b", VICTIM);
    fx_stop(&f, SIGTERM);
}

/* (3) an embedded NUL: "<victim>\0junk" (41 bytes) and a 36-byte CN with a NUL inside. */
Test(certbind, cn_with_nul_is_refused, .timeout = 60)
{
    struct fx f;
    start(&f);
    refused(&f, "id-nul", VICTIM);
    refused(&f, "id-nul36", VICTIM);
    fx_stop(&f, SIGTERM);
}

/* (4) a CN longer than a GUID ("<victim>0"). */
Test(certbind, cn_longer_than_a_guid_is_refused, .timeout = 60)
{
    struct fx f;
    start(&f);
    refused(&f, "id-long", VICTIM);
    fx_stop(&f, SIGTERM);
}

/* (5) the normal case, also with the GUID in upper case (compared parsed, not as text), and
 * with SANs: a host name and the same GUID are fine, another GUID makes it name no one. */
Test(certbind, normal_certificates_still_bind, .timeout = 60)
{
    struct fx f;
    start(&f);
    accepted(&f, "id-normal", VICTIM);
    accepted(&f, "id-upper", VICTIM);
    refused(&f, "id-normal", OTHER);
    accepted(&f, "id-san-host", OTHER);
    refused(&f, "id-san-dns", VICTIM);
    cr_expect_eq(fx_stat(&f, "auth_ok"), 3);
    fx_stop(&f, SIGTERM);
}
