/*
 * harness.h - test helpers: the vectors file, a session wired to recording
 * callbacks (events as text lines, output as bytes), and device messages.
 */
#ifndef MPSD_TEST_APF_HARNESS_H
#define MPSD_TEST_APF_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "apf.h"

#define H_OUT_MAX (1u << 20)
#define H_LOG_MAX (1u << 16)

/* Vector by name from tests/vectors/apf.txt ("V8", "V18-request"); aborts if absent. */
size_t vec(const char *name, uint8_t *out, size_t cap);
size_t unhex(const char *hex, uint8_t *out, size_t cap);

enum h_auth { H_AUTH_ACCEPT, H_AUTH_REJECT, H_AUTH_DEFER };

typedef struct h {
    apf_session *s;
    apf_config cfg;
    enum h_auth auth;
    uint32_t open_reply; /* on_open_request return value */
    bool auto_consume;   /* call apf_channel_consumed inside on_channel_data */
    uint8_t *out;        /* everything the engine sent */
    size_t out_len, out_seen;
    char *log; /* one line per event */
    size_t log_len;
    uint8_t *data; /* all inbound channel payload */
    size_t data_len;
    int last_err;
    char auth_user[64], auth_pw[64];
    int writable;
    uint64_t now;
} h;

void h_init(h *t, const apf_config *cfg); /* cfg NULL: defaults */
void h_free(h *t);
int h_feed(h *t, const uint8_t *p, size_t n);
int h_feed_hex(h *t, const char *hex);
int h_feed_vec(h *t, const char *name);
int h_feed_msg(h *t, const apf_msg *m);
/* Output since the last call, as hex without spaces (static buffer). */
const char *h_out_hex(h *t);
/* Drives the login up to READY with the given ports (ends with 5900 or settles). */
void h_login(h *t, const uint32_t *ports, size_t n);
/* Opens a channel to port and confirms it from the device with id peer and window. */
uint32_t h_open(h *t, uint32_t port, uint32_t peer, uint32_t window);
int h_dev_data(h *t, uint32_t recipient, const uint8_t *p, uint32_t n);
int h_dev_adjust(h *t, uint32_t recipient, uint32_t bytes);
int h_dev_close(h *t, uint32_t recipient);
bool h_logged(const h *t, const char *line); /* a whole line equal to it */

#endif
