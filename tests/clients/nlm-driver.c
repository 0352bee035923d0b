/*
 * nlm-driver.c -- a third-party NLM v4 encoder for Janus's end-to-end tests: every NLM call
 * is built and parsed by libnfs's raw NLM client (<nfsc/libnfs-raw-nlm.h>, XNFS NLM v4), the
 * file handle comes from a libnfs MOUNT + LOOKUP over the NFS port.
 *
 * usage: nlm-driver -p PORT [-n CALLER] [-S STATE] [-c] URL STEP...
 *   URL    nfs://127.0.0.1/EXPORT/FILE?version=3&nfsport=P&mountport=P
 *   -p     NLM port (Janus serves NLM on its NFS port; no portmapper lookup)
 *   -n     caller_name (default "driver"); the owner handle of svid S is "CALLER/S"
 *   -S     the NSM state sent in LOCK (default 1)
 *   -c     create FILE first
 *   STEP   null
 *          test:OFF:LEN:MODE:SVID          MODE x (exclusive) or s (shared)
 *          lock:OFF:LEN:MODE:SVID[:block][:reclaim]
 *          cancel:OFF:LEN:MODE:SVID[:block]
 *          unlock:OFF:LEN:SVID
 *          sleep:MS
 *          a STEP may end in =STATUS (GRANTED, DENIED, BLOCKED, DENIED_GRACE_PERIOD, ...):
 *          the reply must carry it.
 * Prints one line per step: "STEP -> STATUS", and for a TEST that is DENIED
 * "holder exclusive=E svid=S offset=O len=L oh=OH".
 * Exit: 0 all assertions held, 1 an assertion failed, 2 usage, mount or RPC error.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nlm.h>

/* libnfs 4/5 keep struct nfs_fh private; its layout is {int len; char *val;}. */
struct nfs_fh { int len; char *val; };

static const char *NAMES[] = { "GRANTED", "DENIED", "DENIED_NOLOCKS", "BLOCKED",
                               "DENIED_GRACE_PERIOD", "DEADLCK", "ROFS", "STALE_FH",
                               "FBIG", "FAILED" };

static const char *status_name(int s)
{
    return s >= 0 && s < (int)(sizeof NAMES / sizeof NAMES[0]) ? NAMES[s] : "?";
}

struct result {
    int done, rpc_status, stat;
    int have_holder;
    nlm4_holder holder;
    char oh[1100];
    char err[200];
};

static void finish(struct result *r, int status, void *data)
{
    r->done = 1;
    r->rpc_status = status;
    r->stat = -1;
    if (status != RPC_STATUS_SUCCESS)
        snprintf(r->err, sizeof r->err, "%s", data ? (const char *)data : "cancelled");
}

static void on_null(struct rpc_context *c, int s, void *d, void *p)
{ (void)c; finish(p, s, d); if (s == RPC_STATUS_SUCCESS) ((struct result *)p)->stat = 0; }

static void on_test(struct rpc_context *c, int s, void *d, void *p)
{
    struct result *r = p; (void)c;
    finish(r, s, d);
    if (s != RPC_STATUS_SUCCESS) return;
    NLM4_TESTres *res = d;
    r->stat = res->reply.status;
    if (res->reply.status == NLM4_DENIED) {
        nlm4_holder *h = &res->reply.nlm4_testreply_u.lock.holder;
        r->have_holder = 1;
        r->holder = *h;
        /* libnfs decodes nlm4_oh as an XDR string. */
        snprintf(r->oh, sizeof r->oh, "%s", h->oh ? h->oh : "");
    }
}

static void on_lock(struct rpc_context *c, int s, void *d, void *p)
{ (void)c; finish(p, s, d); if (s == RPC_STATUS_SUCCESS) ((struct result *)p)->stat = ((NLM4_LOCKres *)d)->status; }

static void on_cancel(struct rpc_context *c, int s, void *d, void *p)
{ (void)c; finish(p, s, d); if (s == RPC_STATUS_SUCCESS) ((struct result *)p)->stat = ((NLM4_CANCres *)d)->status; }

static void on_unlock(struct rpc_context *c, int s, void *d, void *p)
{ (void)c; finish(p, s, d); if (s == RPC_STATUS_SUCCESS) ((struct result *)p)->stat = ((NLM4_UNLOCKres *)d)->status; }

static void on_connect(struct rpc_context *c, int s, void *d, void *p)
{ (void)c; finish(p, s, d); }

/* Runs the rpc context until the result arrives or 10 s pass. */
static int wait_result(struct rpc_context *rpc, struct result *r)
{
    for (int waited = 0; !r->done; ) {
        struct pollfd pfd = { .fd = rpc_get_fd(rpc), .events = rpc_which_events(rpc) };
        int n = poll(&pfd, 1, 50);
        if (n < 0) return -1;
        if (rpc_service(rpc, n > 0 ? pfd.revents : 0) < 0) {
            snprintf(r->err, sizeof r->err, "%s", rpc_get_error(rpc));
            return -1;
        }
        if (n == 0 && (waited += 50) > 10000) {
            snprintf(r->err, sizeof r->err, "no reply in 10 s");
            return -1;
        }
    }
    return r->rpc_status == RPC_STATUS_SUCCESS ? 0 : -1;
}

static void die_usage(void)
{
    fprintf(stderr, "usage: nlm-driver -p PORT [-n CALLER] [-S STATE] [-c] URL STEP...\n");
    exit(2);
}

/* Splits "a:b:c" into at most 8 fields (in place). */
static int split(char *s, char **f)
{
    int n = 0;
    for (char *t = strtok(s, ":"); t && n < 8; t = strtok(NULL, ":")) f[n++] = t;
    return n;
}

int main(int argc, char **argv)
{
    int port = 0, create = 0, nsm_state = 1, opt;
    const char *caller = "driver";
    while ((opt = getopt(argc, argv, "p:n:S:c")) != -1) {
        if (opt == 'p') port = atoi(optarg);
        else if (opt == 'n') caller = optarg;
        else if (opt == 'S') nsm_state = atoi(optarg);
        else if (opt == 'c') create = 1;
        else die_usage();
    }
    if (port <= 0 || argc - optind < 2) die_usage();

    struct nfs_context *nfs = nfs_init_context();
    struct nfs_url *url = nfs ? nfs_parse_url_full(nfs, argv[optind]) : NULL;
    if (!url) { fprintf(stderr, "bad url %s\n", argv[optind]); return 2; }
    if (nfs_mount(nfs, url->server, url->path)) {
        fprintf(stderr, "mount: %s\n", nfs_get_error(nfs)); return 2;
    }
    struct nfsfh *file = NULL;
    int rc = create ? nfs_open2(nfs, url->file, O_RDWR | O_CREAT, 0666, &file)
                    : nfs_open(nfs, url->file, O_RDONLY, &file);
    if (rc) { fprintf(stderr, "open %s: %s\n", url->file, nfs_get_error(nfs)); return 2; }
    struct nfs_fh *fh = (struct nfs_fh *)nfs_get_fh(file);

    struct rpc_context *rpc = rpc_init_context();
    struct result r;
    memset(&r, 0, sizeof r);
    if (rpc_connect_port_async(rpc, url->server, port, NLM_PROGRAM, NLM_V4, on_connect, &r) ||
        wait_result(rpc, &r)) {
        fprintf(stderr, "connect to NLM on port %d: %s\n", port, r.err); return 2;
    }

    int failed = 0;
    uint32_t cookie_seq = 0;
    for (int i = optind + 1; i < argc; i++) {
        char step[256], *f[8];
        snprintf(step, sizeof step, "%s", argv[i]);
        const char *want = NULL;
        char *eq = strchr(step, '=');
        if (eq) { *eq = 0; want = eq + 1; }
        int nf = split(step, f);
        if (nf == 0) die_usage();
        const char *op = f[0];
        if (!strcmp(op, "sleep")) {
            if (nf < 2) die_usage();
            usleep((useconds_t)atoi(f[1]) * 1000);
            printf("%s\n", argv[i]);
            continue;
        }
        uint64_t off = nf > 1 ? strtoull(f[1], NULL, 0) : 0;
        uint64_t len = nf > 2 ? strtoull(f[2], NULL, 0) : 0;
        int excl = 1, svid = 1, block = 0, reclaim = 0;
        if (!strcmp(op, "unlock")) {
            if (nf < 4) die_usage();
            svid = atoi(f[3]);
        } else if (strcmp(op, "null")) {
            if (nf < 5) die_usage();
            excl = f[3][0] == 'x';
            svid = atoi(f[4]);
            for (int k = 5; k < nf; k++) {
                if (!strcmp(f[k], "block")) block = 1;
                else if (!strcmp(f[k], "reclaim")) reclaim = 1;
                else die_usage();
            }
        }
        char oh[128], cookie[8];
        snprintf(oh, sizeof oh, "%s/%d", caller, svid);
        cookie_seq++;
        memcpy(cookie, &cookie_seq, 4);
        memcpy(cookie + 4, "drv!", 4);
        struct nlm4_lock lock = {
            .caller_name = (char *)caller,
            .fh = { .data = { .data_len = fh->len, .data_val = fh->val } },
            .oh = oh,
            .svid = svid, .l_offset = off, .l_len = len,
        };
        struct nlm_cookie ck = { .data = { .data_len = 8, .data_val = cookie } };
        memset(&r, 0, sizeof r);
        if (!strcmp(op, "null")) {
            rc = rpc_nlm4_null_async(rpc, on_null, &r);
        } else if (!strcmp(op, "test")) {
            struct NLM4_TESTargs a = { .cookie = ck, .exclusive = excl, .lock = lock };
            rc = rpc_nlm4_test_async(rpc, on_test, &a, &r);
        } else if (!strcmp(op, "lock")) {
            struct NLM4_LOCKargs a = { .cookie = ck, .block = block, .exclusive = excl,
                                       .lock = lock, .reclaim = reclaim, .state = nsm_state };
            rc = rpc_nlm4_lock_async(rpc, on_lock, &a, &r);
        } else if (!strcmp(op, "cancel")) {
            struct NLM4_CANCargs a = { .cookie = ck, .block = block, .exclusive = excl,
                                       .lock = lock };
            rc = rpc_nlm4_cancel_async(rpc, on_cancel, &a, &r);
        } else if (!strcmp(op, "unlock")) {
            struct NLM4_UNLOCKargs a = { .cookie = ck, .lock = lock };
            rc = rpc_nlm4_unlock_async(rpc, on_unlock, &a, &r);
        } else {
            die_usage();
        }
        if (rc || wait_result(rpc, &r)) {
            fprintf(stderr, "%s: RPC failed: %s\n", argv[i], r.err);
            return 2;
        }
        printf("%s -> %s\n", argv[i], status_name(r.stat));
        if (r.have_holder)
            printf("holder exclusive=%d svid=%d offset=%llu len=%llu oh=%s\n",
                   r.holder.exclusive, r.holder.svid,
                   (unsigned long long)r.holder.l_offset,
                   (unsigned long long)r.holder.l_len, r.oh);
        if (want && strcmp(want, status_name(r.stat))) {
            printf("ASSERTION FAILED: %s wanted %s, got %s\n", argv[i], want, status_name(r.stat));
            failed = 1;
        }
        fflush(stdout);
    }
    rpc_destroy_context(rpc);
    nfs_close(nfs, file);
    nfs_destroy_url(url);
    nfs_destroy_context(nfs);
    return failed;
}
