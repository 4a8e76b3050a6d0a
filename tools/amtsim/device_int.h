/* device_int.h - what device.c and chan.c share; not for the glue. */
#ifndef AMTSIM_DEVICE_INT_H
#define AMTSIM_DEVICE_INT_H

#include "apf.h"
#include "device.h"

/* Pack m and send it (dropped silently while muted). */
int dev_put(struct device *d, const apf_msg *m);
/* A protocol violation by the MPS: DISCONNECT PROTOCOL_ERROR, end. Returns DEV_ERR_PROTOCOL. */
int dev_violation(struct device *d, unsigned type);
void dev_event(struct device *d, enum dev_event ev, uint32_t arg);

/* chan.c: channel messages from the MPS, and teardown. */
int chan_handle(struct device *d, const apf_msg *m);
void chan_free_all(struct device *d);
/* Service timers (SOL banner, heartbeats) due at d->svc_due; recomputes it. */
int chan_tick(struct device *d, uint64_t now_ms);

#endif
