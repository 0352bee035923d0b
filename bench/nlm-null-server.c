/*
 * nlm-null-server.c -- the ceiling of bench/nlm-bench.c on this machine: a server that does
 * no work at all. It accepts TCP connections on 127.0.0.1:PORT, one blocking thread per
 * connection, and answers every ONC RPC call with "accepted, SUCCESS", the call's cookie
 * (the first argument of every NLM v4 procedure) and NLM4_GRANTED; NULL gets an empty
 * reply. No lock table, no journal, no event loop: what remains is the client, libnfs and
 * the kernel's loopback TCP and scheduler. A real server cannot beat this figure, so it
 * bounds what any "N times ganesha" target can mean on the machine.
 *
 * usage: nlm-null-server PORT        (measurement only; stops when killed)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_RECORD 65536

static int read_full(int fd, uint8_t *b, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    uint8_t in[MAX_RECORD], out[MAX_RECORD];
    for (;;) {
        uint8_t m[4];
        if (read_full(fd, m, 4))
            break;
        uint32_t len = be32(m) & 0x7fffffff;
        if (!(be32(m) & 0x80000000) || len < 40 || len > MAX_RECORD || read_full(fd, in, len))
            break; /* single-fragment calls only */
        uint32_t proc = be32(in + 20);
        size_t off = 24;
        for (int i = 0; i < 2; i++) { /* credential, verifier */
            if (off + 8 > len) goto done;
            off += 8 + ((be32(in + off + 4) + 3) & ~3u);
        }
        size_t o = 4;
        memcpy(out + o, in, 4); /* xid */
        put32(out + o + 4, 1);  /* REPLY */
        put32(out + o + 8, 0);  /* MSG_ACCEPTED */
        put32(out + o + 12, 0); /* verifier AUTH_NONE */
        put32(out + o + 16, 0);
        put32(out + o + 20, 0); /* SUCCESS */
        o += 24;
        if (proc != 0) {
            if (off + 4 > len) goto done;
            uint32_t clen = be32(in + off);
            size_t padded = (clen + 3) & ~3u;
            if (clen > 1024 || off + 4 + padded > len) goto done;
            memcpy(out + o, in + off, 4 + padded); /* cookie */
            o += 4 + padded;
            put32(out + o, 0); /* NLM4_GRANTED */
            o += 4;
        }
        put32(out, 0x80000000u | (uint32_t)(o - 4));
        if (write(fd, out, o) != (ssize_t)o)
            break;
    }
done:
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: nlm-null-server PORT\n");
        return 2;
    }
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&sa, sizeof sa) || listen(s, 128)) {
        perror("nlm-null-server: bind/listen");
        return 1;
    }
    for (;;) {
        int fd = accept(s, NULL, NULL);
        if (fd < 0)
            continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        if (pthread_create(&t, NULL, serve, (void *)(intptr_t)fd) == 0)
            pthread_detach(t);
        else
            close(fd);
    }
}
