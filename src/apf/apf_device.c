/*
 * apf_device.c - the device's side of a login, for simulators and tests:
 * the exact message sequence a real AMT sends (docs/apf.md section 3.1).
 */
#include <string.h>

#include "apf.h"

static size_t put(const apf_msg *m, uint8_t *out, size_t cap, size_t off)
{
    size_t n = apf_msg_len(m);
    if (out && off <= cap && n <= cap - off)
        apf_pack(m, out + off, cap - off);
    return off + n;
}

ssize_t apf_device_login_pack(const apf_device_login *l, uint8_t *out, size_t cap)
{
    if (!l || !l->user)
        return APF_ERR_INVALID;
    size_t off = 0;
    apf_msg m = {.type = APF_PROTOCOLVERSION};
    m.u.version.major = 1;
    m.u.version.trigger = l->trigger;
    if (l->uuid)
        memcpy(m.u.version.uuid, l->uuid->b, 16);
    off = put(&m, out, cap, off);

    m = (apf_msg){.type = APF_SERVICE_REQUEST, .u.service.name = apf_str_c(APF_SERVICE_AUTH)};
    off = put(&m, out, cap, off);

    m = (apf_msg){.type = APF_USERAUTH_REQUEST};
    m.u.userauth.user = apf_str_c(l->user);
    m.u.userauth.service = apf_str_c(APF_SERVICE_PFWD);
    m.u.userauth.has_password = l->password != NULL;
    m.u.userauth.method = apf_str_c(l->password ? APF_METHOD_PASSWORD : APF_METHOD_NONE);
    m.u.userauth.password = apf_str_c(l->password);
    off = put(&m, out, cap, off);

    m = (apf_msg){.type = APF_SERVICE_REQUEST, .u.service.name = apf_str_c(APF_SERVICE_PFWD)};
    off = put(&m, out, cap, off);

    for (size_t i = 0; i < l->nports; i++) {
        m = (apf_msg){.type = APF_GLOBAL_REQUEST};
        m.u.global.name = apf_str_c(APF_REQ_TCPIP_FORWARD);
        m.u.global.want_reply = true;
        m.u.global.addr = apf_str_c(l->hostname);
        m.u.global.port = l->ports[i];
        off = put(&m, out, cap, off);
    }
    if (!out)
        return (ssize_t)off;
    return off <= cap ? (ssize_t)off : APF_ERR_BUFFER;
}
