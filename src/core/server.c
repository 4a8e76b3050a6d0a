#include "server.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

int server_check(const struct config *cfg)
{
    (void)cfg;
    return 0;
}

static int block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* Blocked before any thread starts, so every thread inherits the mask and only the control
     * loop sees these signals, through its signalfd. */
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_CLOEXEC);
}

int server_run(const struct config *cfg, const char *config_path)
{
    int sfd = block_signals();
    if (sfd < 0) {
        log_error("signalfd: %s", strerror(errno));
        return -1;
    }
    log_info("mpsd running as pid %d with %s (name %s)", (int)getpid(), config_path, cfg->name);
    for (;;) {
        struct signalfd_siginfo si;
        ssize_t n = read(sfd, &si, sizeof(si));
        if (n < 0 && errno == EINTR)
            continue;
        if (n != sizeof(si))
            break;
        if (si.ssi_signo == SIGHUP) {
            log_info("SIGHUP: reload requested");
            continue;
        }
        log_info("%s: shutting down", strsignal((int)si.ssi_signo));
        break;
    }
    close(sfd);
    return 0;
}
