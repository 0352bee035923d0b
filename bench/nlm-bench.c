/*
 * nlm-bench.c -- NLM v4 LOCK+UNLOCK round trips per second over TCP, from N concurrent owners.
 *
 * usage: nlm-bench -p NLMPORT [-o OWNERS] [-t SECONDS] [-n CALLER] URL
 *   URL  nfs://127.0.0.1/EXPORT/FILE?version=3&nfsport=P&mountport=M (FILE is created)
 * Each owner is a thread with its own TCP connection (libnfs raw NLM client), its own svid
 * and its own 10-byte range, so no request conflicts: the figure is the server's cost of a
 * non-blocking exclusive LOCK followed by an UNLOCK, one call in flight per owner. An extra
 * owner holds an unrelated lock for the whole run so the host stays monitored (servers that
 * SM_MON/SM_UNMON when a host's first/last lock comes and goes are not charged for it).
 * Every reply must be NLM4_GRANTED (else exit 1).
 * Last line: "nlm-bench: owners=N secs=S pairs=P pairs_per_s=X"
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nlm.h>

struct nfs_fh { int len; char *val; };   /* libnfs keeps it private: {int len; char *val;} */

static const char *server;
static int port;
static const char *caller = "nlm-bench";
static struct nfs_fh fh;
static double deadline;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct call { int done, ok, stat; };

static void on_connect(struct rpc_context *c, int s, void *d, void *p)
{ struct call *k = p; (void)c; (void)d; k->done = 1; k->ok = s == RPC_STATUS_SUCCESS; }
static void on_lock(struct rpc_context *c, int s, void *d, void *p)
{ struct call *k = p; (void)c; k->done = 1; k->ok = s == RPC_STATUS_SUCCESS;
  k->stat = k->ok ? (int)((NLM4_LOCKres *)d)->status : -1; }
static void on_unlock(struct rpc_context *c, int s, void *d, void *p)
{ struct call *k = p; (void)c; k->done = 1; k->ok = s == RPC_STATUS_SUCCESS;
  k->stat = k->ok ? (int)((NLM4_UNLOCKres *)d)->status : -1; }

static int run(struct rpc_context *rpc, struct call *k)
{
    while (!k->done) {
        struct pollfd p = { .fd = rpc_get_fd(rpc), .events = rpc_which_events(rpc) };
        int n = poll(&p, 1, 5000);
        if (n <= 0) return -1;
        if (rpc_service(rpc, p.revents) < 0) return -1;
    }
    return k->ok ? 0 : -1;
}

struct owner { int svid; long pairs; int failed; int hold; };

static void *owner_main(void *arg)
{
    struct owner *o = arg;
    struct rpc_context *rpc = rpc_init_context();
    struct call k = {0};
    if (rpc_connect_port_async(rpc, server, port, NLM_PROGRAM, NLM_V4, on_connect, &k) ||
        run(rpc, &k)) {
        fprintf(stderr, "owner %d: cannot connect\n", o->svid);
        o->failed = 1;
        return NULL;
    }
    char oh[64], cookie[4] = "nb!!";
    snprintf(oh, sizeof oh, "%s/%d", caller, o->svid);
    struct nlm4_lock lock = {
        .caller_name = (char *)caller,
        .fh = { .data = { .data_len = fh.len, .data_val = fh.val } },
        .oh = oh, .svid = o->svid,
        .l_offset = (uint64_t)o->svid * 100, .l_len = 10,
    };
    struct nlm_cookie ck = { .data = { .data_len = 4, .data_val = cookie } };
    do {
        struct NLM4_LOCKargs la = { .cookie = ck, .block = 0, .exclusive = 1, .lock = lock,
                                    .reclaim = 0, .state = 1 };
        memset(&k, 0, sizeof k);
        if (rpc_nlm4_lock_async(rpc, on_lock, &la, &k) || run(rpc, &k) || k.stat != NLM4_GRANTED) {
            fprintf(stderr, "owner %d: LOCK failed (stat %d)\n", o->svid, k.stat);
            o->failed = 1;
            break;
        }
        if (o->hold)
            break;
        struct NLM4_UNLOCKargs ua = { .cookie = ck, .lock = lock };
        memset(&k, 0, sizeof k);
        if (rpc_nlm4_unlock_async(rpc, on_unlock, &ua, &k) || run(rpc, &k) ||
            k.stat != NLM4_GRANTED) {
            fprintf(stderr, "owner %d: UNLOCK failed (stat %d)\n", o->svid, k.stat);
            o->failed = 1;
            break;
        }
        o->pairs++;
    } while (now_s() < deadline);
    if (!o->hold)
        rpc_destroy_context(rpc);
    return NULL;
}

int main(int argc, char **argv)
{
    int owners = 1, secs = 5, opt;
    while ((opt = getopt(argc, argv, "p:o:t:n:")) != -1) {
        if (opt == 'p') port = atoi(optarg);
        else if (opt == 'o') owners = atoi(optarg);
        else if (opt == 't') secs = atoi(optarg);
        else if (opt == 'n') caller = optarg;
        else goto usage;
    }
    if (port <= 0 || owners < 1 || owners > 1024 || secs < 1 || optind != argc - 1) goto usage;

    struct nfs_context *nfs = nfs_init_context();
    struct nfs_url *url = nfs ? nfs_parse_url_full(nfs, argv[optind]) : NULL;
    struct nfsfh *file = NULL;
    if (!url || nfs_mount(nfs, url->server, url->path) ||
        nfs_open2(nfs, url->file, O_RDWR | O_CREAT, 0666, &file)) {
        fprintf(stderr, "mount/open %s: %s\n", argv[optind], nfs ? nfs_get_error(nfs) : "");
        return 2;
    }
    fh = *(struct nfs_fh *)nfs_get_fh(file);
    server = url->server;

    /* The keeper: an unrelated lock held for the whole run. */
    struct owner keeper = { .svid = 1000000, .hold = 1 };
    deadline = 0;
    owner_main(&keeper);
    if (keeper.failed) return 2;

    struct owner *o = calloc(owners, sizeof *o);
    pthread_t *t = calloc(owners, sizeof *t);
    double start = now_s();
    deadline = start + secs;
    for (int i = 0; i < owners; i++) {
        o[i].svid = i + 1;
        pthread_create(&t[i], NULL, owner_main, &o[i]);
    }
    long pairs = 0;
    int failed = 0;
    for (int i = 0; i < owners; i++) {
        pthread_join(t[i], NULL);
        pairs += o[i].pairs;
        failed |= o[i].failed;
    }
    double elapsed = now_s() - start;
    printf("nlm-bench: owners=%d secs=%.2f pairs=%ld pairs_per_s=%.0f\n", owners, elapsed, pairs,
           pairs / elapsed);
    return failed ? 1 : 0;
usage:
    fprintf(stderr, "usage: nlm-bench -p NLMPORT [-o OWNERS] [-t SECONDS] [-n CALLER] URL\n");
    return 2;
}
