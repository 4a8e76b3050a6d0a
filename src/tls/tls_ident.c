/* tls_ident.c - a certificate's identity fields, read from its DER.
 *
 * This wolfSSL has no OPENSSL_EXTRA (no X509_NAME API), and its DecodedCert keeps one subjectCN
 * (whichever CN came last) and a rendered subject in which '/' inside a value is not escaped.
 * Neither can tell "one CN" from "several", so the few fields an identity decision needs are
 * walked here, strictly: any structure that is not what RFC 5280 says ends the walk with no
 * identity at all. wolfSSL has already parsed and verified the same bytes; this walk only reads.
 *
 *   Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
 *   TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serial, signature, issuer, validity,
 *                                 subject, subjectPublicKeyInfo, [1] [2] uniqueIDs OPTIONAL,
 *                                 [3] EXPLICIT Extensions OPTIONAL }
 *   Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }
 *   Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
 *   GeneralNames ::= SEQUENCE OF GeneralName   -- dNSName [2] IA5String, URI [6] IA5String
 */
#include "tls.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

struct der {
    const uint8_t *p;
    size_t n;
};

/* One TLV off the front of d: single-byte tag, definite length of at most 4 bytes. */
static bool der_next(struct der *d, uint8_t *tag, struct der *val)
{
    if (d->n < 2 || (d->p[0] & 0x1f) == 0x1f)
        return false;
    size_t hl = 2, len = d->p[1];
    if (len & 0x80) {
        size_t k = len & 0x7f;
        if (k == 0 || k > 4 || d->n < 2 + k)
            return false; /* indefinite (BER) or absurd */
        len = 0;
        for (size_t i = 0; i < k; i++)
            len = len << 8 | d->p[2 + i];
        hl += k;
    }
    if (len > d->n - hl)
        return false;
    *tag = d->p[0];
    val->p = d->p + hl;
    val->n = len;
    d->p += hl + len;
    d->n -= hl + len;
    return true;
}

static bool der_expect(struct der *d, uint8_t tag, struct der *val)
{
    uint8_t t;
    return der_next(d, &t, val) && t == tag;
}

static bool printable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7e)
            return false;
    return true;
}

static void inc(uint8_t *ctr)
{
    if (*ctr < 255)
        (*ctr)++;
}

#define TAG_BOOLEAN   0x01
#define TAG_INTEGER   0x02
#define TAG_OCTETS    0x04
#define TAG_OID       0x06
#define TAG_UTF8      0x0c
#define TAG_PRINTABLE 0x13
#define TAG_IA5       0x16
#define TAG_SEQ       0x30
#define TAG_SET       0x31
#define TAG_VERSION   0xa0 /* [0] EXPLICIT */
#define TAG_EXTS      0xa3 /* [3] EXPLICIT */
#define TAG_SAN_DNS   0x82 /* [2] IMPLICIT IA5String */
#define TAG_SAN_URI   0x86 /* [6] IMPLICIT IA5String */

static const uint8_t OID_CN[] = {0x55, 0x04, 0x03};  /* 2.5.4.3 commonName */
static const uint8_t OID_SAN[] = {0x55, 0x1d, 0x11}; /* 2.5.29.17 subjectAltName */

static bool oid_is(const struct der *oid, const uint8_t *want, size_t n)
{
    return oid->n == n && memcmp(oid->p, want, n) == 0;
}

/* Name: counts every CN; keeps the first if it is usable (the caller clears it unless single). */
static bool walk_subject(struct der name, struct tls_cert_id *id)
{
    bool usable = false;
    while (name.n > 0) {
        struct der rdn, atv, oid, val;
        uint8_t vtag;
        if (!der_expect(&name, TAG_SET, &rdn) || rdn.n == 0)
            return false;
        while (rdn.n > 0) { /* a multi-valued RDN ("CN=a+CN=b") counts each of its values */
            if (!der_expect(&rdn, TAG_SEQ, &atv) || !der_expect(&atv, TAG_OID, &oid) ||
                !der_next(&atv, &vtag, &val) || atv.n != 0)
                return false;
            if (!oid_is(&oid, OID_CN, sizeof(OID_CN)))
                continue;
            inc(&id->cn_count);
            if (id->cn_count == 1) {
                usable = (vtag == TAG_UTF8 || vtag == TAG_PRINTABLE || vtag == TAG_IA5) &&
                         val.n >= 1 && val.n <= TLS_ID_MAX && printable(val.p, val.n);
                if (usable) {
                    memcpy(id->cn, val.p, val.n);
                    id->cn[val.n] = '\0';
                }
            }
        }
    }
    if (!usable || id->cn_count != 1)
        id->cn[0] = '\0';
    return true;
}

static void add_san_id(struct tls_cert_id *id, uint8_t kind, const uint8_t *p, size_t n)
{
    if (id->n_san_ids == TLS_ID_SANS) {
        id->san_ids_bad = true;
        return;
    }
    id->san_ids[id->n_san_ids].kind = kind;
    memcpy(id->san_ids[id->n_san_ids].value, p, n);
    id->san_ids[id->n_san_ids].value[n] = '\0';
    id->n_san_ids++;
}

static bool walk_san(struct der octets, struct tls_cert_id *id)
{
    static const char urn[] = "urn:uuid:";
    const size_t ulen = sizeof(urn) - 1;
    struct der names, v;
    uint8_t tag;
    if (!der_expect(&octets, TAG_SEQ, &names) || octets.n != 0)
        return false;
    while (names.n > 0) {
        if (!der_next(&names, &tag, &v))
            return false;
        if (tag == TAG_SAN_DNS) {
            inc(&id->san_dns_count);
            /* longer ones are host names; non-printable ones name nothing a caller could match */
            if (v.n >= 1 && v.n <= TLS_ID_MAX && printable(v.p, v.n))
                add_san_id(id, TLS_SAN_DNS, v.p, v.n);
        } else if (tag == TAG_SAN_URI) {
            inc(&id->san_uri_count);
            if (v.n < ulen || strncasecmp((const char *)v.p, urn, ulen) != 0)
                continue; /* http://..., other URNs: not an identity */
            const uint8_t *val = v.p + ulen;
            size_t vn = v.n - ulen;
            if (vn >= 1 && vn <= TLS_ID_MAX && printable(val, vn))
                add_san_id(id, TLS_SAN_URN_UUID, val, vn);
            else
                id->san_ids_bad = true;
        }
        /* otherName, rfc822Name, directoryName, IP, ...: no identity here */
    }
    return true;
}

static bool walk_extensions(struct der exts, struct tls_cert_id *id)
{
    struct der seq, ext, oid, v;
    uint8_t tag;
    if (!der_expect(&exts, TAG_SEQ, &seq) || exts.n != 0)
        return false;
    while (seq.n > 0) {
        if (!der_expect(&seq, TAG_SEQ, &ext) || !der_expect(&ext, TAG_OID, &oid) ||
            !der_next(&ext, &tag, &v))
            return false;
        if (tag == TAG_BOOLEAN && !der_next(&ext, &tag, &v))
            return false;
        if (tag != TAG_OCTETS || ext.n != 0)
            return false;
        /* every subjectAltName counts (RFC 5280 allows one; a second must not hide names) */
        if (oid_is(&oid, OID_SAN, sizeof(OID_SAN)) && !walk_san(v, id))
            return false;
    }
    return true;
}

static bool walk(struct der top, struct tls_cert_id *id)
{
    struct der cert, tbs, v, subject;
    uint8_t tag;
    if (!der_expect(&top, TAG_SEQ, &cert) || !der_expect(&cert, TAG_SEQ, &tbs))
        return false;
    if (tbs.n > 0 && tbs.p[0] == TAG_VERSION && !der_next(&tbs, &tag, &v))
        return false;
    if (!der_expect(&tbs, TAG_INTEGER, &v) || /* serialNumber */
        !der_expect(&tbs, TAG_SEQ, &v) ||     /* signature */
        !der_expect(&tbs, TAG_SEQ, &v) ||     /* issuer */
        !der_expect(&tbs, TAG_SEQ, &v) ||     /* validity */
        !der_expect(&tbs, TAG_SEQ, &subject) || !der_expect(&tbs, TAG_SEQ, &v) /* SPKI */)
        return false;
    if (!walk_subject(subject, id))
        return false;
    while (tbs.n > 0) {
        if (!der_next(&tbs, &tag, &v))
            return false;
        if (tag == TAG_EXTS) {
            if (!walk_extensions(v, id))
                return false;
        } else if (tag != 0x81 && tag != 0x82) { /* [1] [2] IMPLICIT uniqueIDs: skipped */
            return false;
        }
    }
    return true;
}

int tls_cert_identity(const uint8_t *der, size_t len, struct tls_cert_id *out)
{
    memset(out, 0, sizeof(*out));
    if (!der || !walk((struct der){der, len}, out)) {
        memset(out, 0, sizeof(*out));
        return TLS_E_CERT;
    }
    out->decoded = true;
    return 0;
}
