#!/usr/bin/env python3
"""File-level SMB2/3 checks against a real `janus serve`, with Python smbprotocol.

Driven by tests/tests/e2e_smb_py.rs. Each check prints `check=NAME ok ...` lines and raises
(exit 1, with the traceback) on anything unexpected.

  smb_files.py --port P --user U --password PW --share S CHECK [--nfs-url URL --src FILE]

CHECK is one of: sharemode, delete_on_close, compound, notify_nfs, dialects, signing, ciphers.
"""
import argparse
import os
import subprocess
import sys
import time
import uuid

from smbprotocol.change_notify import CompletionFilter, FileSystemWatcher
from smbprotocol.connection import Ciphers, Connection, Dialects
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.file_info import FileDispositionInformation, FileInformationClass, InfoType
from smbprotocol.header import NtStatus
from smbprotocol.open import CreateDisposition, CreateOptions, DirectoryAccessMask, \
    FilePipePrinterAccessMask, ImpersonationLevel, Open, ShareAccess, SMB2SetInfoRequest, \
    SMB2SetInfoResponse
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

DIALECTS = [
    ("2.0.2", Dialects.SMB_2_0_2),
    ("2.1", Dialects.SMB_2_1_0),
    ("3.0", Dialects.SMB_3_0_0),
    ("3.0.2", Dialects.SMB_3_0_2),
    ("3.1.1", Dialects.SMB_3_1_1),
]

RW = FilePipePrinterAccessMask.GENERIC_READ | FilePipePrinterAccessMask.GENERIC_WRITE
FILE = CreateOptions.FILE_NON_DIRECTORY_FILE


class Client:
    """One connection, one session, one tree connect to the share."""

    def __init__(self, a, dialect=Dialects.SMB_3_1_1, require_signing=False, encrypt=False,
                 ciphers=None):
        self.conn = Connection(uuid.uuid4(), "127.0.0.1", a.port, require_signing=require_signing)
        kw = {}
        if ciphers is not None:
            kw["preferred_encryption_algos"] = ciphers
        self.conn.connect(dialect=dialect, timeout=10, **kw)
        self.sess = Session(self.conn, a.user, a.password, require_encryption=encrypt,
                            auth_protocol="ntlm")
        self.sess.connect()
        self.tree = TreeConnect(self.sess, rf"\\127.0.0.1\{a.share}")
        self.tree.connect()

    def open(self, name, access=RW, share=0, disposition=CreateDisposition.FILE_OPEN_IF,
             options=FILE):
        f = Open(self.tree, name)
        f.create(ImpersonationLevel.Impersonation, access, 0, share, disposition, options)
        return f

    def close(self):
        self.conn.disconnect(True)


def expect_status(status, fn, what):
    try:
        fn()
    except SMBResponseException as e:
        if e.status != status:
            raise AssertionError(f"{what}: status 0x{e.status:08x}, expected 0x{status:08x}")
        print(f"  {what}: 0x{e.status:08x} as expected")
        return
    raise AssertionError(f"{what}: succeeded, expected 0x{status:08x}")


def check_sharemode(a):
    c1, c2 = Client(a), Client(a)
    # First client reads and writes, sharing nothing.
    f1 = c1.open("sm.txt", share=0, disposition=CreateDisposition.FILE_OVERWRITE_IF)
    f1.write(b"first", 0)
    expect_status(NtStatus.STATUS_SHARING_VIOLATION,
                  lambda: c2.open("sm.txt", access=FilePipePrinterAccessMask.GENERIC_READ,
                                  share=ShareAccess.FILE_SHARE_READ
                                  | ShareAccess.FILE_SHARE_WRITE),
                  "second open while the first shares nothing")
    f1.close()
    # First client reads, sharing read: a second reader sharing read is allowed, a writer
    # is not.
    f1 = c1.open("sm.txt", access=FilePipePrinterAccessMask.GENERIC_READ,
                 share=ShareAccess.FILE_SHARE_READ)
    f2 = c2.open("sm.txt", access=FilePipePrinterAccessMask.GENERIC_READ,
                 share=ShareAccess.FILE_SHARE_READ)
    assert f2.read(0, 5) == b"first"
    print("  second reader with FILE_SHARE_READ: allowed")
    expect_status(NtStatus.STATUS_SHARING_VIOLATION,
                  lambda: c2.open("sm.txt", access=RW, share=ShareAccess.FILE_SHARE_READ),
                  "writer while the others share only read")
    f2.close()
    f1.close()
    # Every open is closed: a writer sharing nothing is allowed again.
    c2.open("sm.txt", share=0).close()
    c1.close()
    c2.close()
    print("check=sharemode ok")


def set_delete_pending(c, f):
    req = SMB2SetInfoRequest()
    req["info_type"] = InfoType.SMB2_0_INFO_FILE
    req["file_info_class"] = FileInformationClass.FILE_DISPOSITION_INFORMATION
    req["file_id"] = f.file_id
    info = FileDispositionInformation()
    info["delete_pending"] = True
    req["buffer"] = info
    r = c.conn.send(req, sid=c.sess.session_id, tid=c.tree.tree_connect_id)
    resp = c.conn.receive(r)
    SMB2SetInfoResponse().unpack(resp["data"].get_value())


def check_delete_on_close(a):
    c1, c2 = Client(a), Client(a)
    all_share = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE \
        | ShareAccess.FILE_SHARE_DELETE
    acc = RW | FilePipePrinterAccessMask.DELETE
    # FILE_DELETE_ON_CLOSE at create: the file exists while open, is gone after close.
    f = c1.open("doc.txt", access=acc, share=all_share,
                disposition=CreateDisposition.FILE_OVERWRITE_IF,
                options=FILE | CreateOptions.FILE_DELETE_ON_CLOSE)
    f.write(b"short-lived", 0)
    if a.share_dir:
        assert os.path.exists(os.path.join(a.share_dir, "doc.txt")), "doc.txt not on disk while open"
        print("  doc.txt on disk while open")
    f.close()
    expect_status(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND,
                  lambda: c2.open("doc.txt", access=FilePipePrinterAccessMask.GENERIC_READ,
                                  share=all_share, disposition=CreateDisposition.FILE_OPEN),
                  "open after the delete-on-close handle closed")
    # Disposition set on an open handle: the file is delete-pending; another open meanwhile
    # gets STATUS_DELETE_PENDING; after the last close it is gone.
    f = c1.open("dp.txt", access=acc, share=all_share,
                disposition=CreateDisposition.FILE_OVERWRITE_IF)
    f.write(b"pending", 0)
    set_delete_pending(c1, f)
    expect_status(NtStatus.STATUS_DELETE_PENDING,
                  lambda: c2.open("dp.txt", access=FilePipePrinterAccessMask.GENERIC_READ,
                                  share=all_share, disposition=CreateDisposition.FILE_OPEN),
                  "open while delete is pending")
    f.close()
    expect_status(NtStatus.STATUS_OBJECT_NAME_NOT_FOUND,
                  lambda: c2.open("dp.txt", access=FilePipePrinterAccessMask.GENERIC_READ,
                                  share=all_share, disposition=CreateDisposition.FILE_OPEN),
                  "open after the delete-pending handle closed")
    c1.close()
    c2.close()
    print("check=delete_on_close ok")


def check_compound(a):
    c = Client(a)
    f = Open(c.tree, "compound.txt")
    msgs = [
        f.create(ImpersonationLevel.Impersonation, RW, 0, 0,
                 CreateDisposition.FILE_OVERWRITE_IF, FILE, send=False),
        f.write(b"written in one compound", 0, send=False),
        f.close(False, send=False),
    ]
    reqs = c.conn.send_compound([m[0] for m in msgs], c.sess.session_id,
                                c.tree.tree_connect_id, related=True)
    out = [m[1](r) for m, r in zip(msgs, reqs)]
    assert out[1] == len(b"written in one compound"), out
    print(f"  create+write+close related: wrote {out[1]} bytes in one request")
    # Read it back with a second related compound: create+read+close.
    g = Open(c.tree, "compound.txt")
    msgs = [
        g.create(ImpersonationLevel.Impersonation, FilePipePrinterAccessMask.GENERIC_READ, 0,
                 ShareAccess.FILE_SHARE_READ, CreateDisposition.FILE_OPEN, FILE, send=False),
        g.read(0, 100, send=False),
        g.close(False, send=False),
    ]
    reqs = c.conn.send_compound([m[0] for m in msgs], c.sess.session_id,
                                c.tree.tree_connect_id, related=True)
    out = [m[1](r) for m, r in zip(msgs, reqs)]
    assert out[1] == b"written in one compound", out
    # A related chain whose CREATE fails: the WRITE and CLOSE after it fail too
    # (MS-SMB2 3.3.5.2.7.2), with the create's status.
    h = Open(c.tree, "no-such-dir\\x.txt")
    msgs = [
        h.create(ImpersonationLevel.Impersonation, RW, 0, 0, CreateDisposition.FILE_OPEN,
                 FILE, send=False),
        h.write(b"x", 0, send=False),
        h.close(False, send=False),
    ]
    reqs = c.conn.send_compound([m[0] for m in msgs], c.sess.session_id,
                                c.tree.tree_connect_id, related=True)
    statuses = []
    for m, r in zip(msgs, reqs):
        try:
            m[1](r)
            statuses.append(0)
        except SMBResponseException as e:
            statuses.append(e.status)
    print("  failing chain statuses: " + " ".join(f"0x{s:08x}" for s in statuses))
    assert statuses[0] in (NtStatus.STATUS_OBJECT_PATH_NOT_FOUND,
                           NtStatus.STATUS_OBJECT_NAME_NOT_FOUND), statuses
    assert statuses[1] == statuses[0] and statuses[2] == statuses[0], statuses
    c.close()
    print("check=compound ok")


def check_notify_nfs(a):
    c = Client(a)
    d = Open(c.tree, "watched")
    d.create(ImpersonationLevel.Impersonation,
             DirectoryAccessMask.FILE_LIST_DIRECTORY | DirectoryAccessMask.SYNCHRONIZE,
             0, ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE
             | ShareAccess.FILE_SHARE_DELETE,
             CreateDisposition.FILE_OPEN, CreateOptions.FILE_DIRECTORY_FILE)
    w = FileSystemWatcher(d)
    w.start(CompletionFilter.FILE_NOTIFY_CHANGE_FILE_NAME)
    # Wait for the server's interim STATUS_PENDING (smbprotocol records its async id): the
    # watch is then registered, so the NFS change below cannot come before it.
    deadline = time.monotonic() + 10
    while w._request.async_id is None:
        assert time.monotonic() < deadline, "no interim STATUS_PENDING for CHANGE_NOTIFY"
        assert w._t_on_response.is_alive(), f"CHANGE_NOTIFY completed early: {w._t_exc}"
        time.sleep(0.01)
    print("  CHANGE_NOTIFY pending (interim response received)")
    # Now an NFS client creates a file in the directory.
    out = subprocess.run(["nfs-cp", a.src, a.nfs_url], capture_output=True, timeout=30)
    assert out.returncode == 0, out
    print("  nfs-cp into the watched directory: done")
    # wait() blocks until the response arrives (the Rust side bounds the whole run).
    result = w.wait()
    names = [(r["action"].get_value(), r["file_name"].get_value()) for r in result]
    print(f"  notify: {names}")
    assert any(n.endswith("from-nfs.bin") for _, n in names), names
    d.close()
    c.close()
    print("check=notify_nfs ok")


def roundtrip(c, name, data):
    f = c.open(name, disposition=CreateDisposition.FILE_OVERWRITE_IF)
    f.write(data, 0)
    f.close()
    f = c.open(name, access=FilePipePrinterAccessMask.GENERIC_READ,
               share=ShareAccess.FILE_SHARE_READ, disposition=CreateDisposition.FILE_OPEN)
    back = f.read(0, len(data))
    f.close()
    assert back == data, f"{name}: read back {len(back)} bytes, differ"


def check_dialects(a):
    for label, dialect in DIALECTS:
        c = Client(a, dialect=dialect)
        assert c.conn.dialect == dialect, (label, hex(c.conn.dialect))
        roundtrip(c, f"dialect-{label}.bin", bytes(range(256)) * 200)  # 51,200 bytes: 2.0.2 has no large MTU (64 KiB max)
        print(f"  dialect {label}: negotiated 0x{c.conn.dialect:04x}, write+read ok")
        c.close()
    print("check=dialects ok")


def check_signing(a):
    for label, dialect in DIALECTS:
        c = Client(a, dialect=dialect, require_signing=True)
        assert c.sess.signing_required, label
        assert not c.sess.encrypt_data, label
        roundtrip(c, f"signed-{label}.bin", b"signed" * 1000)
        print(f"  dialect {label}: signing required, session signed, write+read ok")
        c.close()
    print("check=signing ok")


def check_ciphers(a):
    for name, cid in [("AES-128-CCM", Ciphers.AES_128_CCM), ("AES-128-GCM", Ciphers.AES_128_GCM),
                      ("AES-256-CCM", Ciphers.AES_256_CCM), ("AES-256-GCM", Ciphers.AES_256_GCM)]:
        c = Client(a, dialect=Dialects.SMB_3_1_1, encrypt=True, ciphers=[cid])
        assert c.conn.cipher_id == cid, (name, c.conn.cipher_id)
        assert c.sess.encrypt_data, name
        roundtrip(c, f"enc-{name}.bin", b"encrypted" * 5000)
        print(f"  3.1.1 {name}: negotiated cipher {c.conn.cipher_id}, encrypted write+read ok")
        c.close()
    # 3.0 and 3.0.2 have no negotiate contexts: AES-128-CCM is the cipher.
    for label, dialect in DIALECTS[2:4]:
        c = Client(a, dialect=dialect, encrypt=True)
        assert c.sess.encrypt_data, label
        roundtrip(c, f"enc-{label}.bin", b"encrypted" * 5000)
        print(f"  {label} encrypted (AES-128-CCM): write+read ok")
        c.close()
    print("check=ciphers ok")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--share", required=True)
    p.add_argument("--share-dir", dest="share_dir", default="")
    p.add_argument("--nfs-url", dest="nfs_url")
    p.add_argument("--src")
    p.add_argument("check", choices=["sharemode", "delete_on_close", "compound", "notify_nfs",
                                     "dialects", "signing", "ciphers"])
    a = p.parse_args()
    globals()["check_" + a.check](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
