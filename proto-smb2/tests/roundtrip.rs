//! Round-trip properties: for every message, `decode(encode(x)) == x` over generated
//! values, and no decoder panics on arbitrary or truncated bytes.

use proptest::collection::vec;
use proptest::prelude::*;
use proto_smb2::auth::ntlm::{
    self, AuthenticateMessage, AvPair, ChallengeMessage, NegotiateMessage,
};
use proto_smb2::auth::spnego::{self, NegState, NegToken, NegTokenInit, NegTokenResp};
use proto_smb2::cmd::negotiate::{context_type, dialect};
use proto_smb2::cmd::tree_connect::request_flags;
use proto_smb2::cmd::*;
use proto_smb2::crypto::transform::TransformHeader;
use proto_smb2::header::flags;
use proto_smb2::{Command, Header, HeaderId, NtStatus};

fn header() -> impl Strategy<Value = Header> {
    let id = prop_oneof![
        (any::<u32>(), any::<u32>()).prop_map(|(process_id, tree_id)| HeaderId::Sync {
            process_id,
            tree_id
        }),
        any::<u64>().prop_map(|async_id| HeaderId::Async { async_id }),
    ];
    (
        any::<u16>(),
        any::<u32>(),
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        any::<u32>(),
        any::<u64>(),
        id,
        any::<u64>(),
        any::<[u8; 16]>(),
    )
        .prop_map(|(cc, st, cmd, cr, fl, next, mid, id, sid, sig)| {
            let async_bit = match id {
                HeaderId::Async { .. } => flags::ASYNC_COMMAND,
                HeaderId::Sync { .. } => 0,
            };
            Header {
                credit_charge: cc,
                status: NtStatus(st),
                command: Command(cmd),
                credits: cr,
                flags: (fl & !flags::ASYNC_COMMAND) | async_bit,
                next_command: next,
                message_id: mid,
                id,
                session_id: sid,
                signature: sig,
            }
        })
}

/// A whole message: a header, then the body the closure writes.
fn message(h: &Header, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut m = Vec::new();
    h.encode(&mut m);
    body(&mut m);
    m
}

fn neg_context() -> impl Strategy<Value = NegotiateContext> {
    prop_oneof![
        (vec(any::<u16>(), 1..4), vec(any::<u8>(), 0..64)).prop_map(|(h, s)| {
            NegotiateContext::PreauthIntegrity {
                hash_algorithms: h,
                salt: s,
            }
        }),
        vec(any::<u16>(), 1..5).prop_map(|c| NegotiateContext::Encryption { ciphers: c }),
        vec(any::<u16>(), 1..4).prop_map(|a| NegotiateContext::Signing { algorithms: a }),
        (any::<u16>(), vec(any::<u8>(), 0..40))
            .prop_filter("known types decode into their variants", |(t, _)| {
                ![
                    context_type::PREAUTH_INTEGRITY,
                    context_type::ENCRYPTION,
                    context_type::SIGNING,
                ]
                .contains(t)
            })
            .prop_map(|(t, d)| NegotiateContext::Other {
                context_type: t,
                data: d
            }),
    ]
}

fn negotiate_request() -> impl Strategy<Value = NegotiateRequest> {
    (
        any::<u16>(),
        any::<u32>(),
        any::<[u8; 16]>(),
        vec(
            any::<u16>().prop_filter("3.1.1 is added explicitly", |d| *d != dialect::SMB311),
            0..8,
        ),
        any::<bool>(),
        any::<u64>(),
        vec(neg_context(), 0..5),
    )
        .prop_filter_map(
            "at least one dialect",
            |(sm, cap, guid, mut ds, with311, t, ctx)| {
                if with311 {
                    ds.push(dialect::SMB311);
                }
                (!ds.is_empty()).then(|| NegotiateRequest {
                    security_mode: sm,
                    capabilities: cap,
                    client_guid: guid,
                    dialects: ds,
                    client_start_time: if with311 { 0 } else { t },
                    contexts: if with311 { ctx } else { Vec::new() },
                })
            },
        )
}

fn negotiate_response() -> impl Strategy<Value = NegotiateResponse> {
    (
        (
            any::<u16>(),
            any::<bool>(),
            any::<u16>(),
            any::<[u8; 16]>(),
            any::<u32>(),
        ),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u64>(),
            any::<u64>(),
        ),
        vec(any::<u8>(), 0..120),
        vec(neg_context(), 0..4),
    )
        .prop_map(
            |((sm, is311, d, guid, cap), (mt, mr, mw, st, sst), buf, ctx)| {
                let d = if is311 {
                    dialect::SMB311
                } else if d == dialect::SMB311 {
                    dialect::SMB300
                } else {
                    d
                };
                NegotiateResponse {
                    security_mode: sm,
                    dialect: d,
                    server_guid: guid,
                    capabilities: cap,
                    max_transact_size: mt,
                    max_read_size: mr,
                    max_write_size: mw,
                    system_time: st,
                    server_start_time: sst,
                    security_buffer: buf,
                    contexts: if is311 { ctx } else { Vec::new() },
                }
            },
        )
}

fn tree_connect_request() -> impl Strategy<Value = TreeConnectRequest> {
    let ctx = (any::<u16>(), vec(any::<u8>(), 0..24)).prop_map(|(t, d)| TreeConnectContext {
        context_type: t,
        data: d,
    });
    (
        any::<u16>(),
        vec(any::<u16>(), 0..40),
        proptest::option::of(vec(ctx, 0..3)),
    )
        .prop_map(|(f, path, ext)| TreeConnectRequest {
            flags: if ext.is_some() {
                f | request_flags::EXTENSION_PRESENT
            } else {
                f & !request_flags::EXTENSION_PRESENT
            },
            path,
            extension: ext,
        })
}

fn av_pairs() -> impl Strategy<Value = Vec<AvPair>> {
    vec(
        (1u16..=10, vec(any::<u8>(), 0..24)).prop_map(|(id, value)| AvPair { id, value }),
        0..5,
    )
}

fn oid() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 1..12)
}

fn octets() -> impl Strategy<Value = Vec<u8>> {
    // Up to 300 bytes, so long-form DER lengths are exercised.
    vec(any::<u8>(), 0..300)
}

fn file_id() -> impl Strategy<Value = FileId> {
    (any::<u64>(), any::<u64>()).prop_map(|(persistent, volatile)| FileId {
        persistent,
        volatile,
    })
}

fn times() -> impl Strategy<Value = FileTimesAndSizes> {
    any::<[u64; 6]>().prop_map(|v| FileTimesAndSizes {
        creation_time: v[0],
        last_access_time: v[1],
        last_write_time: v[2],
        change_time: v[3],
        allocation_size: v[4],
        end_of_file: v[5],
    })
}

fn create_contexts() -> impl Strategy<Value = Vec<CreateContext>> {
    vec(
        (vec(any::<u8>(), 1..17), vec(any::<u8>(), 0..40))
            .prop_map(|(name, data)| CreateContext { name, data }),
        0..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn create_roundtrips(
        h in header(), a in any::<(u8, u8, u32, u64)>(), b in any::<(u32, u32, u32, u32, u32)>(),
        name in vec(any::<u16>(), 0..40), ctx in create_contexts(),
        r in any::<(u8, u8, u32, u32)>(), info in times(), fid in file_id(), rctx in create_contexts(),
    ) {
        let req = CreateRequest {
            security_flags: a.0, requested_oplock_level: a.1, impersonation_level: a.2,
            smb_create_flags: a.3, desired_access: b.0, file_attributes: b.1, share_access: b.2,
            create_disposition: b.3, create_options: b.4, name, contexts: ctx,
        };
        let m = message(&h, |o| req.encode(o));
        prop_assert_eq!(CreateRequest::decode(&m).unwrap(), req);
        let resp = CreateResponse {
            oplock_level: r.0, flags: r.1, create_action: r.2, info, file_attributes: r.3,
            file_id: fid, contexts: rctx,
        };
        let m = message(&h, |o| resp.encode(o));
        prop_assert_eq!(CreateResponse::decode(&m).unwrap(), resp);
    }

    #[test]
    fn ioctl_roundtrips(
        h in header(), code in any::<u32>(), fid in file_id(), a in any::<(u32, u32, u32)>(),
        input in vec(any::<u8>(), 0..100), output in vec(any::<u8>(), 0..100),
        caps in any::<u32>(), guid in any::<[u8; 16]>(), sm in any::<u16>(), ds in vec(any::<u16>(), 0..8),
    ) {
        let req = IoctlRequest {
            ctl_code: code, file_id: fid, max_input_response: a.0, max_output_response: a.1,
            flags: a.2, input: input.clone(), output: output.clone(),
        };
        let m = message(&h, |o| req.encode(o));
        prop_assert_eq!(IoctlRequest::decode(&m).unwrap(), req);
        let resp = IoctlResponse { ctl_code: code, file_id: fid, flags: a.2, input, output };
        let m = message(&h, |o| resp.encode(o));
        prop_assert_eq!(IoctlResponse::decode(&m).unwrap(), resp);
        let v = ValidateNegotiateInfoRequest { capabilities: caps, guid, security_mode: sm, dialects: ds };
        let mut b = Vec::new();
        v.encode(&mut b);
        prop_assert_eq!(ValidateNegotiateInfoRequest::decode(&b).unwrap(), v);
        let v = ValidateNegotiateInfoResponse { capabilities: caps, guid, security_mode: sm, dialect: a.0 as u16 };
        let mut b = Vec::new();
        v.encode(&mut b);
        prop_assert_eq!(b.len(), 24);
        prop_assert_eq!(ValidateNegotiateInfoResponse::decode(&b).unwrap(), v);
    }

    #[test]
    fn query_set_info_notify_roundtrip(
        h in header(), a in any::<(u8, u8, u32, u32, u32)>(), fid in file_id(),
        pattern in vec(any::<u16>(), 0..30), data in vec(any::<u8>(), 0..200), f in any::<u16>(),
    ) {
        let q = QueryDirectoryRequest {
            file_information_class: a.0, flags: a.1, file_index: a.2, file_id: fid,
            output_buffer_length: a.3, pattern,
        };
        let m = message(&h, |o| q.encode(o));
        prop_assert_eq!(QueryDirectoryRequest::decode(&m).unwrap(), q);
        let r = OutputBufferResponse { data: data.clone() };
        let m = message(&h, |o| r.encode(o));
        prop_assert_eq!(OutputBufferResponse::decode(&m).unwrap(), r);
        let qi = QueryInfoRequest {
            info_type: a.0, file_info_class: a.1, output_buffer_length: a.2,
            additional_information: a.3, flags: a.4, file_id: fid, input: data.clone(),
        };
        let m = message(&h, |o| qi.encode(o));
        prop_assert_eq!(QueryInfoRequest::decode(&m).unwrap(), qi);
        let si = SetInfoRequest {
            info_type: a.0, file_info_class: a.1, additional_information: a.3, file_id: fid, buffer: data,
        };
        let m = message(&h, |o| si.encode(o));
        prop_assert_eq!(SetInfoRequest::decode(&m).unwrap(), si);
        let m = message(&h, |o| SetInfoResponse.encode(o));
        prop_assert_eq!(SetInfoResponse::decode(&m).unwrap(), SetInfoResponse);
        let cn = ChangeNotifyRequest { flags: f, output_buffer_length: a.2, file_id: fid, completion_filter: a.4 };
        let m = message(&h, |o| cn.encode(o));
        prop_assert_eq!(ChangeNotifyRequest::decode(&m).unwrap(), cn);
    }

    #[test]
    fn lock_and_oplock_break_roundtrip(
        h in header(), seq in any::<u32>(), fid in file_id(),
        locks in vec(any::<(u64, u64, u32)>(), 1..6), level in any::<u8>(),
        key in any::<[u8; 16]>(), b in any::<(u16, u32, u32, u32, u64)>(),
    ) {
        let l = LockRequest {
            lock_sequence: seq, file_id: fid,
            locks: locks.into_iter().map(|(offset, length, flags)| LockElement { offset, length, flags }).collect(),
        };
        let m = message(&h, |o| l.encode(o));
        prop_assert_eq!(LockRequest::decode(&m).unwrap(), l);
        let m = message(&h, |o| LockResponse.encode(o));
        prop_assert_eq!(LockResponse::decode(&m).unwrap(), LockResponse);
        for ob in [
            OplockBreak::Oplock { oplock_level: level, file_id: fid },
            OplockBreak::LeaseNotification { new_epoch: b.0, flags: b.1, lease_key: key, current_lease_state: b.2, new_lease_state: b.3 },
            OplockBreak::LeaseAck { flags: b.1, lease_key: key, lease_state: b.2, lease_duration: b.4 },
        ] {
            let m = message(&h, |o| ob.encode(o));
            prop_assert_eq!(OplockBreak::decode(&m).unwrap(), ob);
        }
    }

    #[test]
    fn close_flush_roundtrip(h in header(), f in any::<u16>(), fid in file_id(), info in times(), attrs in any::<u32>()) {
        let req = CloseRequest { flags: f, file_id: fid };
        let m = message(&h, |o| req.encode(o));
        prop_assert_eq!(CloseRequest::decode(&m).unwrap(), req);
        let resp = CloseResponse { flags: f, info, file_attributes: attrs };
        let m = message(&h, |o| resp.encode(o));
        prop_assert_eq!(CloseResponse::decode(&m).unwrap(), resp);
        let fl = FlushRequest { file_id: fid };
        let m = message(&h, |o| fl.encode(o));
        prop_assert_eq!(FlushRequest::decode(&m).unwrap(), fl);
        let m = message(&h, |o| FlushResponse.encode(o));
        prop_assert_eq!(FlushResponse::decode(&m).unwrap(), FlushResponse);
    }

    #[test]
    fn read_write_roundtrip(
        h in header(), a in any::<(u8, u8, u32, u64, u32, u32, u32)>(), fid in file_id(),
        ci in vec(any::<u8>(), 0..32), data in vec(any::<u8>(), 0..600), f in any::<u32>(),
    ) {
        let req = ReadRequest {
            padding: a.0, flags: a.1, length: a.2, offset: a.3, file_id: fid,
            minimum_count: a.4, channel: a.5, remaining_bytes: a.6, channel_info: ci.clone(),
        };
        let m = message(&h, |o| req.encode(o));
        prop_assert_eq!(ReadRequest::decode(&m).unwrap(), req);
        let resp = ReadResponse { data_remaining: a.4, flags: f, data: bytes::Bytes::from(data.clone()) };
        let m = bytes::Bytes::from(message(&h, |o| resp.encode(o)));
        prop_assert_eq!(ReadResponse::decode(&m).unwrap(), resp);
        let w = WriteRequest {
            offset: a.3, file_id: fid, channel: a.5, remaining_bytes: a.6, channel_info: ci,
            flags: f, data: bytes::Bytes::from(data),
        };
        let m = bytes::Bytes::from(message(&h, |o| w.encode(o)));
        prop_assert_eq!(WriteRequest::decode(&m).unwrap(), w);
        let wr = WriteResponse { count: a.2, remaining: a.4 };
        let m = message(&h, |o| wr.encode(o));
        prop_assert_eq!(WriteResponse::decode(&m).unwrap(), wr);
    }

    #[test]
    fn header_roundtrips(h in header()) {
        let m = message(&h, |_| {});
        prop_assert_eq!(m.len(), 64);
        prop_assert_eq!(Header::decode(&m).unwrap(), h);
    }

    #[test]
    fn negotiate_request_roundtrips(h in header(), r in negotiate_request()) {
        let m = message(&h, |o| r.encode(o));
        prop_assert_eq!(NegotiateRequest::decode(&m).unwrap(), r);
    }

    #[test]
    fn negotiate_response_roundtrips(h in header(), r in negotiate_response()) {
        let m = message(&h, |o| r.encode(o));
        prop_assert_eq!(NegotiateResponse::decode(&m).unwrap(), r);
    }

    #[test]
    fn session_setup_roundtrips(
        h in header(),
        f in any::<u8>(), sm in any::<u8>(), cap in any::<u32>(), ch in any::<u32>(),
        prev in any::<u64>(), buf in vec(any::<u8>(), 0..200), sflags in any::<u16>(),
    ) {
        let req = SessionSetupRequest {
            flags: f, security_mode: sm, capabilities: cap, channel: ch,
            previous_session_id: prev, security_buffer: buf.clone(),
        };
        let m = message(&h, |o| req.encode(o));
        prop_assert_eq!(SessionSetupRequest::decode(&m).unwrap(), req);
        let resp = SessionSetupResponse { session_flags: sflags, security_buffer: buf };
        let m = message(&h, |o| resp.encode(o));
        prop_assert_eq!(SessionSetupResponse::decode(&m).unwrap(), resp);
    }

    #[test]
    fn tree_connect_roundtrips(
        h in header(), r in tree_connect_request(),
        st in any::<u8>(), sf in any::<u32>(), cap in any::<u32>(), ma in any::<u32>(),
    ) {
        let m = message(&h, |o| r.encode(o));
        prop_assert_eq!(TreeConnectRequest::decode(&m, true).unwrap(), r.clone());
        // Before 3.1.1 the Flags field is Reserved: no extension is looked for.
        if r.extension.is_none() {
            prop_assert_eq!(TreeConnectRequest::decode(&m, false).unwrap(), r);
        }
        let resp = TreeConnectResponse { share_type: st, share_flags: sf, capabilities: cap, maximal_access: ma };
        let m = message(&h, |o| resp.encode(o));
        prop_assert_eq!(TreeConnectResponse::decode(&m).unwrap(), resp);
    }

    #[test]
    fn error_response_roundtrips(h in header(), count in any::<u8>(), data in vec(any::<u8>(), 0..64)) {
        let e = ErrorResponse { error_context_count: count, error_data: data };
        let m = message(&h, |o| e.encode(o));
        prop_assert_eq!(ErrorResponse::decode(&m).unwrap(), e);
    }

    #[test]
    fn error_contexts_roundtrip(ctx in vec((any::<u32>(), vec(any::<u8>(), 0..30)), 0..4)) {
        let ctx: Vec<ErrorContext> = ctx.into_iter().map(|(error_id, data)| ErrorContext { error_id, data }).collect();
        let e = ErrorResponse::with_contexts(&ctx);
        prop_assert_eq!(e.contexts().unwrap(), ctx);
    }

    #[test]
    fn fixed_size_messages_roundtrip(h in header()) {
        macro_rules! rt { ($($t:ident),*) => {$(
            let m = message(&h, |o| $t.encode(o));
            prop_assert_eq!(m.len(), 68);
            prop_assert_eq!($t::decode(&m).unwrap(), $t);
        )*}}
        rt!(LogoffRequest, LogoffResponse, TreeDisconnectRequest, TreeDisconnectResponse,
            EchoRequest, EchoResponse, CancelRequest);
    }

    #[test]
    fn smb1_negotiate_roundtrips(ds in vec(vec(1u8..=255, 0..12), 0..8)) {
        let n = proto_smb2::smb1::Smb1Negotiate { dialects: ds };
        prop_assert_eq!(proto_smb2::smb1::Smb1Negotiate::decode(&n.encode()).unwrap(), n);
    }

    #[test]
    fn transform_header_roundtrips(
        sig in any::<[u8; 16]>(), nonce in any::<[u8; 16]>(), size in any::<u32>(),
        f in any::<u16>(), sid in any::<u64>(),
    ) {
        let t = TransformHeader { signature: sig, nonce, original_message_size: size, flags: f, session_id: sid };
        let mut b = Vec::new();
        t.encode(&mut b);
        prop_assert_eq!(b.len(), 52);
        prop_assert_eq!(TransformHeader::decode(&b).unwrap(), t);
    }

    #[test]
    fn ntlm_negotiate_roundtrips(f in any::<u32>(), d in vec(any::<u8>(), 0..20), w in vec(any::<u8>(), 0..20), v in any::<[u8; 8]>()) {
        let m = NegotiateMessage {
            flags: f, domain: d, workstation: w,
            version: (f & ntlm::flags::VERSION != 0).then_some(v),
        };
        prop_assert_eq!(NegotiateMessage::decode(&m.encode()).unwrap(), m);
    }

    #[test]
    fn ntlm_challenge_roundtrips(f in any::<u32>(), t in vec(any::<u8>(), 0..20), sc in any::<[u8; 8]>(), ti in av_pairs(), v in any::<[u8; 8]>()) {
        let m = ChallengeMessage {
            flags: f, target_name: t, server_challenge: sc, target_info: ti,
            version: (f & ntlm::flags::VERSION != 0).then_some(v),
        };
        prop_assert_eq!(ChallengeMessage::decode(&m.encode()).unwrap(), m);
    }

    #[test]
    fn ntlm_authenticate_roundtrips(
        proof in any::<[u8; 16]>(), cc in any::<[u8; 8]>(), time in any::<u64>(), pairs in av_pairs(),
        with_mic in any::<bool>(), mic in any::<[u8; 16]>(), lm in vec(any::<u8>(), 0..24),
        d in vec(any::<u8>(), 0..20), u in vec(any::<u8>(), 0..20), w in vec(any::<u8>(), 0..20),
        k in vec(any::<u8>(), 0..17), f in any::<u32>(), v in any::<[u8; 8]>(),
    ) {
        // The MIC's presence is announced in the response's MsvAvFlags.
        let mut pairs: Vec<AvPair> = pairs.into_iter().filter(|p| p.id != ntlm::av_id::FLAGS).collect();
        if with_mic {
            pairs.push(AvPair { id: ntlm::av_id::FLAGS, value: ntlm::AV_FLAG_MIC_PRESENT.to_le_bytes().to_vec() });
        }
        let mut nt = proof.to_vec();
        nt.extend(ntlm::ntlmv2_blob(time, &cc, &pairs));
        let m = AuthenticateMessage {
            lm_response: lm, nt_response: nt, domain: d, user: u, workstation: w,
            encrypted_random_session_key: k, flags: f,
            version: (f & ntlm::flags::VERSION != 0).then_some(v),
            mic: with_mic.then_some(mic),
        };
        prop_assert_eq!(AuthenticateMessage::decode(&m.encode()).unwrap(), m);
    }

    #[test]
    fn spnego_roundtrips(
        mechs in vec(oid(), 0..4), tok in proptest::option::of(octets()), mic in proptest::option::of(octets()),
        state in proptest::option::of(0u8..4), sup in proptest::option::of(oid()),
    ) {
        let init = NegTokenInit { mech_types: mechs, mech_token: tok.clone(), mech_list_mic: mic.clone() };
        prop_assert_eq!(spnego::decode_token(&init.encode()).unwrap(), NegToken::Init(init));
        let resp = NegTokenResp {
            neg_state: state.map(|s| [NegState::AcceptCompleted, NegState::AcceptIncomplete, NegState::Reject, NegState::RequestMic][usize::from(s)]),
            supported_mech: sup, response_token: tok, mech_list_mic: mic,
        };
        prop_assert_eq!(spnego::decode_token(&resp.encode()).unwrap(), NegToken::Resp(resp));
    }

    /// No decoder panics on arbitrary bytes behind a valid header.
    #[test]
    fn decoders_do_not_panic(h in header(), body in vec(any::<u8>(), 0..300)) {
        let m = message(&h, |o| o.extend_from_slice(&body));
        let _ = NegotiateRequest::decode(&m);
        let _ = NegotiateResponse::decode(&m);
        let _ = SessionSetupRequest::decode(&m);
        let _ = SessionSetupResponse::decode(&m);
        let _ = TreeConnectRequest::decode(&m, true);
        let _ = TreeConnectRequest::decode(&m, false);
        let _ = TreeConnectResponse::decode(&m);
        let _ = ErrorResponse::decode(&m).map(|e| e.contexts());
        let _ = EchoRequest::decode(&m);
        let _ = CreateRequest::decode(&m);
        let _ = CreateResponse::decode(&m);
        let _ = proto_smb2::cmd::create::decode_create_contexts(&body);
        let _ = CloseRequest::decode(&m);
        let _ = IoctlRequest::decode(&m);
        let _ = QueryDirectoryRequest::decode(&m);
        let _ = OutputBufferResponse::decode(&m);
        let _ = QueryInfoRequest::decode(&m);
        let _ = SetInfoRequest::decode(&m);
        let _ = ChangeNotifyRequest::decode(&m);
        let _ = LockRequest::decode(&m);
        let _ = OplockBreak::decode(&m);
        let _ = IoctlResponse::decode(&m);
        let _ = ValidateNegotiateInfoRequest::decode(&body);
        let _ = CloseResponse::decode(&m);
        let _ = ReadRequest::decode(&m);
        let mb = bytes::Bytes::from(m.clone());
        let _ = ReadResponse::decode(&mb);
        let _ = WriteRequest::decode(&mb);
        let _ = spnego::decode_token(&body);
        let _ = NegotiateMessage::decode(&body);
        let _ = ChallengeMessage::decode(&body);
        let _ = AuthenticateMessage::decode(&body);
        let _ = ntlm::decode_av_pairs(&body);
        let _ = TransformHeader::decode(&body);
        let _ = proto_smb2::smb1::Smb1Negotiate::decode(&body);
        let _ = proto_smb2::compound::split_compound(&bytes::Bytes::from(m), 16);
    }

    /// Every truncation of a valid NEGOTIATE request with contexts is an error, not a panic:
    /// a cut header is a disconnect, a cut body STATUS_INVALID_PARAMETER.
    #[test]
    fn truncated_negotiate_is_an_error(h in header(), r in negotiate_request(), cut in any::<prop::sample::Index>()) {
        let m = message(&h, |o| r.encode(o));
        let at = cut.index(m.len());
        let hdr = Header::decode(&m[..at]);
        prop_assert_eq!(hdr.is_err(), at < 64);
        if let Err(e) = hdr {
            prop_assert_eq!(e.status(), None);
        }
        if let Err(e) = NegotiateRequest::decode(&m[..at]) {
            prop_assert_eq!(e.status(), Some(NtStatus::INVALID_PARAMETER));
        } else {
            // Only a cut that removes nothing the message needs can decode: trailing
            // padding does not exist in a request without contexts.
            prop_assert!(at >= 64 + 36 + 2 * r.dialects.len());
        }
    }
}

fn request_context() -> impl Strategy<Value = RequestContext> {
    use proto_smb2::cmd::create_context::LeaseRequest;
    let guid = any::<[u8; 16]>();
    prop_oneof![
        proptest::option::of(any::<u64>())
            .prop_map(|timestamp| RequestContext::QueryMaximalAccess { timestamp }),
        Just(RequestContext::QueryOnDiskId),
        any::<u64>().prop_map(RequestContext::AllocationSize),
        any::<u64>().prop_map(RequestContext::TimewarpToken),
        Just(RequestContext::DurableHandleRequest),
        file_id().prop_map(RequestContext::DurableHandleReconnect),
        (any::<u32>(), any::<u32>(), guid).prop_map(|(timeout, flags, create_guid)| {
            RequestContext::DurableHandleRequestV2 {
                timeout,
                flags,
                create_guid,
            }
        }),
        (file_id(), guid, any::<u32>()).prop_map(|(file_id, create_guid, flags)| {
            RequestContext::DurableHandleReconnectV2 {
                file_id,
                create_guid,
                flags,
            }
        }),
        (
            guid,
            any::<u32>(),
            any::<u32>(),
            proptest::option::of((guid, any::<u16>()))
        )
            .prop_map(|(lease_key, lease_state, flags, v2)| {
                RequestContext::Lease(LeaseRequest {
                    lease_key,
                    lease_state,
                    flags,
                    v2,
                })
            }),
        vec(any::<u8>(), 0..40).prop_map(RequestContext::ExtendedAttributes),
        vec(any::<u8>(), 0..40).prop_map(RequestContext::SecurityDescriptor),
        // Names of at least 4 bytes: shorter ones are malformed (`RequestContext::parse`).
        (vec(any::<u8>(), 4..17), vec(any::<u8>(), 0..20))
            .prop_filter("not a known name", |(n, _)| {
                ![
                    &b"MxAc"[..],
                    b"QFid",
                    b"AlSi",
                    b"TWrp",
                    b"DHnQ",
                    b"DHnC",
                    b"DH2Q",
                    b"DH2C",
                    b"RqLs",
                    b"ExtA",
                    b"SecD",
                ]
                .contains(&n.as_slice())
            })
            .prop_map(|(name, data)| RequestContext::Unknown(CreateContext { name, data })),
    ]
}

proptest! {
    /// Typed create contexts survive the whole CREATE request encoding.
    #[test]
    fn typed_create_contexts_roundtrip(h in header(), ctx in vec(request_context(), 0..5), mx in any::<(u32, u32, u64, u64)>()) {
        let req = CreateRequest {
            security_flags: 0, requested_oplock_level: 0, impersonation_level: 2,
            smb_create_flags: 0, desired_access: 0x12019f, file_attributes: 0, share_access: 7,
            create_disposition: 1, create_options: 0, name: "a\\b".encode_utf16().collect(),
            contexts: ctx.iter().map(RequestContext::to_context).collect(),
        };
        let m = message(&h, |o| req.encode(o));
        let back = CreateRequest::decode(&m).unwrap();
        let parsed: Vec<RequestContext> = back.contexts.iter().map(|c| RequestContext::parse(c).unwrap()).collect();
        prop_assert_eq!(parsed, ctx);
        for r in [
            ResponseContext::MaximalAccess { query_status: mx.0, maximal_access: mx.1 },
            ResponseContext::OnDiskId { disk_file_id: mx.2, volume_id: mx.3 },
            ResponseContext::Lease { lease_key: [mx.0 as u8; 16], lease_state: mx.1 & 7, flags: 2, v2: None },
            ResponseContext::Lease { lease_key: [1; 16], lease_state: 3, flags: 6, v2: Some(([mx.2 as u8; 16], mx.3 as u16)) },
        ] {
            let c = r.to_context();
            let want = match (&c.name[..], &r) {
                (b"MxAc", _) => 8,
                (_, ResponseContext::Lease { v2: Some(_), .. }) => 52,
                _ => 32,
            };
            prop_assert_eq!(c.data.len(), want);
            prop_assert_eq!(ResponseContext::parse(&c).unwrap(), Some(r));
        }
    }

    /// A known context name with data of the wrong size is malformed, never a panic.
    #[test]
    fn wrong_sized_known_contexts_are_errors(
        name in prop::sample::select(vec![&b"MxAc"[..], b"AlSi", b"TWrp", b"DHnQ", b"DHnC", b"DH2Q", b"DH2C", b"RqLs"]),
        data in vec(any::<u8>(), 0..60),
    ) {
        let c = CreateContext { name: name.to_vec(), data };
        if let Err(e) = RequestContext::parse(&c) {
            prop_assert_eq!(e.status(), Some(NtStatus::INVALID_PARAMETER));
        }
    }
}

#[test]
fn create_context_names_shorter_than_four_bytes_are_malformed() {
    // §2.2.13.2: every defined name has 4 bytes or more; Windows refuses shorter ones with
    // STATUS_INVALID_PARAMETER and ignores unknown longer ones (smbtorture smb2.create.blob).
    for n in 0..4 {
        let c = CreateContext {
            name: vec![b'x'; n],
            data: Vec::new(),
        };
        assert!(RequestContext::parse(&c).is_err(), "{n} bytes");
    }
    for n in [4, 5, 8, 16, 17, 34] {
        let c = CreateContext {
            name: vec![b'x'; n],
            data: Vec::new(),
        };
        assert!(matches!(
            RequestContext::parse(&c),
            Ok(RequestContext::Unknown(_))
        ));
    }
}
