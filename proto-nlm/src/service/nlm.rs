//! NLM v4 procedures of the service (XNFS chapter 10; docs/cross-protocol.md §3.1, §3.2, §3.5):
//! TEST, LOCK, CANCEL, UNLOCK, NM_LOCK, SHARE/UNSHARE, FREE_ALL, the `_MSG`/`_RES` forms, blocked
//! locks and their GRANTED_MSG callbacks, and the held replies of requests waiting on a break.

use core::net::IpAddr;
use std::time::Instant;

use bytes::Bytes;
use proto_nfs::server::Transport;
use proto_nfs::xdr::XdrEncode;

use super::*;

impl NlmService {
    /// The blocks of the host named `caller_name`.
    pub(super) fn blocks_of<'a>(
        &'a self,
        caller_name: &Bytes,
    ) -> impl Iterator<Item = (BlockId, &'a Block)> + 'a {
        self.host_blocks
            .get(caller_name)
            .into_iter()
            .flatten()
            .filter_map(|id| self.blocks.get(id).map(|b| (*id, b)))
    }

    pub(super) fn nlm_call(
        &mut self,
        now: Instant,
        locks: &mut dyn LockBackend,
        files: &dyn FileHandles,
        call: &IncomingCall,
        c: Nlm4Call,
    ) -> CallOutcome {
        let reply = |r: Nlm4Reply| CallOutcome::Reply(r.to_bytes());
        match c {
            Nlm4Call::Null => reply(Nlm4Reply::Void),
            Nlm4Call::Test(a) => match self.test(now, locks, files, &a) {
                Some(r) => reply(Nlm4Reply::Test(r)),
                None => CallOutcome::NoReplyYet,
            },
            Nlm4Call::TestMsg(a) => {
                if let Some(r) = self.test(now, locks, files, &a) {
                    self.send_res(now, call.peer.ip(), call.transport, Nlm4Call::TestRes(r));
                }
                reply(Nlm4Reply::Void)
            }
            Nlm4Call::Lock(a) => self.lock(now, locks, files, Self::reply_to(call, false), a, true),
            Nlm4Call::LockMsg(a) => {
                self.lock(now, locks, files, Self::reply_to(call, true), a, true);
                reply(Nlm4Reply::Void)
            }
            Nlm4Call::NmLock(mut a) => {
                // XNFS NLM_NM_LOCK: "block should be set to false. This procedure does not
                // block"; the host is not monitored (it must send FREE_ALL after a crash).
                a.block = false;
                self.lock(now, locks, files, Self::reply_to(call, false), a, false)
            }
            Nlm4Call::Cancel(a) => reply(Nlm4Reply::Res(self.cancel(now, locks, files, &a))),
            Nlm4Call::CancelMsg(a) => {
                let r = self.cancel(now, locks, files, &a);
                self.send_res(now, call.peer.ip(), call.transport, Nlm4Call::CancelRes(r));
                reply(Nlm4Reply::Void)
            }
            Nlm4Call::Unlock(a) => reply(Nlm4Reply::Res(self.unlock(now, locks, files, &a))),
            Nlm4Call::UnlockMsg(a) => {
                let r = self.unlock(now, locks, files, &a);
                self.send_res(now, call.peer.ip(), call.transport, Nlm4Call::UnlockRes(r));
                reply(Nlm4Reply::Void)
            }
            // We are a server: no lock of ours waits on this client, so a GRANTED to us
            // matches nothing and is refused the way Linux's client refuses an unknown grant
            // (`nlmclnt_grant` → nlm_lck_denied).
            Nlm4Call::Granted(a) => reply(Nlm4Reply::Res(res(&a.cookie, Nlm4Stats::Denied))),
            Nlm4Call::GrantedMsg(a) => {
                let r = res(&a.cookie, Nlm4Stats::Denied);
                self.send_res(now, call.peer.ip(), call.transport, Nlm4Call::GrantedRes(r));
                reply(Nlm4Reply::Void)
            }
            Nlm4Call::GrantedRes(r) => {
                self.granted_res(now, locks, &r);
                reply(Nlm4Reply::Void)
            }
            // We never send TEST/LOCK/CANCEL/UNLOCK_MSG, so these answer nothing outstanding.
            Nlm4Call::TestRes(_)
            | Nlm4Call::LockRes(_)
            | Nlm4Call::CancelRes(_)
            | Nlm4Call::UnlockRes(_) => {
                self.counters.unmatched_res += 1;
                reply(Nlm4Reply::Void)
            }
            Nlm4Call::Share(a) => match self.share(now, locks, files, &a, true) {
                Some(r) => reply(Nlm4Reply::Share(r)),
                None => CallOutcome::NoReplyYet,
            },
            Nlm4Call::Unshare(a) => match self.share(now, locks, files, &a, false) {
                Some(r) => reply(Nlm4Reply::Share(r)),
                None => CallOutcome::NoReplyYet,
            },
            Nlm4Call::FreeAll(n) => {
                // XNFS NLM_FREE_ALL; Linux `nlm4svc_proc_free_all` frees without checking the
                // state number.
                self.free_host(now, locks, n.name.bytes());
                reply(Nlm4Reply::Void)
            }
        }
    }

    pub(super) fn resolve(
        files: &dyn FileHandles,
        fh: &Netobj,
    ) -> Result<(FileId, bool), Nlm4Stats> {
        match files.resolve(fh.as_bytes()) {
            Resolved::File { id, read_only } => Ok((id, read_only)),
            Resolved::Stale => Err(Nlm4Stats::StaleFh),
        }
    }

    pub(super) fn test(
        &mut self,
        now: Instant,
        locks: &mut dyn LockBackend,
        files: &dyn FileHandles,
        a: &Nlm4TestArgs,
    ) -> Option<Nlm4TestRes> {
        let stat = match Self::resolve(files, &a.alock.fh) {
            Err(s) => Nlm4TestRply::Status(s),
            Ok((file, _)) => {
                let req = LockRequest {
                    file,
                    owner: owner_of(&a.alock),
                    offset: a.alock.l_offset,
                    len: a.alock.l_len,
                    exclusive: a.exclusive,
                    block: false,
                    reclaim: false,
                };
                match locks.test(now, &req) {
                    TestDecision::Free => Nlm4TestRply::Status(Nlm4Stats::Granted),
                    TestDecision::Conflict(h) => Nlm4TestRply::Denied(h),
                    TestDecision::Refused(Nlm4Stats::Denied) => {
                        Nlm4TestRply::Status(Nlm4Stats::Failed)
                    }
                    TestDecision::Refused(s) => Nlm4TestRply::Status(s),
                    TestDecision::NotYet => return None,
                }
            }
        };
        Some(Nlm4TestRes {
            cookie: a.cookie.clone(),
            stat,
        })
    }

    /// Records the host of a call, monitoring it for LOCK (not NM_LOCK). Returns false when
    /// the host table is full.
    pub(super) fn touch_host(
        &mut self,
        locks: &mut dyn LockBackend,
        call_addr: IpAddr,
        transport: Transport,
        name: &Bytes,
        state: Option<i32>,
        monitor: bool,
    ) -> bool {
        if !self.hosts.contains_key(name) && self.hosts.len() >= self.config.max_hosts {
            return false;
        }
        let host = self.hosts.entry(name.clone()).or_insert(Host {
            addr: call_addr,
            transport,
            client_state: None,
            monitored: false,
        });
        let changed = host.addr != call_addr || (state.is_some() && host.client_state != state);
        host.addr = call_addr;
        host.transport = transport;
        if let Some(s) = state {
            host.client_state = Some(s);
        }
        if monitor && (!host.monitored || changed) {
            host.monitored = true;
            let state = host.client_state.unwrap_or(0);
            self.records.push_back(NsmRecord::Monitored {
                name: name.clone(),
                addr: call_addr,
                state,
            });
            locks.monitor(name, state);
        }
        true
    }

    pub(super) fn answer_lock(
        &mut self,
        now: Instant,
        to: &ReplyTo,
        cookie: &Netobj,
        stat: Nlm4Stats,
    ) -> CallOutcome {
        let r = res(cookie, stat);
        if to.msg {
            self.send_res(now, to.peer.ip(), to.transport, Nlm4Call::LockRes(r));
            CallOutcome::NoReplyYet
        } else {
            CallOutcome::Reply(Nlm4Reply::Res(r).to_bytes())
        }
    }

    pub(super) fn lock(
        &mut self,
        now: Instant,
        locks: &mut dyn LockBackend,
        files: &dyn FileHandles,
        to: ReplyTo,
        a: Nlm4LockArgs,
        monitor: bool,
    ) -> CallOutcome {
        let (file, read_only) = match Self::resolve(files, &a.alock.fh) {
            Ok(f) => f,
            Err(s) => return self.answer_lock(now, &to, &a.cookie, s),
        };
        if a.exclusive && read_only {
            return self.answer_lock(now, &to, &a.cookie, Nlm4Stats::Rofs);
        }
        let name = a.alock.caller_name.bytes().clone();
        let state = monitor.then_some(a.state);
        if !self.touch_host(locks, to.peer.ip(), to.transport, &name, state, monitor) {
            return self.answer_lock(now, &to, &a.cookie, Nlm4Stats::DeniedNolocks);
        }
        // A retransmission of a request we already know (Linux `nlmsvc_lock` finds the
        // block first).
        let known = self
            .blocks_of(&name)
            .find(|(_, b)| b.exclusive == a.exclusive && same_lock(&b.alock, &a.alock))
            .map(|(id, b)| (id, b.state));
        if let Some((id, state)) = known {
            return match state {
                BlockState::Waiting => self.answer_lock(now, &to, &a.cookie, Nlm4Stats::Blocked),
                BlockState::Granting { .. } => {
                    // The client asks again for a lock it now holds: it has its answer.
                    self.settle_block(locks, id);
                    self.answer_lock(now, &to, &a.cookie, Nlm4Stats::Granted)
                }
            };
        }
        if let Some(h) = self
            .held
            .values_mut()
            .find(|h| h.args.exclusive == a.exclusive && same_lock(&h.args.alock, &a.alock))
        {
            h.reply = to;
            return CallOutcome::NoReplyYet;
        }
        if a.block && self.blocks.len() >= self.config.max_blocks {
            return self.answer_lock(now, &to, &a.cookie, Nlm4Stats::DeniedNolocks);
        }
        let owner = owner_of(&a.alock);
        let req = LockRequest {
            file,
            owner: owner.clone(),
            offset: a.alock.l_offset,
            len: a.alock.l_len,
            exclusive: a.exclusive,
            block: a.block,
            reclaim: a.reclaim,
        };
        match locks.lock(now, &req) {
            LockDecision::Granted => self.answer_lock(now, &to, &a.cookie, Nlm4Stats::Granted),
            LockDecision::Refused(s) => self.answer_lock(now, &to, &a.cookie, s),
            LockDecision::Blocked(ticket) if a.block => {
                self.add_block(ticket, owner, file, &a, to.peer.ip(), to.transport);
                self.answer_lock(now, &to, &a.cookie, Nlm4Stats::Blocked)
            }
            LockDecision::Blocked(ticket) => {
                // The table queued a request that did not ask to wait; withdraw it.
                locks.cancel(now, ticket);
                self.answer_lock(now, &to, &a.cookie, Nlm4Stats::Denied)
            }
            LockDecision::Held(ticket) => {
                self.held.insert(
                    ticket,
                    Held {
                        reply: to,
                        args: a,
                        owner,
                        file,
                    },
                );
                CallOutcome::NoReplyYet
            }
        }
    }

    pub(super) fn add_block(
        &mut self,
        ticket: WaitTicket,
        owner: Owner,
        file: FileId,
        a: &Nlm4LockArgs,
        addr: IpAddr,
        transport: Transport,
    ) {
        let id = BlockId(self.next_id());
        self.host_blocks
            .entry(owner.caller_name.clone())
            .or_default()
            .insert(id);
        self.blocks.insert(
            id,
            Block {
                ticket,
                owner,
                file,
                alock: a.alock.clone(),
                exclusive: a.exclusive,
                addr,
                transport,
                state: BlockState::Waiting,
            },
        );
        self.block_by_ticket.insert(ticket, id);
    }

    pub(super) fn remove_block(&mut self, id: BlockId) -> Option<Block> {
        let b = self.blocks.remove(&id)?;
        if let Some(set) = self.host_blocks.get_mut(&b.owner.caller_name) {
            set.remove(&id);
            if set.is_empty() {
                self.host_blocks.remove(&b.owner.caller_name);
            }
        }
        self.block_by_ticket.remove(&b.ticket);
        if let BlockState::Granting { deadline, .. } = b.state {
            self.timers.remove(&(deadline, Timer::Block(id)));
        }
        Some(b)
    }

    /// Removes a block whose grant, if it was being granted, the client took (or no
    /// longer needs withdrawn): the backend forgets how to undo it.
    pub(super) fn settle_block(&mut self, locks: &mut dyn LockBackend, id: BlockId) {
        if let Some(b) = self.remove_block(id) {
            if matches!(b.state, BlockState::Granting { .. }) {
                locks.grant_settled(b.ticket);
            }
        }
    }

    /// Withdraws a block: a queued one leaves the table's queue, a granted one is undone
    /// ("a cancel request always overrides any grant", Linux `nlmsvc_cancel_blocked`):
    /// only what the grant changed, so what the owner held before stays held.
    pub(super) fn withdraw_block(
        &mut self,
        now: Instant,
        locks: &mut dyn LockBackend,
        id: BlockId,
    ) {
        self.withdraw_blocks(now, locks, &[id], Vec::new());
    }

    /// Withdraws several blocks and held requests (`held`: their tickets, already taken out
    /// of `self.held`) at once. The queued ones leave the table's queue together, before
    /// anything is woken: cancelling them one by one would let the first cancellation wake
    /// and grant the next one about to be withdrawn, a lock then held by nobody. Grants are
    /// withdrawn after that.
    pub(super) fn withdraw_blocks(
        &mut self,
        now: Instant,
        locks: &mut dyn LockBackend,
        ids: &[BlockId],
        mut queued: Vec<WaitTicket>,
    ) {
        let mut granted = Vec::new();
        for id in ids {
            if let Some(b) = self.remove_block(*id) {
                match b.state {
                    BlockState::Waiting => queued.push(b.ticket),
                    BlockState::Granting { .. } => granted.push(b),
                }
            }
        }
        if !queued.is_empty() {
            locks.cancel_many(now, &queued);
        }
        for b in granted {
            locks.withdraw_grant(
                now,
                b.ticket,
                b.file,
                &b.owner,
                b.alock.l_offset,
                b.alock.l_len,
            );
        }
    }

    pub(super) fn cancel(
        &mut self,
        now: Instant,
        locks: &mut dyn LockBackend,
        files: &dyn FileHandles,
        a: &Nlm4CancArgs,
    ) -> Nlm4Res {
        if let Err(s) = Self::resolve(files, &a.alock.fh) {
            return res(&a.cookie, s);
        }
        let ids: Vec<BlockId> = self
            .blocks_of(a.alock.caller_name.bytes())
            .filter(|(_, b)| b.exclusive == a.exclusive && same_lock(&b.alock, &a.alock))
            .map(|(id, _)| id)
            .collect();
        let held: Vec<WaitTicket> = self
            .held
            .iter()
            .filter(|(_, h)| h.args.exclusive == a.exclusive && same_lock(&h.args.alock, &a.alock))
            .map(|(t, _)| *t)
            .collect();
        for t in &held {
            self.held.remove(t);
        }
        self.withdraw_blocks(now, locks, &ids, held);
        // Linux answers GRANTED also when nothing was pending (cross-protocol.md §3.1 CANCEL); §5
        // accepts CANCEL during grace (removing state cannot conflict with reclaims).
        res(&a.cookie, Nlm4Stats::Granted)
    }

    pub(super) fn unlock(
        &mut self,
        now: Instant,
        locks: &mut dyn LockBackend,
        files: &dyn FileHandles,
        a: &Nlm4UnlockArgs,
    ) -> Nlm4Res {
        let file = match Self::resolve(files, &a.alock.fh) {
            Ok((f, _)) => f,
            Err(s) => return res(&a.cookie, s),
        };
        // "This implies a CANCEL call" (Linux `nlmsvc_unlock`): queued requests of this owner
        // inside the unlocked range are withdrawn first. A lock being granted that the
        // client now unlocks (any part of it) needs no more callbacks, and must not be
        // "withdrawn" later: that would release whatever the owner locks there afterwards.
        let (lo, hi) = bounds(a.alock.l_offset, a.alock.l_len);
        let owner = owner_of(&a.alock);
        let mut queued = Vec::new();
        let mut granting = Vec::new();
        for (id, b) in self.blocks_of(&owner.caller_name) {
            if b.owner != owner || b.alock.fh != a.alock.fh {
                continue;
            }
            let (blo, bhi) = bounds(b.alock.l_offset, b.alock.l_len);
            match b.state {
                BlockState::Waiting if blo >= lo && bhi <= hi => queued.push(id),
                BlockState::Granting { .. } if blo <= hi && bhi >= lo => granting.push(id),
                _ => {}
            }
        }
        self.withdraw_blocks(now, locks, &queued, Vec::new());
        for id in granting {
            self.settle_block(locks, id);
        }
        let stat = locks.unlock(now, file, &owner, a.alock.l_offset, a.alock.l_len);
        res(&a.cookie, stat)
    }

    pub(super) fn share(
        &mut self,
        now: Instant,
        locks: &mut dyn LockBackend,
        files: &dyn FileHandles,
        a: &Nlm4ShareArgs,
        take: bool,
    ) -> Option<Nlm4ShareRes> {
        let stat = match Self::resolve(files, &a.share.fh) {
            Err(s) => s,
            Ok((file, read_only)) => {
                let owner = Owner {
                    caller_name: a.share.caller_name.bytes().clone(),
                    svid: 0,
                    oh: a.share.oh.bytes().clone(),
                };
                if !take {
                    locks.unshare(now, file, &owner)
                } else if read_only
                    && matches!(
                        a.share.access,
                        crate::wire::FshAccess::Write | crate::wire::FshAccess::ReadWrite
                    )
                {
                    Nlm4Stats::Rofs
                } else {
                    match locks.share(now, file, &owner, a.share.access, a.share.mode, a.reclaim) {
                        ShareDecision::Done(s) => s,
                        ShareDecision::NotYet => return None,
                    }
                }
            }
        };
        Some(Nlm4ShareRes {
            cookie: a.cookie.clone(),
            stat,
            sequence: 0,
        })
    }

    pub(super) fn granted_res(&mut self, now: Instant, locks: &mut dyn LockBackend, r: &Nlm4Res) {
        let id = <[u8; 8]>::try_from(r.cookie.as_bytes())
            .ok()
            .map(|c| BlockId(u64::from_be_bytes(c)));
        let Some(id) = id.filter(|id| {
            self.blocks
                .get(id)
                .is_some_and(|b| matches!(b.state, BlockState::Granting { .. }))
        }) else {
            self.counters.unmatched_res += 1;
            return;
        };
        match r.stat {
            // Linux `nlmsvc_grant_reply`: the client is in its own grace period; try again.
            Nlm4Stats::DeniedGracePeriod => {
                self.rearm_block(id, now + self.config.granted_retry);
            }
            Nlm4Stats::Granted => {
                self.settle_block(locks, id);
            }
            // The client does not want the lock (its waiter is gone): release it so it is
            // not held by nobody.
            _ => {
                self.counters.grants_withdrawn += 1;
                self.withdraw_block(now, locks, id);
            }
        }
    }

    pub(super) fn rearm_block(&mut self, id: BlockId, at: Instant) {
        if let Some(b) = self.blocks.get_mut(&id) {
            if let BlockState::Granting { deadline, .. } = &mut b.state {
                self.timers.remove(&(*deadline, Timer::Block(id)));
                *deadline = at;
                self.timers.insert((at, Timer::Block(id)));
            }
        }
    }

    /// Releases everything of the host named `name` (FREE_ALL, client reboot).
    pub(super) fn free_host(&mut self, now: Instant, locks: &mut dyn LockBackend, name: &Bytes) {
        self.counters.hosts_freed += 1;
        let ids: Vec<BlockId> = self.blocks_of(name).map(|(id, _)| id).collect();
        for id in ids {
            // The table drops the host's waiters and locks itself in `free_host`.
            self.settle_block(locks, id);
        }
        self.held.retain(|_, h| h.owner.caller_name != name);
        locks.free_host(now, name);
        if let Some(h) = self.hosts.get_mut(name) {
            if h.monitored {
                h.monitored = false;
                self.records
                    .push_back(NsmRecord::Unmonitored { name: name.clone() });
            }
        }
    }

    /// Sends a `_RES` call (the answer to a `_MSG` call) to the client's NLM service. Linux
    /// (`nlm_async_reply`) sends it once; so do we.
    pub(super) fn send_res(&mut self, now: Instant, ip: IpAddr, transport: Transport, c: Nlm4Call) {
        let procedure = c.procedure().to_u32();
        self.deliver(
            now,
            ip,
            transport,
            (NLM_PROGRAM, NLM_VERSION_4, procedure),
            c.args_bytes(),
            Purpose::MsgRes,
        );
    }

    /// Sends (again) the GRANTED_MSG of a block the table granted, and arms its deadline:
    /// if neither the call's outcome nor GRANTED_RES arrives by then, it is sent again.
    pub(super) fn send_granted(&mut self, now: Instant, id: BlockId) {
        let Some(b) = self.blocks.get_mut(&id) else {
            return;
        };
        let deadline = now + self.config.call_timeout + self.config.granted_retry;
        let attempt = match b.state {
            BlockState::Waiting => 1,
            BlockState::Granting {
                attempts,
                deadline: old,
                ..
            } => {
                self.timers.remove(&(old, Timer::Block(id)));
                attempts + 1
            }
        };
        b.state = BlockState::Granting {
            attempts: attempt,
            deadline,
        };
        self.timers.insert((deadline, Timer::Block(id)));
        // XNFS NLM_GRANTED: "exclusive and alock will be the values in the original
        // NLM_LOCK"; the cookie is ours (the block id), so GRANTED_RES finds the block.
        let args = Nlm4TestArgs {
            cookie: Netobj::new(Bytes::copy_from_slice(&id.0.to_be_bytes()))
                .unwrap_or_else(|_| Netobj::empty()),
            exclusive: b.exclusive,
            alock: b.alock.clone(),
        };
        let (ip, transport) = (b.addr, b.transport);
        self.counters.granted_callbacks += 1;
        self.deliver(
            now,
            ip,
            transport,
            (NLM_PROGRAM, NLM_VERSION_4, Nlm4Proc::GrantedMsg.to_u32()),
            Nlm4Call::GrantedMsg(args).args_bytes(),
            Purpose::Granted(id, attempt),
        );
    }

    /// The lock table decided about a waiting request. Returns false if the ticket is not
    /// one of ours (the runtime routes it elsewhere).
    pub fn handle_backend_event(
        &mut self,
        now: Instant,
        locks: &mut dyn LockBackend,
        event: &BackendEvent,
    ) -> bool {
        let ticket = match event {
            BackendEvent::Granted(t)
            | BackendEvent::Refused(t, _)
            | BackendEvent::HoldExpired { ticket: t, .. } => *t,
        };
        if let Some(&id) = self.block_by_ticket.get(&ticket) {
            match event {
                BackendEvent::Granted(_) => self.send_granted(now, id),
                BackendEvent::Refused(..) => {
                    // Nothing to tell: NLM has no way to withdraw BLOCKED; the client's own
                    // retransmitted LOCK gets the current answer.
                    self.remove_block(id);
                }
                BackendEvent::HoldExpired { .. } => {}
            }
            return true;
        }
        let Some(h) = self.held.remove(&ticket) else {
            return false;
        };
        match event {
            BackendEvent::Granted(t) => {
                // A held reply carries the grant itself: nothing to withdraw later.
                locks.grant_settled(*t);
                self.finish_held(now, &h, Nlm4Stats::Granted);
            }
            BackendEvent::Refused(_, s) => self.finish_held(now, &h, *s),
            BackendEvent::HoldExpired {
                still_waiting: true,
                ..
            } if h.args.block => {
                self.add_block(
                    ticket,
                    h.owner.clone(),
                    h.file,
                    &h.args,
                    h.reply.peer.ip(),
                    h.reply.transport,
                );
                self.finish_held(now, &h, Nlm4Stats::Blocked);
            }
            BackendEvent::HoldExpired { still_waiting, .. } => {
                // O4: drop the reply; the client retransmits and gets the answer then.
                if *still_waiting {
                    locks.cancel(now, ticket);
                }
            }
        }
        true
    }

    pub(super) fn finish_held(&mut self, now: Instant, h: &Held, stat: Nlm4Stats) {
        let r = res(&h.args.cookie, stat);
        if h.reply.msg {
            self.send_res(
                now,
                h.reply.peer.ip(),
                h.reply.transport,
                Nlm4Call::LockRes(r),
            );
        } else {
            self.replies.push_back(DeferredReply {
                conn: h.reply.conn,
                peer: h.reply.peer,
                xid: h.reply.xid,
                body: Nlm4Reply::Res(r).to_bytes(),
            });
        }
    }
}
