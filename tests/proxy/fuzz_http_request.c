/* libFuzzer: a console's HTTP proxy request. httpproxy_parse on arbitrary bytes (first byte picks
 * small or default limits); a parsed FORWARD head is rewritten, and the rewrite must fit in
 * head_len + 300 bytes, parse again as an origin-form request with the same framing (the device
 * must see the body where we see it) and carry no hop-by-hop or credential header. Then the body
 * that follows is scanned whole and in random pieces, which must agree. */
#include "fuzz_common.h"
#include "httpproxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static httpproxy_req req;
static http_head again;
static uint8_t out[65536 + 512];

static void check_rewrite(const httpproxy_req *r, int len)
{
    ssize_t n = httpproxy_rewrite(r, out, (size_t)len + 300);
    CHECK(n > 0 && (size_t)n <= (size_t)len + 300);
    CHECK(httpproxy_rewrite(r, out, (size_t)n - 1) == -1);
    http_limits big = {.max_head = 1u << 20, .max_line = 1u << 20, .max_headers = HTTP_MAX_HEADERS};
    int r2 = http_parse_request(out, (size_t)n, &big, &again);
    if (r2 == HTTP_E_TOO_MANY_HEADERS) /* the added Host/Connection lines past 128 */
        return;
    CHECK(r2 == (int)n);
    CHECK(again.target.len > 0 && again.target.p[0] == '/');
    CHECK(again.body == r->head.body && again.content_length == r->head.content_length);
    CHECK(again.keep_alive == r->head.keep_alive && again.minor == r->head.minor);
    CHECK(http_find_header(&again, "Host") != NULL);
    CHECK(http_find_header(&again, "Proxy-Authorization") == NULL);
    CHECK(http_find_header(&again, "Proxy-Connection") == NULL);
    CHECK(http_find_header(&again, "Keep-Alive") == NULL);
    CHECK(http_find_header(&again, "Upgrade") == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    http_limits lim;
    http_limits_default(&lim);
    if (data[0] & 1) {
        lim.max_head = 512;
        lim.max_line = 128;
        lim.max_headers = 8;
    }
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    int r = httpproxy_parse(p, n, &lim, &req);
    CHECK(r == HTTP_AGAIN || r > 0 || httpproxy_err_status(r) >= 400);
    if (r <= 0)
        return 0;
    fuzz_check_head(&req.head, p, r, n, &lim);
    CHECK(req.host_len > 0 && req.host_len < sizeof req.host && strlen(req.host) == req.host_len);
    CHECK(req.port != 0);
    CHECK(!(req.has_auth && req.auth_malformed));
    if (req.has_auth)
        CHECK(req.user_len > 0 && strlen(req.user) == req.user_len &&
              strlen(req.pass) == req.pass_len);
    if (req.kind == HTTPPROXY_FORWARD)
        check_rewrite(&req, r);
    else
        CHECK(req.kind == HTTPPROXY_CONNECT && httpproxy_rewrite(&req, out, sizeof out) == -1);
    fuzz_check_body(&req.head, &lim, p + r, n - (size_t)r, (uint32_t)size * 2654435761u | 1u);
    httpproxy_wipe(&req);
    CHECK(req.pass_len == 0 && req.pass[0] == 0);
    return 0;
}
