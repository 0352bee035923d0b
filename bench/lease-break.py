#!/usr/bin/env python3
"""lease-break.py -- the SMB lease-break round trip against one server (bench/lease-break.sh runs
it against Janus and Samba in one go).

  lease-break.py --port P --user U --password PW [--share S] [-k N] [--warmup N] [--dialect D]

Per iteration: client A (its own connection, session and ClientGuid) opens FILE with a v2 lease
asking RWH (a fresh lease key each time) and must get W; client B (another connection and
ClientGuid) sends CREATE FILE_OPEN for GENERIC_WRITE without a lease. The server breaks A's
lease RWH -> RH and holds B's CREATE (STATUS_PENDING) until A acknowledges. A acknowledges from
smbprotocol's receive thread the moment the notification arrives (no thread hand-off). Measured:
  rtt     B's CREATE written to the socket -> its final response read (receive thread)
  notify  B's CREATE written -> A's break notification read
Then B and A close. smbprotocol 1.17 has no lease-break support: an unsolicited message (MessageId
all ones) is looked up among the outstanding requests like a response, so a standing request is
registered under that id whose event runs the acknowledgment when the receive thread sets it.

Last line: lease-break: server=.. iters=K rtt_p50_ms=.. rtt_p99_ms=.. notify_p50_ms=.. interim=N
(pNN: nearest rank; with K <= 100, p99 is the maximum). Exit 0 ok, 1 a lease or a break was not
as expected, 2 connection error.
"""
import argparse
import math
import struct
import sys
import threading
import time
import uuid

from smbprotocol.connection import Connection, Dialects, Request
from smbprotocol.create_contexts import (
    CreateContextName,
    SMB2CreateContextRequest,
    SMB2CreateRequestLeaseV2,
    SMB2CreateResponseLeaseV2,
)
from smbprotocol.header import Commands, SMB2HeaderRequest
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
R, H, W = 1, 2, 4
SHARE_ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE
RW = FilePipePrinterAccessMask.GENERIC_READ | FilePipePrinterAccessMask.GENERIC_WRITE


class LeaseAck(Structure):
    """MS-SMB2 2.2.24.2 Lease Break Acknowledgment."""

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


class CallbackEvent(threading.Event):
    """An Event whose set() first calls `fn` (in the thread that sets it)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def set(self):
        self.fn()
        super().set()


class StampEvent(threading.Event):
    """Remembers when (perf_counter) each response for its request was read."""

    def __init__(self):
        super().__init__()
        self.stamps = []

    def set(self):
        self.stamps.append(time.perf_counter())
        super().set()


class Acker:
    """Acknowledges every lease break of A's connection at once, in the receive thread."""

    def __init__(self, conn, sess, tree):
        self.conn, self.sess, self.tree = conn, sess, tree
        self.seen = []  # (perf_counter, current, new)
        self.errors = []
        self.cv = threading.Condition()
        hdr = SMB2HeaderRequest()
        hdr["message_id"] = UNSOLICITED
        self.req = Request(hdr, None, conn)
        self.req.response_event = CallbackEvent(self.on_message)
        conn.outstanding_requests[UNSOLICITED] = self.req

    def on_message(self):
        t = time.perf_counter()
        try:
            hdr, self.req.response = self.req.response, None
            if hdr is None:
                return
            body = hdr["data"].get_value()
            if hdr["command"].get_value() != Commands.SMB2_OPLOCK_BREAK or len(body) < 44:
                self.errors.append("unexpected unsolicited message")
                return
            _, _, flags = struct.unpack_from("<HHI", body, 0)
            cur, new = struct.unpack_from("<II", body, 24)
            if flags & 1:
                ack = LeaseAck()
                ack["lease_key"] = body[8:24]
                ack["lease_state"] = new
                self.conn.send(ack, sid=self.sess.session_id, tid=self.tree.tree_connect_id)
            with self.cv:
                self.seen.append((t, cur, new))
                self.cv.notify_all()
        except Exception as e:  # the receive thread must not die
            self.errors.append(repr(e))


class Stamping(dict):
    """Outstanding-requests table giving each request a StampEvent before it is sent."""

    def __setitem__(self, k, req):
        if not isinstance(req.response_event, StampEvent):
            req.response_event = StampEvent()
        super().__setitem__(k, req)


def connect(a, dialect):
    conn = Connection(uuid.uuid4(), "127.0.0.1", a.port)
    conn.connect(dialect, timeout=10)
    sess = Session(conn, a.user, a.password, auth_protocol="ntlm")
    sess.connect()
    tree = TreeConnect(sess, rf"\\127.0.0.1\{a.share}")
    tree.connect()
    return conn, sess, tree


def lease_context(key):
    lr = SMB2CreateRequestLeaseV2()
    lr["lease_key"] = key
    lr["lease_state"] = R | H | W
    lr["parent_lease_key"] = b"\0" * 16
    lr["epoch"] = b"\0\0"
    ctx = SMB2CreateContextRequest()
    ctx["buffer_name"] = CreateContextName.SMB2_CREATE_REQUEST_LEASE
    ctx["buffer_data"] = lr
    return ctx


def pct(v, p):
    s = sorted(v)
    return s[max(1, min(len(s), math.ceil(p / 100 * len(s)))) - 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--share", default="share")
    ap.add_argument("--name", default="server", help="label for the output line")
    ap.add_argument("-k", "--iters", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--dialect", default="3.1.1", choices=["3.1.1", "3.0.2", "2.1.0"])
    ap.add_argument("--file", default="lease-break-bench.dat")
    a = ap.parse_args()
    dialect = {"3.1.1": Dialects.SMB_3_1_1, "3.0.2": Dialects.SMB_3_0_2, "2.1.0": Dialects.SMB_2_1_0}[a.dialect]
    try:
        ca, sa, ta = connect(a, dialect)
        acker = Acker(ca, sa, ta)
        cb, sb, tb = connect(a, dialect)
        cb.outstanding_requests = Stamping(cb.outstanding_requests)
    except Exception as e:
        print(f"lease-break: {a.name}: connect failed: {e!r}")
        return 2
    rtt, notify, interim = [], [], 0
    for i in range(a.warmup + a.iters):
        fa = Open(ta, a.file)
        ctxs = fa.create(ImpersonationLevel.Impersonation, RW, 0, SHARE_ALL, CreateDisposition.FILE_OPEN_IF,
                         CreateOptions.FILE_NON_DIRECTORY_FILE, create_contexts=[lease_context(uuid.uuid4().bytes)],
                         oplock_level=RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
        leases = [c for c in ctxs or [] if isinstance(c, SMB2CreateResponseLeaseV2)]
        if not leases or not leases[0]["lease_state"].get_value() & W:
            print(f"lease-break: {a.name}: iteration {i}: A was not granted a lease with W")
            return 1
        seen = len(acker.seen)
        fb = Open(tb, a.file)
        msg, recv = fb.create(ImpersonationLevel.Impersonation, FilePipePrinterAccessMask.GENERIC_WRITE, 0,
                              SHARE_ALL, CreateDisposition.FILE_OPEN, CreateOptions.FILE_NON_DIRECTORY_FILE,
                              send=False)
        t0 = time.perf_counter()
        req = cb.send(msg, sid=sb.session_id, tid=tb.tree_connect_id)
        recv(req)
        t1 = req.response_event.stamps[-1]
        with acker.cv:
            acker.cv.wait_for(lambda: len(acker.seen) > seen, 10)
        if len(acker.seen) <= seen or acker.errors:
            print(f"lease-break: {a.name}: iteration {i}: no lease break seen by A {acker.errors}")
            return 1
        tb_, cur, new = acker.seen[seen]
        if (cur, new) != (R | H | W, R | H):
            print(f"lease-break: {a.name}: iteration {i}: break {cur:#x} -> {new:#x}, expected RWH -> RH")
            return 1
        if i >= a.warmup:
            rtt.append((t1 - t0) * 1000)
            notify.append((tb_ - t0) * 1000)
            interim += len(req.response_event.stamps) > 1
        fb.close()
        fa.close()
    for c in (ca, cb):
        c.disconnect(True)
    print(f"lease-break: server={a.name} iters={a.iters} rtt_p50_ms={pct(rtt, 50):.3f} "
          f"rtt_p99_ms={pct(rtt, 99):.3f} notify_p50_ms={pct(notify, 50):.3f} interim={interim} "
          f"dialect={a.dialect}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
