/* The process: starts the workers and runs the control loop (signals, reload, policy) on the
 * calling thread until drained. */
#ifndef MPSD_SERVER_H
#define MPSD_SERVER_H

#include "config.h"

/* Deeper checks than syntax (loads certificates, key and credentials). 0 when all is well. */
int server_check(const struct config *cfg);

/* Runs until SIGTERM/SIGINT and the drain complete. Returns 0 on a clean exit. */
int server_run(const struct config *cfg, const char *config_path);

#endif
