/*
 * svc.h - what a channel service (the HTTP responder, the SOL session) writes its answers to.
 *
 * Services are sans-I/O: bytes in, bytes out through svc_out. They never write more than room()
 * says, and stop taking input while room is short, so a shut MPS window holds the input (and the
 * credit we return for it) instead of growing a queue: memory stays bounded by the windows.
 */
#ifndef AMTSIM_SVC_H
#define AMTSIM_SVC_H

#include <stddef.h>
#include <stdint.h>

struct svc_out {
    void *arg;
    size_t (*room)(void *arg);                           /* bytes write takes now */
    int (*write)(void *arg, const uint8_t *p, size_t n); /* 0, or -1: the channel is gone */
};

enum { SVC_KEEP = 0, SVC_CLOSE = 1, SVC_ERR = -1 };

#endif
