/* api.h - JSON bodies of the device API and of the event stream, written with jansson (every
 * string escaped by it). Pure functions over dev_info / admin_event values. */
#ifndef MPSD_ADMIN_API_H
#define MPSD_ADMIN_API_H

#include "abuf.h"
#include "devinfo.h"
#include "events.h"

#include <stddef.h>

/* One device object. Returns a jansson json_t * (as void * so callers need not include it). */
void *api_device_json(const struct dev_info *d);
/* {"devices":[...],"count":n,"next":<guid or null>,"total":directory} into out. */
bool api_device_list(const struct dev_info *v, size_t n, bool more, size_t total, struct abuf *out);
bool api_device_one(const struct dev_info *d, struct abuf *out);
/* {"error":"...","status":404} */
bool api_error(int status, const char *msg, struct abuf *out);
/* One SSE frame: "id: N\nevent: <kind>\ndata: {...}\n\n". */
bool api_event_frame(uint64_t id, const struct admin_event *e, struct abuf *out);

#endif
