#!/usr/bin/env python3
"""SMB2 byte-range locks between two clients, with Python smbprotocol (MS-SMB2 §3.3.5.14).

Driven by tests/tests/e2e_smb_lock.rs. Each check prints `check=NAME ok ...` lines and raises
(exit 1, with the traceback) on anything unexpected.

  smb_lock.py --port P --user U --password PW --share S CHECK [--iterations N]

CHECK is one of:
  blocking  client B's blocking lock waits (STATUS_PENDING) on client A's exclusive lock and is
            granted when A unlocks; B then holds the range (A's lock and write are refused)
  cancel    B's waiting lock is cancelled (SMB2 CANCEL -> STATUS_CANCELLED) and never granted:
            after A unlocks, A can lock the range again
  atomic    a multi-element lock whose last element conflicts locks nothing
  bench     blocking-lock grant latency: A holds, B waits, A unlocks; the time from A's UNLOCK
            being sent to B's final LOCK response, N times; prints p50/p99 in ms
"""
import argparse
import statistics
import sys
import time
import uuid

from smbprotocol.connection import Connection, Dialects
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.header import NtStatus
from smbprotocol.open import CreateDisposition, CreateOptions, FilePipePrinterAccessMask, \
    ImpersonationLevel, LockFlags, Open, ShareAccess, SMB2LockElement
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

RW = FilePipePrinterAccessMask.GENERIC_READ | FilePipePrinterAccessMask.GENERIC_WRITE
SHARE_RW = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE
SH = LockFlags.SMB2_LOCKFLAG_SHARED_LOCK
EX = LockFlags.SMB2_LOCKFLAG_EXCLUSIVE_LOCK
UN = LockFlags.SMB2_LOCKFLAG_UNLOCK
FI = LockFlags.SMB2_LOCKFLAG_FAIL_IMMEDIATELY
STATUS_LOCK_NOT_GRANTED = 0xC0000055
STATUS_FILE_LOCK_CONFLICT = 0xC0000054
STATUS_CANCELLED = 0xC0000120


class Client:
    """One connection, one session, one tree connect, one open of the test file."""

    def __init__(self, a, name):
        self.conn = Connection(uuid.uuid4(), "127.0.0.1", a.port)
        self.conn.connect(dialect=Dialects.SMB_3_1_1, timeout=10)
        self.sess = Session(self.conn, a.user, a.password, auth_protocol="ntlm")
        self.sess.connect()
        self.tree = TreeConnect(self.sess, rf"\\127.0.0.1\{a.share}")
        self.tree.connect()
        self.f = Open(self.tree, name)
        self.f.create(ImpersonationLevel.Impersonation, RW, 0, SHARE_RW,
                      CreateDisposition.FILE_OPEN_IF, CreateOptions.FILE_NON_DIRECTORY_FILE)

    def lock(self, *elements):
        """Sends one LOCK of (offset, length, flags) elements and waits for its answer."""
        return self.f.lock([element(*e) for e in elements])

    def lock_send(self, *elements):
        """Sends one LOCK without waiting; returns the request."""
        msg, _ = self.f.lock([element(*e) for e in elements], send=False)
        return self.conn.send(msg, self.sess.session_id, self.tree.tree_connect_id)

    def close(self):
        self.f.close()
        self.conn.disconnect(True)


def element(offset, length, flags):
    e = SMB2LockElement()
    e["offset"] = offset
    e["length"] = length
    e["flags"] = flags
    return e


def expect_status(status, fn, what):
    try:
        fn()
    except SMBResponseException as e:
        if e.status != status:
            raise AssertionError(f"{what}: status 0x{e.status:08x}, expected 0x{status:08x}")
        print(f"  {what}: 0x{e.status:08x} as expected")
        return
    raise AssertionError(f"{what}: succeeded, expected 0x{status:08x}")


def wait_pending(c, req, what, timeout=10.0):
    """Waits until `req` got its interim STATUS_PENDING response (and no final one)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = req.response
        if r is not None:
            status = r["status"].get_value()
            if status != NtStatus.STATUS_PENDING:
                raise AssertionError(f"{what}: answered 0x{status:08x}, expected to wait")
            print(f"  {what}: STATUS_PENDING (async id {req.async_id})")
            return
        time.sleep(0.005)
    raise AssertionError(f"{what}: no interim response in {timeout} s")


def final(c, req, timeout=10.0):
    """The final answer of `req` (its status; raises SMBResponseException on an error)."""
    return c.conn.receive(req, wait=True, timeout=timeout)


def setup(a, name):
    ca, cb = Client(a, name), Client(a, name)
    ca.f.write(b"x" * 200, 0)
    return ca, cb


def check_blocking(a):
    ca, cb = setup(a, "lock-blocking.dat")
    ca.lock((0, 100, EX))
    expect_status(STATUS_LOCK_NOT_GRANTED, lambda: cb.lock((50, 10, EX | FI)),
                  "B's fail-immediately lock on A's range")
    req = cb.lock_send((50, 10, EX))
    wait_pending(cb, req, "B's blocking lock")
    time.sleep(0.2)
    if req.response["status"].get_value() != NtStatus.STATUS_PENDING:
        raise AssertionError("B's lock was answered while A still holds the range")
    ca.lock((0, 100, UN))
    final(cb, req)
    print("  B's lock granted after A's unlock")
    expect_status(STATUS_LOCK_NOT_GRANTED, lambda: ca.lock((55, 1, SH | FI)),
                  "A's lock on B's range")
    expect_status(STATUS_FILE_LOCK_CONFLICT, lambda: ca.f.write(b"a", 55),
                  "A's write into B's range")
    if cb.f.write(b"b", 55) != 1:
        raise AssertionError("B's write into its own range")
    cb.lock((50, 10, UN))
    ca.lock((55, 1, SH | FI))
    ca.lock((55, 1, UN))
    ca.close()
    cb.close()
    print("check=blocking ok")


def check_cancel(a):
    ca, cb = setup(a, "lock-cancel.dat")
    ca.lock((0, 100, EX))
    req = cb.lock_send((0, 10, SH))
    wait_pending(cb, req, "B's blocking lock")
    req.cancel()
    expect_status(STATUS_CANCELLED, lambda: final(cb, req), "B's cancelled lock")
    ca.lock((0, 100, UN))
    # Never granted: A locks the whole range again, B's fail-immediately lock is refused.
    ca.lock((0, 100, EX | FI))
    expect_status(STATUS_LOCK_NOT_GRANTED, lambda: cb.lock((0, 10, SH | FI)),
                  "B's lock after the cancel")
    ca.lock((0, 100, UN))
    ca.close()
    cb.close()
    print("check=cancel ok")


def check_atomic(a):
    ca, cb = setup(a, "lock-atomic.dat")
    ca.lock((100, 10, EX | FI))
    expect_status(STATUS_LOCK_NOT_GRANTED,
                  lambda: cb.lock((0, 10, EX | FI), (20, 10, SH | FI), (105, 1, EX | FI)),
                  "B's three-element lock whose third element conflicts")
    # Nothing of it stayed: A can lock the first two ranges exclusively.
    ca.lock((0, 10, EX | FI), (20, 10, EX | FI))
    ca.lock((0, 10, UN), (20, 10, UN), (100, 10, UN))
    ca.close()
    cb.close()
    print("check=atomic ok")


def check_bench(a):
    ca, cb = setup(a, "lock-bench.dat")
    samples = []
    for i in range(a.iterations + 5):
        ca.lock((0, 100, EX))
        req = cb.lock_send((0, 100, EX))
        wait_pending(cb, req, "B's blocking lock") if i == 0 else None
        while req.response is None:
            time.sleep(0.0005)
        t0 = time.perf_counter()
        unlock_msg, unlock_recv = ca.f.lock([element(0, 100, UN)], send=False)
        ureq = ca.conn.send(unlock_msg, ca.sess.session_id, ca.tree.tree_connect_id)
        final(cb, req)
        t1 = time.perf_counter()
        unlock_recv(ureq)
        cb.lock((0, 100, UN))
        if i >= 5:  # warm-up
            samples.append((t1 - t0) * 1000.0)
    samples.sort()
    p50 = statistics.median(samples)
    p99 = samples[min(len(samples) - 1, int(round(0.99 * (len(samples) - 1))))]
    ca.close()
    cb.close()
    print(f"check=bench ok n={len(samples)} p50_ms={p50:.3f} p99_ms={p99:.3f}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--share", required=True)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("check", choices=["blocking", "cancel", "atomic", "bench"])
    a = p.parse_args()
    {"blocking": check_blocking, "cancel": check_cancel, "atomic": check_atomic,
     "bench": check_bench}[a.check](a)


if __name__ == "__main__":
    sys.exit(main())
