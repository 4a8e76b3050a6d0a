/* libFuzzer: the credentials file parser on arbitrary text (every problem must be a message, never
 * a crash, a leak or an unbounded allocation). */
#include "creds.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    creds_db *db = NULL;
    creds_errors errs = {0};
    creds_opts opts = {.allow_groups = size & 1};
    if (creds_db_parse("fuzz", (const char *)data, size, &opts, &db, &errs) == 0 && db) {
        /* a parsed db answers a check without argon2 for an unknown GUID */
        guid unknown = {{0}};
        creds_precheck(db, &unknown, "admin", 5, "x", 1, NULL);
    }
    creds_db_unref(db);
    creds_errors_free(&errs);
    return 0;
}
