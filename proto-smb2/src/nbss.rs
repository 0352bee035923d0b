//! NetBIOS session service framing as SMB2 uses it over direct TCP (MS-SMB2 §2.1,
//! RFC 1002 §4.3).
//!
//! Each SMB2 message (or compound chain, or transform) travels in one session message: a
//! zero type byte and a 24-bit big-endian length, then that many bytes. [`take_frame`] works
//! on the caller's `BytesMut` and splits off one complete frame. The length is checked
//! against the caller's limit as soon as the 4 header bytes are visible, before any body has
//! arrived, so a peer cannot make anyone buffer what it merely claims; the server passes a
//! small limit until a session is authenticated and the negotiated maximum afterwards.
//!
//! RFC 1002 session keep-alives (type 0x85, length 0) are consumed and skipped; every other
//! type byte is a framing error, because direct-TCP SMB2 uses no NetBIOS session setup.

use bytes::{BufMut, Bytes, BytesMut};

/// NBSS message type of a session message (RFC 1002 §4.3.1).
pub const SESSION_MESSAGE: u8 = 0x00;
/// NBSS message type of a session keep-alive (RFC 1002 §4.3.7).
pub const SESSION_KEEP_ALIVE: u8 = 0x85;
/// The largest length the 24-bit field can carry.
pub const MAX_FRAME_LEN: usize = 0x00ff_ffff;
/// Length of the NBSS header.
pub const NBSS_HEADER_LEN: usize = 4;
/// A limit for frames before a session is authenticated: the largest legitimate
/// unauthenticated message is a SESSION_SETUP request whose SecurityBufferLength (16 bits,
/// MS-SMB2 §2.2.5) is at its maximum, after the 64-byte header and 24-byte fixed part, inside
/// a transform header's worth of slack. NEGOTIATE requests are far smaller.
pub const MAX_FRAME_BEFORE_AUTH: usize = 64 + 24 + u16::MAX as usize + 52;

/// Why the byte stream cannot be framed: each is a reason to close the connection, since
/// the stream has lost its framing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The header announces more bytes than the limit allows.
    #[error("NBSS frame of {claimed} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Length announced.
        claimed: usize,
        /// The limit in force.
        max: usize,
    },
    /// The type byte is neither a session message nor a keep-alive.
    #[error("NBSS message type {0:#04x} is not used by SMB2 over direct TCP")]
    BadType(u8),
}

/// A frame taken off the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The frame's payload: one SMB2 message, compound chain or transform.
    pub payload: Bytes,
    /// Bytes consumed from the buffer, the header and any keep-alives before it included.
    pub consumed: usize,
}

/// The length, header included, of the frame that begins with the header `h`, if
/// [`take_frame`] with `max_frame` would wait for it: a session message within the limit or
/// a keep-alive. `None`: a header [`take_frame`] refuses as soon as it sees it.
pub fn frame_total(h: [u8; NBSS_HEADER_LEN], max_frame: usize) -> Option<usize> {
    let len = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
    match h[0] {
        SESSION_MESSAGE if len <= max_frame => Some(NBSS_HEADER_LEN + len),
        SESSION_KEEP_ALIVE if len == 0 => Some(NBSS_HEADER_LEN),
        _ => None,
    }
}

/// Removes keep-alives and one complete session message from the front of `buf`. Returns
/// `Ok(None)` when the message is not complete yet; nothing but whole keep-alives is
/// consumed then (the count comes back with the next frame). `max_frame` is the largest
/// payload accepted.
pub fn take_frame(buf: &mut BytesMut, max_frame: usize) -> Result<Option<Frame>, FrameError> {
    Ok(
        take_frame_mut(buf, max_frame)?.map(|(payload, consumed)| Frame {
            payload: payload.freeze(),
            consumed,
        }),
    )
}

/// [`take_frame`] with the payload still mutable (a receiver decrypts a transform where it
/// lies): the payload and the bytes consumed.
pub fn take_frame_mut(
    buf: &mut BytesMut,
    max_frame: usize,
) -> Result<Option<(BytesMut, usize)>, FrameError> {
    let mut skipped = 0usize;
    loop {
        let Some(h) = buf.get(..NBSS_HEADER_LEN) else {
            return Ok(None);
        };
        let len = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
        match h[0] {
            SESSION_MESSAGE => {}
            SESSION_KEEP_ALIVE if len == 0 => {
                let _ = buf.split_to(NBSS_HEADER_LEN);
                skipped += NBSS_HEADER_LEN;
                continue;
            }
            t => return Err(FrameError::BadType(t)),
        }
        if len > max_frame {
            return Err(FrameError::TooLarge {
                claimed: len,
                max: max_frame,
            });
        }
        if buf.len() < NBSS_HEADER_LEN + len {
            return Ok(None);
        }
        let mut raw = buf.split_to(NBSS_HEADER_LEN + len);
        let _ = raw.split_to(NBSS_HEADER_LEN);
        return Ok(Some((raw, skipped + NBSS_HEADER_LEN + len)));
    }
}

/// How many bytes the session message at the front of `buf` spans, header included, when
/// its header is there, is a session message and announces at most `max_frame` bytes
/// (a receiver reserves room for all of it at once).
pub fn frame_len(buf: &[u8], max_frame: usize) -> Option<usize> {
    let h = buf.get(..NBSS_HEADER_LEN)?;
    let len = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
    (h[0] == SESSION_MESSAGE && len <= max_frame).then_some(NBSS_HEADER_LEN + len)
}

/// The NBSS header for a payload of `len` bytes. `len` must not exceed [`MAX_FRAME_LEN`];
/// larger values are masked to 24 bits, which the callers prevent by never building a
/// message larger than the negotiated sizes (all far below 16 MiB).
pub const fn frame_header(len: usize) -> [u8; 4] {
    let l = (len & MAX_FRAME_LEN) as u32;
    [SESSION_MESSAGE, (l >> 16) as u8, (l >> 8) as u8, l as u8]
}

/// Appends `payload` as one session message.
pub fn put_frame(out: &mut impl BufMut, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_FRAME_LEN, "NBSS payload over 24 bits");
    out.put_slice(&frame_header(payload.len()));
    out.put_slice(payload);
}
