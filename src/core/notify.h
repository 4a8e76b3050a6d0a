/* The systemd service notification protocol (sd_notify(3)), written from its documented wire
 * format: one AF_UNIX datagram of newline-separated KEY=VALUE assignments to the socket named by
 * $NOTIFY_SOCKET (a path, or an abstract name when it starts with '@').
 *
 * Every call is a no-op returning 0 when $NOTIFY_SOCKET is unset (mpsd not started by systemd),
 * never blocks (a non-blocking socket; a full receiver costs the message, -EAGAIN), and returns
 * 1 when the datagram was sent or a negative errno. Safe from any thread; nothing is cached, so a
 * test may change the environment between calls. */
#ifndef MPSD_NOTIFY_H
#define MPSD_NOTIFY_H

#include <stdint.h>

/* "READY=1": start-up is complete (every listener bound), and after a reload. */
int notify_ready(void);

/* "RELOADING=1" + "MONOTONIC_USEC=<CLOCK_MONOTONIC in µs>": a reload began; send notify_ready()
 * when it is done (with or without errors: the running configuration stays in service). */
int notify_reloading(void);

/* "STOPPING=1": the drain began. */
int notify_stopping(void);

/* "STATUS=<text>", shown by `systemctl status`. A newline in the text would start another
 * assignment, so control characters are sent as spaces. At most 480 bytes of text. */
int notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval asked for by systemd (WatchdogSec= gives $WATCHDOG_USEC), in ms rounded
 * up; 0 when off: no or a malformed $WATCHDOG_USEC, or $WATCHDOG_PID naming another process.
 * Ping with notify_watchdog() at half this interval. */
uint64_t notify_watchdog_interval_ms(void);

/* "WATCHDOG=1": the process is alive and its control loop turns. */
int notify_watchdog(void);

/* "EXTEND_TIMEOUT_USEC=<ms * 1000>": start-up (or stopping) goes on for another `ms` beyond
 * systemd's TimeoutStartSec=/TimeoutStopSec= (e.g. while bind_timeout waits for a port); send
 * it again before it runs out. */
int notify_extend_timeout_ms(uint64_t ms);

/* Sends `msg` (newline-separated assignments) as one datagram; the primitive the above use. */
int notify_send(const char *msg);

#endif
