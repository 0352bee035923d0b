//! The server's view of a connection's credits and message ids (MS-SMB2 §3.3.1.1,
//! §3.3.1.2, §3.3.5.2.3, §3.3.5.2.5).
//!
//! A client may send a request only with message ids the server has granted: the
//! connection's CommandSequenceWindow. It starts as {0}; each request consumes the ids
//! `MessageId .. MessageId + CreditCharge` (a charge of 0 counts as 1), each response grants
//! new ids above the highest so far. Ids may be consumed out of order.
//!
//! [`CreditWindow`] keeps the window as a bitmap from the lowest unconsumed id up, with a
//! hard capacity: a client that leaves an id unused stops the window from sliding, and the
//! server then grants fewer credits instead of growing the bitmap (memory stays bounded
//! whatever the client does, as in Samba). The server never lets a client's credits drop to
//! zero while capacity remains (§3.3.1.2), so a well-behaved client cannot starve.

use crate::status::NtStatus;
use std::collections::VecDeque;

/// Bytes one credit pays for in a multi-credit request (§3.1.5.2).
pub const BYTES_PER_CREDIT: usize = 65536;

/// Why a request's message id or charge is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditError {
    /// The message ids are not (all) in the window: never granted, or already used.
    #[error("message id {message_id} (charge {charge}) outside the sequence window")]
    OutsideWindow {
        /// MessageId of the request.
        message_id: u64,
        /// Its charge.
        charge: u16,
    },
    /// The CreditCharge does not cover the payload (§3.3.5.2.5).
    #[error("credit charge {charge} does not cover {payload} bytes")]
    ChargeTooSmall {
        /// CreditCharge of the request.
        charge: u16,
        /// Payload size the request asks for (larger of sent and expected).
        payload: usize,
    },
}

impl CreditError {
    /// What the server does: a message id outside the window ends the connection (as
    /// Windows and Samba do, §3.3.5.2.3); a charge too small for the payload is
    /// STATUS_INVALID_PARAMETER (§3.3.5.2.5).
    pub fn status(&self) -> Option<NtStatus> {
        match self {
            CreditError::OutsideWindow { .. } => None,
            CreditError::ChargeTooSmall { .. } => Some(NtStatus::INVALID_PARAMETER),
        }
    }
}

/// The CreditCharge a payload of `len` bytes needs: one credit per 64 KiB, at least one
/// (§3.1.5.2).
pub fn charge_for(len: usize) -> u16 {
    let n = len.saturating_sub(1) / BYTES_PER_CREDIT + 1;
    n.min(usize::from(u16::MAX)) as u16
}

/// Checks a multi-credit request's charge against its payload (§3.3.5.2.5): the larger of
/// what it sends and what it asks back (for READ, the Length; for QUERY_*, the output
/// buffer length; for WRITE, the data). Only for connections with SMB2_GLOBAL_CAP_LARGE_MTU;
/// without it every request costs one credit and carries at most 64 KiB.
pub fn check_charge(charge: u16, payload: usize) -> Result<(), CreditError> {
    if charge_for(payload) > charge.max(1) {
        Err(CreditError::ChargeTooSmall { charge, payload })
    } else {
        Ok(())
    }
}

/// A connection's CommandSequenceWindow and credit accounting.
#[derive(Debug, Clone)]
pub struct CreditWindow {
    /// The lowest id not yet consumed; `avail[i]` says whether `base + i` may be used.
    base: u64,
    avail: VecDeque<bool>,
    /// Credits currently held by the client (true bits in `avail`).
    held: u32,
    max_credits: u32,
    capacity: usize,
}

impl CreditWindow {
    /// A new connection's window: {0}, one credit. `max_credits` is the most credits a
    /// client may hold; the bitmap spans at most twice that many ids.
    pub fn new(max_credits: u32) -> Self {
        let max_credits = max_credits.max(1);
        let mut avail = VecDeque::with_capacity(2);
        avail.push_back(true);
        CreditWindow {
            base: 0,
            avail,
            held: 1,
            max_credits,
            capacity: 2 * max_credits as usize,
        }
    }

    /// Credits the client holds (ids it may still use).
    pub fn held(&self) -> u32 {
        self.held
    }

    /// One past the highest id granted.
    pub fn next_id(&self) -> u64 {
        self.base + self.avail.len() as u64
    }

    /// Consumes the ids of a request: `message_id .. message_id + max(charge, 1)`. Nothing
    /// is consumed when any of them is unavailable. (CANCEL requests are not passed here:
    /// they use the id of the request they cancel and consume nothing, §3.3.5.16.)
    pub fn consume(&mut self, message_id: u64, charge: u16) -> Result<(), CreditError> {
        let n = u64::from(charge.max(1));
        let err = CreditError::OutsideWindow { message_id, charge };
        let start = message_id.checked_sub(self.base).ok_or(err.clone())?;
        let end = start.checked_add(n).ok_or(err.clone())?;
        if end > self.avail.len() as u64 {
            return Err(err);
        }
        let (start, end) = (start as usize, end as usize);
        if !self.avail.range(start..end).all(|a| *a) {
            return Err(err);
        }
        for a in self.avail.range_mut(start..end) {
            *a = false;
        }
        self.held -= n as u32;
        while self.avail.front() == Some(&false) {
            self.avail.pop_front();
            self.base += 1;
        }
        Ok(())
    }

    /// Grants credits in a response: up to `requested` (what the client's CreditRequest
    /// asked, or the server's policy), at least one when the client would otherwise hold
    /// none, never beyond `max_credits` held or the window's capacity. Returns the number
    /// granted, the response's CreditResponse.
    pub fn grant(&mut self, requested: u16) -> u16 {
        let floor = if self.held == 0 { 1 } else { 0 };
        let by_credits = self.max_credits - self.held;
        let by_capacity = (self.capacity - self.avail.len()) as u32;
        let n = u32::from(requested)
            .max(floor)
            .min(by_credits)
            .min(by_capacity)
            .min(u32::from(u16::MAX));
        for _ in 0..n {
            self.avail.push_back(true);
        }
        self.held += n;
        n as u16
    }
}
