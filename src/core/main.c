/* mpsd: Intel AMT Management Presence Server. */
#include "config.h"
#include "lock.h"
#include "log.h"
#include "mpsd_build.h"
#include "server.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

/* jemalloc's options, read at its first allocation (this symbol is how a program sets them).
 * A fleet MPS rides reconnect storms and drains: memory freed when tunnels leave must go back to
 * the kernel within seconds, not stay with the process. A background thread purges (it sleeps
 * while there is nothing to purge); dirty pages decay within 1 s and are then released outright
 * (no muzzy stage); narenas 4 keeps per-arena slack bounded on machines with many CPUs. Ignored
 * when jemalloc is not linked (the sanitizer builds). Overridden by MALLOC_CONF. */
const char *malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:4";

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: mpsd [options]\n"
            "Intel AMT Management Presence Server: terminates AMT CIRA tunnels (TLS + APF) and is\n"
            "the proxy (SOCKS5/SOCKS4a, HTTP CONNECT and absolute URIs) through which management\n"
            "consoles reach the devices ([console] in the config; docs/console.md).\n"
            "\n"
            "  -c, --config FILE         run with the configuration in FILE\n"
            "  -t, --check-config FILE   check FILE and exit: 0 when valid, else every problem\n"
            "                            as FILE:LINE: message on stderr and exit status 1\n"
            "  -V, --version             print the version, the wolfSSL version and whether\n"
            "                            AES-NI is compiled in\n"
            "  -h, --help                this text\n"
            "\n"
            "Signals: SIGTERM/SIGINT drain and exit; SIGHUP reloads certificates, credentials and\n"
            "console users without dropping tunnels or sessions; SIGUSR1 logs a stats line. Only\n"
            "one mpsd runs per host (see lock_file).\n"
            "Quick start with a generated dev CA: tools/run-dev.sh (see README.md).\n");
}

static void version(void)
{
    printf("mpsd %s\n", MPSD_VERSION);
    printf("wolfSSL %s (built with %s)\n", wolfSSL_lib_version(), LIBWOLFSSL_VERSION_STRING);
#ifdef WOLFSSL_AESNI
    printf("AES-NI: compiled in (CPU %s)\n", __builtin_cpu_supports("aes") ? "has it" : "LACKS it");
#else
    printf("AES-NI: NOT compiled in (slow fallback wolfSSL)\n");
#endif
#if defined(WOLFSSL_ALLOW_TLSV10) && defined(WOLFSSL_STATIC_RSA)
    printf("legacy TLS profile: available (TLS 1.0/1.1, static RSA; off unless configured)\n");
#else
    printf("legacy TLS profile: not compiled in\n");
#endif
#if MPSD_SANITIZED
    printf("build: sanitizers on\n");
#endif
}

static int load_config(struct config *cfg, const char *path)
{
    struct config_errors errs = {0};
    config_defaults(cfg);
    int n = config_load(cfg, path, &errs);
    if (n != 0) {
        config_errors_print(&errs, path, stderr);
        fprintf(stderr, "%s: %zu problem%s found\n", path, errs.n, errs.n == 1 ? "" : "s");
    }
    config_errors_free(&errs);
    return n == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, 't'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *check_path = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "c:t:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 't':
            check_path = optarg;
            break;
        case 'V':
            version();
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mpsd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    struct config cfg;
    if (check_path) {
        if (load_config(&cfg, check_path) != 0 || server_check(&cfg) != 0)
            return 1;
        fprintf(stderr, "%s: syntax is ok, configuration is valid\n", check_path);
        return 0;
    }
    if (!config_path) {
        fprintf(stderr, "mpsd: no configuration given (use --config FILE; tools/run-dev.sh makes "
                        "a working one)\n");
        return 2;
    }
    if (load_config(&cfg, config_path) != 0)
        return 1;
    log_set_level((enum log_level)cfg.log_level);
    log_set_format(cfg.log_format == CONFIG_LOG_JSON ? LOG_FORMAT_JSON : LOG_FORMAT_LOGFMT);

    char err[512];
    int lock_fd = instance_lock(cfg.lock_file, err, sizeof(err));
    if (lock_fd < 0) {
        log_error("refusing to start: %s", err);
        return 1;
    }
    int host_fd = instance_lock_host(err, sizeof(err));
    if (host_fd < 0) {
        log_error("refusing to start: %s", err);
        close(lock_fd);
        return 1;
    }
    int rc = server_run(&cfg, config_path);
    close(host_fd);
    close(lock_fd);
    return rc == 0 ? 0 : 1;
}
