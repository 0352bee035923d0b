//! Known-answer tests for the security building blocks.
//!
//! - NTLMv2: the worked example of MS-NLMP §4.2.4 (user "User", domain "Domain", password
//!   "Password", server challenge 0123456789abcdef, client challenge aaaaaaaaaaaaaaaa,
//!   time 0, random session key 55..55), values as published there.
//! - KDF, signing and encryption: vectors computed with an independent implementation,
//!   Python's `hmac`/`hashlib` (SP800-108 and HMAC-SHA256) and the `cryptography` package
//!   (AES-CMAC, AES-GCM/GMAC, AES-CCM), recorded here as constants. The script:
//!   `kdf(ki, label, ctx, L) = HMAC-SHA256(ki, BE32(1) || label || 00 || ctx || BE32(L))[:L/8]`,
//!   keys 00..0f (SessionKey) / 00..1f (full key), preauth hash 00..3f.
//! - Real traffic (Samba) is checked in `samba_capture.rs`.

use proto_smb2::auth::ntlm::{self, av_id, AuthenticateMessage, AvPair, NtlmError};
use proto_smb2::cmd::negotiate::{cipher, dialect};
use proto_smb2::crypto::kdf::{derive_server_keys, kdf};
use proto_smb2::crypto::signing::{self, SigningAlgorithm};
use proto_smb2::crypto::transform::{self, Cipher, TransformHeader, TRANSFORM_HEADER_LEN};
use proto_smb2::wire::utf16le;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn arr16(v: &[u8]) -> [u8; 16] {
    v.try_into().unwrap()
}

const SERVER_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
const CLIENT_CHALLENGE: [u8; 8] = [0xaa; 8];

fn nlmp_av_pairs() -> Vec<AvPair> {
    vec![
        AvPair {
            id: av_id::NB_DOMAIN_NAME,
            value: utf16le("Domain"),
        },
        AvPair {
            id: av_id::NB_COMPUTER_NAME,
            value: utf16le("Server"),
        },
    ]
}

#[test]
fn ms_nlmp_4_2_4_ntlmv2_values() {
    // §4.2.4.1.1 NTOWFv2 and §4.2.4.1.3 SessionBaseKey, §4.2.4.2.2 NTProofStr.
    let nt = ntlm::nt_hash("Password");
    assert_eq!(nt.to_vec(), hex("a4f49c406510bdcab6824ee7c30fd852"));
    let key = ntlm::ntowf_v2(&nt, "User", "Domain");
    assert_eq!(key.to_vec(), hex("0c868a403bfd7a93a3001ef22ef02e3f"));
    let blob = ntlm::ntlmv2_blob(0, &CLIENT_CHALLENGE, &nlmp_av_pairs());
    assert_eq!(
        blob,
        hex("0101000000000000 0000000000000000 aaaaaaaaaaaaaaaa 00000000
             02000c0044006f006d00610069006e00 01000c005300650072007600650072000000000000000000")
    );
    let (resp, sbk) = ntlm::ntlmv2_response(&key, &SERVER_CHALLENGE, &blob);
    assert_eq!(resp[..16].to_vec(), hex("68cd0ab851e51c96aabc927bebef6a1c"));
    assert_eq!(sbk.to_vec(), hex("8de40ccadbc14a82f15cb0ad0de95ca3"));
    // §4.2.4.2.3: EncryptedRandomSessionKey of RandomSessionKey 55..55.
    let ersk = ntlm::encrypt_session_key(&sbk, &[0x55; 16]);
    assert_eq!(ersk.to_vec(), hex("c5dad2544fc9799094ce1ce90bc9d03e"));
}

/// The §4.2.4 exchange as messages: the server verifies it and recovers the random
/// session key the client chose.
fn nlmp_authenticate(user: &str, nt_response: Vec<u8>, lm: Vec<u8>, with_mic: bool) -> Vec<u8> {
    nlmp_authenticate_with_key(
        user,
        nt_response,
        lm,
        with_mic,
        hex("c5dad2544fc9799094ce1ce90bc9d03e"),
    )
}

fn nlmp_authenticate_with_key(
    user: &str,
    nt_response: Vec<u8>,
    lm: Vec<u8>,
    with_mic: bool,
    encrypted_random_session_key: Vec<u8>,
) -> Vec<u8> {
    let f = ntlm::flags::UNICODE
        | ntlm::flags::NTLM
        | ntlm::flags::EXTENDED_SESSIONSECURITY
        | ntlm::flags::KEY_EXCH
        | ntlm::flags::NEGOTIATE_128;
    AuthenticateMessage {
        lm_response: lm,
        nt_response,
        domain: utf16le("Domain"),
        user: utf16le(user),
        workstation: utf16le("COMPUTER"),
        encrypted_random_session_key,
        flags: f,
        version: None,
        mic: with_mic.then_some([0; 16]),
    }
    .encode()
}

#[test]
fn server_verifies_the_nlmp_example_and_recovers_the_session_key() {
    let nt = ntlm::nt_hash("Password");
    let key = ntlm::ntowf_v2(&nt, "User", "Domain");
    let blob = ntlm::ntlmv2_blob(0, &CLIENT_CHALLENGE, &nlmp_av_pairs());
    let (resp, _) = ntlm::ntlmv2_response(&key, &SERVER_CHALLENGE, &blob);
    let auth = nlmp_authenticate("User", resp, vec![0; 24], false);
    let ok = ntlm::verify_authenticate(b"neg", b"chal", &SERVER_CHALLENGE, &auth, |u, d| {
        assert_eq!((u, d), ("User", "Domain"));
        Some(nt)
    })
    .unwrap();
    assert_eq!(ok.exported_session_key, [0x55; 16]);
    assert_eq!(ok.workstation, "COMPUTER");
    // Wrong password, unknown user.
    let wrong = ntlm::verify_authenticate(b"", b"", &SERVER_CHALLENGE, &auth, |_, _| {
        Some(ntlm::nt_hash("password"))
    });
    assert_eq!(wrong.unwrap_err(), NtlmError::WrongPassword);
    let unknown = ntlm::verify_authenticate(b"", b"", &SERVER_CHALLENGE, &auth, |_, _| None);
    assert_eq!(unknown.unwrap_err(), NtlmError::UnknownUser);
    // Another server challenge (a replay to another authentication) fails.
    let replay = ntlm::verify_authenticate(b"", b"", &[0; 8], &auth, |_, _| Some(nt));
    assert_eq!(replay.unwrap_err(), NtlmError::WrongPassword);
}

#[test]
fn mic_is_checked_when_msv_av_flags_announces_it() {
    let nt = ntlm::nt_hash("Password");
    let key = ntlm::ntowf_v2(&nt, "User", "Domain");
    let mut pairs = nlmp_av_pairs();
    pairs.push(AvPair {
        id: av_id::FLAGS,
        value: ntlm::AV_FLAG_MIC_PRESENT.to_le_bytes().to_vec(),
    });
    let blob = ntlm::ntlmv2_blob(0, &CLIENT_CHALLENGE, &pairs);
    let (resp, sbk) = ntlm::ntlmv2_response(&key, &SERVER_CHALLENGE, &blob);
    let ersk = ntlm::encrypt_session_key(&sbk, &[0x55; 16]).to_vec();
    let mut auth = nlmp_authenticate_with_key("User", resp, vec![0; 24], true, ersk);
    let (neg, chal) = (b"negotiate bytes".as_slice(), b"challenge bytes".as_slice());
    let mic = ntlm::compute_mic(&[0x55; 16], neg, chal, &auth);
    auth[ntlm::MIC_OFFSET..ntlm::MIC_OFFSET + 16].copy_from_slice(&mic);
    let ok = ntlm::verify_authenticate(neg, chal, &SERVER_CHALLENGE, &auth, |_, _| Some(nt));
    assert_eq!(ok.unwrap().exported_session_key, [0x55; 16]);
    // A NEGOTIATE altered in transit breaks the MIC.
    let bad = ntlm::verify_authenticate(
        b"negotiate bytez",
        chal,
        &SERVER_CHALLENGE,
        &auth,
        |_, _| Some(nt),
    );
    assert_eq!(bad.unwrap_err(), NtlmError::MicMismatch);
}

#[test]
fn anonymous_and_ntlmv1_are_refused_with_their_own_errors() {
    let nt = ntlm::nt_hash("Password");
    let anon = nlmp_authenticate("", Vec::new(), vec![0], false);
    let r = ntlm::verify_authenticate(b"", b"", &SERVER_CHALLENGE, &anon, |_, _| Some(nt));
    assert_eq!(r.unwrap_err(), NtlmError::Anonymous);
    let v1 = nlmp_authenticate("User", vec![0x11; 24], vec![0x22; 24], false);
    let r = ntlm::verify_authenticate(b"", b"", &SERVER_CHALLENGE, &v1, |_, _| Some(nt));
    assert_eq!(
        r.unwrap_err(),
        NtlmError::NotNtlmV2 {
            nt_response_len: 24
        }
    );
    let lm_only = nlmp_authenticate("User", Vec::new(), vec![0x22; 24], false);
    let r = ntlm::verify_authenticate(b"", b"", &SERVER_CHALLENGE, &lm_only, |_, _| Some(nt));
    assert_eq!(r.unwrap_err(), NtlmError::NotNtlmV2 { nt_response_len: 0 });
    assert_eq!(
        NtlmError::Anonymous.status(),
        proto_smb2::NtStatus::LOGON_FAILURE
    );
    // Neither reaches the user lookup.
    let r = ntlm::verify_authenticate(b"", b"", &SERVER_CHALLENGE, &v1, |_, _| panic!("looked up"));
    assert!(r.is_err());
}

#[test]
fn kdf_matches_python_sp800_108() {
    let sk: Vec<u8> = (0u8..16).collect();
    let full: Vec<u8> = (0u8..32).collect();
    let pre: [u8; 64] = core::array::from_fn(|i| i as u8);
    let mut out = [0u8; 16];
    kdf(&sk, b"SMBSigningKey\0", &pre, &mut out);
    assert_eq!(out.to_vec(), hex("f7e5401ecc6e79ef9eab401b05004e4f"));

    let k = derive_server_keys(&sk, dialect::SMB311, Some(&pre), cipher::AES128_GCM);
    assert_eq!(k.signing.to_vec(), hex("f7e5401ecc6e79ef9eab401b05004e4f"));
    assert_eq!(
        k.application.to_vec(),
        hex("3b37360639dd593424d252bd73a0c0ff")
    );
    assert_eq!(k.encryption, hex("99676aedfbfd18e61ca5bb60d502e8f2"));
    assert_eq!(k.decryption, hex("f1b6250ca4d9f8877e41071f59228ce4"));

    let k = derive_server_keys(&full, dialect::SMB311, Some(&pre), cipher::AES256_GCM);
    assert_eq!(k.signing.to_vec(), hex("f7e5401ecc6e79ef9eab401b05004e4f"));
    assert_eq!(
        k.encryption,
        hex("53f8b2fb513a90f5231f5ac12ba0a24b9eed8f6e80596136560f1b0003e8d2ae")
    );
    assert_eq!(
        k.decryption,
        hex("e568de865ae188f20138931c5423898fc0d5e94fa094b72d474fc56cf5703db6")
    );

    for d in [dialect::SMB300, dialect::SMB302] {
        let k = derive_server_keys(&sk, d, None, cipher::AES128_CCM);
        assert_eq!(k.signing.to_vec(), hex("6234814cbb8ea9227440ebfeb5eacbe1"));
        assert_eq!(
            k.application.to_vec(),
            hex("2061e31cbe99e5c6493e3fbbd4faf495")
        );
        assert_eq!(k.encryption, hex("95d8b55c852cd25349994b3842fa4105"));
        assert_eq!(k.decryption, hex("8e21f3cae16d07d84c03d74467f57878"));
    }
    // 2.x: the session key signs directly; no encryption keys.
    let k = derive_server_keys(&sk, dialect::SMB210, None, 0);
    assert_eq!(k.signing.to_vec(), sk);
    assert!(k.encryption.is_empty());
}

/// An ECHO response header: flags SERVER_TO_REDIR, MessageId 0x1234, TreeId 7,
/// SessionId 0x1122334455667788.
const MSG: &str = "fe534d4240000100000000000d00010001000000000000003412000000000000fffe00000700000088776655443322110000000000000000000000000000000004000000";
const KEY: &str = "00112233445566778899aabbccddeeff";

#[test]
fn signatures_match_python() {
    let key = arr16(&hex(KEY));
    let msg = hex(MSG);
    for (alg, expected) in [
        (
            SigningAlgorithm::HmacSha256,
            "9dd2b2edb6d6cbeaaeef6d4fdc223568",
        ),
        (
            SigningAlgorithm::AesCmac,
            "e55bfcba5d5af9eb1b3e583319891b8a",
        ),
        // GMAC nonce: MessageId 0x1234, role bit 1 (a response).
        (
            SigningAlgorithm::AesGmac,
            "cfd852356f2bb74a4125be65a3a6de8d",
        ),
    ] {
        assert_eq!(
            signing::signature(alg, &key, &msg).unwrap().to_vec(),
            hex(expected),
            "{alg:?}"
        );
        // sign() sets SMB2_FLAGS_SIGNED, which changes the signed bytes; verify() accepts it.
        let mut signed = msg.clone();
        signing::sign(alg, &key, &mut signed).unwrap();
        assert_eq!(signed[16] & 0x08, 0x08);
        assert!(signing::verify(alg, &key, &signed));
        signed[66] ^= 1;
        assert!(!signing::verify(alg, &key, &signed));
    }
    // Too short to be a message: an error, not a panic.
    assert!(signing::signature(SigningAlgorithm::AesCmac, &key, &msg[..63]).is_err());
    assert!(!signing::verify(
        SigningAlgorithm::AesCmac,
        &key,
        &msg[..10]
    ));
}

#[test]
fn encryption_matches_python() {
    let k128 = hex(KEY);
    let k256: Vec<u8> = (0u8..32).collect();
    let msg = hex(MSG);
    let cases = [
        (Cipher::Aes128Ccm, &k128, "ccbcff83792d8d5496e3e473635ed60d", "cf76cc880bdf82bcb91bd2ddedbcc0989d0f35be40a80c0f97c163db07cc7e96a6d0875d3e1080f4993267eecbf8d9e3e70e20c873ddc2ae875a6ecf58a217062555e9a3"),
        (Cipher::Aes128Gcm, &k128, "dc3f01744251f5595c58e5d318e8c4c0", "fd5fc8b5cf6fd6d00b6cc81f9a6337bed0334af10ef453316b34243faebc1d8ed9d5ae7e16a4d4574a056c5aefd7e44312bc74425bf8092183c851754b97859fd900d1ae"),
        (Cipher::Aes256Ccm, &k256, "79f459f8c9fee03c498a13114f96a5ce", "66f20ecdb152f54ee8fb35f23be5b5e9cbcc5ed999319250c6994d2d41392574aec92e1e673a71cfdf97b7e62d2a90a18280a253feacde4b86d02556318c70035e4ae19c"),
        (Cipher::Aes256Gcm, &k256, "d08d8901503c3c70af8b8205957413e6", "184b316f05cb03bf626587d30a7ac1de71ac591092b7426ca81c26867fab75012d8847ffa822533dd7eb629d4d49a1e8471b464862d01a7e415e0b5ea47085b0b0bc856f"),
    ];
    // Nonce a0 a1 a2 ...; CCM uses 11 bytes of it, GCM 12.
    let nonce: [u8; 16] = core::array::from_fn(|i| 0xa0 + i as u8);
    for (c, key, tag, ct) in cases {
        let out = transform::encrypt(c, key, &nonce, 0x1122_3344_5566_7788, &msg).unwrap();
        let th = TransformHeader::decode(&out).unwrap();
        assert_eq!(th.signature.to_vec(), hex(tag), "{c:?} tag");
        assert_eq!(
            out[TRANSFORM_HEADER_LEN..].to_vec(),
            hex(ct),
            "{c:?} ciphertext"
        );
        assert_eq!(th.nonce[c.nonce_len()..], [0u8; 16][c.nonce_len()..]);
        assert_eq!(th.original_message_size as usize, msg.len());
        let (_, plain) = transform::decrypt(c, key, &out).unwrap();
        assert_eq!(plain, msg);
        // In place, both ways (what the server's send and receive paths use).
        let mut buf = vec![0xee; TRANSFORM_HEADER_LEN];
        buf.extend_from_slice(&msg);
        transform::encrypt_in_place(c, key, &nonce, 0x1122_3344_5566_7788, &mut buf).unwrap();
        assert_eq!(buf, out, "{c:?} in place");
        let th2 = transform::decrypt_in_place(c, key, &mut buf).unwrap();
        assert_eq!(th2, th);
        assert_eq!(buf[TRANSFORM_HEADER_LEN..], msg[..]);
        let mut bad = out.clone();
        bad[60] ^= 1;
        assert!(transform::decrypt_in_place(c, key, &mut bad).is_err());
        assert!(transform::encrypt_in_place(c, key, &nonce, 1, &mut [0u8; 51]).is_err());
        // The associated data covers the SessionId: changing it fails authentication.
        let mut bad = out.clone();
        bad[44] ^= 1;
        assert!(transform::decrypt(c, key, &bad).is_err());
        // OriginalMessageSize that disagrees with the frame is refused before decrypting.
        let mut bad = out.clone();
        bad[36] ^= 1;
        assert!(matches!(
            transform::decrypt(c, key, &bad),
            Err(proto_smb2::crypto::CryptoError::Malformed(_))
        ));
        // Wrong key length is a caller error.
        assert!(transform::encrypt(c, &key[..8], &nonce, 1, &msg).is_err());
    }
}

#[test]
fn a_client_challenge_with_a_cut_av_pair_list_is_malformed() {
    // The AV pairs of the NTLMv2 client challenge must parse up to MsvAvEOL: a list cut
    // short is STATUS_INVALID_PARAMETER, not a wrong password (Samba bug 14932, smbtorture
    // smb2.session.ntlmssp_bug14932), whatever the proof says.
    let nt = ntlm::nt_hash("Password");
    let key = ntlm::ntowf_v2(&nt, "User", "Domain");
    let mut blob = ntlm::ntlmv2_blob(0, &CLIENT_CHALLENGE, &nlmp_av_pairs());
    // Drop MsvAvEOL and the 4 bytes of padding after it: the list has no end.
    blob.truncate(blob.len() - 8);
    let (resp, _) = ntlm::ntlmv2_response(&key, &SERVER_CHALLENGE, &blob);
    let auth = nlmp_authenticate("User", resp, vec![0; 24], false);
    let r = ntlm::verify_authenticate(b"", b"", &SERVER_CHALLENGE, &auth, |_, _| Some(nt));
    let e = r.unwrap_err();
    assert!(matches!(e, NtlmError::Malformed(_)), "{e:?}");
    assert_eq!(e.status(), proto_smb2::NtStatus::INVALID_PARAMETER);
}
