//! A whole SMB 3.1.1 connection setup driven through this crate's API in both roles, the
//! way the server machine will use it: NEGOTIATE with contexts, SESSION_SETUP with SPNEGO
//! and NTLMv2 (two round trips, mechListMIC both ways), the preauth chain on both sides,
//! key derivation, the signed final response, then an encrypted TREE_CONNECT. The client
//! side uses the crate's client helpers; randomness and time are fixed inputs.

use proto_smb2::auth::ntlm::{
    self, AuthenticateMessage, AvPair, ChallengeMessage, ChallengeParams, NegotiateMessage,
    SessionSecurity,
};
use proto_smb2::auth::spnego::{self, NegState, NegToken, NegTokenInit, NegTokenResp, OID_NTLMSSP};
use proto_smb2::cmd::negotiate::{cipher, dialect, signing_algorithm, HASH_SHA512};
use proto_smb2::cmd::*;
use proto_smb2::crypto::kdf::derive_server_keys;
use proto_smb2::crypto::preauth::PreauthHash;
use proto_smb2::crypto::signing::{self, SigningAlgorithm};
use proto_smb2::crypto::transform::{self, Cipher};
use proto_smb2::header::flags;
use proto_smb2::{Command, Header, HeaderId, NtStatus};

fn header(command: Command, message_id: u64, session_id: u64, response: bool) -> Header {
    Header {
        credit_charge: 1,
        status: NtStatus::SUCCESS,
        command,
        credits: 1,
        flags: if response { flags::SERVER_TO_REDIR } else { 0 },
        next_command: 0,
        message_id,
        id: HeaderId::Sync {
            process_id: 0,
            tree_id: 0,
        },
        session_id,
        signature: [0; 16],
    }
}

fn message(h: Header, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut m = Vec::new();
    h.encode(&mut m);
    body(&mut m);
    m
}

const SID: u64 = 0x0000_4000_0000_0001;

#[test]
fn smb311_session_setup_and_encrypted_tree_connect() {
    let mut server_conn = PreauthHash::new();
    let mut client_conn = PreauthHash::new();

    // NEGOTIATE.
    let neg_req = NegotiateRequest {
        security_mode: 1,
        capabilities: 0x7f,
        client_guid: [7; 16],
        dialects: vec![dialect::SMB202, dialect::SMB300, dialect::SMB311],
        client_start_time: 0,
        contexts: vec![
            NegotiateContext::PreauthIntegrity {
                hash_algorithms: vec![HASH_SHA512],
                salt: vec![1; 32],
            },
            NegotiateContext::Encryption {
                ciphers: vec![cipher::AES256_GCM, cipher::AES128_GCM],
            },
            NegotiateContext::Signing {
                algorithms: vec![signing_algorithm::AES_GMAC, signing_algorithm::AES_CMAC],
            },
            NegotiateContext::Other {
                context_type: 0x0100,
                data: vec![9; 5],
            },
        ],
    };
    let m = message(header(Command::NEGOTIATE, 0, 0, false), |o| {
        neg_req.encode(o)
    });
    client_conn.update(&m);
    let got = NegotiateRequest::decode(&m).unwrap();
    server_conn.update(&m);
    assert_eq!(got, neg_req);
    let resp = NegotiateResponse {
        security_mode: 1,
        dialect: dialect::SMB311,
        server_guid: [3; 16],
        capabilities: 0,
        max_transact_size: 1 << 20,
        max_read_size: 1 << 20,
        max_write_size: 1 << 20,
        system_time: 133_000_000_000_000_000,
        server_start_time: 0,
        security_buffer: spnego::server_init_token(),
        contexts: vec![
            NegotiateContext::PreauthIntegrity {
                hash_algorithms: vec![HASH_SHA512],
                salt: vec![2; 32],
            },
            NegotiateContext::Encryption {
                ciphers: vec![cipher::AES256_GCM],
            },
            NegotiateContext::Signing {
                algorithms: vec![signing_algorithm::AES_GMAC],
            },
        ],
    };
    let m = message(header(Command::NEGOTIATE, 0, 0, true), |o| resp.encode(o));
    server_conn.update(&m);
    client_conn.update(&m);
    let NegToken::Init(offer) =
        spnego::decode_token(&NegotiateResponse::decode(&m).unwrap().security_buffer).unwrap()
    else {
        panic!("no NegTokenInit");
    };
    assert_eq!(offer.mech_types, vec![OID_NTLMSSP.to_vec()]);

    // SESSION_SETUP 1: NegTokenInit(NTLMSSP NEGOTIATE) -> accept-incomplete(CHALLENGE).
    let (mut server_sess, mut client_sess) = (server_conn, client_conn);
    let ntlm_neg = NegotiateMessage {
        flags: ntlm::flags::UNICODE
            | ntlm::flags::NTLM
            | ntlm::flags::SIGN
            | ntlm::flags::ALWAYS_SIGN
            | ntlm::flags::EXTENDED_SESSIONSECURITY
            | ntlm::flags::KEY_EXCH
            | ntlm::flags::NEGOTIATE_128
            | ntlm::flags::VERSION,
        domain: Vec::new(),
        workstation: Vec::new(),
        version: Some([10, 0, 0x61, 0x4a, 0, 0, 0, 15]),
    }
    .encode();
    let client_init = NegTokenInit {
        mech_types: vec![OID_NTLMSSP.to_vec()],
        mech_token: Some(ntlm_neg.clone()),
        mech_list_mic: None,
    };
    let ss = SessionSetupRequest {
        flags: 0,
        security_mode: 1,
        capabilities: 1,
        channel: 0,
        previous_session_id: 0,
        security_buffer: client_init.encode(),
    };
    let m = message(header(Command::SESSION_SETUP, 1, 0, false), |o| {
        ss.encode(o)
    });
    client_sess.update(&m);
    server_sess.update(&m);
    let NegToken::Init(init) =
        spnego::decode_token(&SessionSetupRequest::decode(&m).unwrap().security_buffer).unwrap()
    else {
        panic!("no NegTokenInit");
    };
    let neg = NegotiateMessage::decode(init.mech_token.as_ref().unwrap()).unwrap();
    let params = ChallengeParams {
        server_challenge: [0x42; 8],
        timestamp: 133_000_000_000_000_000,
        nb_domain: "WORKGROUP".into(),
        nb_computer: "JANUS".into(),
        dns_domain: "".into(),
        dns_computer: "janus".into(),
    };
    let challenge = ChallengeMessage::for_negotiate(&neg, &params);
    assert!(challenge.flags & ntlm::flags::KEY_EXCH != 0);
    assert!(challenge.flags & ntlm::flags::EXTENDED_SESSIONSECURITY != 0);
    assert!(challenge
        .target_info
        .iter()
        .any(|p| p.id == ntlm::av_id::TIMESTAMP && p.value == params.timestamp.to_le_bytes()));
    let challenge_bytes = challenge.encode();
    let mut h = header(Command::SESSION_SETUP, 1, SID, true);
    h.status = NtStatus::MORE_PROCESSING_REQUIRED;
    let resp = SessionSetupResponse {
        session_flags: 0,
        security_buffer: NegTokenResp::accept_incomplete(challenge_bytes.clone()).encode(),
    };
    let m = message(h, |o| resp.encode(o));
    server_sess.update(&m);
    client_sess.update(&m);

    // Client: NTLMv2 response with MIC and key exchange, mechListMIC.
    let NegToken::Resp(r) =
        spnego::decode_token(&SessionSetupResponse::decode(&m).unwrap().security_buffer).unwrap()
    else {
        panic!("no NegTokenResp");
    };
    assert_eq!(r.neg_state, Some(NegState::AcceptIncomplete));
    let chal = ChallengeMessage::decode(r.response_token.as_ref().unwrap()).unwrap();
    let nt = ntlm::nt_hash("s3cret");
    let key = ntlm::ntowf_v2(&nt, "alice", "WORKGROUP");
    let mut pairs = chal.target_info.clone();
    pairs.push(AvPair {
        id: ntlm::av_id::FLAGS,
        value: ntlm::AV_FLAG_MIC_PRESENT.to_le_bytes().to_vec(),
    });
    let blob = ntlm::ntlmv2_blob(params.timestamp, &[0x99; 8], &pairs);
    let (nt_response, sbk) = ntlm::ntlmv2_response(&key, &chal.server_challenge, &blob);
    let random_session_key = [0x5a; 16];
    let mut auth = AuthenticateMessage {
        lm_response: vec![0; 24],
        nt_response,
        domain: proto_smb2::wire::utf16le("WORKGROUP"),
        user: proto_smb2::wire::utf16le("alice"),
        workstation: proto_smb2::wire::utf16le("CLIENT"),
        encrypted_random_session_key: ntlm::encrypt_session_key(&sbk, &random_session_key).to_vec(),
        flags: chal.flags,
        version: Some([10, 0, 0x61, 0x4a, 0, 0, 0, 15]),
        mic: Some([0; 16]),
    }
    .encode();
    let mic = ntlm::compute_mic(&random_session_key, &ntlm_neg, &challenge_bytes, &auth);
    auth[ntlm::MIC_OFFSET..ntlm::MIC_OFFSET + 16].copy_from_slice(&mic);
    let client_auth = ntlm::NtlmAuth {
        user: "alice".into(),
        domain: "WORKGROUP".into(),
        workstation: "CLIENT".into(),
        flags: chal.flags,
        exported_session_key: random_session_key,
    };
    let mut client_sec = SessionSecurity::new(&client_auth).unwrap();
    let mech_list = client_init.mech_type_list_der();
    let client_resp = NegTokenResp {
        neg_state: None,
        supported_mech: None,
        response_token: Some(auth.clone()),
        mech_list_mic: Some(client_sec.client_mic(&mech_list).to_vec()),
    };
    let ss2 = SessionSetupRequest {
        flags: 0,
        security_mode: 1,
        capabilities: 1,
        channel: 0,
        previous_session_id: 0,
        security_buffer: client_resp.encode(),
    };
    let m = message(header(Command::SESSION_SETUP, 2, SID, false), |o| {
        ss2.encode(o)
    });
    client_sess.update(&m);
    server_sess.update(&m);

    // Server: verify, derive keys, sign the final response.
    let NegToken::Resp(r2) =
        spnego::decode_token(&SessionSetupRequest::decode(&m).unwrap().security_buffer).unwrap()
    else {
        panic!("no NegTokenResp");
    };
    let done = ntlm::verify_authenticate(
        init.mech_token.as_ref().unwrap(),
        &challenge_bytes,
        &params.server_challenge,
        r2.response_token.as_ref().unwrap(),
        |u, _| (u == "alice").then_some(nt),
    )
    .unwrap();
    assert_eq!(done.exported_session_key, random_session_key);
    let mut server_sec = SessionSecurity::new(&done).unwrap();
    assert!(server_sec.verify_client_mic(
        &init.mech_type_list_der(),
        r2.mech_list_mic.as_ref().unwrap()
    ));
    let server_mic = server_sec.server_mic(&init.mech_type_list_der());
    assert_eq!(server_sess, client_sess, "both sides hashed the same bytes");
    let keys = derive_server_keys(
        &done.exported_session_key,
        dialect::SMB311,
        Some(server_sess.value()),
        cipher::AES256_GCM,
    );
    let fin = SessionSetupResponse {
        session_flags: session_setup::session_flags::ENCRYPT_DATA,
        security_buffer: NegTokenResp::accept_completed(Some(server_mic.to_vec())).encode(),
    };
    let mut m = message(header(Command::SESSION_SETUP, 2, SID, true), |o| {
        fin.encode(o)
    });
    signing::sign(SigningAlgorithm::AesGmac, &keys.signing, &mut m).unwrap();

    // Client: same keys from its own chain; checks the signature and the server's MIC.
    let client_keys = derive_server_keys(
        &random_session_key,
        dialect::SMB311,
        Some(client_sess.value()),
        cipher::AES256_GCM,
    );
    assert_eq!(client_keys, keys);
    assert!(signing::verify(
        SigningAlgorithm::AesGmac,
        &client_keys.signing,
        &m
    ));
    let NegToken::Resp(f) =
        spnego::decode_token(&SessionSetupResponse::decode(&m).unwrap().security_buffer).unwrap()
    else {
        panic!("no NegTokenResp");
    };
    assert_eq!(f.neg_state, Some(NegState::AcceptCompleted));
    // The server's first MIC is its sequence 0 under the server-to-client keys.
    let expected = {
        let mut s = SessionSecurity::new(&client_auth).unwrap();
        s.server_mic(&mech_list)
    };
    assert_eq!(f.mech_list_mic.as_deref(), Some(&expected[..]));

    // Encrypted TREE_CONNECT: the client encrypts with the server's decryption key
    // (client-to-server), the server decrypts it.
    let tc = TreeConnectRequest {
        flags: 0,
        path: "\\\\janus\\export".encode_utf16().collect(),
        extension: None,
    };
    let plain = message(header(Command::TREE_CONNECT, 3, SID, false), |o| {
        tc.encode(o)
    });
    let wire = transform::encrypt(
        Cipher::Aes256Gcm,
        &client_keys.decryption,
        &[0x11; 16],
        SID,
        &plain,
    )
    .unwrap();
    let (th, got) = transform::decrypt(Cipher::Aes256Gcm, &keys.decryption, &wire).unwrap();
    assert_eq!(th.session_id, SID);
    assert_eq!(
        TreeConnectRequest::decode(&got, true)
            .unwrap()
            .path_string(),
        "\\\\janus\\export"
    );
    // The server's own key does not open client traffic.
    assert!(transform::decrypt(Cipher::Aes256Gcm, &keys.encryption, &wire).is_err());
}
