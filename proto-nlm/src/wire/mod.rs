//! Wire formats of NLM v4 and NSM v1: XDR types, procedure numbers, and call/result decoding
//! per procedure. Nothing here keeps state.

pub mod nlm4;
pub mod nlm4_call;
pub mod nsm;
pub mod opaque;

#[cfg(test)]
mod tests;

pub use nlm4::*;
pub use nlm4_call::*;
pub use nsm::*;
pub use opaque::*;
