/*
 * sol.h - the AMT redirection port (16994, 16995 in plain text here) behind a channel, sans-I/O:
 * enough of the redirection protocol for Debian's amtterm (redir.c / RedirectionConstants.h) and
 * consoles that use the digest method, with a line-echo terminal as the "host".
 *
 * Console -> device, device -> console (integers little-endian; "seq" a 32-bit sequence):
 *   0x10 StartRedirectionSession  8: 10 00 00 00 "SOL "        -> 0x11 reply, 13 bytes:
 *        11 status 00 00 01 00 00 00 00 00 00 00 00 (status 0 ok, 1 unknown type, 3 unsupported
 *        type: IDER/KVMR; byte 12 = OEM data length 0). Not "SOL ": reply, then close.
 *   0x13 AuthenticateSession 9 + L: 13 00 00 00 type L(4) data   -> 0x14 reply, 9 + L':
 *        14 status 00 00 type L'(4) data (status 0 ok, 1 failed, 2 method not supported)
 *        type 0 query: data = the methods we take, 01 04
 *        type 1 user/password (what amtterm sends): data = ulen user plen password
 *        type 4 digest: data = 8 length-prefixed strings user realm nonce uri cnonce nc response
 *             qop; with an empty realm or nonce (the first try) the reply is status 1 with data
 *             rlen realm nlen nonce qlen "auth"; the response is HTTP digest over "POST:<uri>"
 *        three failures close the channel
 *   0x20 StartSOL 24: 20 00 00 00 seq(4) maxtx(2) txtimeout(2) overflow(2) rxtimeout(2)
 *        flush(2) heartbeat(2) 00(4)                              -> 0x21 reply, 23 bytes:
 *        21 00 00 00 seq(4)=0 1000(2) then the console's five timeouts echoed, 00(3)
 *   0x28 SOL data to host: 28 00 00 00 seq(4) len(2) data       -> the terminal's output as
 *   0x2A SOL data from host: 2a 00 00 00 seq(4) len(2) data (at most SOL_DATA_MAX per message)
 *   0x2B heartbeat 8: 2b 00 00 00 seq(4): we send one every heartbeat interval (the console's,
 *        default 5 s) while SOL runs; amtterm echoes them back (ignored)
 *   0x24 keep-alive ping 8 -> 0x25 pong 8 (same seq)
 *   0x22 EndSOL 8 -> 0x23 EndSOL reply 8 (SOL can start again)
 *   0x12 EndRedirectionSession 4: close.
 * A message out of order or of a type not listed: the channel closes (the stream cannot be
 * framed). amtterm consumes the whole read with a 0x14/0x21 reply, so nothing else goes out right
 * behind them: the banner waits SOL_BANNER_DELAY_MS after the 0x21 reply.
 *
 * The terminal: the banner "amtsim SOL <hostname> <uuid>\r\n<hostname>> "; every byte typed is
 * echoed; CR or LF (CRLF counts once) ends the line: "\r\n", "echo: <line>\r\n", the prompt
 * "<hostname>> " again. Backspace/DEL erase ("\b \b"). Lines keep at most SOL_LINE_MAX bytes
 * (the rest is echoed, not repeated). State: one struct (~2.5 KiB) while the channel lives.
 */
#ifndef AMTSIM_SOL_H
#define AMTSIM_SOL_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "svc.h"

#define SOL_MSG_MAX         2100 /* any non-data message, the digest method's included */
#define SOL_DATA_MAX        4096 /* payload of one 0x2A we send */
#define SOL_LINE_MAX        256
#define SOL_BANNER_DELAY_MS 250
#define SOL_ROOM            (SOL_DATA_MAX + 16) /* room needed before handling a message */
#define SOL_MAX_FAILURES    3

enum {
    SOL_START_REDIRECTION = 0x10,
    SOL_START_REDIRECTION_REPLY = 0x11,
    SOL_END_REDIRECTION = 0x12,
    SOL_AUTHENTICATE = 0x13,
    SOL_AUTHENTICATE_REPLY = 0x14,
    SOL_START_SOL = 0x20,
    SOL_START_SOL_REPLY = 0x21,
    SOL_END_SOL = 0x22,
    SOL_END_SOL_REPLY = 0x23,
    SOL_KEEPALIVE_PING = 0x24,
    SOL_KEEPALIVE_PONG = 0x25,
    SOL_DATA_TO_HOST = 0x28,
    SOL_DATA_FROM_HOST = 0x2a,
    SOL_HEARTBEAT = 0x2b,
};

enum { SOL_AUTH_QUERY = 0, SOL_AUTH_USERPASS = 1, SOL_AUTH_DIGEST = 4 };

struct sol;

struct sol_cfg {
    const struct digest_ctx *auth; /* user, password, realm, nonces */
    const char *hostname, *uuid;
};

/* Feed console bytes. *used: bytes taken (fewer than n while out->room() < SOL_ROOM: feed the
 * rest later). Returns SVC_KEEP, SVC_CLOSE (close the channel once the answers are out) or
 * SVC_ERR. */
int sol_feed(struct sol **st, const uint8_t *p, size_t n, const struct sol_cfg *cfg,
             const struct svc_out *out, uint64_t now_ms, size_t *used);
/* The banner and heartbeats: call at sol_next_timer (UINT64_MAX: nothing due). */
int sol_tick(struct sol *st, const struct sol_cfg *cfg, const struct svc_out *out, uint64_t now_ms);
uint64_t sol_next_timer(const struct sol *st);
void sol_free(struct sol **st);

#endif
