//! NFSv3 operations as seen by the lock table (matrix A/B rows 4–10).
//!
//! docs/cross-protocol.md §4.1 rule 1: every NFS operation is evaluated as the MS-FSA operation it
//! resembles, done through a transient "virtual open" with no lease key: READ =
//! open(FILE_READ_DATA, share RWD) + READ; WRITE = open(FILE_WRITE_DATA) + WRITE; SETATTR(size) =
//! open(FILE_WRITE_DATA) + SET_INFO(EndOfFile); REMOVE/RENAME = open(DELETE) + SET_INFO. Order:
//! share modes (with the O5 H break), then lease breaks (waits bounded by `T_nfs`, then
//! NFS3ERR_JUKEBOX), then SMB byte-range locks (O9). NLM locks are advisory to NFS I/O (rule 3).
//! NFS CREATE GUARDED/EXCLUSIVE over an existing name consults no state (row 10a, RFC 1813 §3.3.8).

use std::time::Instant;

use crate::outcome::{Deny, Outcome, WaitReason};
use crate::table::{Access, BreakKind, Eval, LockTable, NfsKind, Op, Requester};
use crate::types::{access, share, CacheKey, FileId, Span};
use crate::view::{ConflictKind, Proto, Resolution};

impl LockTable {
    /// NFS READ of `count` bytes at `offset`. `Deny(Conflict)` / `Deny(SharingViolation)`
    /// → NFS3ERR_ACCES; `Deny(RetryLater)` → NFS3ERR_JUKEBOX; `Wait` → hold up to `T_nfs`,
    /// then JUKEBOX on [`Event::HoldExpired`](crate::Event).
    pub fn nfs_read(&mut self, file: FileId, offset: u64, count: u64, now: Instant) -> Outcome {
        self.nfs_op(file, NfsKind::Read, offset, count, now)
    }

    /// NFS WRITE (matrix row 5): breaks R and W of SMB leases; refused by any overlapping
    /// SMB lock, shared ones included (O9).
    pub fn nfs_write(&mut self, file: FileId, offset: u64, count: u64, now: Instant) -> Outcome {
        self.nfs_op(file, NfsKind::Write, offset, count, now)
    }

    /// NFS SETATTR that changes the size (row 6): like a write for leases and share modes,
    /// not checked against byte-range locks (MS-FSA 2.1.5.15.5).
    pub fn nfs_set_size(&mut self, file: FileId, now: Instant) -> Outcome {
        self.nfs_op(file, NfsKind::SetSize, 0, 0, now)
    }

    /// NFS REMOVE of `file` (row 7): breaks H (Batch oplocks to None), waits, then fails on
    /// an SMB open without FILE_SHARE_DELETE unless `unix_semantics` (O5, O10).
    pub fn nfs_remove(&mut self, file: FileId, now: Instant) -> Outcome {
        self.nfs_op(file, NfsKind::Remove, 0, 0, now)
    }

    /// NFS RENAME, for the source file (row 8): as REMOVE.
    pub fn nfs_rename_source(&mut self, file: FileId, now: Instant) -> Outcome {
        self.nfs_op(file, NfsKind::RenameSource, 0, 0, now)
    }

    /// NFS RENAME, for an existing target that will be replaced (row 9): breaks the target's
    /// leases to NONE; if the target has opens but no lease was there to break,
    /// `Deny(AccessDenied)` (MS-FSA 2.1.5.15.12) unless `unix_semantics`.
    pub fn nfs_rename_target(&mut self, file: FileId, now: Instant) -> Outcome {
        self.nfs_op(file, NfsKind::RenameTarget, 0, 0, now)
    }

    /// NFS CREATE UNCHECKED with size 0 over an existing file (row 10b): as a size change,
    /// with overwrite semantics for leases (R|W to NONE).
    pub fn nfs_create_truncate(&mut self, file: FileId, now: Instant) -> Outcome {
        self.nfs_op(file, NfsKind::CreateTruncate, 0, 0, now)
    }

    /// NFS CREATE GUARDED/EXCLUSIVE over an existing name (row 10a): no state is consulted
    /// (the NFS layer answers NFS3ERR_EXIST); always `Proceed`. Provided so every matrix row
    /// has an entry point.
    pub fn nfs_create_guarded(&mut self, _file: FileId, _now: Instant) -> Outcome {
        Outcome::Proceed
    }

    /// A child of directory `dir` was created, removed, renamed, or changed size or times
    /// (by either protocol): break the directory's leases R|W→NONE without waiting, except
    /// the requester's own parent lease (MS-FSA PARENT_OBJECT, 2.1.4.12.2). NFS has no parent
    /// lease key, so NFS callers pass `None` and always break (O12). Returns how many leases
    /// were broken.
    pub fn parent_changed(&mut self, dir: FileId, except: Option<CacheKey>, now: Instant) -> usize {
        let keys: Vec<CacheKey> = self
            .files
            .get(&dir)
            .map(|f| f.leases.clone())
            .unwrap_or_default();
        let mut n = 0;
        for k in keys {
            if Some(k) == except {
                continue;
            }
            // The break is sent (RH still needs an ack) but nobody waits for it.
            let (broke, _wait) = self.break_one(k, BreakKind::ToNone, now);
            n += usize::from(broke);
        }
        n
    }

    /// Whether no NFS namespace check can find anything to act on: no SMB open or lease
    /// exists anywhere, no NLM share reservation was ever made in this table, and no grace
    /// period runs. Then [`nfs_remove`](Self::nfs_remove), `nfs_rename_source`,
    /// `nfs_rename_target` and `nfs_create_truncate` answer `Proceed` for every file without
    /// changing anything, and [`parent_changed`](Self::parent_changed) breaks nothing, so a
    /// caller may skip resolving which file a name denotes (the server core skips its
    /// lookup). O(1). (NLM SHARE reservations are rare DOS-era state, so "ever made" keeps
    /// this test O(1) at the price of lookups for the rest of the run once one was made.)
    pub fn nfs_namespace_unconstrained(&self) -> bool {
        self.grace.is_none()
            && self.opens.is_empty()
            && self.leases.is_empty()
            && !self.nlm_shares_seen
    }

    fn nfs_op(
        &mut self,
        file: FileId,
        kind: NfsKind,
        offset: u64,
        count: u64,
        now: Instant,
    ) -> Outcome {
        // The common case, a file with no state at all outside a grace period, costs one
        // map lookup: every check below would find nothing and change nothing.
        if self.grace.is_none() && !self.files.contains_key(&file) {
            return Outcome::Proceed;
        }
        // An NFS count never wraps in practice; clamp to the end of the offset space.
        let span = if count == 0 {
            Span {
                first: offset,
                last: offset,
                zero: false,
            }
        } else {
            Span {
                first: offset,
                last: offset.saturating_add(count - 1),
                zero: false,
            }
        };
        self.run(
            file,
            Op::Nfs {
                kind,
                span,
                broke: false,
            },
            now,
        )
    }

    /// Breaks every lease on `file` as an NFS operation of `kind` needs and counts a Lease
    /// conflict on the `first` evaluation: Waited when the caller must wait (whether or not
    /// this call broke anything), else Broke when a lease was broken. Returns
    /// `break_leases`' (broke, wait).
    fn break_for_nfs(
        &mut self,
        file: FileId,
        kind: BreakKind,
        now: Instant,
        first: bool,
    ) -> (bool, bool) {
        let (broke, wait) = self.break_leases(file, None, kind, None, now);
        let counted = if wait {
            Some(Resolution::Waited)
        } else if broke {
            Some(Resolution::Broke)
        } else {
            None
        };
        if let Some(r) = counted.filter(|_| first) {
            self.counters.conflict(Proto::Nfs, ConflictKind::Lease, r);
        }
        (broke, wait)
    }

    pub(crate) fn eval_nfs(
        &mut self,
        file: FileId,
        op: &mut Op,
        now: Instant,
        first: bool,
    ) -> Eval {
        let Op::Nfs { kind, span, broke } = op else {
            return Eval::Done(Outcome::Deny(Deny::UnknownOpen));
        };
        let (kind, span) = (*kind, *span);
        if self.in_grace() && self.grace_nfs_conflict(file, kind, span) {
            if first {
                self.counters
                    .conflict(Proto::Nfs, ConflictKind::Grace, Resolution::Denied);
            }
            return Eval::Done(Outcome::Deny(Deny::RetryLater));
        }
        match kind {
            NfsKind::Read | NfsKind::Write | NfsKind::SetSize | NfsKind::CreateTruncate => {
                let acc = if kind == NfsKind::Read {
                    access::READ_DATA
                } else {
                    access::WRITE_DATA
                };
                if let Some(e) = self.share_check_h_star(
                    file,
                    acc,
                    share::ALL,
                    None,
                    None,
                    None,
                    Proto::Nfs,
                    now,
                ) {
                    return e;
                }
                let bk = if kind == NfsKind::Read {
                    BreakKind::ToTwo
                } else {
                    BreakKind::ToNone
                };
                if self.break_for_nfs(file, bk, now, first).1 {
                    return Eval::Block(WaitReason::Break);
                }
                if matches!(kind, NfsKind::Read | NfsKind::Write) {
                    let a = Access {
                        span,
                        exclusive: kind == NfsKind::Write,
                        lock_intent: false,
                        who: Requester::Nfs,
                    };
                    if let Some(l) = self.find_conflict(file, &a) {
                        let h = self.lock_holder(l);
                        let ck = ConflictKind::of_lock(l);
                        if first {
                            self.counters.conflict(Proto::Nfs, ck, Resolution::Denied);
                        }
                        return Eval::Done(Outcome::Deny(Deny::Conflict(h)));
                    }
                }
                Eval::Done(Outcome::Proceed)
            }
            NfsKind::Remove | NfsKind::RenameSource => {
                if self.break_for_nfs(file, BreakKind::H, now, first).1 {
                    return Eval::Block(WaitReason::Break);
                }
                if !self.cfg.unix_semantics {
                    if let Some(e) = self.share_check_h_star(
                        file,
                        access::DELETE,
                        share::ALL,
                        None,
                        None,
                        None,
                        Proto::Nfs,
                        now,
                    ) {
                        return e;
                    }
                }
                Eval::Done(Outcome::Proceed)
            }
            NfsKind::RenameTarget => {
                let (b, wait) = self.break_for_nfs(file, BreakKind::ToNone, now, first);
                if b {
                    *broke = true;
                }
                if wait {
                    return Eval::Block(WaitReason::Break);
                }
                let has_opens = self
                    .files
                    .get(&file)
                    .is_some_and(|f| !f.opens.is_empty() || !f.shares.is_empty());
                if !self.cfg.unix_semantics && has_opens && !*broke {
                    if first {
                        self.counters.conflict(
                            Proto::Nfs,
                            ConflictKind::ShareMode,
                            Resolution::Denied,
                        );
                    }
                    return Eval::Done(Outcome::Deny(Deny::AccessDenied));
                }
                Eval::Done(Outcome::Proceed)
            }
        }
    }
}
