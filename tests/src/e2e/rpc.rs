//! A deliberately small, independent ONC RPC client (RFC 5531, record marking §11) with just
//! enough XDR (RFC 4506) for MOUNT v3 MNT and NFSv3 LOOKUP / GETATTR / READ / WRITE (RFC 1813).
//!
//! It is written separately from `proto-nfs` on purpose: the end-to-end tests should not
//! check the server's codecs with the same codecs. It also sends malformed input on request
//! (raw bytes, truncated calls, absurd fragment headers).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// ONC RPC program numbers.
pub mod prog {
    /// NFS.
    pub const NFS: u32 = 100_003;
    /// MOUNT.
    pub const MOUNT: u32 = 100_005;
    /// PORTMAP / RPCBIND.
    pub const PORTMAP: u32 = 100_000;
}

/// `accept_stat` values (RFC 5531 §9).
pub mod accept {
    /// RPC executed successfully.
    pub const SUCCESS: u32 = 0;
    /// Remote hasn't exported the program.
    pub const PROG_UNAVAIL: u32 = 1;
    /// Remote can't support the version.
    pub const PROG_MISMATCH: u32 = 2;
    /// Program can't support the procedure.
    pub const PROC_UNAVAIL: u32 = 3;
    /// Procedure can't decode its parameters.
    pub const GARBAGE_ARGS: u32 = 4;
}

/// Largest reply record this client accepts.
const MAX_REPLY: usize = 4 << 20;

/// XDR encoder.
#[derive(Debug, Default, Clone)]
pub struct XdrOut(pub Vec<u8>);

impl XdrOut {
    /// Empty buffer.
    pub fn new() -> XdrOut {
        XdrOut(Vec::new())
    }
    /// Append an unsigned int.
    pub fn u32(&mut self, v: u32) -> &mut XdrOut {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Append an unsigned hyper.
    pub fn u64(&mut self, v: u64) -> &mut XdrOut {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Append variable-length opaque data (length, bytes, zero padding).
    pub fn opaque(&mut self, data: &[u8]) -> &mut XdrOut {
        self.u32(data.len() as u32);
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len() + (4 - data.len() % 4) % 4, 0);
        self
    }
    /// Append a string.
    pub fn string(&mut self, s: &str) -> &mut XdrOut {
        self.opaque(s.as_bytes())
    }
}

/// Why a reply could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdrShort;

/// XDR decoder over a reply body.
#[derive(Debug, Clone)]
pub struct XdrIn<'a> {
    buf: &'a [u8],
}

impl<'a> XdrIn<'a> {
    /// Decode from `buf`.
    pub fn new(buf: &'a [u8]) -> XdrIn<'a> {
        XdrIn { buf }
    }
    /// Bytes not decoded yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], XdrShort> {
        if self.buf.len() < n {
            return Err(XdrShort);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    /// An unsigned int.
    pub fn u32(&mut self) -> Result<u32, XdrShort> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// An unsigned hyper.
    pub fn u64(&mut self) -> Result<u64, XdrShort> {
        Ok((u64::from(self.u32()?) << 32) | u64::from(self.u32()?))
    }
    /// Variable-length opaque data of at most `max` bytes.
    pub fn opaque(&mut self, max: usize) -> Result<&'a [u8], XdrShort> {
        let len = self.u32()? as usize;
        if len > max {
            return Err(XdrShort);
        }
        let data = self.take(len)?;
        self.take((4 - len % 4) % 4)?;
        Ok(data)
    }
}

/// Credentials of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// AUTH_NONE.
    None,
    /// AUTH_SYS with this uid and gid and no supplementary groups.
    Sys {
        /// Effective user id.
        uid: u32,
        /// Effective group id.
        gid: u32,
    },
}

/// Encode a CALL message (without record mark).
pub fn encode_call(xid: u32, prog: u32, vers: u32, proc_: u32, auth: Auth, args: &[u8]) -> Vec<u8> {
    let mut x = XdrOut::new();
    x.u32(xid).u32(0).u32(2).u32(prog).u32(vers).u32(proc_);
    match auth {
        Auth::None => {
            x.u32(0).u32(0);
        }
        Auth::Sys { uid, gid } => {
            let mut body = XdrOut::new();
            body.u32(0).string("janus-e2e").u32(uid).u32(gid).u32(0);
            x.u32(1).opaque(&body.0);
        }
    }
    x.u32(0).u32(0); // verifier: AUTH_NONE
    x.0.extend_from_slice(args);
    x.0
}

/// Prefix `payload` with a last-fragment record mark (RFC 5531 §11).
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.extend_from_slice(&(0x8000_0000 | payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A decoded REPLY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Transaction id.
    pub xid: u32,
    /// What the server said.
    pub body: ReplyBody,
}

/// The reply_body union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyBody {
    /// MSG_ACCEPTED with `accept_stat`; for PROG_MISMATCH the supported range, for SUCCESS the
    /// procedure's results.
    Accepted {
        /// accept_stat.
        stat: u32,
        /// (low, high) for PROG_MISMATCH.
        mismatch: Option<(u32, u32)>,
        /// Procedure results (SUCCESS only).
        results: Vec<u8>,
    },
    /// MSG_DENIED: reject_stat (0 RPC_MISMATCH, 1 AUTH_ERROR) and the following word.
    Denied {
        /// reject_stat.
        stat: u32,
        /// low version for RPC_MISMATCH, auth_stat for AUTH_ERROR.
        detail: u32,
    },
}

/// Decode a REPLY message.
pub fn decode_reply(rec: &[u8]) -> Result<Reply, XdrShort> {
    let mut x = XdrIn::new(rec);
    let xid = x.u32()?;
    if x.u32()? != 1 {
        return Err(XdrShort);
    }
    let body = match x.u32()? {
        0 => {
            let _flavor = x.u32()?;
            x.opaque(400)?;
            let stat = x.u32()?;
            let mismatch = if stat == accept::PROG_MISMATCH {
                Some((x.u32()?, x.u32()?))
            } else {
                None
            };
            let results = if stat == accept::SUCCESS {
                x.take(x.remaining())?.to_vec()
            } else {
                Vec::new()
            };
            ReplyBody::Accepted {
                stat,
                mismatch,
                results,
            }
        }
        1 => ReplyBody::Denied {
            stat: x.u32()?,
            detail: x.u32()?,
        },
        _ => return Err(XdrShort),
    };
    Ok(Reply { xid, body })
}

/// One TCP connection to an RPC server.
#[derive(Debug)]
pub struct RpcClient {
    stream: TcpStream,
    next_xid: u32,
    /// Credentials used by [`RpcClient::call`].
    pub auth: Auth,
}

impl RpcClient {
    /// Connect to 127.0.0.1:`port` with a 10 s read timeout and AUTH_SYS uid 0 / gid 0.
    pub fn connect(port: u16) -> io::Result<RpcClient> {
        let stream = TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(5),
        )?;
        RpcClient::from_stream(stream)
    }

    /// A client on a connection made elsewhere (e.g. from another loopback source address),
    /// with the same settings as [`RpcClient::connect`].
    pub fn from_stream(stream: TcpStream) -> io::Result<RpcClient> {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        Ok(RpcClient {
            stream,
            next_xid: 0x4a41_0000 ^ (std::process::id() << 4),
            auth: Auth::Sys { uid: 0, gid: 0 },
        })
    }

    /// The socket, e.g. to change its timeout or shut it down.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Write raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Read one record (all fragments). `Ok(None)` = the server closed the connection cleanly
    /// or reset it before a record started.
    pub fn read_record(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut rec = Vec::new();
        loop {
            let mut hdr = [0u8; 4];
            match self.stream.read_exact(&mut hdr) {
                Ok(()) => {}
                Err(e)
                    if rec.is_empty()
                        && matches!(
                            e.kind(),
                            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
                        ) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            }
            let mark = u32::from_be_bytes(hdr);
            let len = (mark & 0x7fff_ffff) as usize;
            if rec.len() + len > MAX_REPLY {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "reply too large",
                ));
            }
            let start = rec.len();
            rec.resize(start + len, 0);
            self.stream.read_exact(&mut rec[start..])?;
            if mark & 0x8000_0000 != 0 {
                return Ok(Some(rec));
            }
        }
    }

    /// Send a call and wait for the reply with the same xid.
    pub fn call(&mut self, prog: u32, vers: u32, proc_: u32, args: &[u8]) -> io::Result<Reply> {
        self.next_xid = self.next_xid.wrapping_add(1);
        let xid = self.next_xid;
        let call = encode_call(xid, prog, vers, proc_, self.auth, args);
        self.send_raw(&frame(&call))?;
        loop {
            let rec = self.read_record()?.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before reply",
                )
            })?;
            let reply = decode_reply(&rec)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "undecodable reply"))?;
            if reply.xid == xid {
                return Ok(reply);
            }
        }
    }

    /// Call and require MSG_ACCEPTED/SUCCESS; returns the results.
    pub fn call_ok(
        &mut self,
        prog: u32,
        vers: u32,
        proc_: u32,
        args: &[u8],
    ) -> io::Result<Vec<u8>> {
        match self.call(prog, vers, proc_, args)?.body {
            ReplyBody::Accepted {
                stat: accept::SUCCESS,
                results,
                ..
            } => Ok(results),
            other => Err(io::Error::other(format!("RPC not successful: {other:?}"))),
        }
    }

    /// MOUNT v3 MNT (RFC 1813 §5.2.1): `Ok(handle)` or `Err(mountstat3)`.
    pub fn mnt(&mut self, path: &str) -> io::Result<Result<Vec<u8>, u32>> {
        let res = self.call_ok(prog::MOUNT, 3, 1, &XdrOut::new().string(path).0)?;
        let mut x = XdrIn::new(&res);
        let status = x.u32().map_err(bad)?;
        if status != 0 {
            return Ok(Err(status));
        }
        Ok(Ok(x.opaque(64).map_err(bad)?.to_vec()))
    }

    /// NFSv3 GETATTR (§3.3.1): `Ok(attributes)` or `Err(nfsstat3)`.
    pub fn getattr(&mut self, fh: &[u8]) -> io::Result<Result<Fattr3, u32>> {
        let res = self.call_ok(prog::NFS, 3, 1, &XdrOut::new().opaque(fh).0)?;
        let mut x = XdrIn::new(&res);
        let status = x.u32().map_err(bad)?;
        if status != 0 {
            return Ok(Err(status));
        }
        Ok(Ok(Fattr3::decode(&mut x).map_err(bad)?))
    }

    /// NFSv3 LOOKUP (§3.3.3): `Ok(object handle)` or `Err(nfsstat3)`.
    pub fn lookup(&mut self, dir: &[u8], name: &str) -> io::Result<Result<Vec<u8>, u32>> {
        let res = self.call_ok(prog::NFS, 3, 3, &XdrOut::new().opaque(dir).string(name).0)?;
        let mut x = XdrIn::new(&res);
        let status = x.u32().map_err(bad)?;
        if status != 0 {
            return Ok(Err(status));
        }
        Ok(Ok(x.opaque(64).map_err(bad)?.to_vec()))
    }

    /// NFSv3 READ (§3.3.6): `Ok(data)` or `Err(nfsstat3)`.
    pub fn read(&mut self, fh: &[u8], offset: u64, count: u32) -> io::Result<Result<Vec<u8>, u32>> {
        let res = self.call_ok(
            prog::NFS,
            3,
            6,
            &XdrOut::new().opaque(fh).u64(offset).u32(count).0,
        )?;
        let mut x = XdrIn::new(&res);
        let status = x.u32().map_err(bad)?;
        if status != 0 {
            return Ok(Err(status));
        }
        skip_post_op_attr(&mut x).map_err(bad)?;
        let _count = x.u32().map_err(bad)?;
        let _eof = x.u32().map_err(bad)?;
        Ok(Ok(x.opaque(MAX_REPLY).map_err(bad)?.to_vec()))
    }

    /// NFSv3 WRITE (§3.3.7) with FILE_SYNC: `Ok(count)` or `Err(nfsstat3)`.
    pub fn write(&mut self, fh: &[u8], offset: u64, data: &[u8]) -> io::Result<Result<u32, u32>> {
        let res = self.call_ok(
            prog::NFS,
            3,
            7,
            &XdrOut::new()
                .opaque(fh)
                .u64(offset)
                .u32(data.len() as u32)
                .u32(2)
                .opaque(data)
                .0,
        )?;
        let mut x = XdrIn::new(&res);
        let status = x.u32().map_err(bad)?;
        if status != 0 {
            return Ok(Err(status));
        }
        // wcc_data: pre_op_attr + post_op_attr
        if x.u32().map_err(bad)? == 1 {
            x.take(24).map_err(bad)?;
        }
        skip_post_op_attr(&mut x).map_err(bad)?;
        Ok(Ok(x.u32().map_err(bad)?))
    }
}

fn bad(_: XdrShort) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "short or malformed results")
}

fn skip_post_op_attr(x: &mut XdrIn<'_>) -> Result<(), XdrShort> {
    if x.u32()? == 1 {
        Fattr3::decode(x)?;
    }
    Ok(())
}

/// NFSv3 `fattr3` (RFC 1813 §2.6), times as (seconds, nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fattr3 {
    /// ftype3 (1 = REG, 2 = DIR, 5 = LNK, ...).
    pub ftype: u32,
    /// Mode bits.
    pub mode: u32,
    /// Link count.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// File system id.
    pub fsid: u64,
    /// File id (inode number).
    pub fileid: u64,
    /// Modification time.
    pub mtime: (u32, u32),
}

impl Fattr3 {
    fn decode(x: &mut XdrIn<'_>) -> Result<Fattr3, XdrShort> {
        let ftype = x.u32()?;
        let mode = x.u32()?;
        let nlink = x.u32()?;
        let uid = x.u32()?;
        let gid = x.u32()?;
        let size = x.u64()?;
        let _used = x.u64()?;
        let _rdev = x.u64()?;
        let fsid = x.u64()?;
        let fileid = x.u64()?;
        let _atime = x.u64()?;
        let mtime = (x.u32()?, x.u32()?);
        let _ctime = x.u64()?;
        Ok(Fattr3 {
            ftype,
            mode,
            nlink,
            uid,
            gid,
            size,
            fsid,
            fileid,
            mtime,
        })
    }
}

/// nfsstat3 values the tests check (RFC 1813 §2.6).
pub mod nfsstat {
    /// NFS3ERR_PERM.
    pub const PERM: u32 = 1;
    /// NFS3ERR_NOENT.
    pub const NOENT: u32 = 2;
    /// NFS3ERR_ACCES.
    pub const ACCES: u32 = 13;
    /// NFS3ERR_NOTDIR.
    pub const NOTDIR: u32 = 20;
    /// NFS3ERR_INVAL.
    pub const INVAL: u32 = 22;
    /// NFS3ERR_ROFS.
    pub const ROFS: u32 = 30;
    /// NFS3ERR_STALE.
    pub const STALE: u32 = 70;
    /// NFS3ERR_BADHANDLE.
    pub const BADHANDLE: u32 = 10001;
}
