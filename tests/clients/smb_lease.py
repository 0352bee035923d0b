#!/usr/bin/env python3
"""SMB2/3 lease breaks against a real `janus serve`, with Python smbprotocol.

Driven by tests/tests/e2e_smb_lease.rs. Each check prints `check=NAME ok ...` and raises (exit 1,
with the traceback) on anything unexpected.

  smb_lease.py --port P --user U --password PW --share S CHECK [--break-timeout SECS]

CHECK:
  ack      A opens f with a v2 lease asking RWH and gets RWH; B (another connection, another
           ClientGuid) opens f for writing: its CREATE waits (STATUS_PENDING) while A gets a Lease
           Break Notification RWH -> RH (ACK_REQUIRED, epoch + 1); A acknowledges RH (response
           RH); B's CREATE then completes, and A's lease is RH.
  timeout  as `ack`, but A never acknowledges: B's CREATE completes once the server's break
           timeout (--break-timeout, the server's `break_timeout`) has passed, not before; A's
           lease is NONE and its late acknowledgment gets STATUS_UNSUCCESSFUL (MS-SMB2 3.3.5.22.2).

smbprotocol 1.17 has no lease-break support: an unsolicited message (MessageId all ones, MS-SMB2
3.3.4.7) is looked up in the connection's outstanding requests like any response. BreakCatcher
registers a standing request under that MessageId so the receive thread hands the notification
over instead of failing.
"""
import argparse
import struct
import threading
import time
import uuid

from smbprotocol.connection import Connection, Dialects, Request
from smbprotocol.create_contexts import (
    CreateContextName,
    SMB2CreateContextRequest,
    SMB2CreateRequestLeaseV2,
    SMB2CreateResponseLease,
    SMB2CreateResponseLeaseV2,
)
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.header import Commands, NtStatus, SMB2HeaderRequest
from smbprotocol.open import (
    CreateDisposition,
    CreateOptions,
    FilePipePrinterAccessMask,
    ImpersonationLevel,
    Open,
    RequestedOplockLevel,
    ShareAccess,
)
from smbprotocol.session import Session
from smbprotocol.structure import BytesField, IntField, Structure
from smbprotocol.tree import TreeConnect

UNSOLICITED = 0xFFFFFFFFFFFFFFFF
R, H, W = 0x1, 0x2, 0x4
SHARE_ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE
RW = FilePipePrinterAccessMask.GENERIC_READ | FilePipePrinterAccessMask.GENERIC_WRITE
STATUS_UNSUCCESSFUL = 0xC0000001


class LeaseBreakAck(Structure):
    """MS-SMB2 2.2.24.2 Lease Break Acknowledgment (2.2.25.2, the response, has its layout)."""

    COMMAND = Commands.SMB2_OPLOCK_BREAK

    def __init__(self):
        self.fields = {
            "structure_size": IntField(size=2, default=36),
            "reserved": IntField(size=2),
            "flags": IntField(size=4),
            "lease_key": BytesField(size=16),
            "lease_state": IntField(size=4),
            "lease_duration": IntField(size=8),
        }
        super().__init__()


class BreakCatcher:
    """Receives the unsolicited OPLOCK_BREAK messages of one connection."""

    def __init__(self, conn):
        hdr = SMB2HeaderRequest()
        hdr["message_id"] = UNSOLICITED
        self.req = Request(hdr, None, conn)
        conn.outstanding_requests[UNSOLICITED] = self.req

    def wait(self, timeout):
        """The next break notification: (header, body), or None after `timeout` seconds."""
        if not self.req.response_event.wait(timeout):
            return None
        with self.req.response_event_lock:
            header = self.req.response
            self.req.response_event.clear()
        return header, header["data"].get_value()


def lease_break(body):
    """MS-SMB2 2.2.23.2: (new_epoch, flags, lease_key, current_state, new_state)."""
    size, epoch, flags = struct.unpack_from("<HHI", body, 0)
    assert size == 44, f"not a lease break notification: StructureSize {size}"
    key = body[8:24]
    current, new = struct.unpack_from("<II", body, 24)
    return epoch, flags, key, current, new


class Client:
    def __init__(self, a):
        self.conn = Connection(uuid.uuid4(), "127.0.0.1", a.port)
        self.conn.connect(dialect=Dialects.SMB_3_1_1, timeout=10)
        self.sess = Session(self.conn, a.user, a.password, auth_protocol="ntlm")
        self.sess.connect()
        self.tree = TreeConnect(self.sess, rf"\\127.0.0.1\{a.share}")
        self.tree.connect()

    def open_leased(self, name, key, state, epoch=0):
        """CREATE with a v2 lease request; returns (open, granted state, flags, epoch)."""
        lease = SMB2CreateRequestLeaseV2()
        lease["lease_key"] = key
        lease["lease_state"] = state
        lease["parent_lease_key"] = b"\0" * 16
        lease["epoch"] = struct.pack("<H", epoch)
        ctx = SMB2CreateContextRequest()
        ctx["buffer_name"] = CreateContextName.SMB2_CREATE_REQUEST_LEASE
        ctx["buffer_data"] = lease
        f = Open(self.tree, name)
        resp = f.create(ImpersonationLevel.Impersonation, RW, 0, SHARE_ALL,
                        CreateDisposition.FILE_OPEN_IF, CreateOptions.FILE_NON_DIRECTORY_FILE,
                        create_contexts=[ctx], oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
        assert f.oplock_level == RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE, \
            f"OplockLevel {f.oplock_level:#x}, expected LEASE"
        granted = [c for c in resp or [] if isinstance(c, (SMB2CreateResponseLease, SMB2CreateResponseLeaseV2))]
        assert len(granted) == 1, f"no lease response context in {resp}"
        raw = granted[0].pack()
        assert len(raw) == 52, f"a v2 lease response is 52 bytes, got {len(raw)}"
        assert raw[:16] == key
        st, flags = struct.unpack_from("<II", raw, 16)
        (ep,) = struct.unpack_from("<H", raw, 48)
        return f, st, flags, ep

    def ack(self, key, state):
        """Sends a Lease Break Acknowledgment; returns the acknowledged state of the response."""
        msg = LeaseBreakAck()
        msg["lease_key"] = key
        msg["lease_state"] = state
        req = self.conn.send(msg, sid=self.sess.session_id, tid=self.tree.tree_connect_id)
        resp = self.conn.receive(req)
        body = resp["data"].get_value()
        size, _, _ = struct.unpack_from("<HHI", body, 0)
        assert size == 36, f"lease break response StructureSize {size}"
        assert body[8:24] == key
        return struct.unpack_from("<I", body, 24)[0]

    def close(self):
        self.conn.disconnect(True)


def open_for_write_in_background(client, name):
    """B's CREATE for writing, in a thread: (thread, result dict with 'open'/'error', 'secs')."""
    out = {}

    def run():
        t0 = time.monotonic()
        try:
            f = Open(client.tree, name)
            f.create(ImpersonationLevel.Impersonation, FilePipePrinterAccessMask.GENERIC_WRITE, 0,
                     SHARE_ALL, CreateDisposition.FILE_OPEN, CreateOptions.FILE_NON_DIRECTORY_FILE)
            out["open"] = f
        except Exception as e:  # reported by the caller
            out["error"] = e
        out["secs"] = time.monotonic() - t0

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def setup(a, name):
    ca, cb = Client(a), Client(a)
    catcher = BreakCatcher(ca.conn)
    key = uuid.uuid4().bytes
    fa, st, flags, epoch = ca.open_leased(name, key, R | H | W, epoch=0x10)
    assert st == R | H | W, f"A got {st:#x}, expected RWH"
    assert flags == 0 and epoch == 0x11, f"flags {flags:#x} epoch {epoch:#x}"
    print(f"  A: lease RWH granted, epoch {epoch:#x}")
    return ca, cb, catcher, key, fa, epoch


def check_ack(a):
    ca, cb, catcher, key, fa, epoch = setup(a, "lease-ack.dat")
    t, out = open_for_write_in_background(cb, "lease-ack.dat")
    got = catcher.wait(10)
    assert got is not None, "no lease break notification"
    header, body = got
    assert header["command"].get_value() == Commands.SMB2_OPLOCK_BREAK
    new_epoch, flags, k, cur, new = lease_break(body)
    assert (k, cur, new, flags) == (key, R | H | W, R | H, 1), (k, cur, new, flags)
    assert new_epoch == epoch + 1, f"break epoch {new_epoch:#x}"
    time.sleep(0.3)
    assert t.is_alive(), "B's CREATE must wait for A's acknowledgment"
    print("  A: break RWH -> RH received, B waiting")
    state = ca.ack(key, R | H)
    assert state == R | H, f"ack response state {state:#x}"
    t.join(10)
    assert not t.is_alive() and "open" in out, f"B's CREATE: {out}"
    print(f"  B: CREATE completed after the ack ({out['secs'] * 1000:.1f} ms)")
    # A's lease is RH now: asking for no state answers the current one (MS-SMB2 3.3.5.9.8).
    f2, st, _, _ = ca.open_leased("lease-ack.dat", key, 0)
    assert st == R | H, f"A's lease is {st:#x}, expected RH"
    f2.close()
    out["open"].close()
    fa.close()
    ca.close()
    cb.close()
    print("check=ack ok")


def check_timeout(a):
    ca, cb, catcher, key, fa, _ = setup(a, "lease-timeout.dat")
    t0 = time.monotonic()
    t, out = open_for_write_in_background(cb, "lease-timeout.dat")
    got = catcher.wait(10)
    assert got is not None, "no lease break notification"
    _, _, _, cur, new = lease_break(got[1])
    assert (cur, new) == (R | H | W, R | H)
    print("  A: break RWH -> RH received, not acknowledged")
    t.join(a.break_timeout + 20)
    waited = time.monotonic() - t0
    assert not t.is_alive() and "open" in out, f"B's CREATE: {out}"
    assert waited >= a.break_timeout - 0.5, f"B completed after {waited:.2f} s, before the timeout"
    print(f"  B: CREATE completed after {waited:.2f} s (break_timeout {a.break_timeout} s)")
    try:
        ca.ack(key, R | H)
        raise AssertionError("a late acknowledgment was accepted")
    except SMBResponseException as e:
        assert e.status == STATUS_UNSUCCESSFUL, f"late ack status {e.status:#x}"
    print("  A: late ack -> STATUS_UNSUCCESSFUL")
    f2, st, _, _ = ca.open_leased("lease-timeout.dat", key, 0)
    assert st == 0, f"A's lease is {st:#x}, expected NONE"
    f2.close()
    out["open"].close()
    fa.close()
    ca.close()
    cb.close()
    print("check=timeout ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--share", required=True)
    ap.add_argument("--break-timeout", type=float, default=35.0)
    ap.add_argument("check", choices=["ack", "timeout"])
    a = ap.parse_args()
    {"ack": check_ack, "timeout": check_timeout}[a.check](a)


if __name__ == "__main__":
    main()
