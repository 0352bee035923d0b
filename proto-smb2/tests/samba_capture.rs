//! Real SMB2 traffic: smbclient 4.17 against the lab's Samba 4.17 on loopback, captured with
//! tshark (user `labuser`, password `labpass`, domain `WORKGROUP`). Three sessions:
//!
//! - `smb311-signed-*`: dialect 3.1.1, AES-GMAC signing, no encryption;
//! - `smb311-encrypted-*`: 3.1.1 with AES-128-GCM encryption (`--client-protection=encrypt`);
//! - `smb300-encrypted-*`: 3.0 with AES-128-CCM encryption (max protocol SMB3_00);
//! - `smb210-signed-*`: 2.1 with signing required (HMAC-SHA256 with the session key);
//! - `smbprotocol-*`: Python smbprotocol 1.x (3.1.1, AES-GMAC signing) sending a related
//!   CREATE + WRITE + CLOSE compound, and Samba's compound answer.
//!
//! Files hold one NBSS frame each (numbered by capture frame): 04 NEGOTIATE request,
//! 06 response, 08/09 first SESSION_SETUP round trip, 10/11 second, 12/13 the TREE_CONNECT
//! that follows (encrypted in the last two sessions).
//!
//! Samba is the independent oracle here: our NTLMv2 verification must accept smbclient's
//! AUTHENTICATE, our preauth chain must equal Wireshark's, and the keys we derive must
//! verify Samba's signatures and decrypt both directions.

use bytes::BytesMut;
use proto_smb2::auth::ntlm::{self, ChallengeMessage, NegotiateMessage, SessionSecurity};
use proto_smb2::auth::spnego::{self, NegState, NegToken, OID_NTLMSSP};
use proto_smb2::cmd::negotiate::{cipher, context_type, dialect, signing_algorithm, HASH_SHA512};
use proto_smb2::cmd::*;
use proto_smb2::crypto::kdf::derive_server_keys;
use proto_smb2::crypto::preauth::PreauthHash;
use proto_smb2::crypto::signing::{self, SigningAlgorithm};
use proto_smb2::crypto::transform::{self, Cipher};
use proto_smb2::nbss::take_frame;
use proto_smb2::{Command, Header, NtStatus, HEADER_LEN};

macro_rules! frame {
    ($name:literal) => {
        include_bytes!(concat!("data/", $name, ".nbss"))
    };
}

struct Session {
    neg_req: &'static [u8],
    neg_resp: &'static [u8],
    ss1_req: &'static [u8],
    ss1_resp: &'static [u8],
    ss2_req: &'static [u8],
    ss2_resp: &'static [u8],
    tc_req: &'static [u8],
    tc_resp: &'static [u8],
}

/// The payload of an NBSS frame, through the framer.
fn unframe(raw: &'static [u8]) -> Vec<u8> {
    let mut buf = BytesMut::from(raw);
    let f = take_frame(&mut buf, 1 << 16).unwrap().unwrap();
    assert_eq!(f.consumed, raw.len());
    assert!(buf.is_empty());
    f.payload.to_vec()
}

fn signed311() -> Session {
    Session {
        neg_req: frame!("smb311-signed-04-negotiate-req"),
        neg_resp: frame!("smb311-signed-06-negotiate-resp"),
        ss1_req: frame!("smb311-signed-08-sess1-req"),
        ss1_resp: frame!("smb311-signed-09-sess1-resp"),
        ss2_req: frame!("smb311-signed-10-sess2-req"),
        ss2_resp: frame!("smb311-signed-11-sess2-resp"),
        tc_req: frame!("smb311-signed-12-msg12-req"),
        tc_resp: frame!("smb311-signed-13-msg13-resp"),
    }
}

fn encrypted311() -> Session {
    Session {
        neg_req: frame!("smb311-encrypted-04-negotiate-req"),
        neg_resp: frame!("smb311-encrypted-06-negotiate-resp"),
        ss1_req: frame!("smb311-encrypted-08-sess1-req"),
        ss1_resp: frame!("smb311-encrypted-09-sess1-resp"),
        ss2_req: frame!("smb311-encrypted-10-sess2-req"),
        ss2_resp: frame!("smb311-encrypted-11-sess2-resp"),
        tc_req: frame!("smb311-encrypted-12-msg12-req"),
        tc_resp: frame!("smb311-encrypted-13-msg13-resp"),
    }
}

fn encrypted300() -> Session {
    Session {
        neg_req: frame!("smb300-encrypted-04-negotiate-req"),
        neg_resp: frame!("smb300-encrypted-06-negotiate-resp"),
        ss1_req: frame!("smb300-encrypted-08-sess1-req"),
        ss1_resp: frame!("smb300-encrypted-09-sess1-resp"),
        ss2_req: frame!("smb300-encrypted-10-sess2-req"),
        ss2_resp: frame!("smb300-encrypted-11-sess2-resp"),
        tc_req: frame!("smb300-encrypted-12-msg12-req"),
        tc_resp: frame!("smb300-encrypted-13-msg13-resp"),
    }
}

fn signed210() -> Session {
    Session {
        neg_req: frame!("smb210-signed-04-negotiate-req"),
        neg_resp: frame!("smb210-signed-06-negotiate-resp"),
        ss1_req: frame!("smb210-signed-08-sess1-req"),
        ss1_resp: frame!("smb210-signed-09-sess1-resp"),
        ss2_req: frame!("smb210-signed-10-sess2-req"),
        ss2_resp: frame!("smb210-signed-11-sess2-resp"),
        tc_req: frame!("smb210-signed-12-msg12-req"),
        tc_resp: frame!("smb210-signed-13-msg13-resp"),
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Re-encodes a header + body and checks the bytes are the captured ones.
fn reencode(msg: &[u8], body: impl FnOnce(&mut Vec<u8>)) {
    let mut out = Vec::new();
    Header::decode(msg).unwrap().encode(&mut out);
    body(&mut out);
    assert_eq!(out, msg, "re-encoding differs");
}

struct Authenticated {
    esk: [u8; 16],
    mech_list_der: Vec<u8>,
    client_mech_list_mic: Option<Vec<u8>>,
    server_final: spnego::NegTokenResp,
    auth: ntlm::NtlmAuth,
}

/// Decodes and re-encodes the SESSION_SETUP exchange, and verifies the client's
/// AUTHENTICATE with the password.
fn authenticate(s: &Session) -> Authenticated {
    authenticate_in(s, "WORKGROUP")
}

fn authenticate_in(s: &Session, expected_domain: &str) -> Authenticated {
    let ss1_req = unframe(s.ss1_req);
    let req = SessionSetupRequest::decode(&ss1_req).unwrap();
    reencode(&ss1_req, |o| req.encode(o));
    let NegToken::Init(init) = spnego::decode_token(&req.security_buffer).unwrap() else {
        panic!("first token is not a NegTokenInit");
    };
    assert_eq!(init.mech_types[0], OID_NTLMSSP);
    assert_eq!(
        init.encode(),
        req.security_buffer,
        "NegTokenInit re-encoding"
    );
    let negotiate = init.mech_token.clone().unwrap();
    let neg = NegotiateMessage::decode(&negotiate).unwrap();
    assert!(neg.flags & ntlm::flags::EXTENDED_SESSIONSECURITY != 0);

    let ss1_resp = unframe(s.ss1_resp);
    let h = Header::decode(&ss1_resp).unwrap();
    assert_eq!(h.status, NtStatus::MORE_PROCESSING_REQUIRED);
    let resp = SessionSetupResponse::decode(&ss1_resp).unwrap();
    reencode(&ss1_resp, |o| resp.encode(o));
    let NegToken::Resp(r) = spnego::decode_token(&resp.security_buffer).unwrap() else {
        panic!("server answer is not a NegTokenResp");
    };
    assert_eq!(r.neg_state, Some(NegState::AcceptIncomplete));
    assert_eq!(r.supported_mech.as_deref(), Some(OID_NTLMSSP));
    let challenge = r.response_token.clone().unwrap();
    let chal = ChallengeMessage::decode(&challenge).unwrap();
    // Our codec re-encodes Samba's CHALLENGE byte for byte (same field order).
    assert_eq!(chal.encode(), challenge);

    let ss2_req = unframe(s.ss2_req);
    let req2 = SessionSetupRequest::decode(&ss2_req).unwrap();
    reencode(&ss2_req, |o| req2.encode(o));
    let NegToken::Resp(r2) = spnego::decode_token(&req2.security_buffer).unwrap() else {
        panic!("second token is not a NegTokenResp");
    };
    let authenticate = r2.response_token.clone().unwrap();
    let auth = ntlm::verify_authenticate(
        &negotiate,
        &challenge,
        &chal.server_challenge,
        &authenticate,
        |user, domain| {
            assert_eq!((user, domain), ("labuser", expected_domain));
            Some(ntlm::nt_hash("labpass"))
        },
    )
    .expect("smbclient's NTLMv2 AUTHENTICATE verifies");
    assert_eq!(auth.user, "labuser");
    assert!(auth.flags & ntlm::flags::KEY_EXCH != 0);
    // The same message with a wrong password is refused.
    let wrong = ntlm::verify_authenticate(
        &negotiate,
        &challenge,
        &chal.server_challenge,
        &authenticate,
        |_, _| Some(ntlm::nt_hash("labpasS")),
    );
    assert_eq!(wrong.unwrap_err(), ntlm::NtlmError::WrongPassword);

    let ss2_resp = unframe(s.ss2_resp);
    let h = Header::decode(&ss2_resp).unwrap();
    assert_eq!(h.status, NtStatus::SUCCESS);
    let resp2 = SessionSetupResponse::decode(&ss2_resp).unwrap();
    reencode(&ss2_resp, |o| resp2.encode(o));
    let NegToken::Resp(fin) = spnego::decode_token(&resp2.security_buffer).unwrap() else {
        panic!("final answer is not a NegTokenResp");
    };
    assert_eq!(fin.neg_state, Some(NegState::AcceptCompleted));
    assert_eq!(fin.encode(), resp2.security_buffer);
    Authenticated {
        esk: auth.exported_session_key,
        mech_list_der: init.mech_type_list_der(),
        client_mech_list_mic: r2.mech_list_mic.clone(),
        server_final: fin,
        auth,
    }
}

fn preauth(s: &Session) -> PreauthHash {
    let mut h = PreauthHash::new();
    for m in [s.neg_req, s.neg_resp, s.ss1_req, s.ss1_resp, s.ss2_req] {
        h.update(&unframe(m));
    }
    h
}

#[test]
fn negotiate_311_decodes_and_reencodes() {
    let s = signed311();
    let req_msg = unframe(s.neg_req);
    let req = NegotiateRequest::decode(&req_msg).unwrap();
    assert!(req.dialects.contains(&dialect::SMB311));
    assert!(req.dialects.contains(&dialect::SMB202));
    let types: Vec<u16> = req.contexts.iter().map(|c| c.context_type()).collect();
    assert!(types.contains(&context_type::PREAUTH_INTEGRITY));
    assert!(types.contains(&context_type::ENCRYPTION));
    assert!(types.contains(&context_type::SIGNING));
    reencode(&req_msg, |o| req.encode(o));

    let resp_msg = unframe(s.neg_resp);
    let resp = NegotiateResponse::decode(&resp_msg).unwrap();
    assert_eq!(resp.dialect, dialect::SMB311);
    assert_eq!(resp.contexts.len(), 3);
    assert!(matches!(&resp.contexts[0],
        NegotiateContext::PreauthIntegrity { hash_algorithms, salt } if hash_algorithms == &[HASH_SHA512] && salt.len() == 32));
    assert_eq!(
        resp.contexts[1],
        NegotiateContext::Encryption {
            ciphers: vec![cipher::AES128_GCM]
        }
    );
    assert_eq!(
        resp.contexts[2],
        NegotiateContext::Signing {
            algorithms: vec![signing_algorithm::AES_GMAC]
        }
    );
    // Samba's NegTokenInit2 carries NTLMSSP among its mechTypes.
    let NegToken::Init(init) = spnego::decode_token(&resp.security_buffer).unwrap() else {
        panic!("NEGOTIATE response token is not a NegTokenInit");
    };
    assert!(init.mech_types.iter().any(|m| m == OID_NTLMSSP));
    reencode(&resp_msg, |o| resp.encode(o));
}

#[test]
fn negotiate_300_decodes_and_reencodes() {
    let s = encrypted300();
    let req_msg = unframe(s.neg_req);
    let req = NegotiateRequest::decode(&req_msg).unwrap();
    assert!(!req.dialects.contains(&dialect::SMB311));
    assert!(req.contexts.is_empty());
    reencode(&req_msg, |o| req.encode(o));
    let resp_msg = unframe(s.neg_resp);
    let resp = NegotiateResponse::decode(&resp_msg).unwrap();
    assert_eq!(resp.dialect, dialect::SMB300);
    reencode(&resp_msg, |o| resp.encode(o));
}

#[test]
fn preauth_chain_matches_wireshark() {
    let s = signed311();
    let mut h = PreauthHash::new();
    h.update(&unframe(s.neg_req));
    h.update(&unframe(s.neg_resp));
    // Wireshark's "Preauth Hash" of the NEGOTIATE response (the connection's value).
    assert_eq!(
        h.value().to_vec(),
        hex("0da31515defbd4c8e123bde798d0ee68d4c95ae30209d2d2ce50b2c1f20725516b460e3a4d4a04b2e46293b0724cb75ca4458549accbd7a34a4f8d9bc23c9a0a")
    );
    // ... and of the last SESSION_SETUP request (the session's value used for the keys).
    assert_eq!(
        preauth(&s).value().to_vec(),
        hex("fb0bb5429c06091ba6193e3f1760f72fd726bf8ab4f1784c5ea2fb58fa7d606a1f8d0e7afbb5a18b9305429d5c0c4d8fb61c27f744417c2ffddc780884c3f1de")
    );
}

#[test]
fn smb311_gmac_signatures_of_samba_and_smbclient_verify() {
    let s = signed311();
    let a = authenticate(&s);
    let h = preauth(&s);
    let keys = derive_server_keys(&a.esk, dialect::SMB311, Some(h.value()), cipher::AES128_GCM);
    // Samba's signed final SESSION_SETUP response.
    let ss2_resp = unframe(s.ss2_resp);
    assert!(Header::decode(&ss2_resp).unwrap().is_signed());
    assert!(signing::verify(
        SigningAlgorithm::AesGmac,
        &keys.signing,
        &ss2_resp
    ));
    // smbclient's signed TREE_CONNECT and Samba's signed answer.
    let tc = unframe(s.tc_req);
    assert!(signing::verify(
        SigningAlgorithm::AesGmac,
        &keys.signing,
        &tc
    ));
    let tc_resp = unframe(s.tc_resp);
    assert!(signing::verify(
        SigningAlgorithm::AesGmac,
        &keys.signing,
        &tc_resp
    ));
    // Signing the message again gives the captured bytes.
    let mut resigned = tc_resp.clone();
    resigned[48..64].fill(0);
    signing::sign(SigningAlgorithm::AesGmac, &keys.signing, &mut resigned).unwrap();
    assert_eq!(resigned, tc_resp);
    // A flipped bit or the other algorithm fails.
    let mut bad = tc.clone();
    bad[HEADER_LEN + 2] ^= 1;
    assert!(!signing::verify(
        SigningAlgorithm::AesGmac,
        &keys.signing,
        &bad
    ));
    assert!(!signing::verify(
        SigningAlgorithm::AesCmac,
        &keys.signing,
        &tc
    ));
    // The TREE_CONNECT itself.
    let hdr = Header::decode(&tc).unwrap();
    assert_eq!(hdr.command, Command::TREE_CONNECT);
    let req = TreeConnectRequest::decode(&tc, true).unwrap();
    assert_eq!(req.path_string(), "\\\\127.0.0.1\\IPC$");
    reencode(&tc, |o| req.encode(o));
    let resp = TreeConnectResponse::decode(&tc_resp).unwrap();
    assert_eq!(resp.share_type, tree_connect::share_type::PIPE);
    reencode(&tc_resp, |o| resp.encode(o));
}

#[test]
fn spnego_mech_list_mic_matches_samba() {
    let s = signed311();
    let a = authenticate(&s);
    let mut sec = SessionSecurity::new(&a.auth).unwrap();
    let client_mic = a
        .client_mech_list_mic
        .expect("smbclient sends a mechListMIC");
    assert!(sec.verify_client_mic(&a.mech_list_der, &client_mic));
    let ours = sec.server_mic(&a.mech_list_der);
    assert_eq!(Some(ours.to_vec()), a.server_final.mech_list_mic);
    assert_eq!(
        spnego::NegTokenResp::accept_completed(Some(ours.to_vec())).encode(),
        a.server_final.encode()
    );
}

fn check_encrypted(s: &Session, d: u16, cipher_id: u16) {
    let a = authenticate(s);
    let h = preauth(s);
    let keys = derive_server_keys(
        &a.esk,
        d,
        (d == dialect::SMB311).then_some(h.value()),
        cipher_id,
    );
    let c = Cipher::from_id(cipher_id).unwrap();
    // Samba signs the final SESSION_SETUP response (CMAC in 3.0, GMAC as negotiated in 3.1.1).
    let alg = if d == dialect::SMB311 {
        SigningAlgorithm::AesGmac
    } else {
        SigningAlgorithm::AesCmac
    };
    assert!(signing::verify(alg, &keys.signing, &unframe(s.ss2_resp)));
    // The client's first encrypted request: decrypted with the server's decryption key.
    let tc = unframe(s.tc_req);
    assert!(transform::is_transform(&tc));
    let (th, plain) = transform::decrypt(c, &keys.decryption, &tc).unwrap();
    assert_eq!(
        Header::decode(&plain).unwrap().command,
        Command::TREE_CONNECT
    );
    let req = TreeConnectRequest::decode(&plain, d == dialect::SMB311).unwrap();
    assert_eq!(req.path_string(), "\\\\127.0.0.1\\IPC$");
    // Encrypting it again with the same nonce gives the captured bytes.
    let again = transform::encrypt(c, &keys.decryption, &th.nonce, th.session_id, &plain).unwrap();
    assert_eq!(again, tc);
    // The server's response: decrypted with the server's encryption key.
    let tc_resp = unframe(s.tc_resp);
    let (_, plain) = transform::decrypt(c, &keys.encryption, &tc_resp).unwrap();
    let hdr = Header::decode(&plain).unwrap();
    assert_eq!(hdr.command, Command::TREE_CONNECT);
    assert_eq!(hdr.status, NtStatus::SUCCESS);
    assert_eq!(
        TreeConnectResponse::decode(&plain).unwrap().share_type,
        tree_connect::share_type::PIPE
    );
    // The wrong direction's key or a flipped ciphertext bit does not decrypt.
    assert_eq!(
        transform::decrypt(c, &keys.encryption, &tc).unwrap_err(),
        proto_smb2::crypto::CryptoError::NotAuthentic
    );
    let mut bad = tc.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x80;
    assert!(transform::decrypt(c, &keys.decryption, &bad).is_err());
}

#[test]
fn smb311_gcm_encryption_of_samba_and_smbclient_decrypts() {
    check_encrypted(&encrypted311(), dialect::SMB311, cipher::AES128_GCM);
}

#[test]
fn smb300_ccm_encryption_of_samba_and_smbclient_decrypts() {
    check_encrypted(&encrypted300(), dialect::SMB300, cipher::AES128_CCM);
}

#[test]
fn smb300_validate_negotiate_info_matches_the_negotiate() {
    let s = encrypted300();
    let a = authenticate(&s);
    let keys = derive_server_keys(&a.esk, dialect::SMB300, None, cipher::AES128_CCM);
    let neg_req = NegotiateRequest::decode(&unframe(s.neg_req)).unwrap();
    let neg_resp = NegotiateResponse::decode(&unframe(s.neg_resp)).unwrap();

    let (_, req) = transform::decrypt(
        Cipher::Aes128Ccm,
        &keys.decryption,
        &unframe(frame!("smb300-encrypted-14-ioctl-req")),
    )
    .unwrap();
    let ioctl = IoctlRequest::decode(&req).unwrap();
    assert_eq!(ioctl.ctl_code, ioctl::ctl_code::VALIDATE_NEGOTIATE_INFO);
    assert_eq!(ioctl.flags, ioctl::IOCTL_IS_FSCTL);
    reencode(&req, |o| ioctl.encode(o));
    // §3.3.5.15.12: what the server compares with its record of the NEGOTIATE.
    let vni = ValidateNegotiateInfoRequest::decode(&ioctl.input).unwrap();
    assert_eq!(vni.dialects, neg_req.dialects);
    assert_eq!(vni.guid, neg_req.client_guid);
    assert_eq!(vni.security_mode, neg_req.security_mode);
    assert_eq!(vni.capabilities, neg_req.capabilities);
    let mut again = Vec::new();
    vni.encode(&mut again);
    assert_eq!(again, ioctl.input);

    let (_, resp) = transform::decrypt(
        Cipher::Aes128Ccm,
        &keys.encryption,
        &unframe(frame!("smb300-encrypted-15-ioctl-resp")),
    )
    .unwrap();
    let out = IoctlResponse::decode(&resp).unwrap();
    reencode(&resp, |o| out.encode(o));
    let v = ValidateNegotiateInfoResponse::decode(&out.output).unwrap();
    assert_eq!(
        v,
        ValidateNegotiateInfoResponse {
            capabilities: neg_resp.capabilities,
            guid: neg_resp.server_guid,
            security_mode: neg_resp.security_mode,
            dialect: neg_resp.dialect,
        }
    );
}

#[test]
fn dfs_referral_ioctl_decodes_and_reencodes() {
    let m = unframe(frame!("smb311-signed-14-ioctl-req"));
    let ioctl = IoctlRequest::decode(&m).unwrap();
    assert_eq!(ioctl.ctl_code, ioctl::ctl_code::DFS_GET_REFERRALS);
    assert_eq!(ioctl.file_id, FileId::RELATED);
    reencode(&m, |o| ioctl.encode(o));
}

#[test]
fn directory_listing_and_query_info_decode_and_reencode() {
    let m = unframe(frame!("smb311-signed-22-find-req"));
    let q = QueryDirectoryRequest::decode(&m).unwrap();
    assert_eq!(q.pattern_string(), "*");
    assert_eq!(
        q.file_information_class, 37,
        "FileIdBothDirectoryInformation"
    );
    reencode(&m, |o| q.encode(o));
    let m = unframe(frame!("smb311-signed-23-find-resp"));
    let r = QueryDirectoryResponse::decode(&m).unwrap();
    assert!(!r.data.is_empty());
    reencode(&m, |o| r.encode(o));
    let m = unframe(frame!("smb311-signed-25-find-resp-nomore"));
    assert_eq!(Header::decode(&m).unwrap().status, NtStatus::NO_MORE_FILES);
    let e = ErrorResponse::decode(&m).unwrap();
    reencode(&m, |o| e.encode(o));

    let m = unframe(frame!("smb311-signed-30-getinfo-req"));
    let q = QueryInfoRequest::decode(&m).unwrap();
    assert_eq!(q.info_type, query::info_type::FILESYSTEM);
    reencode(&m, |o| q.encode(o));
    let m = unframe(frame!("smb311-signed-31-getinfo-resp"));
    let r = QueryInfoResponse::decode(&m).unwrap();
    assert_eq!(r.data.len(), 24, "FileFsSizeInformation");
    reencode(&m, |o| r.encode(o));
}

#[test]
fn smb210_hmac_sha256_signatures_of_samba_and_smbclient_verify() {
    let s = signed210();
    let resp = NegotiateResponse::decode(&unframe(s.neg_resp)).unwrap();
    assert_eq!(resp.dialect, dialect::SMB210);
    let a = authenticate(&s);
    // 2.x: the session key signs directly (§3.3.5.5.3); no preauth, no KDF.
    let keys = derive_server_keys(&a.esk, dialect::SMB210, None, 0);
    assert_eq!(keys.signing, a.esk);
    let alg = SigningAlgorithm::for_dialect(dialect::SMB210);
    assert_eq!(alg, SigningAlgorithm::HmacSha256);
    for m in [s.ss2_resp, s.tc_req, s.tc_resp] {
        let m = unframe(m);
        assert!(Header::decode(&m).unwrap().is_signed());
        assert!(signing::verify(alg, &keys.signing, &m));
        assert!(!signing::verify(
            SigningAlgorithm::AesCmac,
            &keys.signing,
            &m
        ));
    }
    let tc = unframe(s.tc_req);
    let req = TreeConnectRequest::decode(&tc, false).unwrap();
    assert_eq!(req.path_string(), "\\\\127.0.0.1\\IPC$");
}

#[test]
fn smbprotocol_related_compound_splits_verifies_and_decodes() {
    let s = Session {
        neg_req: frame!("smbprotocol-04-negotiate-req"),
        neg_resp: frame!("smbprotocol-06-negotiate-resp"),
        ss1_req: frame!("smbprotocol-08-sess1-req"),
        ss1_resp: frame!("smbprotocol-09-sess1-resp"),
        ss2_req: frame!("smbprotocol-10-sess2-req"),
        ss2_resp: frame!("smbprotocol-11-sess2-resp"),
        tc_req: frame!("smbprotocol-14-compound-req"),
        tc_resp: frame!("smbprotocol-15-compound-resp"),
    };
    // smbprotocol sends no domain.
    let a = authenticate_in(&s, "");
    let keys = derive_server_keys(
        &a.esk,
        dialect::SMB311,
        Some(preauth(&s).value()),
        cipher::AES128_GCM,
    );
    let req = bytes::Bytes::from(unframe(s.tc_req));
    let parts = proto_smb2::compound::split_compound(&req, 8).unwrap();
    let commands: Vec<Command> = parts.iter().map(|p| p.header.command).collect();
    assert_eq!(commands, [Command::CREATE, Command::WRITE, Command::CLOSE]);
    assert!(!parts[0].header.is_related());
    assert!(parts[1].header.is_related() && parts[2].header.is_related());
    for p in &parts {
        // Each message is signed on its own, padding included.
        assert!(signing::verify(
            SigningAlgorithm::AesGmac,
            &keys.signing,
            &p.msg
        ));
        assert!(Request::decode(p.header.command, &p.msg, true).is_ok());
    }
    let Request::Write(w) = Request::decode(Command::WRITE, &parts[1].msg, true).unwrap() else {
        panic!("not a WRITE");
    };
    // A related operation names the file the CREATE before it opened.
    assert_eq!(w.file_id, FileId::RELATED);
    assert_eq!(&w.data[..], b"compound");

    let resp = bytes::Bytes::from(unframe(s.tc_resp));
    let parts = proto_smb2::compound::split_compound(&resp, 8).unwrap();
    assert_eq!(parts.len(), 3);
    let created = CreateResponse::decode(&parts[0].msg).unwrap();
    assert_eq!(WriteResponse::decode(&parts[1].msg).unwrap().count, 8);
    CloseResponse::decode(&parts[2].msg).unwrap();
    assert_ne!(created.file_id, FileId::RELATED);
    // Rebuilding the chain from its messages gives Samba's frame: same padding, same links.
    let mut w = proto_smb2::compound::CompoundWriter::new();
    for p in &parts {
        assert!(signing::verify(
            SigningAlgorithm::AesGmac,
            &keys.signing,
            &p.msg
        ));
        w.push(&p.msg);
    }
    assert_eq!(w.finish(), resp);
}
