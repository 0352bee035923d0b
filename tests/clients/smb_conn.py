#!/usr/bin/env python3
"""Drive an SMB2/3 server's connection layer with Python smbprotocol, step by step.

Used by tests/tests/e2e_smb_conn.rs against the loopback harness (tests/src/smb_harness.rs),
whose file service answers everything with STATUS_NOT_SUPPORTED. Prints one `key=value`
line per step; exits 1 on an unexpected failure, 0 otherwise.

  smb_conn.py --port P --dialect 311 [--password PW] [--encrypt] [--require-signing]
              [--auth ntlm|negotiate] [--expect-logon-failure] [--share NAME]
"""
import argparse
import sys
import uuid

from smbprotocol.connection import Connection, Dialects
from smbprotocol.exceptions import SMBAuthenticationError, SMBResponseException
from smbprotocol.open import CreateDisposition, CreateOptions, FilePipePrinterAccessMask, \
    ImpersonationLevel, Open, ShareAccess
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

DIALECTS = {
    "202": Dialects.SMB_2_0_2,
    "210": Dialects.SMB_2_1_0,
    "300": Dialects.SMB_3_0_0,
    "302": Dialects.SMB_3_0_2,
    "311": Dialects.SMB_3_1_1,
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dialect", default="311", choices=sorted(DIALECTS))
    p.add_argument("--user", default="alice")
    p.add_argument("--password", default="Secret-42")
    p.add_argument("--share", default="export")
    p.add_argument("--encrypt", action="store_true")
    p.add_argument("--require-signing", action="store_true")
    p.add_argument("--auth", default="negotiate", choices=["ntlm", "negotiate"])
    p.add_argument("--expect-logon-failure", action="store_true")
    a = p.parse_args()

    conn = Connection(uuid.uuid4(), "127.0.0.1", a.port, require_signing=a.require_signing)
    conn.connect(dialect=DIALECTS[a.dialect], timeout=10)
    print(f"negotiate=ok dialect=0x{conn.dialect:04x} cipher={conn.cipher_id} "
          f"server_signing_required={conn.require_signing}")
    sess = Session(conn, a.user, a.password, require_encryption=a.encrypt,
                   auth_protocol=a.auth)
    try:
        sess.connect()
    except (SMBAuthenticationError, SMBResponseException) as e:
        status = getattr(e, "status", None)
        print(f"session_setup=failed error={type(e).__name__} status={status} msg={e}")
        conn.disconnect()
        sys.exit(0 if a.expect_logon_failure else 1)
    if a.expect_logon_failure:
        print("session_setup=ok (unexpected)")
        sys.exit(1)
    print(f"session_setup=ok session_id=0x{sess.session_id:016x} "
          f"signing={sess.signing_required} encrypt={sess.encrypt_data}")

    tree = TreeConnect(sess, rf"\\127.0.0.1\{a.share}")
    tree.connect(require_secure_negotiate=True)
    print(f"tree_connect=ok share={a.share} tree_id={tree.tree_connect_id} "
          f"encrypt={tree.encrypt_data}")
    ipc = TreeConnect(sess, r"\\127.0.0.1\IPC$")
    ipc.connect(require_secure_negotiate=False)
    print(f"tree_connect_ipc=ok tree_id={ipc.tree_connect_id}")

    conn.echo(sid=sess.session_id, timeout=10)
    print("echo=ok")

    # The first file operation reaches the harness's upper layer: STATUS_NOT_SUPPORTED.
    f = Open(tree, "file.txt")
    try:
        f.create(ImpersonationLevel.Impersonation, FilePipePrinterAccessMask.GENERIC_READ,
                 0, ShareAccess.FILE_SHARE_READ, CreateDisposition.FILE_OPEN_IF,
                 CreateOptions.FILE_NON_DIRECTORY_FILE)
        print("create=ok (unexpected)")
        sys.exit(1)
    except SMBResponseException as e:
        print(f"create=status 0x{e.status:08x}")

    # A related compound CREATE + CLOSE: the CLOSE inherits the CREATE's error
    # (MS-SMB2 3.3.5.2.7.2).
    msgs = [
        f.create(ImpersonationLevel.Impersonation, FilePipePrinterAccessMask.GENERIC_READ, 0,
                 ShareAccess.FILE_SHARE_READ, CreateDisposition.FILE_OPEN_IF,
                 CreateOptions.FILE_NON_DIRECTORY_FILE, send=False),
        f.close(send=False),
    ]
    requests = conn.send_compound([m[0] for m in msgs], sess.session_id, tree.tree_connect_id,
                                  related=True)
    statuses = []
    for r in requests:
        try:
            conn.receive(r)
            statuses.append("0x00000000")
        except SMBResponseException as e:
            statuses.append(f"0x{e.status:08x}")
    print("compound=" + ",".join(statuses))

    ipc.disconnect()
    tree.disconnect()
    print("tree_disconnect=ok")
    sess.disconnect()
    print("logoff=ok")
    conn.disconnect()
    print("done=ok")


if __name__ == "__main__":
    main()
