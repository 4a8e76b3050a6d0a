/* libFuzzer: a device's HTTP response. http_parse_response on arbitrary bytes (first byte: small
 * or default limits, answering a HEAD or not); a parsed head has its slices inside the head, does
 * not depend on the bytes after it, and its body is scanned whole and in random pieces, which must
 * agree. The canned-response packer and the Basic decoder get the same bytes too. */
#include "fuzz_common.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static http_head head;

static void check_basic(const uint8_t *p, size_t n)
{
    char u[64], pw[64];
    size_t ul = 1, pl = 1;
    int r =
        http_basic_decode((http_slice){(const char *)p, n}, u, sizeof u, &ul, pw, sizeof pw, &pl);
    CHECK(r == 0 || r == -1);
    CHECK(strlen(u) == ul && strlen(pw) == pl && ul < sizeof u && pl < sizeof pw);
    CHECK(r == -1 ? (ul == 0 && pl == 0) : ul > 0);
}

static void check_pack(const uint8_t *p, size_t n)
{
    char body[64];
    uint8_t out[256];
    size_t k = n < sizeof body - 1 ? n : sizeof body - 1;
    memcpy(body, p, k);
    body[k] = '\0';
    int status = 100 + (int)(n % 900);
    ssize_t r = http_pack_response(out, sizeof out, status, NULL, body, n & 1);
    CHECK(r > 0);
    http_limits lim;
    http_limits_default(&lim);
    int h = http_parse_response(out, (size_t)r, &lim, false, &head);
    CHECK(h > 0 && head.status == status);
    CHECK(head.body == HTTP_BODY_NONE || head.content_length == strlen(body));
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
    bool head_request = data[0] & 2;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    check_basic(p, n < 200 ? n : 200);
    check_pack(p, n);
    int r = http_parse_response(p, n, &lim, head_request, &head);
    CHECK(r == HTTP_AGAIN || r > 0 || http_err_status(r) >= 400);
    if (r <= 0)
        return 0;
    fuzz_check_head(&head, p, r, n, &lim);
    CHECK(head.status >= 100 && head.status <= 999);
    if (head_request || head.status < 200 || head.status == 204 || head.status == 304)
        CHECK(head.body == HTTP_BODY_NONE);
    else
        CHECK(head.body != HTTP_BODY_NONE);
    fuzz_check_body(&head, &lim, p + r, n - (size_t)r, (uint32_t)size * 2654435761u | 1u);
    return 0;
}
