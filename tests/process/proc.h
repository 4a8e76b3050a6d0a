/* Test helpers that start real processes and read what they print. */
#ifndef MPSD_TEST_PROC_H
#define MPSD_TEST_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct proc {
    pid_t pid;
    int err_fd; /* read end of the child's stderr (and stdout) */
    char *out;  /* everything it printed (the oldest half is dropped past 32 MiB), NUL-ended */
    size_t out_len, out_cap;
    int buf_slot; /* where the output buffer is recorded for freeing at exit */
    bool to_file; /* output goes to a file that err_fd reads: the child never blocks on us */
};

/* Starts argv[0] with stdout+stderr captured through a pipe. */
void proc_start(struct proc *p, char *const argv[]);
/* The same with output into the file `log` (for long-running servers whose output the test
 * does not read all the time: a full pipe would stall them). */
void proc_start_logged(struct proc *p, char *const argv[], const char *log);
/* Reads output until `needle` appears or `timeout_ms` passes; true when found. */
bool proc_wait_output(struct proc *p, const char *needle, int timeout_ms);
/* Waits for exit up to timeout_ms; returns the exit status, 128+signal, or -1 on timeout. */
int proc_wait_exit(struct proc *p, int timeout_ms);
/* Sends sig and reaps. */
int proc_stop(struct proc *p, int sig, int timeout_ms);
/* Runs to completion, capturing output; returns the exit status as proc_wait_exit. */
int proc_run(struct proc *p, char *const argv[], int timeout_ms);

/* The start of the last `lines` lines of what p printed (for a failure message: a server's whole
 * output can be megabytes). */
const char *proc_tail(const struct proc *p, int lines);

/* Writes `text` into a fresh file under the test's temp dir; returns its path (static storage per
 * call site is the caller's problem: copy it). */
void write_file(const char *path, const char *text);
/* A per-test scratch directory (created, unique). */
const char *scratch_dir(void);
const char *env_or_die(const char *name);

/* A TCP port on 127.0.0.1 that was free a moment ago (bind to 0, read it, close), reserved for the
 * life of this process against every other test process on the host (a flock under
 * /tmp/mpsd-test-ports; bench/lib/mpsdbench.py takes the same): never one another test uses. */
int free_port(void);

#endif
