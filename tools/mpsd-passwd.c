/* mpsd-passwd - makes argon2id hashes and lines for mpsd's credentials file (docs/credentials.md)
 * and its console users file (docs/console-users.md).
 *
 *   mpsd-passwd                                   hash a password typed at the terminal
 *   mpsd-passwd --device GUID --user NAME         ... and print a whole "device" line
 *   mpsd-passwd --group NAME --user NAME          ... or a "group" line
 *   mpsd-passwd --console NAME --devices RULES --ports PORTS   ... or a console "user" line
 *   --password-stdin   read the password from the first line of stdin (scripts)
 *   --generate         make a random AMT-acceptable password; it goes to stderr, once
 *
 * The line goes to stdout so that `mpsd-passwd ... >> creds` appends it without the password.
 */
#include "creds.h"
#include "ct.h"
#include "directory.h"
#include "users.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <termios.h>
#include <unistd.h>

#define PW_MAX 1024

/* AMT wants upper, lower, digit and a non-alphanumeric (apf.md 6.3: 8..16 characters on AMT 19).
 * The symbols avoid quotes, '$', '#', '\\', whitespace and shell operators so the password can be
 * pasted into a web form, a config file or a shell without quoting surprises. */
static const char *const classes[4] = {"ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnopqrstuvwxyz",
                                       "23456789", "!%*+-.=?^_~"};

static void usage(FILE *f)
{
    fprintf(f, "usage: mpsd-passwd [--device GUID | --group NAME] [--user NAME]\n"
               "       mpsd-passwd --console NAME --devices RULES --ports PORTS\n"
               "       mpsd-passwd --token      (a new admin API bearer token and its hash)\n"
               "                   [--password-stdin | --generate [--length N]]\n"
               "                   [--m-cost KIB] [--t-cost N] [--parallelism N]\n"
               "Prints an argon2id PHC hash, a credentials line when --device or --group is "
               "given,\n"
               "or a console users line when --console is (RULES: all or guid:<GUID>, "
               "host:<glob>,\n"
               "group:<name>, comma-separated; PORTS: all or ports and ranges, e.g. "
               "16992,16994-16995).\n"
               "--token prints a random bearer token once on stderr and the [admin] line\n"
               "'token_hash = <argon2id>' on stdout: mpsd keeps only the hash.\n");
}

/* 32 random bytes as base64url without padding (43 characters): the admin API's bearer token. */
static int make_token(char out[44])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t r[33] = {0};
    if (getrandom(r, 32, 0) != 32)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < 33; i += 3) {
        uint32_t v = (uint32_t)r[i] << 16 | (uint32_t)r[i + 1] << 8 | r[i + 2];
        for (int k = 3; k >= 0 && o < 43; k--)
            out[o++] = b64[(v >> (6 * k)) & 63];
    }
    out[43] = 0;
    ct_wipe(r, sizeof r);
    return 0;
}

static int rand_below(unsigned n, unsigned *out)
{
    /* Rejection sampling: uniform, no modulo bias. */
    unsigned limit = 256 - 256 % n;
    for (;;) {
        unsigned char b;
        if (getrandom(&b, 1, 0) != 1)
            return -1;
        if (b < limit) {
            *out = b % n;
            return 0;
        }
    }
}

static int generate(char *pw, size_t len)
{
    char alphabet[128] = "";
    for (int c = 0; c < 4; c++)
        strcat(alphabet, classes[c]);
    size_t an = strlen(alphabet);
    /* Draw whole passwords until one has every class: uniform over the acceptable ones. */
    for (;;) {
        int seen = 0;
        for (size_t i = 0; i < len; i++) {
            unsigned k;
            if (rand_below((unsigned)an, &k) < 0)
                return -1;
            pw[i] = alphabet[k];
            for (int c = 0; c < 4; c++)
                if (strchr(classes[c], pw[i]))
                    seen |= 1 << c;
        }
        pw[len] = '\0';
        if (seen == 15)
            return 0;
    }
}

/* Warns about passwords AMT would refuse; mpsd itself accepts any. */
static void amt_warnings(const char *pw, size_t len)
{
    int up = 0, lo = 0, dig = 0, sym = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)pw[i];
        up |= c >= 'A' && c <= 'Z';
        lo |= c >= 'a' && c <= 'z';
        dig |= c >= '0' && c <= '9';
        sym |= !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9');
    }
    if (len < 8 || len > 16)
        fprintf(stderr, "mpsd-passwd: warning: AMT 19 refuses MPS passwords outside 8..16 "
                        "characters\n");
    if (!(up && lo && dig && sym))
        fprintf(stderr, "mpsd-passwd: warning: AMT wants upper and lower case letters, a digit "
                        "and a non-alphanumeric character\n");
}

/* Reads one line into pw; strips the newline. -1 on EOF or a line too long. */
static int read_line(FILE *in, char *pw, size_t cap, size_t *len)
{
    if (!fgets(pw, (int)cap, in))
        return -1;
    size_t n = strlen(pw);
    if (n && pw[n - 1] == '\n')
        pw[--n] = '\0';
    else if (!feof(in))
        return -1; /* longer than cap */
    if (n && pw[n - 1] == '\r')
        pw[--n] = '\0';
    *len = n;
    return 0;
}

static int read_tty(const char *prompt, char *pw, size_t cap, size_t *len)
{
    struct termios old, quiet;
    if (tcgetattr(STDIN_FILENO, &old) < 0)
        return -1;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    fputs(prompt, stderr);
    fflush(stderr);
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0)
        return -1;
    int rc = read_line(stdin, pw, cap, len);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    return rc;
}

static int get_password(bool from_stdin, char *pw, size_t *len)
{
    if (from_stdin)
        return read_line(stdin, pw, PW_MAX, len);
    if (!isatty(STDIN_FILENO)) {
        fprintf(stderr,
                "mpsd-passwd: stdin is not a terminal: use --password-stdin or --generate\n");
        return -1;
    }
    char again[PW_MAX];
    size_t alen = 0;
    int rc = read_tty("Password: ", pw, PW_MAX, len);
    if (rc == 0)
        rc = read_tty("Again: ", again, sizeof again, &alen);
    if (rc == 0 && (alen != *len || memcmp(again, pw, alen) != 0)) {
        fprintf(stderr, "mpsd-passwd: the passwords differ\n");
        rc = -1;
    }
    ct_wipe(again, sizeof again);
    return rc;
}

static int parse_uint(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || !*s || *end || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    enum { OPT_M = 256, OPT_T, OPT_P, OPT_CONSOLE, OPT_DEVICES, OPT_PORTS, OPT_TOKEN };
    static const struct option opts[] = {
        {"device", required_argument, NULL, 'd'},
        {"group", required_argument, NULL, 'g'},
        {"user", required_argument, NULL, 'u'},
        {"console", required_argument, NULL, OPT_CONSOLE},
        {"devices", required_argument, NULL, OPT_DEVICES},
        {"ports", required_argument, NULL, OPT_PORTS},
        {"token", no_argument, NULL, OPT_TOKEN},
        {"password-stdin", no_argument, NULL, 's'},
        {"generate", no_argument, NULL, 'G'},
        {"length", required_argument, NULL, 'l'},
        {"m-cost", required_argument, NULL, OPT_M},
        {"t-cost", required_argument, NULL, OPT_T},
        {"parallelism", required_argument, NULL, OPT_P},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *device = NULL, *group = NULL, *user = NULL;
    const char *console = NULL, *devices = NULL, *ports = NULL;
    bool from_stdin = false, gen = false, token = false;
    uint32_t length = 16;
    creds_params p = {CREDS_DEFAULT_T_COST, CREDS_DEFAULT_M_COST, CREDS_DEFAULT_PARALLELISM};
    int c;
    while ((c = getopt_long(argc, argv, "d:g:u:sGl:h", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'd':
            device = optarg;
            break;
        case 'g':
            group = optarg;
            break;
        case 'u':
            user = optarg;
            break;
        case OPT_CONSOLE:
            console = optarg;
            break;
        case OPT_DEVICES:
            devices = optarg;
            break;
        case OPT_PORTS:
            ports = optarg;
            break;
        case OPT_TOKEN:
            token = true;
            break;
        case 's':
            from_stdin = true;
            break;
        case 'G':
            gen = true;
            break;
        case 'l':
            bad = parse_uint(optarg, &length);
            break;
        case OPT_M:
            bad = parse_uint(optarg, &p.m_cost_kib);
            break;
        case OPT_T:
            bad = parse_uint(optarg, &p.t_cost);
            break;
        case OPT_P:
            bad = parse_uint(optarg, &p.parallelism);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "mpsd-passwd: bad number '%s'\n", optarg);
            return 2;
        }
    }
    /* A console line names its user with --console and must say what it reaches: there is no
     * default ACL to fall back on (deny by default). */
    if (optind != argc || (device && group) || (from_stdin && gen) ||
        (!!user != !!(device || group)) || (console && (device || group)) ||
        (!!console != !!devices) || (!!console != !!ports)) {
        usage(stderr);
        return 2;
    }
    if (token) {
        if (device || group || user || console || from_stdin || gen) {
            usage(stderr);
            return 2;
        }
        char tok[44], phc[CREDS_PHC_MAX];
        if (make_token(tok) != 0 || creds_hash(tok, 43, &p, phc, sizeof phc) != 0) {
            fprintf(stderr, "mpsd-passwd: could not make a token\n");
            return 1;
        }
        fprintf(stderr, "token: %s\n", tok); /* shown once; mpsd keeps only the hash */
        ct_wipe(tok, sizeof tok);
        printf("token_hash = %s\n", phc);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    char canon[GUID_STRLEN + 1];
    if (device) {
        guid g;
        if (guid_parse(device, strlen(device), &g) < 0) {
            fprintf(stderr, "mpsd-passwd: bad GUID '%s' (expected 8-4-4-4-12 hex digits)\n",
                    device);
            return 2;
        }
        guid_format(&g, canon);
    }
    if (group && !creds_group_name_valid(group, strlen(group))) {
        fprintf(stderr, "mpsd-passwd: bad group name '%s' (1..%d of A-Z a-z 0-9 . _ -)\n", group,
                CREDS_GROUP_MAX);
        return 2;
    }
    if (user && !creds_username_valid(user, strlen(user))) {
        fprintf(stderr, "mpsd-passwd: bad username '%s' (1..%d printable, none of space @ $ #)\n",
                user, CREDS_USER_MAX);
        return 2;
    }
    if (console && !users_name_valid(console, strlen(console))) {
        fprintf(stderr,
                "mpsd-passwd: bad console user name '%s' (1..%d printable, none of space : #)\n",
                console, USERS_NAME_MAX);
        return 2;
    }
    if (console) {
        creds_errors errs = {0};
        int bad = users_acl_check(devices, ports, &errs);
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "mpsd-passwd: %s\n", errs.msg[i]);
        creds_errors_free(&errs);
        if (bad)
            return 2;
    }
    if (gen && (length < 8 || length > 32)) {
        fprintf(stderr, "mpsd-passwd: --length must be 8..32\n");
        return 2;
    }

    char pw[PW_MAX + 1], phc[CREDS_PHC_MAX];
    size_t pwlen = 0;
    int rc = gen ? generate(pw, length) : get_password(from_stdin, pw, &pwlen);
    if (gen)
        pwlen = length;
    if (rc < 0) {
        if (from_stdin || gen)
            fprintf(stderr, "mpsd-passwd: could not %s a password\n", gen ? "generate" : "read");
        ct_wipe(pw, sizeof pw);
        return 1;
    }
    if (pwlen == 0) {
        fprintf(stderr, "mpsd-passwd: empty password\n");
        return 1;
    }
    if (!gen && !console)
        amt_warnings(pw, pwlen); /* consoles are not AMT: its password rules do not apply */
    rc = creds_hash(pw, pwlen, &p, phc, sizeof phc);
    if (rc == 0 && gen)
        fprintf(stderr, "password: %s\n", pw); /* shown once; mpsd keeps only the hash */
    ct_wipe(pw, sizeof pw);
    if (rc < 0) {
        fprintf(stderr, "mpsd-passwd: hashing failed (%s)\n",
                rc == -EINVAL ? "parameters out of range" : "argon2 error");
        return 1;
    }
    if (device)
        printf("device %s %s %s\n", canon, user, phc);
    else if (group)
        printf("group %s %s %s\n", group, user, phc);
    else if (console)
        printf("user %s %s devices=%s ports=%s\n", console, phc, devices, ports);
    else
        printf("%s\n", phc);
    return fflush(stdout) == 0 ? 0 : 1;
}
