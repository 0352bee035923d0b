/*
 * wb-driver.c -- read-after-write across two NFS clients (libnfs, a third-party encoder).
 *
 * Janus answers an UNSTABLE WRITE before its data is copied into the file (write-behind,
 * runtime-mio/src/write_behind.rs). RFC 1813 still requires every request sent after that
 * reply to see the data. This driver checks it from a second, independent client: writer A
 * (its own libnfs context and TCP connection) writes a block with nfs_pwrite (UNSTABLE, no
 * COMMIT), and as soon as the reply is back reader B reads the same range and its size and
 * must see the new bytes. Then A overwrites the block and B must see the overwrite (order of
 * writes to one range). Unaligned offsets and lengths, large blocks (which Janus also starts
 * writing to disk at once) and small ones. At the end A commits (nfs_fsync) and closes.
 *
 * Usage:  wb-driver URL FILE ROUNDS
 *   URL   nfs://127.0.0.1/EXPORT?version=3&nfsport=N&mountport=M   (the export root)
 *   FILE  a file name to create in the export root
 *   Prints "ok ..." / "FAIL ..." lines and "wb: N failure(s)"; exit 0 only without failures,
 *   2 on usage / mount errors. The final content is BLOCK(i, 1) for round i at offset(i):
 *   the test checks the file on disk with the same formula.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <nfsc/libnfs.h>

static int failures;

static void fail(const char *what, int round)
{
    printf("FAIL %s (round %d)\n", what, round);
    failures++;
}

/* Round i writes len(i) bytes at offset(i); version v fills them with fill(i, v, k). */
static uint64_t offset_of(int i) { return (uint64_t)i * 300007u + 13u; }
static size_t len_of(int i) { return (i % 3 == 0) ? 1048576 - 5 : (i % 3 == 1) ? 262151 : 777; }
static unsigned char fill(int i, int v, size_t k) { return (unsigned char)((i * 31 + v * 101 + k * 7) % 251); }

static struct nfs_context *mount_ctx(const char *url_s, struct nfs_url **url)
{
    struct nfs_context *nfs = nfs_init_context();
    if (!nfs)
        return NULL;
    *url = nfs_parse_url_dir(nfs, url_s);
    if (!*url || nfs_mount(nfs, (*url)->server, (*url)->path)) {
        fprintf(stderr, "mount %s: %s\n", url_s, nfs_get_error(nfs));
        return NULL;
    }
    return nfs;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: wb-driver URL FILE ROUNDS\n");
        return 2;
    }
    const char *file = argv[2];
    int rounds = atoi(argv[3]);
    struct nfs_url *ua, *ub;
    struct nfs_context *a = mount_ctx(argv[1], &ua), *b = mount_ctx(argv[1], &ub);
    if (!a || !b || rounds < 1)
        return 2;
    char path[512];
    snprintf(path, sizeof path, "/%s", file);
    struct nfsfh *fa, *fb;
    if (nfs_open2(a, path, O_RDWR | O_CREAT | O_EXCL, 0644, &fa)) {
        fprintf(stderr, "create %s: %s\n", path, nfs_get_error(a));
        return 2;
    }
    if (nfs_open(b, path, O_RDONLY, &fb)) {
        fprintf(stderr, "open %s: %s\n", path, nfs_get_error(b));
        return 2;
    }
    unsigned char *buf = malloc(1048576), *got = malloc(1048576);
    if (!buf || !got)
        return 2;
    for (int i = 0; i < rounds; i++) {
        uint64_t off = offset_of(i);
        size_t len = len_of(i);
        for (int v = 0; v < 2; v++) {
            for (size_t k = 0; k < len; k++)
                buf[k] = fill(i, v, k);
            int n = nfs_pwrite(a, fa, off, len, buf);
            if (n != (int)len) {
                fail("pwrite", i);
                continue;
            }
            /* Right after A's reply: B must see the bytes and the size. */
            memset(got, 0xEE, len);
            int r = nfs_pread(b, fb, off, len, got);
            if (r != (int)len || memcmp(got, buf, len) != 0)
                fail(v == 0 ? "B reads A's write" : "B reads A's overwrite", i);
            struct nfs_stat_64 st;
            if (nfs_fstat64(b, fb, &st) || st.nfs_size < off + len)
                fail("B sees the size", i);
        }
    }
    if (nfs_fsync(a, fa))
        fail("commit", rounds);
    nfs_close(a, fa);
    nfs_close(b, fb);
    printf("%s wrote and re-read %d rounds\n", failures ? "FAIL" : "ok  ", rounds);
    printf("wb: %d failure(s)\n", failures);
    nfs_destroy_url(ua);
    nfs_destroy_url(ub);
    nfs_destroy_context(a);
    nfs_destroy_context(b);
    return failures ? 1 : 0;
}
