#!/usr/bin/env python3
"""Bad input from an authenticated SMB2/3 client against a real `janus serve`, with Python
smbprotocol (the connection, session and tree of tests/clients/smb_files.py's Client).

Driven by tests/tests/e2e_smb_bad_input.rs, which copies a file with smbclient on another
connection after each check and watches the server's memory. Each check prints
`check=NAME ok ...` and raises (exit 1, with the traceback) on anything unexpected.

  smb_bad_input.py --port P --user U --password PW --share S CHECK [--wait SECONDS]

CHECK is one of:
  bad_signature   a signed session's request with a corrupted signature: STATUS_ACCESS_DENIED,
                  unsigned (MS-SMB2 3.3.5.2.4); the session keeps working
  unknown_ids     an unknown SessionId, TreeId or FileId: STATUS_USER_SESSION_DELETED,
                  STATUS_NETWORK_NAME_DELETED, STATUS_FILE_CLOSED (3.3.5.2.9, 3.3.5.2.11,
                  the FileId checks of each command); the connection keeps working
  compound_flood  many long related compound chains (CREATE, 60 READs, CLOSE) sent back to
                  back up to the credits granted: each chain answered in full
  logged_on_stays a logged-on session idle past the logon deadline (--wait) keeps working
"""
import argparse
import os
import sys
import time

from smbprotocol.exceptions import SMBResponseException
from smbprotocol.header import NtStatus
from smbprotocol.open import CreateDisposition, ImpersonationLevel, Open, ShareAccess

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smb_files import DIALECTS, FILE, RW, Client, expect_status  # noqa: E402

STATUS_FILE_CLOSED = 0xC0000128
STATUS_NETWORK_NAME_DELETED = 0xC00000C9
STATUS_USER_SESSION_DELETED = 0xC0000203


def check_bad_signature(a):
    # 2.1 signs with HMAC-SHA256, 3.0.2 with AES-CMAC, 3.1.1 with what it negotiates; the
    # share's encryption ("desired") seals 3.x tree requests instead of signing them, so a
    # CREATE carries a signature only on 2.1.
    for label, dialect in DIALECTS[1:]:
        if label != "3.0":
            bad_signature(a, label, dialect)
    print("check=bad_signature ok")


def bad_signature(a, label, dialect):
    c = Client(a, dialect=dialect, require_signing=True)
    conn, sid = c.conn, c.sess.session_id
    assert c.sess.signing_required, "the session signs"
    genuine = conn._generate_signature

    def corrupted(*args, **kw):
        sig = bytearray(genuine(*args, **kw))
        sig[0] ^= 0x5A
        return bytes(sig)

    conn._generate_signature = corrupted
    try:
        expect_status(NtStatus.STATUS_ACCESS_DENIED, lambda: conn.echo(sid=sid),
                      f"{label}: ECHO with a corrupted signature")
        if not c.tree.encrypt_data:
            f = Open(c.tree, "sig.txt")
            expect_status(NtStatus.STATUS_ACCESS_DENIED,
                          lambda: f.create(ImpersonationLevel.Impersonation, RW, 0, 0,
                                           CreateDisposition.FILE_OPEN_IF, FILE),
                          f"{label}: CREATE with a corrupted signature")
            # The refused CREATE did not run.
            assert not os.path.exists(os.path.join(a.share_dir, "sig.txt")), "refused CREATE ran"
    finally:
        conn._generate_signature = genuine
    # The session was not harmed: signed requests go on.
    f = c.open("sig.txt")
    f.write(b"signed after all", 0)
    assert f.read(0, 100) == b"signed after all"
    f.close()
    conn.echo(sid=sid)
    print(f"  {label}: signed ECHO/CREATE/WRITE/READ after the bad signatures: ok")
    c.close()


def check_unknown_ids(a):
    c = Client(a)
    conn, sid, tid = c.conn, c.sess.session_id, c.tree.tree_connect_id
    f = Open(c.tree, "ids.txt")
    msg, _ = f.create(ImpersonationLevel.Impersonation, RW, 0, 0,
                      CreateDisposition.FILE_OPEN_IF, FILE, send=False)
    # smbprotocol signs and routes by its own tables: send to ids it does not know with the
    # same message, to a session id no session has.
    bogus_sid = sid ^ 0x5A5A_0000_0000_0001
    req = conn.send(msg, sid=bogus_sid, tid=tid)
    expect_status(STATUS_USER_SESSION_DELETED, lambda: conn.receive(req),
                  "CREATE on an unknown SessionId")
    # A tree id nobody connected: smbprotocol refuses to send to a tree it does not know, so
    # the request goes out with tree id 0 patched to a bogus one through the tree table.
    c.sess.tree_connect_table[0xBEEF] = c.tree
    msg, _ = f.create(ImpersonationLevel.Impersonation, RW, 0, 0,
                      CreateDisposition.FILE_OPEN_IF, FILE, send=False)
    req = conn.send(msg, sid=sid, tid=0xBEEF)
    expect_status(STATUS_NETWORK_NAME_DELETED, lambda: conn.receive(req),
                  "CREATE on an unknown TreeId")
    del c.sess.tree_connect_table[0xBEEF]
    # A file id never opened (and one closed already).
    g = Open(c.tree, "never-opened.txt")
    g.file_id = bytes(range(16))
    expect_status(STATUS_FILE_CLOSED, lambda: g.read(0, 10), "READ of an unknown FileId")
    expect_status(STATUS_FILE_CLOSED, lambda: g.write(b"x", 0), "WRITE of an unknown FileId")
    # (smbprotocol's own close() takes STATUS_FILE_CLOSED for success: receive it here.)
    msg, _ = g.close(False, send=False)
    req = conn.send(msg, sid=sid, tid=tid)
    expect_status(STATUS_FILE_CLOSED, lambda: conn.receive(req), "CLOSE of an unknown FileId")
    h = c.open("ids.txt")
    closed_id = h.file_id
    h.close()
    g.file_id = closed_id
    expect_status(STATUS_FILE_CLOSED, lambda: g.read(0, 10), "READ of a closed FileId")
    # The connection, session and tree still work.
    h = c.open("ids.txt")
    h.write(b"still here", 0)
    assert h.read(0, 100) == b"still here"
    h.close()
    print("  the connection keeps working after the unknown ids")
    c.close()
    print("check=unknown_ids ok")


CHAIN_READS = 60


def check_compound_flood(a):
    c = Client(a)
    conn, sid, tid = c.conn, c.sess.session_id, c.tree.tree_connect_id
    f = c.open("flood.txt")
    f.write(b"flood" * 20, 0)
    f.close()
    # Ask for a large credit window, as a client about to pipeline would.
    conn.echo(sid=sid, credit_request=2048)
    chains, answered, t0 = 0, 0, time.time()
    total = 0
    while chains < a.chains:
        # As many chains as the window holds now, sent back to back, then their answers.
        window = conn.sequence_window["high"] - conn.sequence_window["low"]
        batch = []
        while chains < a.chains and window >= CHAIN_READS + 2:
            g = Open(c.tree, "flood.txt")
            msgs = [g.create(ImpersonationLevel.Impersonation, RW, 0,
                             ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE,
                             CreateDisposition.FILE_OPEN, FILE, send=False)]
            msgs += [g.read(i, 5, send=False) for i in range(CHAIN_READS)]
            msgs.append(g.close(False, send=False))
            reqs = conn.send_compound([m[0] for m in msgs], sid, tid, related=True)
            batch.append((msgs, reqs))
            window -= len(msgs)
            chains += 1
        assert batch, f"no credits for a chain: window {window}"
        for msgs, reqs in batch:
            out = [m[1](r) for m, r in zip(msgs, reqs)]
            reads = out[1:-1]
            assert all(r == (b"flood" * 20)[i:i + 5] for i, r in enumerate(reads)), reads[:3]
            answered += 1
            total += len(msgs)
    dt = time.time() - t0
    print(f"  {answered} chains of {CHAIN_READS + 2} related requests ({total} requests) "
          f"answered in {dt:.1f} s")
    # Still a working connection.
    conn.echo(sid=sid)
    c.close()
    print("check=compound_flood ok")


def check_logged_on_stays(a):
    c = Client(a)
    time.sleep(a.wait)
    c.conn.echo(sid=c.sess.session_id)
    f = c.open("stays.txt")
    f.write(b"after the logon deadline", 0)
    assert f.read(0, 100) == b"after the logon deadline"
    f.close()
    print(f"  logged on, idle {a.wait} s past the deadline: ECHO, CREATE, WRITE, READ ok")
    c.close()
    print("check=logged_on_stays ok")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--share", required=True)
    p.add_argument("--share-dir", dest="share_dir", default="")
    p.add_argument("--wait", type=float, default=0.0)
    p.add_argument("--chains", type=int, default=200)
    p.add_argument("check", choices=["bad_signature", "unknown_ids", "compound_flood",
                                     "logged_on_stays"])
    a = p.parse_args()
    globals()["check_" + a.check](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
