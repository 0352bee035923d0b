#!/usr/bin/env python3
"""The SMB session of tests/pcaps/janus-smbprotocol.pcap: what smbclient does not send, for
the `janus replay` snapshot tests (tests/pcaps/make-smb-captures.sh runs it under tshark).

  smb_replay_session.py --port P --user U --password PW --share S --secret-share E

In order, each on its own TCP connection:
 1. an SMB1 NEGOTIATE offering "NT LM 0.12", "SMB 2.002" and "SMB 2.???" (raw socket; the
    server answers with an SMB2 NEGOTIATE response);
 2. smbprotocol, 3.1.1, signed, not encrypted: a related compound CREATE+WRITE+CLOSE, a
    related compound whose CREATE fails (the WRITE and CLOSE get its status), a directory
    with a CHANGE_NOTIFY that goes async (interim STATUS_PENDING) and completes when a file
    is created in it, a second CHANGE_NOTIFY cancelled with CANCEL, ECHO, LOGOFF;
 3. smbprotocol, 3.1.1, tree connect to the share E whose smb_encrypt is "required": from
    then on every message is in an SMB3 TRANSFORM (encrypted) frame;
 4. an SMB2 message cut short (an SMB2 header of 40 bytes; the server closes the
    connection).
Exits 1 on any failure.
"""
import argparse
import socket
import struct
import sys
import time
import uuid

from smbprotocol.change_notify import CompletionFilter, FileSystemWatcher
from smbprotocol.connection import Connection, Dialects
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.open import CreateDisposition, CreateOptions, DirectoryAccessMask, \
    FilePipePrinterAccessMask, ImpersonationLevel, Open, ShareAccess
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

IMP = ImpersonationLevel.Impersonation
RW = FilePipePrinterAccessMask.GENERIC_READ | FilePipePrinterAccessMask.GENERIC_WRITE
SHARE_ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE
FILE = CreateOptions.FILE_NON_DIRECTORY_FILE


def nbss(payload):
    return struct.pack(">I", len(payload)) + payload


def recv_frame(s):
    hdr = b""
    while len(hdr) < 4:
        chunk = s.recv(4 - len(hdr))
        if not chunk:
            return b""
        hdr += chunk
    n = struct.unpack(">I", hdr)[0] & 0xFFFFFF
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            break
        body += chunk
    return body


def smb1_negotiate(port):
    dialects = b"".join(b"\x02" + d + b"\x00" for d in (b"NT LM 0.12", b"SMB 2.002", b"SMB 2.???"))
    # SMB1 header (MS-CIFS 2.2.3.1): protocol, command NEGOTIATE, status, flags 0x18,
    # flags2 0xc853 (unicode, NT status, extended security, long names), pid 0xfeff.
    hdr = b"\xffSMB" + bytes([0x72]) + b"\x00" * 4 + bytes([0x18]) + struct.pack("<H", 0xC853)
    hdr += b"\x00" * 12 + struct.pack("<HHHH", 0, 0xFEFF, 0, 0)
    msg = hdr + b"\x00" + struct.pack("<H", len(dialects)) + dialects
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(nbss(msg))
        resp = recv_frame(s)
    assert resp[:4] == b"\xfeSMB", resp[:8]
    print(f"  SMB1 NEGOTIATE answered with SMB2 dialect 0x{struct.unpack('<H', resp[68:70])[0]:04x}")


def client(a, share):
    conn = Connection(uuid.uuid4(), "127.0.0.1", a.port, require_signing=True)
    conn.connect(dialect=Dialects.SMB_3_1_1, timeout=10)
    # smbprotocol encrypts every 3.x session unless told not to; only the share decides here.
    sess = Session(conn, a.user, a.password, require_encryption=False, auth_protocol="ntlm")
    sess.connect()
    tree = TreeConnect(sess, rf"\\127.0.0.1\{share}")
    tree.connect()
    return conn, sess, tree


def compounds(conn, sess, tree):
    f = Open(tree, "compound.txt")
    msgs = [
        f.create(IMP, RW, 0, 0, CreateDisposition.FILE_OVERWRITE_IF, FILE, send=False),
        f.write(b"written in one compound", 0, send=False),
        f.close(False, send=False),
    ]
    reqs = conn.send_compound([m[0] for m in msgs], sess.session_id, tree.tree_connect_id,
                              related=True)
    out = [m[1](r) for m, r in zip(msgs, reqs)]
    assert out[1] == len(b"written in one compound"), out
    h = Open(tree, "no-such-dir\\x.txt")
    msgs = [
        h.create(IMP, RW, 0, 0, CreateDisposition.FILE_OPEN, FILE, send=False),
        h.write(b"x", 0, send=False),
        h.close(False, send=False),
    ]
    reqs = conn.send_compound([m[0] for m in msgs], sess.session_id, tree.tree_connect_id,
                              related=True)
    statuses = []
    for m, r in zip(msgs, reqs):
        try:
            m[1](r)
            statuses.append(0)
        except SMBResponseException as e:
            statuses.append(e.status)
    assert statuses[0] != 0 and statuses[1:] == [statuses[0]] * 2, statuses
    print("  compounds: ok, failing chain " + " ".join(f"0x{s:08x}" for s in statuses))


def wait_pending(w):
    deadline = time.monotonic() + 10
    while w._request.async_id is None:
        assert time.monotonic() < deadline, "no interim STATUS_PENDING for CHANGE_NOTIFY"
        time.sleep(0.01)


def notify(tree):
    d = Open(tree, "watched")
    d.create(IMP, DirectoryAccessMask.FILE_LIST_DIRECTORY | DirectoryAccessMask.SYNCHRONIZE, 0,
             SHARE_ALL, CreateDisposition.FILE_OPEN_IF, CreateOptions.FILE_DIRECTORY_FILE)
    w = FileSystemWatcher(d)
    w.start(CompletionFilter.FILE_NOTIFY_CHANGE_FILE_NAME)
    wait_pending(w)
    f = Open(tree, "watched\\new.txt")
    f.create(IMP, RW, 0, 0, CreateDisposition.FILE_OVERWRITE_IF, FILE)
    f.close()
    names = [r["file_name"].get_value() for r in w.wait()]
    assert "new.txt" in names, names
    w2 = FileSystemWatcher(d)
    w2.start(CompletionFilter.FILE_NOTIFY_CHANGE_FILE_NAME)
    wait_pending(w2)
    w2.cancel()
    try:
        w2.wait()
    except SMBResponseException as e:
        print(f"  cancelled notify: 0x{e.status:08x}")
    d.close()
    print(f"  notify: {names}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--share", required=True)
    p.add_argument("--secret-share", required=True)
    a = p.parse_args()

    smb1_negotiate(a.port)

    conn, sess, tree = client(a, a.share)
    compounds(conn, sess, tree)
    notify(tree)
    conn.echo(sid=sess.session_id)
    tree.disconnect()
    sess.disconnect()
    conn.disconnect(True)

    conn, sess, tree = client(a, a.secret_share)
    assert tree.encrypt_data, "the secret share is not encrypted"
    f = Open(tree, "secret.txt")
    f.create(IMP, RW, 0, 0, CreateDisposition.FILE_OVERWRITE_IF, FILE)
    f.write(b"encrypted on the wire", 0)
    f.close()
    conn.disconnect(True)
    print("  encrypted tree: ok")

    with socket.create_connection(("127.0.0.1", a.port), timeout=10) as s:
        s.sendall(nbss(b"\xfeSMB" + struct.pack("<H", 64) + b"\x00" * 34))
        s.settimeout(5)
        try:
            print(f"  short header answered with {len(recv_frame(s))} bytes (connection closed)")
        except OSError as e:
            print(f"  short header: {e}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # noqa: BLE001 - the script's exit status is the test
        print(f"FAILED: {type(e).__name__}: {e}")
        sys.exit(1)
