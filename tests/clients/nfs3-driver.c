/*
 * nfs3-driver.c -- scripted NFSv3 client over libnfs (a third-party encoder, not Janus's own codecs).
 *
 * Together with nfs-ls / nfs-cp / nfs-cat it drives all 22 NFSv3 procedures of RFC 1813:
 * the high-level sync API (nfs_mkdir, nfs_symlink, nfs_mknod, nfs_link, nfs_fsync -> COMMIT, ...)
 * covers 19 of them; NULL (proc 0), PATHCONF (proc 20) and plain READDIR (proc 16) have no
 * high-level entry point in libnfs 4.0 (opendir always uses READDIRPLUS and falls back to READDIR
 * only on NFS3ERR_NOTSUPP; there is no URL option to force it), so they are sent through libnfs's
 * raw async API (rpc_nfs3_null_async, rpc_nfs3_pathconf_async, rpc_nfs3_readdir_async) on the
 * same connection, with the file handle of an nfs_open()ed directory.
 *
 * Build:  gcc -O1 -Wall -o nfs3-driver nfs3-driver.c $(pkg-config --cflags --libs libnfs)
 *         (the tests crate builds it into target/janus-clients/)
 *
 * Usage:  nfs3-driver MODE URL [ARG]
 *   URL   nfs://127.0.0.1/EXPORT?version=3&nfsport=N&mountport=M   (the export root)
 *   MODE  full          every procedure, in a fresh directory "drv-PID" that is removed at the end
 *         rofs FILE     the export is read-only: every modifying call must fail with EROFS
 *                       (NFS3ERR_ROFS); FILE is an existing regular file in the export
 *         readdir DIR N page through DIR with plain READDIR (raw API, 4 KiB replies, cookie +
 *                       cookieverf from the previous page) and require exactly N entries
 *                       besides "." and "..", none twice
 *   Prints one line per step ("ok   step" / "FAIL step: reason"), exit 0 if all passed, 1 if any
 *   step failed, 2 on usage / mount errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>
#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nfs.h>

struct nfs_fh { int len; char *val; };   /* libnfs-private.h (libnfs 4.x): opaque handle bytes */

static struct nfs_context *nfs;
static int failures;
static char D[64];                       /* working directory of the full sequence */

static void ok(const char *fmt, ...)
{
    va_list ap; va_start(ap, fmt);
    printf("ok   "); vprintf(fmt, ap); printf("\n");
    va_end(ap);
}

static void fail(const char *fmt, ...)
{
    va_list ap; va_start(ap, fmt);
    printf("FAIL "); vprintf(fmt, ap); printf("\n");
    va_end(ap);
    failures++;
}

/* CHECK(step, rc): rc is a libnfs return value (0 / negative errno). */
#define CHECK(step, expr) do { int rc_ = (expr); \
        if (rc_ < 0) fail("%s: %s (%s)", step, strerror(-rc_), nfs_get_error(nfs)); else ok("%s", step); \
    } while (0)
/* EXPECT_ERR(step, expr, errno): the call must fail with exactly -errno. */
#define EXPECT_ERR(step, expr, want) do { int rc_ = (expr); \
        if (rc_ == -(want)) ok("%s -> %s", step, strerror(want)); \
        else if (rc_ < 0) fail("%s: want %s, got %s (%s)", step, strerror(want), strerror(-rc_), nfs_get_error(nfs)); \
        else fail("%s: want %s, call succeeded", step, strerror(want)); \
    } while (0)
#define ASSERT(step, cond, ...) do { if (cond) ok("%s", step); else { printf("FAIL %s: ", step); \
        printf(__VA_ARGS__); printf("\n"); failures++; } } while (0)

static const char *path(const char *name)
{
    static char buf[4][256]; static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "/%s%s%s", D, *name ? "/" : "", name);
    return buf[i];
}

/* ---- raw calls on the mounted context (procedures without a high-level entry point) ---- */

struct raw { int done; int status; int nfsstat; int count; char names[1024]; uint32_t linkmax, name_max; };

static void cb_null(struct rpc_context *r, int s, void *d, void *p)
{
    struct raw *x = p; (void)r; (void)d; x->done = 1; x->status = s; x->nfsstat = 0;
}

static void cb_pathconf(struct rpc_context *r, int s, void *d, void *p)
{
    struct raw *x = p; (void)r; x->done = 1; x->status = s;
    if (s != RPC_STATUS_SUCCESS) return;
    PATHCONF3res *res = d;
    x->nfsstat = res->status;
    if (res->status == NFS3_OK) {
        x->linkmax = res->PATHCONF3res_u.resok.linkmax;
        x->name_max = res->PATHCONF3res_u.resok.name_max;
    }
}

static void cb_readdir(struct rpc_context *r, int s, void *d, void *p)
{
    struct raw *x = p; (void)r; x->done = 1; x->status = s;
    if (s != RPC_STATUS_SUCCESS) return;
    READDIR3res *res = d;
    x->nfsstat = res->status;
    if (res->status != NFS3_OK) return;
    for (entry3 *e = res->READDIR3res_u.resok.reply.entries; e; e = e->nextentry) {
        x->count++;
        size_t l = strlen(x->names);
        snprintf(x->names + l, sizeof x->names - l, "%s/", e->name);
    }
}

static int wait_raw(struct raw *x)
{
    struct rpc_context *rpc = nfs_get_rpc_context(nfs);
    for (int waited = 0; !x->done; ) {
        struct pollfd pfd = { .fd = rpc_get_fd(rpc), .events = rpc_which_events(rpc) };
        int n = poll(&pfd, 1, 100);
        if (n < 0) return -1;
        if (rpc_service(rpc, n > 0 ? pfd.revents : 0) < 0) return -1;
        if (n == 0 && (waited += 100) > 30000) return -1;
    }
    return x->status == RPC_STATUS_SUCCESS ? 0 : -1;
}

static void raw_steps(struct nfsfh *dirfh, int expect_entries, const char *must_list)
{
    struct rpc_context *rpc = nfs_get_rpc_context(nfs);
    struct nfs_fh *fh = nfs_get_fh(dirfh);
    struct raw x;

    memset(&x, 0, sizeof x);
    if (rpc_nfs3_null_async(rpc, cb_null, &x) != 0 || wait_raw(&x) != 0)
        fail("NULL (raw): %s", rpc_get_error(rpc));
    else ok("NULL (raw)");

    memset(&x, 0, sizeof x);
    PATHCONF3args pa; memset(&pa, 0, sizeof pa);
    pa.object.data.data_len = (u_int)fh->len; pa.object.data.data_val = fh->val;
    if (rpc_nfs3_pathconf_async(rpc, cb_pathconf, &pa, &x) != 0 || wait_raw(&x) != 0)
        fail("PATHCONF (raw): %s", rpc_get_error(rpc));
    else ASSERT("PATHCONF (raw)", x.nfsstat == NFS3_OK && x.name_max >= 255 && x.linkmax >= 1,
                "status=%d name_max=%u linkmax=%u", x.nfsstat, x.name_max, x.linkmax);

    memset(&x, 0, sizeof x);
    READDIR3args ra; memset(&ra, 0, sizeof ra);
    ra.dir.data.data_len = (u_int)fh->len; ra.dir.data.data_val = fh->val;
    ra.cookie = 0; ra.count = 8192;
    if (rpc_nfs3_readdir_async(rpc, cb_readdir, &ra, &x) != 0 || wait_raw(&x) != 0)
        fail("READDIR (raw): %s", rpc_get_error(rpc));
    else if (expect_entries >= 0)
        ASSERT("READDIR (raw)", x.nfsstat == NFS3_OK && x.count == expect_entries && strstr(x.names, must_list),
               "status=%d entries=%d (want %d) names=%s", x.nfsstat, x.count, expect_entries, x.names);
    else
        ASSERT("READDIR (raw)", x.nfsstat == NFS3_OK && x.count >= 1, "status=%d entries=%d", x.nfsstat, x.count);
}

/* ---- READDIR paging (RFC 1813 §3.3.16: cookie + cookieverf of the previous reply) ---- */

struct page { int done; int status; int nfsstat; int eof; int n; uint64_t last_cookie;
              char verf[NFS3_COOKIEVERFSIZE]; char **names; size_t len, cap; };

static void cb_readdir_page(struct rpc_context *r, int s, void *d, void *p)
{
    struct page *x = p; (void)r; x->done = 1; x->status = s;
    if (s != RPC_STATUS_SUCCESS) return;
    READDIR3res *res = d;
    x->nfsstat = res->status;
    if (res->status != NFS3_OK) return;
    memcpy(x->verf, res->READDIR3res_u.resok.cookieverf, NFS3_COOKIEVERFSIZE);
    x->eof = res->READDIR3res_u.resok.reply.eof;
    for (entry3 *e = res->READDIR3res_u.resok.reply.entries; e; e = e->nextentry) {
        x->n++;
        x->last_cookie = e->cookie;
        if (!strcmp(e->name, ".") || !strcmp(e->name, "..")) continue;
        if (x->len == x->cap) {
            x->cap = x->cap ? 2 * x->cap : 1024;
            x->names = realloc(x->names, x->cap * sizeof *x->names);
            if (!x->names) { perror("realloc"); exit(2); }
        }
        x->names[x->len++] = strdup(e->name);
    }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int readdir_pages(const char *dir, long want)
{
    struct nfsfh *dfh = NULL;
    char p[256];
    snprintf(p, sizeof p, "/%s", dir);
    CHECK("LOOKUP open dir", nfs_open(nfs, p, O_RDONLY, &dfh));
    if (!dfh) return 1;
    struct rpc_context *rpc = nfs_get_rpc_context(nfs);
    struct nfs_fh *fh = nfs_get_fh(dfh);
    struct page x; memset(&x, 0, sizeof x);
    int pages = 0;
    while (!x.eof) {
        READDIR3args ra; memset(&ra, 0, sizeof ra);
        ra.dir.data.data_len = (u_int)fh->len; ra.dir.data.data_val = fh->val;
        ra.cookie = x.last_cookie;
        memcpy(ra.cookieverf, x.verf, NFS3_COOKIEVERFSIZE);
        ra.count = 4096;
        x.done = 0; x.n = 0;
        if (rpc_nfs3_readdir_async(rpc, cb_readdir_page, &ra, &x) != 0) { fail("READDIR send"); return 1; }
        /* the same poll loop as wait_raw(), on this page's completion flag */
        for (int waited = 0; !x.done; ) {
            struct pollfd pfd = { .fd = rpc_get_fd(rpc), .events = rpc_which_events(rpc) };
            int n = poll(&pfd, 1, 100);
            if (n < 0 || rpc_service(rpc, n > 0 ? pfd.revents : 0) < 0) { fail("READDIR: %s", rpc_get_error(rpc)); return 1; }
            if (n == 0 && (waited += 100) > 30000) { fail("READDIR: timeout"); return 1; }
        }
        if (x.status != RPC_STATUS_SUCCESS || x.nfsstat != NFS3_OK) {
            fail("READDIR page %d: rpc status %d nfsstat %d", pages + 1, x.status, x.nfsstat);
            return 1;
        }
        pages++;
        if (x.n == 0 && !x.eof) { fail("READDIR page %d: no entries and no eof", pages); return 1; }
        if (pages > 100000) { fail("READDIR: too many pages"); return 1; }
    }
    nfs_close(nfs, dfh);
    qsort(x.names, x.len, sizeof *x.names, cmp_str);
    size_t dups = 0;
    for (size_t i = 1; i < x.len; i++)
        if (!strcmp(x.names[i], x.names[i - 1])) { if (dups++ < 5) printf("     duplicate: %s\n", x.names[i]); }
    ok("READDIR %d pages, %zu entries, %zu duplicates", pages, x.len, dups);
    ASSERT("READDIR paging complete", (long)x.len == want && dups == 0,
           "want %ld entries, got %zu with %zu duplicates", want, x.len, dups);
    return 0;
}

/* ---- the full sequence ---- */

static void fill(char *buf, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) { seed = seed * 1103515245u + 12345u; buf[i] = (char)(seed >> 16); }
}

static int full(void)
{
    struct nfs_stat_64 st;
    struct nfsfh *fh = NULL;
    struct statvfs vfs;
    enum { N = 100 * 1024 };
    static char wbuf[N], rbuf[N];

    snprintf(D, sizeof D, "drv-%d", (int)getpid());

    CHECK("FSSTAT statvfs /", nfs_statvfs(nfs, "/", &vfs));
    ASSERT("FSSTAT values", vfs.f_blocks > 0 && vfs.f_bsize > 0, "blocks=%lu bsize=%lu",
           (unsigned long)vfs.f_blocks, (unsigned long)vfs.f_bsize);
    CHECK("MKDIR dir", nfs_mkdir(nfs, path("")));
    EXPECT_ERR("MKDIR existing dir", nfs_mkdir(nfs, path("")), EEXIST);
    CHECK("GETATTR dir", nfs_stat64(nfs, path(""), &st));
    ASSERT("dir is a directory", S_ISDIR(st.nfs_mode), "mode=%o", (unsigned)st.nfs_mode);

    /* CREATE + WRITE + COMMIT */
    fill(wbuf, N, 42);
    CHECK("CREATE f", nfs_creat(nfs, path("f"), 0644, &fh));
    if (!fh) return 1;
    int w = nfs_write(nfs, fh, N, wbuf);
    ASSERT("WRITE 100 KiB", w == N, "wrote %d: %s", w, nfs_get_error(nfs));
    w = nfs_pwrite(nfs, fh, 4096, 16, "0123456789abcdef");
    ASSERT("WRITE pwrite at 4096", w == 16, "wrote %d: %s", w, nfs_get_error(nfs));
    memcpy(wbuf + 4096, "0123456789abcdef", 16);
    CHECK("COMMIT fsync", nfs_fsync(nfs, fh));
    nfs_close(nfs, fh); fh = NULL;
    EXPECT_ERR("CREATE exclusive existing f", nfs_open(nfs, path("f"), O_RDWR | O_CREAT | O_EXCL, &fh), EEXIST);
    fh = NULL;

    /* LOOKUP + ACCESS + READ */
    CHECK("LOOKUP+ACCESS open f", nfs_open(nfs, path("f"), O_RDONLY, &fh));
    if (!fh) return 1;
    int r = nfs_read(nfs, fh, N, rbuf);
    ASSERT("READ back", r == N && !memcmp(wbuf, rbuf, N), "read %d bytes, %s", r,
           r == N ? "content differs" : nfs_get_error(nfs));
    r = nfs_pread(nfs, fh, 4090, 32, rbuf);
    ASSERT("READ pread at 4090", r == 32 && !memcmp(rbuf, wbuf + 4090, 32), "read %d", r);
    r = nfs_pread(nfs, fh, N + 10, 32, rbuf);
    ASSERT("READ past EOF", r == 0, "read %d", r);
    nfs_close(nfs, fh); fh = NULL;
    EXPECT_ERR("LOOKUP missing", nfs_stat64(nfs, path("missing"), &st), ENOENT);

    CHECK("GETATTR f", nfs_stat64(nfs, path("f"), &st));
    ASSERT("size after write", st.nfs_size == N, "size=%llu", (unsigned long long)st.nfs_size);

    /* SETATTR: size, mode, owner, times */
    CHECK("SETATTR truncate 1000", nfs_truncate(nfs, path("f"), 1000));
    CHECK("LOOKUP open f rw", nfs_open(nfs, path("f"), O_RDWR, &fh));
    if (fh) { CHECK("SETATTR ftruncate 500", nfs_ftruncate(nfs, fh, 500)); nfs_close(nfs, fh); fh = NULL; }
    CHECK("GETATTR f", nfs_stat64(nfs, path("f"), &st));
    ASSERT("size after truncate", st.nfs_size == 500, "size=%llu", (unsigned long long)st.nfs_size);
    CHECK("SETATTR chmod 0600", nfs_chmod(nfs, path("f"), 0600));
    CHECK("GETATTR f", nfs_stat64(nfs, path("f"), &st));
    ASSERT("mode after chmod", (st.nfs_mode & 07777) == 0600, "mode=%o", (unsigned)st.nfs_mode);
    /* chown to the owner the server assigned (a squashed client may only "give" a file to itself) */
    CHECK("SETATTR chown (same owner)", nfs_chown(nfs, path("f"), (int)st.nfs_uid, (int)st.nfs_gid));
    struct timeval tv[2] = { { 1000000000, 0 }, { 1100000000, 0 } };
    CHECK("SETATTR utimes", nfs_utimes(nfs, path("f"), tv));
    CHECK("GETATTR f", nfs_stat64(nfs, path("f"), &st));
    ASSERT("times after utimes", st.nfs_mtime == 1100000000 && st.nfs_atime == 1000000000,
           "atime=%llu mtime=%llu", (unsigned long long)st.nfs_atime, (unsigned long long)st.nfs_mtime);
    CHECK("ACCESS r+w", nfs_access(nfs, path("f"), R_OK | W_OK));

    /* SYMLINK + READLINK */
    CHECK("SYMLINK l -> f", nfs_symlink(nfs, "f", path("l")));
    char lbuf[256] = {0};
    CHECK("READLINK l", nfs_readlink(nfs, path("l"), lbuf, sizeof lbuf));
    ASSERT("READLINK target", !strcmp(lbuf, "f"), "target=%s", lbuf);
    CHECK("GETATTR l (lstat)", nfs_lstat64(nfs, path("l"), &st));
    ASSERT("l is a symlink", S_ISLNK(st.nfs_mode), "mode=%o", (unsigned)st.nfs_mode);

    /* LINK + RENAME */
    CHECK("LINK h -> f", nfs_link(nfs, path("f"), path("h")));
    CHECK("GETATTR f", nfs_stat64(nfs, path("f"), &st));
    ASSERT("nlink after LINK", st.nfs_nlink == 2, "nlink=%llu", (unsigned long long)st.nfs_nlink);
    CHECK("RENAME h -> h2", nfs_rename(nfs, path("h"), path("h2")));
    EXPECT_ERR("LOOKUP renamed-away h", nfs_stat64(nfs, path("h"), &st), ENOENT);
    CHECK("GETATTR h2", nfs_stat64(nfs, path("h2"), &st));
    ASSERT("h2 size", st.nfs_size == 500, "size=%llu", (unsigned long long)st.nfs_size);

    /* MKNOD (a FIFO: allowed for an unprivileged / squashed caller) */
    CHECK("MKNOD fifo", nfs_mknod(nfs, path("fifo"), S_IFIFO | 0644, 0));
    CHECK("GETATTR fifo", nfs_lstat64(nfs, path("fifo"), &st));
    ASSERT("fifo type", S_ISFIFO(st.nfs_mode), "mode=%o", (unsigned)st.nfs_mode);

    /* MKDIR + RMDIR of a sub-directory */
    CHECK("MKDIR sub", nfs_mkdir(nfs, path("sub")));
    CHECK("CREATE sub/x", nfs_creat(nfs, path("sub/x"), 0644, &fh));
    if (fh) { nfs_close(nfs, fh); fh = NULL; }
    EXPECT_ERR("RMDIR non-empty sub", nfs_rmdir(nfs, path("sub")), ENOTEMPTY);
    CHECK("REMOVE sub/x", nfs_unlink(nfs, path("sub/x")));
    CHECK("RMDIR sub", nfs_rmdir(nfs, path("sub")));

    /* READDIRPLUS (opendir) */
    struct nfsdir *dir = NULL;
    CHECK("READDIRPLUS opendir", nfs_opendir(nfs, path(""), &dir));
    if (dir) {
        int n = 0, seen = 0; struct nfsdirent *e;
        while ((e = nfs_readdir(nfs, dir))) {
            if (!strcmp(e->name, ".") || !strcmp(e->name, "..")) continue;
            n++;
            if (!strcmp(e->name, "f")) seen |= 1;
            if (!strcmp(e->name, "l")) seen |= 2;
            if (!strcmp(e->name, "h2")) seen |= 4;
            if (!strcmp(e->name, "fifo")) seen |= 8;
        }
        nfs_closedir(nfs, dir);
        ASSERT("READDIRPLUS entries", n == 4 && seen == 15, "n=%d seen=%x", n, seen);
    }

    /* NULL, PATHCONF, READDIR through the raw API, on the directory's handle */
    struct nfsfh *dfh = NULL;
    CHECK("LOOKUP open dir", nfs_open(nfs, path(""), O_RDONLY, &dfh));
    if (dfh) { raw_steps(dfh, 6, "fifo/"); nfs_close(nfs, dfh); }   /* f l h2 fifo + . .. */

    /* REMOVE everything, RMDIR the directory */
    CHECK("REMOVE f", nfs_unlink(nfs, path("f")));
    CHECK("REMOVE h2", nfs_unlink(nfs, path("h2")));
    CHECK("REMOVE l", nfs_unlink(nfs, path("l")));
    CHECK("REMOVE fifo", nfs_unlink(nfs, path("fifo")));
    EXPECT_ERR("REMOVE missing", nfs_unlink(nfs, path("f")), ENOENT);
    CHECK("RMDIR dir", nfs_rmdir(nfs, path("")));
    EXPECT_ERR("GETATTR removed dir", nfs_stat64(nfs, path(""), &st), ENOENT);
    return 0;
}

/* ---- read-only export: every modifying procedure must answer NFS3ERR_ROFS ---- */

static int rofs(const char *file)
{
    struct nfs_stat_64 st;
    struct nfsfh *fh = NULL;
    char f[256], n[256];
    snprintf(f, sizeof f, "/%s", file);
    snprintf(n, sizeof n, "/rofs-new-%d", (int)getpid());

    CHECK("GETATTR existing file", nfs_stat64(nfs, f, &st));
    CHECK("LOOKUP+READ open existing", nfs_open(nfs, f, O_RDONLY, &fh));
    if (fh) { char b[16]; int r = nfs_read(nfs, fh, sizeof b, b);
              ASSERT("READ existing", r >= 0, "read: %s", nfs_get_error(nfs)); nfs_close(nfs, fh); fh = NULL; }
    EXPECT_ERR("CREATE", nfs_creat(nfs, n, 0644, &fh), EROFS);
    EXPECT_ERR("MKDIR", nfs_mkdir(nfs, n), EROFS);
    EXPECT_ERR("SYMLINK", nfs_symlink(nfs, "x", n), EROFS);
    EXPECT_ERR("MKNOD", nfs_mknod(nfs, n, S_IFIFO | 0644, 0), EROFS);
    EXPECT_ERR("SETATTR chmod", nfs_chmod(nfs, f, 0600), EROFS);
    EXPECT_ERR("SETATTR truncate", nfs_truncate(nfs, f, 0), EROFS);
    EXPECT_ERR("RENAME", nfs_rename(nfs, f, n), EROFS);
    EXPECT_ERR("LINK", nfs_link(nfs, f, n), EROFS);
    EXPECT_ERR("REMOVE", nfs_unlink(nfs, f), EROFS);
    CHECK("GETATTR existing file still there", nfs_stat64(nfs, f, &st));
    EXPECT_ERR("GETATTR nothing created", nfs_stat64(nfs, n, &st), ENOENT);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: nfs3-driver full URL | rofs URL FILE | readdir URL DIR N\n");
        return 2;
    }
    const char *mode = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0);
    nfs = nfs_init_context();
    if (!nfs) { fprintf(stderr, "nfs_init_context failed\n"); return 2; }
    nfs_set_timeout(nfs, 30000);
    struct nfs_url *url = nfs_parse_url_dir(nfs, argv[2]);
    if (!url) { fprintf(stderr, "bad URL %s: %s\n", argv[2], nfs_get_error(nfs)); return 2; }
    if (nfs_mount(nfs, url->server, url->path) != 0) {   /* MNT, FSINFO, GETATTR of the root */
        fprintf(stderr, "mount %s:%s failed: %s\n", url->server, url->path, nfs_get_error(nfs));
        return 2;
    }
    ok("MNT + FSINFO mount %s", url->path);
    if (!strcmp(mode, "full")) full();
    else if (!strcmp(mode, "rofs") && argc > 3) rofs(argv[3]);
    else if (!strcmp(mode, "readdir") && argc > 4) readdir_pages(argv[3], atol(argv[4]));
    else { fprintf(stderr, "unknown mode %s\n", mode); return 2; }
    nfs_destroy_url(url);
    nfs_destroy_context(nfs);
    printf("%s: %d failure(s)\n", mode, failures);
    return failures ? 1 : 0;
}
