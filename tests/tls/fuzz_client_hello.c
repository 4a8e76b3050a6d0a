/* libFuzzer target: tls_client_hello_parse must give a verdict for any input without reading
 * outside it, and what it reports must stay within its own bounds. */
#include "tls.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tls_client_hello ch;
    int r = tls_client_hello_parse(data, size, &ch);
    if (r != 0 && r != TLS_CH_NEED_MORE && r != TLS_E_NOT_TLS && r != TLS_E_HELLO)
        abort();
    if (r == 0) {
        if (ch.consumed > size || ch.n_suites > TLS_CH_MAX_SUITES ||
            ch.n_versions > TLS_CH_MAX_VERSIONS || strlen(ch.sni) >= sizeof(ch.sni))
            abort();
        char line[512];
        if (tls_client_hello_format(&ch, line, sizeof(line)) >= sizeof(line))
            abort();
        uint16_t lo, hi;
        tls_client_hello_range(&ch, &lo, &hi);
        /* a prefix of a complete hello is never complete */
        if (ch.consumed > 0 && tls_client_hello_parse(data, ch.consumed - 1, &ch) == 0)
            abort();
    }
    return 0;
}
