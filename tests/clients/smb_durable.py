#!/usr/bin/env python3
"""Durable handles against a real `janus serve`, with Python smbprotocol (MS-SMB2 §3.3.5.9.10,
§3.3.5.9.12). Driven by tests/tests/e2e_smb_durable.rs. Each check prints `check=NAME ok` and
raises (exit 1, with the traceback) on anything unexpected.

  smb_durable.py --port P --user U --password PW --share S [--state FILE] CHECK

CHECK is one of:
  tcpkill        a durable v2 handle (Batch oplock) survives the death of its TCP connection:
                 a reconnect while its connection lives, or with another CreateGuid, is
                 refused (STATUS_OBJECT_NAME_NOT_FOUND), the right one gets the same FileId,
                 the Batch oplock and the data back; after CLOSE nothing is reconnectable;
  crash_prepare  opens two durable handles (crash.txt, orphan.txt) with Batch oplocks and a
                 third (locked.txt) with an RH lease, sharing read and write, that takes an
                 exclusive byte-range lock of bytes 0-9; writes, saves what a reconnect needs
                 in --state, and exits without closing them (the test then kills Janus with
                 SIGKILL and starts it again);
  crash_reclaim  after the restart, in grace: a second client's open of orphan.txt (never
                 reclaimed) waits (STATUS_PENDING); crash.txt is reclaimed with DH2C (a wrong
                 CreateGuid first: refused) and its data read through the reclaimed handle; the
                 second client's open completes only once grace ends; orphan.txt can no longer
                 be reconnected. locked.txt: another client's open waits while the durable
                 open and its lock are unreclaimed and completes once they are reclaimed
                 (with the lease key); its LOCK of bytes 0-9 is then refused (the lock came
                 back) until the reclaimed handle unlocks.
"""
import argparse
import json
import os
import time
import uuid

from collections import OrderedDict

from smbprotocol.connection import Connection, Dialects, Request
import struct

from smbprotocol.create_contexts import CreateContextName, SMB2CreateContextRequest, \
    SMB2CreateDurableHandleReconnectV2, SMB2CreateDurableHandleRequestV2, \
    SMB2CreateDurableHandleResponseV2, SMB2CreateRequestLeaseV2, SMB2CreateResponseLeaseV2
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.header import Commands, NtStatus, SMB2HeaderRequest
from smbprotocol.open import CreateDisposition, CreateOptions, FilePipePrinterAccessMask, \
    ImpersonationLevel, LockFlags, Open, RequestedOplockLevel, ShareAccess, SMB2LockElement
from smbprotocol.session import Session
from smbprotocol.structure import BytesField, IntField, Structure
from smbprotocol.tree import TreeConnect

RW = FilePipePrinterAccessMask.GENERIC_READ | FilePipePrinterAccessMask.GENERIC_WRITE
FILE = CreateOptions.FILE_NON_DIRECTORY_FILE
BATCH = RequestedOplockLevel.SMB2_OPLOCK_LEVEL_BATCH
NOT_FOUND = NtStatus.STATUS_OBJECT_NAME_NOT_FOUND
LEASE = RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE
LEASE_RH = 0x1 | 0x2
SHARE_RW = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE
LOCK_NOT_GRANTED = 0xC0000055
X_NOW = LockFlags.SMB2_LOCKFLAG_EXCLUSIVE_LOCK | LockFlags.SMB2_LOCKFLAG_FAIL_IMMEDIATELY


class Client:
    """One connection (ClientGuid `guid`), one session, one tree connect."""

    def __init__(self, a, guid):
        self.conn = Connection(guid, "127.0.0.1", a.port)
        self.conn.connect(dialect=Dialects.SMB_3_0_2, timeout=10)
        self.sess = Session(self.conn, a.user, a.password, auth_protocol="ntlm")
        self.sess.connect()
        self.tree = TreeConnect(self.sess, rf"\\127.0.0.1\{a.share}")
        self.tree.connect()

    def kill_tcp(self):
        """The TCP connection dies: no LOGOFF, no TREE_DISCONNECT, no CLOSE."""
        self.conn.disconnect(close=False)


def context(name, data):
    c = SMB2CreateContextRequest()
    c["buffer_name"] = name
    c["buffer_data"] = data
    return c


def durable_open(c, name, create_guid, share=0):
    """A new open with a Batch oplock and DH2Q; returns it and the DH2Q response."""
    dh = SMB2CreateDurableHandleRequestV2()
    dh["timeout"] = 0
    dh["create_guid"] = create_guid
    f = Open(c.tree, name)
    out = f.create(ImpersonationLevel.Impersonation, RW, 0, share,
                   CreateDisposition.FILE_OVERWRITE_IF, FILE,
                   create_contexts=[context(
                       CreateContextName.SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2, dh)],
                   oplock_level=BATCH)
    resp = [x for x in (out or []) if isinstance(x, SMB2CreateDurableHandleResponseV2)]
    assert f.oplock_level == BATCH, f"oplock {f.oplock_level:#x}"
    assert resp, f"no durable v2 response context in {out!r}"
    assert resp[0]["timeout"].get_value() == 60000, resp[0]["timeout"].get_value()
    assert resp[0]["flags"].get_value() == 0, "persistent is never granted"
    return f, resp[0]


UNSOLICITED = 0xFFFFFFFFFFFFFFFF


class BreakCatcher:
    """Receives the unsolicited OPLOCK_BREAK messages of one connection (smbprotocol 1.17
    has no lease-break support: without a request registered under MessageId all ones its
    receive thread dies on one)."""

    def __init__(self, conn):
        hdr = SMB2HeaderRequest()
        hdr["message_id"] = UNSOLICITED
        self.req = Request(hdr, None, conn)
        conn.outstanding_requests[UNSOLICITED] = self.req

    def wait(self, timeout):
        """The next lease break notification's (flags, key, current, new), or None."""
        if not self.req.response_event.wait(timeout):
            return None
        with self.req.response_event_lock:
            body = self.req.response["data"].get_value()
            self.req.response_event.clear()
        size, _epoch, flags = struct.unpack_from("<HHI", body, 0)
        assert size == 44, f"not a lease break notification: StructureSize {size}"
        current, new = struct.unpack_from("<II", body, 24)
        return flags, body[8:24], current, new


class LeaseBreakAck(Structure):
    """MS-SMB2 2.2.24.2 Lease Break Acknowledgment."""

    COMMAND = Commands.SMB2_OPLOCK_BREAK

    def __init__(self):
        self.fields = OrderedDict([
            ("structure_size", IntField(size=2, default=36)),
            ("reserved", IntField(size=2)),
            ("flags", IntField(size=4)),
            ("lease_key", BytesField(size=16)),
            ("lease_state", IntField(size=4)),
            ("lease_duration", IntField(size=8)),
        ])
        super().__init__()


def lease_context(key):
    lease = SMB2CreateRequestLeaseV2()
    lease["lease_key"] = key
    lease["lease_state"] = LEASE_RH
    lease["parent_lease_key"] = b"\0" * 16
    lease["epoch"] = struct.pack("<H", 0)
    return context(CreateContextName.SMB2_CREATE_REQUEST_LEASE, lease)


def durable_leased_open(c, name, create_guid, key):
    """A new open with an RH lease (H: durability allowed) and DH2Q, sharing read and write."""
    dh = SMB2CreateDurableHandleRequestV2()
    dh["timeout"] = 0
    dh["create_guid"] = create_guid
    f = Open(c.tree, name)
    out = f.create(ImpersonationLevel.Impersonation, RW, 0, SHARE_RW,
                   CreateDisposition.FILE_OVERWRITE_IF, FILE,
                   create_contexts=[lease_context(key), context(
                       CreateContextName.SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2, dh)],
                   oplock_level=LEASE)
    assert f.oplock_level == LEASE, f"oplock {f.oplock_level:#x}"
    leases = [x for x in (out or []) if isinstance(x, SMB2CreateResponseLeaseV2)]
    assert leases and leases[0]["lease_state"].get_value() == LEASE_RH, f"lease {out!r}"
    assert [x for x in out if isinstance(x, SMB2CreateDurableHandleResponseV2)], "not durable"
    return f


def lock_element(offset, length, flags):
    e = SMB2LockElement()
    e["offset"] = offset
    e["length"] = length
    e["flags"] = flags
    return e


def reconnect_leased(c, name, file_id, create_guid, key):
    """DH2C of a leased durable open: the lease context names its key (§3.3.5.9.12)."""
    dh = SMB2CreateDurableHandleReconnectV2()
    dh["file_id"] = file_id
    dh["create_guid"] = create_guid
    f = Open(c.tree, name)
    f.create(ImpersonationLevel.Impersonation, RW, 0, SHARE_RW, CreateDisposition.FILE_OPEN,
             FILE, create_contexts=[lease_context(key), context(
                 CreateContextName.SMB2_CREATE_DURABLE_HANDLE_RECONNECT_V2, dh)],
             oplock_level=LEASE)
    return f


def reconnect(c, name, file_id, create_guid):
    """DH2C for `file_id`; returns the reconnected open."""
    dh = SMB2CreateDurableHandleReconnectV2()
    dh["file_id"] = file_id
    dh["create_guid"] = create_guid
    f = Open(c.tree, name)
    f.create(ImpersonationLevel.Impersonation, RW, 0, 0, CreateDisposition.FILE_OPEN, FILE,
             create_contexts=[context(
                 CreateContextName.SMB2_CREATE_DURABLE_HANDLE_RECONNECT_V2, dh)],
             oplock_level=BATCH)
    return f


def expect_status(status, fn, what):
    try:
        fn()
    except SMBResponseException as e:
        if e.status != status:
            raise AssertionError(f"{what}: status 0x{e.status:08x}, expected 0x{status:08x}")
        print(f"  {what}: 0x{e.status:08x} as expected")
        return
    raise AssertionError(f"{what}: succeeded, expected 0x{status:08x}")


def check_tcpkill(a):
    guid, cg = uuid.uuid4(), uuid.uuid4()
    c = Client(a, guid)
    f, _ = durable_open(c, "tcpkill.txt", cg)
    f.write(b"durable data", 0)
    fid = f.file_id
    other = Client(a, guid)
    expect_status(NOT_FOUND, lambda: reconnect(other, "tcpkill.txt", fid, cg),
                  "reconnect while the handle's connection is alive")
    c.kill_tcp()
    print("  TCP connection killed with the durable handle open")
    time.sleep(0.5)
    c2 = Client(a, guid)
    expect_status(NOT_FOUND, lambda: reconnect(c2, "tcpkill.txt", fid, uuid.uuid4()),
                  "reconnect with another CreateGuid")
    g = reconnect(c2, "tcpkill.txt", fid, cg)
    assert g.file_id == fid, "the same FileId"
    assert g.oplock_level == BATCH, f"oplock {g.oplock_level:#x}"
    assert g.read(0, 100) == b"durable data"
    print("  reconnected: same FileId, Batch oplock, data read back")
    g.write(b"DURABLE", 0)
    g.close()
    # Closed: no more reconnects.
    c2.kill_tcp()
    c3 = Client(a, guid)
    expect_status(NOT_FOUND, lambda: reconnect(c3, "tcpkill.txt", fid, cg),
                  "reconnect after CLOSE")
    c3.conn.disconnect(True)
    other.conn.disconnect(True)
    print("check=tcpkill ok")


def check_crash_prepare(a):
    guid = uuid.uuid4()
    c = Client(a, guid)
    state = {"guid": str(guid)}
    for name in ["crash.txt", "orphan.txt"]:
        cg = uuid.uuid4()
        f, _ = durable_open(c, name, cg)
        f.write(f"{name} before the crash".encode(), 0)
        state[name] = {"file_id": f.file_id.hex(), "create_guid": str(cg)}
    cg, key = uuid.uuid4(), os.urandom(16)
    f = durable_leased_open(c, "locked.txt", cg, key)
    f.write(b"locked.txt before the crash", 0)
    f.lock([lock_element(0, 10, X_NOW)])
    print("  locked.txt: durable with an RH lease, bytes 0-9 locked exclusively")
    state["locked.txt"] = {"file_id": f.file_id.hex(), "create_guid": str(cg), "key": key.hex()}
    with open(a.state, "w") as out:
        json.dump(state, out)
    print("check=crash_prepare ok")
    # Leave without closing anything (no LOGOFF): the handles stay durable.
    os._exit(0)


def check_crash_reclaim(a):
    with open(a.state) as inp:
        state = json.load(inp)
    guid = uuid.UUID(state["guid"])
    crash, orphan = state["crash.txt"], state["orphan.txt"]
    # Another client's open of the unreclaimed orphan.txt waits for the grace period.
    b = Client(a, uuid.uuid4())
    fb = Open(b.tree, "orphan.txt")
    req, _ = fb.create(ImpersonationLevel.Impersonation, RW, 0, 0, CreateDisposition.FILE_OPEN,
                       FILE, send=False)
    sent = b.conn.send(req, b.sess.session_id, b.tree.tree_connect_id)
    # The interim response (smbprotocol's receive(wait=False) would forget the request).
    assert sent.response_event.wait(10), "no interim response"
    status = sent.response["status"].get_value()
    assert status == NtStatus.STATUS_PENDING, f"status 0x{status:08x}"
    started = time.time()
    print("  second client's open of the unreclaimed file: STATUS_PENDING")
    c = Client(a, guid)
    fid = bytes.fromhex(crash["file_id"])
    expect_status(NOT_FOUND, lambda: reconnect(c, "crash.txt", fid, uuid.uuid4()),
                  "reclaim with another CreateGuid")
    g = reconnect(c, "crash.txt", fid, uuid.UUID(crash["create_guid"]))
    assert g.file_id == fid, "the same FileId"
    assert g.read(0, 100) == b"crash.txt before the crash"
    print("  crash.txt reclaimed in grace: same FileId, data read back")
    check_lock_reclaimed(a, c, state["locked.txt"])
    # (smbprotocol keeps the interim response until the final one replaces it.)
    assert sent.response["status"].get_value() == NtStatus.STATUS_PENDING, \
        f"the second open must still wait ({time.time() - started:.1f} s after it was sent)"
    fb._create_response(sent)
    waited = time.time() - started
    print(f"  second client's open completed after {waited:.1f} s (grace ended)")
    assert waited > 2, waited
    fb.close()
    expect_status(NOT_FOUND,
                  lambda: reconnect(c, "orphan.txt", bytes.fromhex(orphan["file_id"]),
                                    uuid.UUID(orphan["create_guid"])),
                  "reconnect of the handle not reclaimed in grace")
    g.close()
    c.conn.disconnect(True)
    b.conn.disconnect(True)
    print("check=crash_reclaim ok")


def check_lock_reclaimed(a, c, locked):
    """In grace: another client's open of locked.txt waits while the file has unreclaimed
    state; the owner's reclaim brings its open and lock back and lets that open complete;
    the other client's LOCK of the range is refused until the reclaimed handle unlocks."""
    other = Client(a, uuid.uuid4())
    fo = Open(other.tree, "locked.txt")
    req, _ = fo.create(ImpersonationLevel.Impersonation, RW, 0, SHARE_RW,
                       CreateDisposition.FILE_OPEN, FILE, send=False)
    sent = other.conn.send(req, other.sess.session_id, other.tree.tree_connect_id)
    assert sent.response_event.wait(10), "no interim response"
    status = sent.response["status"].get_value()
    assert status == NtStatus.STATUS_PENDING, f"status 0x{status:08x}"
    print("  another client's open of locked.txt (unreclaimed open and lock): STATUS_PENDING")
    fid = bytes.fromhex(locked["file_id"])
    g = reconnect_leased(c, "locked.txt", fid, uuid.UUID(locked["create_guid"]),
                         bytes.fromhex(locked["key"]))
    assert g.file_id == fid, "the same FileId"
    assert g.read(0, 100) == b"locked.txt before the crash"
    print("  locked.txt reclaimed with its lease key: same FileId, data read back")
    fo._create_response(sent)
    print("  the other client's open completed after the reclaim")
    catcher = BreakCatcher(c.conn)
    expect_status(LOCK_NOT_GRANTED, lambda: fo.lock([lock_element(0, 10, X_NOW)]),
                  "another client's LOCK of the reclaimed lock's range")
    # A byte-range lock request breaks other clients' read caching (MS-FSA 2.1.4.12):
    # the reclaimed lease (RH, with its key) is told, and acknowledges if asked to.
    got = catcher.wait(10)
    assert got is not None, "no lease break for the reclaimed lease"
    flags, key, current, new = got
    assert key == bytes.fromhex(locked["key"]) and current == LEASE_RH, got
    print(f"  the reclaimed lease was broken {current:#x} -> {new:#x} (flags {flags:#x})")
    if flags & 1:
        ack = LeaseBreakAck()
        ack["lease_key"] = key
        ack["lease_state"] = new
        c.conn.receive(c.conn.send(ack, sid=c.sess.session_id, tid=c.tree.tree_connect_id))
    g.lock([lock_element(0, 10, LockFlags.SMB2_LOCKFLAG_UNLOCK)])
    fo.lock([lock_element(0, 10, X_NOW)])
    print("  the reclaimed handle unlocked: the other client's LOCK is granted")
    fo.lock([lock_element(0, 10, LockFlags.SMB2_LOCKFLAG_UNLOCK)])
    fo.close()
    g.close()
    other.conn.disconnect(True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--share", required=True)
    p.add_argument("--state")
    p.add_argument("check", choices=["tcpkill", "crash_prepare", "crash_reclaim"])
    a = p.parse_args()
    globals()[f"check_{a.check}"](a)


if __name__ == "__main__":
    main()
