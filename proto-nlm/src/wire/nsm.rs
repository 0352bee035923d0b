//! NSM version 1 (program 100024): the status monitor's data types and procedures (XNFS
//! "Protocols for Interworking", chapter 11; `sm_inter.x`).
//!
//! | # | procedure | argument | result |
//! |---|---|---|---|
//! | 0 | SM_NULL | void | void |
//! | 1 | SM_STAT | `sm_name` | `sm_stat_res` |
//! | 2 | SM_MON | `mon` | `sm_stat_res` |
//! | 3 | SM_UNMON | `mon_id` | `sm_stat` |
//! | 4 | SM_UNMON_ALL | `my_id` | `sm_stat` |
//! | 5 | SM_SIMU_CRASH | void | void |
//! | 6 | SM_NOTIFY | `stat_chge` | void |
//!
//! The callback an NSM makes to `my_id` when a monitored host reboots carries a `status`
//! ([`SmStatus`]); its program, version and procedure are whatever `my_id` named.

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use proto_nfs::xdr::{self, XResult, XdrDecode, XdrEncode, XdrError, XdrErrorKind};

use super::nlm4_call::CallDecodeError;
use super::opaque::SmString;

/// The NSM program number.
pub const NSM_PROGRAM: u32 = 100_024;
/// The NSM version.
pub const NSM_VERSION_1: u32 = 1;
/// Size of the private data returned in the SM_NOTIFY callback (`opaque priv[16]`).
pub const SM_PRIV_SIZE: usize = 16;

/// `sm_name`: argument of SM_STAT.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct SmName {
    /// The host asked about.
    pub mon_name: SmString,
}

impl XdrDecode for SmName {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, mon_name) = SmString::decode(input)?;
        Ok((input, SmName { mon_name }))
    }
}

impl XdrEncode for SmName {
    fn encode(&self, out: &mut BytesMut) {
        self.mon_name.encode(out);
    }
}

/// `my_id`: the RPC procedure the NSM calls back when a monitored host changes state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct MyId {
    /// Host to call back (in practice the caller's own host).
    pub my_name: SmString,
    /// Program to call back.
    pub my_prog: u32,
    /// Version to call back.
    pub my_vers: u32,
    /// Procedure to call back.
    pub my_proc: u32,
}

impl XdrDecode for MyId {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, my_name) = SmString::decode(input)?;
        let (input, my_prog) = xdr::u32(input)?;
        let (input, my_vers) = xdr::u32(input)?;
        let (input, my_proc) = xdr::u32(input)?;
        Ok((
            input,
            MyId {
                my_name,
                my_prog,
                my_vers,
                my_proc,
            },
        ))
    }
}

impl XdrEncode for MyId {
    fn encode(&self, out: &mut BytesMut) {
        self.my_name.encode(out);
        xdr::put_u32(out, self.my_prog);
        xdr::put_u32(out, self.my_vers);
        xdr::put_u32(out, self.my_proc);
    }
}

/// `mon_id`: which host to monitor and whom to tell; argument of SM_UNMON.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct MonId {
    /// The monitored host.
    pub mon_name: SmString,
    /// The callback.
    pub my_id: MyId,
}

impl XdrDecode for MonId {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, mon_name) = SmString::decode(input)?;
        let (input, my_id) = MyId::decode(input)?;
        Ok((input, MonId { mon_name, my_id }))
    }
}

impl XdrEncode for MonId {
    fn encode(&self, out: &mut BytesMut) {
        self.mon_name.encode(out);
        self.my_id.encode(out);
    }
}

/// `mon`: argument of SM_MON.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct Mon {
    /// What to monitor and whom to tell.
    pub mon_id: MonId,
    /// Returned verbatim in the callback.
    pub priv_: [u8; SM_PRIV_SIZE],
}

impl XdrDecode for Mon {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, mon_id) = MonId::decode(input)?;
        let (input, priv_) = xdr::opaque_array::<SM_PRIV_SIZE>(input)?;
        Ok((input, Mon { mon_id, priv_ }))
    }
}

impl XdrEncode for Mon {
    fn encode(&self, out: &mut BytesMut) {
        self.mon_id.encode(out);
        xdr::put_opaque_fixed(out, &self.priv_);
    }
}

/// `res`: success of SM_STAT and SM_MON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Arbitrary)]
pub enum SmRes {
    /// `stat_succ` (0).
    Succ,
    /// `stat_fail` (1).
    Fail,
}

/// `sm_stat_res`: result of SM_STAT and SM_MON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Arbitrary)]
pub struct SmStatRes {
    /// Whether the NSM will (or could) monitor the host.
    pub res_stat: SmRes,
    /// The NSM's own state number.
    pub state: i32,
}

impl XdrDecode for SmStatRes {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (rest, v) = xdr::u32(input)?;
        let res_stat = match v {
            0 => SmRes::Succ,
            1 => SmRes::Fail,
            other => return XdrError::fail(input, XdrErrorKind::BadDiscriminant(other)),
        };
        let (rest, state) = xdr::i32(rest)?;
        Ok((rest, SmStatRes { res_stat, state }))
    }
}

impl XdrEncode for SmStatRes {
    fn encode(&self, out: &mut BytesMut) {
        xdr::put_u32(
            out,
            match self.res_stat {
                SmRes::Succ => 0,
                SmRes::Fail => 1,
            },
        );
        xdr::put_i32(out, self.state);
    }
}

/// `sm_stat`: result of SM_UNMON and SM_UNMON_ALL: the NSM's state number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Arbitrary)]
pub struct SmStat {
    /// The NSM's own state number.
    pub state: i32,
}

impl XdrDecode for SmStat {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, state) = xdr::i32(input)?;
        Ok((input, SmStat { state }))
    }
}

impl XdrEncode for SmStat {
    fn encode(&self, out: &mut BytesMut) {
        xdr::put_i32(out, self.state);
    }
}

/// `stat_chge`: argument of SM_NOTIFY: a host announces its new state after a reboot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct StatChge {
    /// The host whose state changed.
    pub mon_name: SmString,
    /// Its new state number.
    pub state: i32,
}

impl XdrDecode for StatChge {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, mon_name) = SmString::decode(input)?;
        let (input, state) = xdr::i32(input)?;
        Ok((input, StatChge { mon_name, state }))
    }
}

impl XdrEncode for StatChge {
    fn encode(&self, out: &mut BytesMut) {
        self.mon_name.encode(out);
        xdr::put_i32(out, self.state);
    }
}

/// `status`: the callback an NSM sends to `my_id` when a monitored host changed state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Arbitrary)]
pub struct SmStatus {
    /// The host whose state changed.
    pub mon_name: SmString,
    /// Its new state number.
    pub state: i32,
    /// The `priv` given in SM_MON.
    pub priv_: [u8; SM_PRIV_SIZE],
}

impl XdrDecode for SmStatus {
    fn decode(input: &[u8]) -> XResult<'_, Self> {
        let (input, mon_name) = SmString::decode(input)?;
        let (input, state) = xdr::i32(input)?;
        let (input, priv_) = xdr::opaque_array::<SM_PRIV_SIZE>(input)?;
        Ok((
            input,
            SmStatus {
                mon_name,
                state,
                priv_,
            },
        ))
    }
}

impl XdrEncode for SmStatus {
    fn encode(&self, out: &mut BytesMut) {
        self.mon_name.encode(out);
        xdr::put_i32(out, self.state);
        xdr::put_opaque_fixed(out, &self.priv_);
    }
}

/// An NSM v1 procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Arbitrary)]
pub enum NsmProc {
    /// 0: ping.
    Null,
    /// 1: may this host be monitored? (answers our state number).
    Stat,
    /// 2: monitor a host.
    Mon,
    /// 3: stop monitoring a host for one callback.
    Unmon,
    /// 4: stop monitoring every host for one callback.
    UnmonAll,
    /// 5: simulate a crash: bump the state and notify.
    SimuCrash,
    /// 6: a host announces its new state.
    Notify,
}

impl NsmProc {
    /// The procedure number.
    pub const fn to_u32(self) -> u32 {
        match self {
            NsmProc::Null => 0,
            NsmProc::Stat => 1,
            NsmProc::Mon => 2,
            NsmProc::Unmon => 3,
            NsmProc::UnmonAll => 4,
            NsmProc::SimuCrash => 5,
            NsmProc::Notify => 6,
        }
    }

    /// The procedure for a number, if defined.
    pub const fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            0 => NsmProc::Null,
            1 => NsmProc::Stat,
            2 => NsmProc::Mon,
            3 => NsmProc::Unmon,
            4 => NsmProc::UnmonAll,
            5 => NsmProc::SimuCrash,
            6 => NsmProc::Notify,
            _ => return None,
        })
    }

    /// The procedure name (for logs).
    pub const fn name(self) -> &'static str {
        match self {
            NsmProc::Null => "SM_NULL",
            NsmProc::Stat => "SM_STAT",
            NsmProc::Mon => "SM_MON",
            NsmProc::Unmon => "SM_UNMON",
            NsmProc::UnmonAll => "SM_UNMON_ALL",
            NsmProc::SimuCrash => "SM_SIMU_CRASH",
            NsmProc::Notify => "SM_NOTIFY",
        }
    }
}

/// A decoded NSM v1 call.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum NsmCall {
    /// SM_NULL.
    Null,
    /// SM_STAT.
    Stat(SmName),
    /// SM_MON.
    Mon(Mon),
    /// SM_UNMON.
    Unmon(MonId),
    /// SM_UNMON_ALL.
    UnmonAll(MyId),
    /// SM_SIMU_CRASH.
    SimuCrash,
    /// SM_NOTIFY.
    Notify(StatChge),
}

fn void(args: &[u8]) -> Result<(), CallDecodeError> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(CallDecodeError::GarbageArgs(XdrErrorKind::Invalid(
            "trailing bytes",
        )))
    }
}

fn exact<T: XdrDecode>(args: &[u8]) -> Result<T, CallDecodeError> {
    T::decode_exact(args).map_err(CallDecodeError::GarbageArgs)
}

impl NsmCall {
    /// Decodes the arguments of `procedure`.
    pub fn decode(procedure: u32, args: &[u8]) -> Result<Self, CallDecodeError> {
        let Some(p) = NsmProc::from_u32(procedure) else {
            return Err(CallDecodeError::ProcUnavail(procedure));
        };
        Ok(match p {
            NsmProc::Null => {
                void(args)?;
                NsmCall::Null
            }
            NsmProc::Stat => NsmCall::Stat(exact(args)?),
            NsmProc::Mon => NsmCall::Mon(exact(args)?),
            NsmProc::Unmon => NsmCall::Unmon(exact(args)?),
            NsmProc::UnmonAll => NsmCall::UnmonAll(exact(args)?),
            NsmProc::SimuCrash => {
                void(args)?;
                NsmCall::SimuCrash
            }
            NsmProc::Notify => NsmCall::Notify(exact(args)?),
        })
    }

    /// The procedure of this call.
    pub fn procedure(&self) -> NsmProc {
        match self {
            NsmCall::Null => NsmProc::Null,
            NsmCall::Stat(_) => NsmProc::Stat,
            NsmCall::Mon(_) => NsmProc::Mon,
            NsmCall::Unmon(_) => NsmProc::Unmon,
            NsmCall::UnmonAll(_) => NsmProc::UnmonAll,
            NsmCall::SimuCrash => NsmProc::SimuCrash,
            NsmCall::Notify(_) => NsmProc::Notify,
        }
    }

    /// Appends the XDR arguments.
    pub fn encode_args(&self, out: &mut BytesMut) {
        match self {
            NsmCall::Null | NsmCall::SimuCrash => {}
            NsmCall::Stat(a) => a.encode(out),
            NsmCall::Mon(a) => a.encode(out),
            NsmCall::Unmon(a) => a.encode(out),
            NsmCall::UnmonAll(a) => a.encode(out),
            NsmCall::Notify(a) => a.encode(out),
        }
    }

    /// The XDR arguments in a fresh buffer.
    pub fn args_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode_args(&mut out);
        out.freeze()
    }
}

/// The result body of an NSM call.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum NsmReply {
    /// void: SM_NULL, SM_SIMU_CRASH, SM_NOTIFY.
    Void,
    /// `sm_stat_res`: SM_STAT, SM_MON.
    StatRes(SmStatRes),
    /// `sm_stat`: SM_UNMON, SM_UNMON_ALL.
    Stat(SmStat),
}

impl NsmReply {
    /// Decodes the result of a call to `procedure` (e.g. the reply to our SM_NOTIFY).
    pub fn decode(procedure: NsmProc, body: &[u8]) -> Result<Self, XdrErrorKind> {
        Ok(match procedure {
            NsmProc::Null | NsmProc::SimuCrash | NsmProc::Notify => {
                if !body.is_empty() {
                    return Err(XdrErrorKind::Invalid("trailing bytes"));
                }
                NsmReply::Void
            }
            NsmProc::Stat | NsmProc::Mon => NsmReply::StatRes(SmStatRes::decode_exact(body)?),
            NsmProc::Unmon | NsmProc::UnmonAll => NsmReply::Stat(SmStat::decode_exact(body)?),
        })
    }
}

impl XdrEncode for NsmReply {
    fn encode(&self, out: &mut BytesMut) {
        match self {
            NsmReply::Void => {}
            NsmReply::StatRes(r) => r.encode(out),
            NsmReply::Stat(r) => r.encode(out),
        }
    }
}
