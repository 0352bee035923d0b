//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/*`) and regression inputs
//! (`fuzz/regressions/<target>/*`) through the same functions the fuzz targets run
//! (`janus_tests::fuzz_targets`), on stable, so `cargo test` keeps every input the fuzzer
//! found interesting passing. See `fuzz/README.md`.
//!
//! `cargo test -p janus-tests --test fuzz_corpus -- --ignored write_seed_corpora` writes the
//! seed corpora from the captures in `tests/pcaps` (what the fuzzer started from).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use janus_tests::fuzz_targets::{
    push_server_op, server_core_seed, server_counts, ServerCounts, ServerOp, TARGETS,
};
use janus_tests::replay::{CaptureBuilder, Flags, Link};
use proto_nfs::rpc::message::{AcceptStat, MessageBody, ReplyBody, RpcMessage};
use proto_nfs::rpc::record::put_record;
use proto_nfs::rpc::CallHeader;
use proto_nfs::xdr::XdrEncode;
use proto_nlm::service::NsmRecord;
use proto_nlm::wire::{Mon, MonId, MyId, SmString};
use replay::conversation::{self, Transport};
use replay::{Capture, PortMap};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Every target has a non-empty corpus, and every corpus and regression file runs through
/// its target without a panic.
/// The `server` corpus reaches the core: replies go out, jobs run, locks are journalled,
/// callbacks are sent (a corpus that only hit the framer would replay "fine" too).
#[test]
fn the_server_corpus_reaches_the_core() {
    let mut sum = ServerCounts::default();
    for path in files_in(&fuzz_dir().join("corpus").join("server")) {
        let c = server_counts(&std::fs::read(&path).expect("read a corpus file"));
        sum.transmits += c.transmits;
        sum.jobs += c.jobs;
        sum.records += c.records;
        sum.callback_sends += c.callback_sends;
    }
    let seed = server_core_seed();
    let path = fuzz_dir().join("corpus/server/seed-core-locks");
    if std::env::var_os("JANUS_WRITE_SEEDS").is_some() {
        std::fs::write(&path, &seed).expect("write the seed");
    }
    assert_eq!(
        std::fs::read(&path).ok().as_deref(),
        Some(&seed[..]),
        "{} is server_core_seed() (JANUS_WRITE_SEEDS=1 rewrites it)",
        path.display()
    );
    eprintln!("{sum:?} (the seed alone: {:?})", server_counts(&seed));
    assert!(sum.transmits > 0 && sum.jobs > 0, "{sum:?}");
    assert!(sum.records > 0 && sum.callback_sends > 0, "{sum:?}");
}

#[test]
fn every_fuzz_corpus_replays() {
    let mut total = 0;
    for (name, body) in TARGETS {
        let corpus = files_in(&fuzz_dir().join("corpus").join(name));
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{name} is empty: every target keeps a corpus"
        );
        let regressions = files_in(&fuzz_dir().join("regressions").join(name));
        for path in corpus.iter().chain(&regressions) {
            let data = std::fs::read(path).expect("read a corpus file");
            let run = std::panic::catch_unwind(|| body(&data));
            assert!(run.is_ok(), "{name}: {} panics", path.display());
            total += 1;
        }
    }
    assert!(total >= TARGETS.len());
}

/// The fuzz target names match the files in `fuzz/fuzz_targets/` (a target added in one
/// place and not the other would go untested).
#[test]
fn fuzz_targets_match_the_fuzz_crate() {
    let mut files: Vec<String> = files_in(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_owned()))
        .collect();
    files.sort();
    let mut names: Vec<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    names.sort();
    assert_eq!(files, names);
}

/// FNV-1a, for content-addressed seed file names.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Seeds per target, de-duplicated by content.
#[derive(Default)]
struct Seeds(BTreeMap<&'static str, BTreeMap<u64, Vec<u8>>>);

impl Seeds {
    fn add(&mut self, target: &'static str, data: Vec<u8>) {
        self.0.entry(target).or_default().insert(fnv(&data), data);
    }
}

/// Largest message taken as a codec seed (WRITE and READ bodies are cut by the fuzzer's
/// length limit anyway; small seeds keep the corpus small).
const MAX_SEED: usize = 2048;

fn program_target(prog: u32, vers: u32, reply: bool) -> Option<(&'static str, u8)> {
    let r = u8::from(reply);
    Some(match prog {
        100_000 if vers == 2 => ("portmap", r),
        100_000 => ("portmap", 2 + r),
        100_005 => ("mount", r),
        100_003 => ("nfs3", r),
        100_021 => ("nlm", r),
        100_024 => ("nsm", r),
        _ => return None,
    })
}

fn seeds_from_capture(seeds: &mut Seeds, name: &str, pcap: &[u8]) {
    let Ok(capture) = Capture::parse(Bytes::copy_from_slice(pcap)) else {
        panic!("{name} does not parse");
    };
    if pcap.len() <= 20 * 1024 {
        seeds.add("replay", pcap.to_vec());
    }
    let conv = conversation::build(&capture, &PortMap::standard());
    // (conn, xid) -> (prog, vers, proc) of calls, to type the replies.
    let mut calls = BTreeMap::new();
    let mut script = Vec::new();
    let mut stream: Vec<u8> = Vec::new();
    let mut conns: BTreeMap<u32, u8> = BTreeMap::new();
    for m in conv.messages() {
        let body = &m.body;
        if let Ok((hdr, args)) = CallHeader::decode(body) {
            calls.insert((m.conn.0, hdr.xid), (hdr.prog, hdr.vers, hdr.proc_));
            if body.len() <= MAX_SEED {
                seeds.add("rpc_message", body.to_vec());
                seeds.add("rpc_auth", body[24.min(body.len())..].to_vec());
            }
            if let Some((t, sel)) = program_target(hdr.prog, hdr.vers, false) {
                if args.len() <= MAX_SEED {
                    let mut s = vec![sel, hdr.proc_ as u8];
                    s.extend_from_slice(&args);
                    seeds.add(t, s);
                }
            }
            // The client's side, for the framer and the server.
            let mut rec = BytesMut::new();
            put_record(&mut rec, body);
            if m.transport == Transport::Tcp && rec.len() <= MAX_SEED {
                stream.extend_from_slice(&rec);
                if stream.len() > 1024 {
                    let mut s = vec![0x01, 0x00];
                    s.append(&mut stream);
                    seeds.add("rpc_record", s);
                }
            }
            if body.len() <= 16 * 1024 {
                match m.transport {
                    Transport::Tcp => {
                        let next = conns.len() as u8;
                        let conn = *conns.entry(m.conn.0).or_insert(next);
                        push_server_op(&mut script, ServerOp::Tcp, conn, &rec);
                    }
                    Transport::Udp => push_server_op(&mut script, ServerOp::Udp, 0, body),
                }
                push_server_op(&mut script, ServerOp::FsResult, 0, &[]);
                push_server_op(&mut script, ServerOp::External, 0, &[]);
                push_server_op(&mut script, ServerOp::Resume, 0, &[]);
                if script.len() > 8 * 1024 {
                    seeds.add("server", std::mem::take(&mut script));
                    conns.clear();
                }
            }
        } else if let Ok(RpcMessage {
            xid,
            body: MessageBody::Reply(reply),
        }) = RpcMessage::decode_bytes(body)
        {
            if body.len() <= MAX_SEED {
                seeds.add("rpc_message", body.to_vec());
            }
            let Some(&(prog, vers, proc_)) = calls.get(&(m.conn.0, xid)) else {
                continue;
            };
            let ReplyBody::Accepted(acc) = reply else {
                continue;
            };
            let AcceptStat::Success(results) = acc.stat else {
                continue;
            };
            if let Some((t, sel)) = program_target(prog, vers, true) {
                if results.len() <= MAX_SEED {
                    let mut s = vec![sel, proc_ as u8];
                    s.extend_from_slice(&results);
                    seeds.add(t, s);
                }
            }
        }
    }
    if !stream.is_empty() {
        let mut s = vec![0x00, 0x30];
        s.append(&mut stream);
        seeds.add("rpc_record", s);
    }
    if !script.is_empty() {
        seeds.add("server", script);
    }
}

/// Synthetic captures in the other container formats and link types the reader handles
/// (the committed captures are all Ethernet pcap).
fn synthetic_captures(seeds: &mut Seeds) {
    let client = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 800);
    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 2049);
    let client6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 801);
    let server6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 111);
    let call = janus_tests::replay::rpc_call(7, 100_003, 3, 1, &[0, 0, 0, 4, 1, 2, 3, 4]);
    let reply = janus_tests::replay::rpc_reply(7, &[0, 0, 0, 70]);
    let null6 = janus_tests::replay::rpc_call(9, 100_000, 2, 0, &[]);
    for link in [Link::Sll, Link::Sll2, Link::Raw, Link::Null, Link::Loop] {
        let mut b = CaptureBuilder::new(link);
        let rec = janus_tests::replay::record(&call);
        let syn = Flags {
            syn: true,
            ..Flags::default()
        };
        b.tcp(client, server, 99, syn, &[]);
        b.tcp(client, server, 100, Flags::default(), &rec[..10]);
        b.tcp(client, server, 110, Flags::default(), &rec[10..]);
        b.tcp(
            server,
            client,
            500,
            Flags::default(),
            &janus_tests::replay::record(&reply),
        );
        b.udp(client6, server6, &null6);
        let fin = Flags {
            fin: true,
            ..Flags::default()
        };
        b.tcp(client, server, 110 + rec.len() as u32 - 10, fin, &[]);
        seeds.add("replay", b.pcap());
        seeds.add("replay", b.pcapng());
        seeds.add("replay", b.pcap_with_snaplen(60));
    }
}

fn nsm_record_seeds(seeds: &mut Seeds) {
    let mon_name = SmString::new(Bytes::from_static(b"client.example")).expect("short");
    let my_name = SmString::new(Bytes::from_static(b"127.0.0.1")).expect("short");
    let records = [
        NsmRecord::Monitored {
            name: Bytes::from_static(b"client.example"),
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            state: 3,
        },
        NsmRecord::Monitored {
            name: Bytes::from_static(b"v6"),
            addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
            state: 1,
        },
        NsmRecord::Unmonitored {
            name: Bytes::from_static(b"client.example"),
        },
        NsmRecord::Registered {
            mon: Mon {
                mon_id: MonId {
                    mon_name: mon_name.clone(),
                    my_id: MyId {
                        my_name,
                        my_prog: 100_021,
                        my_vers: 4,
                        my_proc: 16,
                    },
                },
                priv_: [7; 16],
            },
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
        },
        NsmRecord::OwnState(5),
    ];
    for r in records {
        let mut s = vec![2, 0];
        s.extend_from_slice(&r.to_bytes());
        seeds.add("nsm", s);
    }
    seeds.add("nsm", vec![3, 0, 0, 0, 0x08, 0x01]);
}

/// Writes `fuzz/corpus/<target>/seed-<hash>` from `tests/pcaps` and a few synthetic
/// inputs. Run by hand before fuzzing (`--ignored`); the fuzzer then grows the corpora and
/// `cargo fuzz cmin` shrinks them to what adds coverage.
#[test]
#[ignore = "writes into fuzz/corpus; run by hand"]
fn write_seed_corpora() {
    let pcaps = Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps");
    let mut seeds = Seeds::default();
    for path in files_in(&pcaps) {
        if path.extension().and_then(|e| e.to_str()) != Some("pcap") {
            continue;
        }
        let data = std::fs::read(&path).expect("read a capture");
        seeds_from_capture(&mut seeds, &path.display().to_string(), &data);
    }
    synthetic_captures(&mut seeds);
    nsm_record_seeds(&mut seeds);
    for (target, files) in &seeds.0 {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir).expect("create the corpus directory");
        for (hash, data) in files {
            std::fs::write(dir.join(format!("seed-{hash:016x}")), data).expect("write a seed");
        }
        eprintln!("{target}: {} seeds", files.len());
    }
    for (name, _) in TARGETS {
        assert!(seeds.0.contains_key(name), "no seeds for {name}");
    }
}

/// The `smb_conn` seed transcripts authenticate for real (the target's seed is fixed):
/// replayed into a fresh machine they reach the upper layer and end with a LOGOFF.
#[test]
fn smb_conn_transcripts_authenticate() {
    use janus_tests::smb_fuzz::{config, transcript, NOW, SEED};
    use proto_smb2::server::{Connection, Event, Reply};
    for d in [0x0202u16, 0x0210, 0x0300, 0x0302, 0x0311] {
        let t = transcript(d);
        let mut conn = Connection::new(std::sync::Arc::new(config(0)), SEED);
        conn.handle_bytes(&t[2..], NOW);
        let (mut calls, mut logoff) = (0, false);
        loop {
            let Some(ev) = conn.poll_event() else { break };
            match ev {
                Event::Call(c) => {
                    calls += 1;
                    let _ =
                        conn.handle_reply(c.id, Reply::error(proto_smb2::NtStatus::NOT_SUPPORTED));
                }
                Event::SessionClosed { .. } => logoff = true,
                _ => {}
            }
        }
        assert!(calls >= 2, "dialect {d:#x}: {calls} calls");
        assert!(logoff, "dialect {d:#x}: no LOGOFF");
        assert!(!conn.is_closed());
    }
}

/// Writes `fuzz/corpus/smb_conn`: client transcripts of every dialect, fed whole and in
/// 1-byte pieces, and the request frames of the Samba captures in proto-smb2/tests/data.
#[test]
#[ignore]
fn write_smb_conn_seeds() {
    let dir = fuzz_dir().join("corpus/smb_conn");
    std::fs::create_dir_all(&dir).unwrap();
    let mut n = 0;
    let mut put = |name: String, data: Vec<u8>| {
        std::fs::write(dir.join(name), data).unwrap();
        n += 1;
    };
    for d in [0x0202u16, 0x0210, 0x0300, 0x0302, 0x0311] {
        let mut t = janus_tests::smb_fuzz::transcript(d);
        t[1] = 255;
        put(format!("transcript-{d:04x}"), t.clone());
        for flags in [1u8, 2, 4] {
            t[0] = flags;
            put(format!("transcript-{d:04x}-flags{flags}"), t.clone());
        }
        t[0] = 0;
        t[1] = 0;
        put(format!("transcript-{d:04x}-bytewise"), t);
    }
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto-smb2/tests/data");
    let mut groups: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for f in files_in(&data) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with("-req.nbss") {
            continue;
        }
        let prefix = name
            .split('-')
            .take_while(|s| !s.chars().all(|c| c.is_ascii_digit()))
            .collect::<Vec<_>>()
            .join("-");
        let g = groups.entry(prefix).or_insert_with(|| vec![0, 255]);
        g.extend_from_slice(&std::fs::read(&f).unwrap());
    }
    for (prefix, bytes) in groups {
        put(format!("samba-{prefix}"), bytes);
    }
    eprintln!("wrote {n} seeds");
}
