//! Shared helpers for the proto-nfs integration tests: deterministic `arbitrary` drivers,
//! the virtual clock, a hex dump for snapshots, and a builder DSL for RPC calls
//! (`call(7).prog(100005, 3).proc_(1).auth_sys(0, 0).args(..)`).
#![allow(dead_code)]

use std::fmt::Debug;
use std::time::Instant;

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use proto_nfs::rpc::auth::{AuthSysParms, OpaqueAuth};
use proto_nfs::rpc::message::put_call_header;
use proto_nfs::rpc::record::record_bytes;
use proto_nfs::xdr::{XdrDecode, XdrEncode};

/// The one real clock reading a test takes; everything after is `t0 + Duration`.
#[allow(clippy::disallowed_methods)]
pub fn t0() -> Instant {
    Instant::now()
}

/// A small deterministic generator (xorshift64*) for seeding `Unstructured` buffers.
pub struct Seeds(u64);

impl Seeds {
    /// A generator with a fixed seed.
    pub fn new(seed: u64) -> Self {
        Seeds(seed | 1)
    }

    /// Next 64 random-looking bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A buffer of `len` bytes.
    pub fn buffer(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// Checks `decode(encode(x)) == x` for `iterations` values generated from seeded buffers,
/// and that every byte of the encoding is consumed. Returns how many distinct values were
/// checked, so a caller can assert that generation is not degenerate.
pub fn round_trip<T>(name: &str, iterations: usize) -> usize
where
    T: for<'a> Arbitrary<'a> + XdrEncode + XdrDecode + PartialEq + Debug,
{
    let seed = name
        .bytes()
        .fold(0x004a_616e_7573_u64, |h, b| h.rotate_left(5) ^ u64::from(b));
    let mut seeds = Seeds::new(seed);
    let mut distinct = std::collections::HashSet::new();
    for i in 0..iterations {
        let len = 16 + (seeds.next_u64() % 2048) as usize;
        let buf = seeds.buffer(len);
        let mut u = Unstructured::new(&buf);
        let Ok(value) = T::arbitrary(&mut u) else {
            continue;
        };
        let bytes = value.to_bytes();
        let back = T::decode_exact(&bytes).unwrap_or_else(|e| {
            panic!("{name} #{i}: {value:?} encoded as {bytes:02x?} does not decode: {e:?}")
        });
        assert_eq!(back, value, "{name} #{i}: round trip changed the value");
        distinct.insert(bytes);
    }
    distinct.len()
}

/// A readable hex dump: offset, 16 bytes per line grouped by XDR word.
pub fn hexdump(bytes: &[u8]) -> String {
    let mut s = String::new();
    for (i, chunk) in bytes.chunks(16).enumerate() {
        s.push_str(&format!("{:04x}:", i * 16));
        for (j, word) in chunk.chunks(4).enumerate() {
            if j > 0 {
                s.push(' ');
            }
            s.push(' ');
            for b in word {
                s.push_str(&format!("{b:02x}"));
            }
        }
        s.push('\n');
    }
    s
}

/// Starts a call builder: `call(xid)`; defaults are NFS v3 NULL with AUTH_NONE.
pub fn call(xid: u32) -> CallBuilder {
    CallBuilder {
        xid,
        rpcvers: 2,
        prog: 100_003,
        vers: 3,
        proc_: 0,
        cred: OpaqueAuth::none(),
        verf: OpaqueAuth::none(),
        args: BytesMut::new(),
    }
}

/// Builder for an RPC call message. See [`call`].
#[derive(Clone)]
pub struct CallBuilder {
    xid: u32,
    rpcvers: u32,
    prog: u32,
    vers: u32,
    proc_: u32,
    cred: OpaqueAuth,
    verf: OpaqueAuth,
    args: BytesMut,
}

impl CallBuilder {
    /// Program and version.
    pub fn prog(mut self, prog: u32, vers: u32) -> Self {
        self.prog = prog;
        self.vers = vers;
        self
    }

    /// Procedure.
    pub fn proc_(mut self, p: u32) -> Self {
        self.proc_ = p;
        self
    }

    /// RPC version (2 unless testing RPC_MISMATCH).
    pub fn rpcvers(mut self, v: u32) -> Self {
        self.rpcvers = v;
        self
    }

    /// AUTH_SYS credential with no supplementary groups.
    pub fn auth_sys(self, uid: u32, gid: u32) -> Self {
        self.auth_sys_gids(uid, gid, &[])
    }

    /// AUTH_SYS credential with supplementary groups.
    pub fn auth_sys_gids(mut self, uid: u32, gid: u32, gids: &[u32]) -> Self {
        self.cred = OpaqueAuth::sys(&AuthSysParms {
            stamp: 0x1234,
            machinename: Bytes::from_static(b"testhost"),
            uid,
            gid,
            gids: gids.to_vec(),
        });
        self
    }

    /// A raw credential.
    pub fn cred(mut self, cred: OpaqueAuth) -> Self {
        self.cred = cred;
        self
    }

    /// A raw verifier.
    pub fn verf(mut self, verf: OpaqueAuth) -> Self {
        self.verf = verf;
        self
    }

    /// Appends raw argument bytes.
    pub fn args(mut self, args: &[u8]) -> Self {
        self.args.extend_from_slice(args);
        self
    }

    /// Appends the XDR encoding of a value to the arguments.
    pub fn arg(mut self, v: &impl XdrEncode) -> Self {
        v.encode(&mut self.args);
        self
    }

    /// Appends an XDR unsigned int.
    pub fn u32(mut self, v: u32) -> Self {
        proto_nfs::xdr::put_u32(&mut self.args, v);
        self
    }

    /// Appends an XDR string.
    pub fn string(mut self, s: &str) -> Self {
        proto_nfs::xdr::put_string(&mut self.args, s.as_bytes());
        self
    }

    /// The message (for UDP).
    pub fn message(&self) -> Bytes {
        let mut out = BytesMut::new();
        put_call_header(
            &mut out, self.xid, self.prog, self.vers, self.proc_, &self.cred, &self.verf,
        );
        if self.rpcvers != 2 {
            out[8..12].copy_from_slice(&self.rpcvers.to_be_bytes());
        }
        out.extend_from_slice(&self.args);
        out.freeze()
    }

    /// The message as one TCP record.
    pub fn record(&self) -> Bytes {
        record_bytes(&self.message())
    }
}
