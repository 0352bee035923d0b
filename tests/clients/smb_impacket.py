#!/usr/bin/env python3
"""Log in, connect a tree, list it, disconnect and log off with impacket's SMBConnection.

Used by tests/tests/e2e_smb_conn.rs against the loopback harness. Prints key=value lines.

  smb_impacket.py --port P --dialect 202|210|300|311 [--password PW]
"""
import argparse
import sys

from impacket import smb3structs
from impacket.smbconnection import SMBConnection, SessionError

DIALECTS = {
    "202": smb3structs.SMB2_DIALECT_002,
    "210": smb3structs.SMB2_DIALECT_21,
    "300": smb3structs.SMB2_DIALECT_30,
    "311": smb3structs.SMB2_DIALECT_311,
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dialect", default="311", choices=sorted(DIALECTS))
    p.add_argument("--user", default="alice")
    p.add_argument("--password", default="Secret-42")
    a = p.parse_args()
    conn = SMBConnection("127.0.0.1", "127.0.0.1", sess_port=a.port,
                         preferredDialect=DIALECTS[a.dialect], timeout=10)
    print(f"negotiate=ok dialect=0x{conn.getDialect():04x}")
    try:
        conn.login(a.user, a.password)
    except SessionError as e:
        print(f"login=failed status=0x{e.getErrorCode():08x}")
        return
    print("login=ok")
    tid = conn.connectTree("export")
    print(f"tree_connect=ok tid={tid}")
    try:
        conn.listPath("export", "*")
        print("list=ok (unexpected)")
    except SessionError as e:
        print(f"list=status 0x{e.getErrorCode():08x}")
    conn.disconnectTree(tid)
    print("tree_disconnect=ok")
    conn.logoff()
    print("logoff=ok")


if __name__ == "__main__":
    sys.exit(main())
