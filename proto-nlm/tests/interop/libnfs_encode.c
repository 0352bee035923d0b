/*
 * libnfs_encode.c -- dumps NLM v4 / NSM v1 messages as encoded by libnfs's rpcgen ZDR
 * functions (a third-party encoder), for the fixtures of
 * proto-nlm/src/wire/tests.rs::libnfs_encoded_messages_decode_and_reencode.
 *
 *   gcc -O1 -Wall -o /tmp/libnfs_encode proto-nlm/tests/interop/libnfs_encode.c \
 *       $(pkg-config --cflags --libs libnfs) && /tmp/libnfs_encode
 */
#define _GNU_SOURCE
#include <sys/time.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nlm.h>
#include <nfsc/libnfs-raw-nsm.h>
static char buf[4096];
static void dump(const char *name, ZDR *z) {
    printf("%s ", name);
    for (int i = 0; i < z->pos; i++) printf("%02x", (unsigned char)buf[i]);
    printf("\n");
}
#define ENC(name, fn, val) do { ZDR z; zdrmem_create(&z, buf, sizeof buf, ZDR_ENCODE); \
    if (!fn(&z, val)) { fprintf(stderr, "encode %s failed\n", name); return 1; } dump(name, &z); zdr_destroy(&z); } while (0)
int main(void) {
    char fh[] = {1,0,0,7,(char)0xde,(char)0xad,(char)0xbe,(char)0xef};
    char ck[] = {0,0,0,1};
    nlm4_lock l = { .caller_name = "nlm-client", .oh = "nlm-client:7", .svid = 7,
                    .l_offset = 4096, .l_len = 0 };
    l.fh.data.data_len = 8; l.fh.data.data_val = fh;
    NLM4_LOCKargs la = { .block = 1, .exclusive = 1, .lock = l, .reclaim = 0, .state = 3 };
    la.cookie.data.data_len = 4; la.cookie.data.data_val = ck;
    ENC("lock", zdr_NLM4_LOCKargs, &la);
    NLM4_TESTargs ta = { .exclusive = 0, .lock = l };
    ta.cookie.data.data_len = 4; ta.cookie.data.data_val = ck;
    ENC("test", zdr_NLM4_TESTargs, &ta);
    NLM4_CANCargs ca = { .block = 1, .exclusive = 1, .lock = l };
    ca.cookie.data.data_len = 4; ca.cookie.data.data_val = ck;
    ENC("cancel", zdr_NLM4_CANCargs, &ca);
    NLM4_UNLOCKargs ua = { .lock = l };
    ua.cookie.data.data_len = 4; ua.cookie.data.data_val = ck;
    ENC("unlock", zdr_NLM4_UNLOCKargs, &ua);
    NLM4_TESTres tr = {0};
    tr.cookie.data.data_len = 4; tr.cookie.data.data_val = ck;
    tr.reply.status = NLM4_DENIED;
    tr.reply.nlm4_testreply_u.lock.holder = (nlm4_holder){ .exclusive = 1, .svid = 1, .oh = "other:1",
                                                          .l_offset = 0, .l_len = 100 };
    ENC("testres", zdr_NLM4_TESTres, &tr);
    NLM4_GRANTEDres gr = { .status = NLM4_GRANTED };
    gr.cookie.data.data_len = 4; gr.cookie.data.data_val = ck;
    ENC("grantedres", zdr_NLM4_GRANTEDres, &gr);
    NSM1_MONargs ma = { .mon_id = { .mon_name = "janus", .my_id = { .my_name = "client", .my_prog = 100021,
                        .my_vers = 4, .my_proc = 16 } } };
    memcpy(ma.priv, "0123456789abcdef", 16);
    ENC("sm_mon", zdr_NSM1_MONargs, &ma);
    NSM1_NOTIFYargs na = { .mon_name = "client", .state = 5 };
    ENC("sm_notify", zdr_NSM1_NOTIFYargs, &na);
    NSM1_UNMONALLargs uaa = { .my_id = { .my_name = "client", .my_prog = 100021, .my_vers = 4, .my_proc = 16 } };
    ENC("sm_unmon_all", zdr_NSM1_UNMONALLargs, &uaa);
    return 0;
}
