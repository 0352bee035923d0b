//! The commands whose request and response are a bare 4-byte structure (StructureSize 4,
//! Reserved): LOGOFF (§2.2.7, §2.2.8), TREE_DISCONNECT (§2.2.11, §2.2.12), ECHO (§2.2.28,
//! §2.2.29) and CANCEL (§2.2.30, request only: CANCEL has no response).

use crate::error::{DecodeError, DecodeResult};
use crate::header::HEADER_LEN;
use crate::wire::{expect_size, run};
use bytes::BufMut;
use nom::number::complete::le_u16;
use nom::sequence::tuple;

fn decode_empty(what: &'static str, msg: &[u8]) -> DecodeResult<()> {
    let body = msg
        .get(HEADER_LEN..)
        .ok_or(DecodeError::Truncated { what })?;
    // Reserved is ignored on receipt (the spec says "MUST be ignored" / "SHOULD be 0").
    let (_, (size, _reserved)) = run(what, body, tuple((le_u16, le_u16)))?;
    expect_size(what, size, 4)
}

fn encode_empty(out: &mut impl BufMut) {
    out.put_u16_le(4);
    out.put_u16_le(0);
}

macro_rules! empty_message {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name;

        impl $name {
            /// Decodes the message from a whole message (header first).
            pub fn decode(msg: &[u8]) -> DecodeResult<Self> {
                decode_empty($what, msg).map(|()| $name)
            }

            /// Writes the 4-byte body.
            pub fn encode(&self, out: &mut impl BufMut) {
                encode_empty(out)
            }
        }
    };
}

empty_message!(
    /// LOGOFF request (§2.2.7).
    LogoffRequest,
    "LOGOFF request"
);
empty_message!(
    /// LOGOFF response (§2.2.8).
    LogoffResponse,
    "LOGOFF response"
);
empty_message!(
    /// TREE_DISCONNECT request (§2.2.11).
    TreeDisconnectRequest,
    "TREE_DISCONNECT request"
);
empty_message!(
    /// TREE_DISCONNECT response (§2.2.12).
    TreeDisconnectResponse,
    "TREE_DISCONNECT response"
);
empty_message!(
    /// ECHO request (§2.2.28).
    EchoRequest,
    "ECHO request"
);
empty_message!(
    /// ECHO response (§2.2.29).
    EchoResponse,
    "ECHO response"
);
empty_message!(
    /// CANCEL request (§2.2.30). It names the request to cancel by the MessageId (sync) or
    /// AsyncId (async) of its own header; the server sends no response to it.
    CancelRequest,
    "CANCEL request"
);
