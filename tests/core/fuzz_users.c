/* libFuzzer: the console users file parser on arbitrary text. Every problem must be a message,
 * never a crash, a leak or an unbounded allocation; a db that parses must answer logins for
 * unknown users and ACL questions on hostile targets without argon2. */
#include "users.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    users_db *db = NULL;
    creds_errors errs = {0};
    if (users_db_parse("fuzz", (const char *)data, size, &db, &errs) == 0 && db) {
        users_precheck(db, "nobody-at-all", 13, "x", 1);
        /* The input's own tail doubles as a hostile host name and group for every user. */
        char host[300];
        size_t hl = size < sizeof host - 1 ? size : sizeof host - 1;
        memcpy(host, data + size - hl, hl);
        host[hl] = '\0';
        guid g = {{0}};
        if (size >= 16)
            memcpy(g.b, data, 16);
        users_target t = {
            .device = &g, .hostname = host, .group = host, .port = (uint16_t)(size * 2654435761u)};
        const char *names[] = {"alice", "bob", "ops", "u0", "a"};
        for (size_t i = 0; i < sizeof names / sizeof *names; i++)
            users_allows(db, names[i], strlen(names[i]), &t);
        users_db_unref(db);
    }
    creds_errors_free(&errs);
    return 0;
}
