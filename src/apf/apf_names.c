/*
 * apf_names.c - text for humans: error strings, enum names, UUID rendering,
 * one-line message descriptions and hex dumps (the debug hook's helpers).
 */
#include <stdio.h>
#include <string.h>

#include "apf.h"

const char *apf_strerror(int err)
{
    static const char *const msg[APF_ERR_COUNT] = {
        [0] = "success",
        [1] = "message incomplete, more bytes needed",
        [2] = "invalid argument",
        [3] = "out of memory",
        [4] = "output buffer too small",
        [5] = "unknown APF message type",
        [6] = "not APF: the stream starts like an HTTP request",
        [7] = "string longer than the limit",
        [8] = "message longer than the limit",
        [9] = "CHANNEL_DATA payload longer than the limit",
        [10] = "malformed field",
        [11] = "unknown USERAUTH method",
        [12] = "unknown GLOBAL_REQUEST name",
        [13] = "unknown CHANNEL_OPEN type",
        [14] = "message not allowed in this state",
        [15] = "unknown service requested",
        [16] = "unsupported protocol version",
        [17] = "authentication failed",
        [18] = "message for an unknown channel",
        [19] = "device exceeded the receive window",
        [20] = "WINDOW_ADJUST overflows the send window",
        [21] = "receive buffer limit exceeded",
        [22] = "port not registered by the device",
        [23] = "too many channels",
        [24] = "no such channel",
        [25] = "channel operation not allowed in its state",
        [26] = "tunnel not ready for channels",
        [27] = "session closed",
        [28] = "send callback failed",
        [29] = "device disconnected",
        [30] = "device silent past the idle timeout",
        [31] = "disconnected by the application",
    };
    if (err > 0 || err <= -APF_ERR_COUNT)
        return "unknown error";
    return msg[-err];
}

const char *apf_err_name(int err)
{
    static const char *const name[APF_ERR_COUNT] = {
        [1] = "again",
        [2] = "invalid",
        [3] = "nomem",
        [4] = "buffer",
        [5] = "unknown_type",
        [6] = "not_apf",
        [7] = "string_too_long",
        [8] = "msg_too_long",
        [9] = "data_too_long",
        [10] = "malformed",
        [11] = "unknown_method",
        [12] = "unknown_request",
        [13] = "unknown_channel_type",
        [14] = "unexpected",
        [15] = "unknown_service",
        [16] = "version",
        [17] = "auth_failed",
        [18] = "unknown_channel",
        [19] = "window_exceeded",
        [20] = "window_overflow",
        [21] = "rx_overflow",
        [22] = "port_not_registered",
        [23] = "too_many_channels",
        [24] = "no_channel",
        [25] = "channel_state",
        [26] = "not_ready",
        [27] = "closed",
        [28] = "callback",
        [29] = "peer_disconnect",
        [30] = "timeout",
        [31] = "local_disconnect",
    };
    if (err >= 0 || err <= -APF_ERR_COUNT)
        return NULL;
    return name[-err];
}

const char *apf_msg_type_name(unsigned type)
{
    switch (type) {
    case APF_DISCONNECT:
        return "DISCONNECT";
    case APF_SERVICE_REQUEST:
        return "SERVICE_REQUEST";
    case APF_SERVICE_ACCEPT:
        return "SERVICE_ACCEPT";
    case APF_USERAUTH_REQUEST:
        return "USERAUTH_REQUEST";
    case APF_USERAUTH_FAILURE:
        return "USERAUTH_FAILURE";
    case APF_USERAUTH_SUCCESS:
        return "USERAUTH_SUCCESS";
    case APF_GLOBAL_REQUEST:
        return "GLOBAL_REQUEST";
    case APF_REQUEST_SUCCESS:
        return "REQUEST_SUCCESS";
    case APF_REQUEST_FAILURE:
        return "REQUEST_FAILURE";
    case APF_CHANNEL_OPEN:
        return "CHANNEL_OPEN";
    case APF_CHANNEL_OPEN_CONFIRMATION:
        return "CHANNEL_OPEN_CONFIRMATION";
    case APF_CHANNEL_OPEN_FAILURE:
        return "CHANNEL_OPEN_FAILURE";
    case APF_CHANNEL_WINDOW_ADJUST:
        return "CHANNEL_WINDOW_ADJUST";
    case APF_CHANNEL_DATA:
        return "CHANNEL_DATA";
    case APF_CHANNEL_CLOSE:
        return "CHANNEL_CLOSE";
    case APF_PROTOCOLVERSION:
        return "PROTOCOLVERSION";
    case APF_KEEPALIVE_REQUEST:
        return "KEEPALIVE_REQUEST";
    case APF_KEEPALIVE_REPLY:
        return "KEEPALIVE_REPLY";
    case APF_KEEPALIVE_OPTIONS_REQUEST:
        return "KEEPALIVE_OPTIONS_REQUEST";
    case APF_KEEPALIVE_OPTIONS_REPLY:
        return "KEEPALIVE_OPTIONS_REPLY";
    default:
        return "?";
    }
}

const char *apf_disconnect_reason_name(uint32_t code)
{
    static const char *const names[] = {
        "?",
        "HOST_NOT_ALLOWED_TO_CONNECT",
        "PROTOCOL_ERROR",
        "KEY_EXCHANGE_FAILED",
        "RESERVED",
        "MAC_ERROR",
        "COMPRESSION_ERROR",
        "SERVICE_NOT_AVAILABLE",
        "PROTOCOL_VERSION_NOT_SUPPORTED",
        "HOST_KEY_NOT_VERIFIABLE",
        "CONNECTION_LOST",
        "BY_APPLICATION",
        "TOO_MANY_CONNECTIONS",
        "AUTH_CANCELLED_BY_USER",
        "NO_MORE_AUTH_METHODS_AVAILABLE",
        "ILLEGAL_USER_NAME",
        "CONNECTION_TIMED_OUT",
        "BY_POLICY",
        "TEMPORARILY_UNAVAILABLE",
    };
    return code < sizeof(names) / sizeof(names[0]) ? names[code] : "?";
}

const char *apf_open_failure_name(uint32_t code)
{
    static const char *const names[] = {"?", "ADMINISTRATIVELY_PROHIBITED", "CONNECT_FAILED",
                                        "UNKNOWN_CHANNEL_TYPE", "RESOURCE_SHORTAGE"};
    return code < sizeof(names) / sizeof(names[0]) ? names[code] : "?";
}

bool apf_str_eq(apf_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && (n == 0 || memcmp(s.p, lit, n) == 0);
}

apf_str apf_str_c(const char *s)
{
    apf_str r = {(const uint8_t *)s, s ? (uint32_t)strlen(s) : 0};
    return r;
}

int apf_hex(const uint8_t *p, size_t n, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t need = n ? n * 3 - 1 : 0;
    if (cap) {
        size_t k = 0;
        for (size_t i = 0; i < n && k + 3 <= cap; i++) {
            if (i)
                out[k++] = ' ';
            out[k++] = hex[p[i] >> 4];
            out[k++] = hex[p[i] & 15];
        }
        out[k < cap ? k : cap - 1] = '\0';
    }
    return (int)need;
}

/* %.*s of an apf_str, clipped so a log line stays a line. */
#define S(s) (int)((s).len > 256 ? 256 : (s).len), (const char *)(s).p

int apf_msg_describe(const apf_msg *m, char *out, size_t cap)
{
    const char *name = apf_msg_type_name(m->type);
    const __typeof__(m->u) *u = &m->u;
    switch (m->type) {
    case APF_DISCONNECT:
        return snprintf(out, cap, "%s %u %s", name, u->disconnect.reason,
                        apf_disconnect_reason_name(u->disconnect.reason));
    case APF_SERVICE_REQUEST:
    case APF_SERVICE_ACCEPT:
        return snprintf(out, cap, "%s %.*s", name, S(u->service.name));
    case APF_USERAUTH_REQUEST:
        return snprintf(out, cap, "%s %.*s %.*s %.*s%s", name, S(u->userauth.user),
                        S(u->userauth.service), S(u->userauth.method),
                        u->userauth.has_password ? " ***" : "");
    case APF_USERAUTH_FAILURE:
        return snprintf(out, cap, "%s %.*s", name, S(u->userauth_failure.methods));
    case APF_GLOBAL_REQUEST:
        return snprintf(out, cap, "%s %.*s %d %.*s:%u", name, S(u->global.name),
                        u->global.want_reply, S(u->global.addr), u->global.port);
    case APF_REQUEST_SUCCESS:
        if (u->request_success.has_port)
            return snprintf(out, cap, "%s %u", name, u->request_success.port);
        return snprintf(out, cap, "%s", name);
    case APF_CHANNEL_OPEN:
        return snprintf(out, cap, "%s %.*s %u %u %.*s:%u %.*s:%u", name, S(u->open.type),
                        u->open.sender, u->open.window, S(u->open.addr), u->open.port,
                        S(u->open.orig_addr), u->open.orig_port);
    case APF_CHANNEL_OPEN_CONFIRMATION:
        return snprintf(out, cap, "%s %u %u %u", name, u->open_confirm.recipient,
                        u->open_confirm.sender, u->open_confirm.window);
    case APF_CHANNEL_OPEN_FAILURE:
        return snprintf(out, cap, "%s %u %u %s", name, u->open_failure.recipient,
                        u->open_failure.reason, apf_open_failure_name(u->open_failure.reason));
    case APF_CHANNEL_WINDOW_ADJUST:
        return snprintf(out, cap, "%s %u %u", name, u->window_adjust.recipient,
                        u->window_adjust.bytes);
    case APF_CHANNEL_DATA:
        return snprintf(out, cap, "%s %u %u", name, u->data.recipient, u->data.data.len);
    case APF_CHANNEL_CLOSE:
        return snprintf(out, cap, "%s %u", name, u->close.recipient);
    case APF_PROTOCOLVERSION: {
        guid g;
        char uuid[GUID_STRLEN + 1];
        memcpy(g.b, u->version.uuid, 16);
        guid_format(&g, uuid);
        return snprintf(out, cap, "%s %u.%u trigger %u %s", name, u->version.major,
                        u->version.minor, u->version.trigger, uuid);
    }
    case APF_KEEPALIVE_REQUEST:
    case APF_KEEPALIVE_REPLY:
        return snprintf(out, cap, "%s %u", name, u->keepalive.cookie);
    case APF_KEEPALIVE_OPTIONS_REQUEST:
    case APF_KEEPALIVE_OPTIONS_REPLY:
        return snprintf(out, cap, "%s %u %u", name, u->keepalive_options.interval,
                        u->keepalive_options.timeout);
    default:
        return snprintf(out, cap, "%s", name);
    }
}
