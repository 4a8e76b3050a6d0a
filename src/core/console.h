/* Console sessions: a management console's connection to one of the proxy listeners (SOCKS5,
 * SOCKS4a, HTTP CONNECT, absolute-URI HTTP), authenticated, authorised and relayed through an APF
 * channel of the device's tunnel; and device-initiated channels relayed to an allowed
 * destination. docs/architecture.md ("A console byte's way") describes the data path. */
#ifndef MPSD_CONSOLE_H
#define MPSD_CONSOLE_H

#include "mpsd.h"

struct tunnel;
struct chan_end;

/* Listener callbacks; the listener's user pointer is the worker's struct wctx. */
extern const ring_conn_cbs console_socks_cbs;
extern const ring_conn_cbs console_http_cbs;

/* Drain: close every console session of this worker (their channels close with them). */
void console_drain_worker(struct wctx *wc);

/* A device asks to open a channel (APF CHANNEL_OPEN from AMT): 0 with *out set when the
 * destination is in device_open_allow and a connection to it is under way, else the APF
 * open-failure reason to refuse with. Runs on the tunnel's worker. */
uint32_t console_device_open(struct wctx *wc, struct tunnel *t, const apf_open_request *req,
                             struct chan_end **out);

#endif
