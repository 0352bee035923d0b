/*
 * ganesha-noportmap.c -- LD_PRELOAD shim used only when the e2e tests are pointed at nfs-ganesha
 * (JANUS_E2E_TARGET=ganesha, to validate the tests themselves against a reference server).
 *
 * ganesha.nfsd 4.x registers NFS/MOUNT with the portmapper through libntirpc's svc_reg() and
 * refuses to start when none answers. Ganesha dispatches requests itself, so reporting success
 * without contacting a portmapper is harmless; clients use explicit ports (?nfsport=&mountport=).
 *
 * Build: gcc -shared -fPIC -O2 -o ganesha-noportmap.so ganesha-noportmap.c
 */
#include <stdbool.h>

bool svc_reg(void *xprt, unsigned long prog, unsigned long vers, void (*dispatch)(void *),
             const void *nconf)
{
    (void)xprt; (void)prog; (void)vers; (void)dispatch; (void)nconf;
    return true;
}

bool rpcb_unset(unsigned long prog, unsigned long vers, const void *nconf)
{
    (void)prog; (void)vers; (void)nconf;
    return true;
}
