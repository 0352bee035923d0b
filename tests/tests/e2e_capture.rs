//! A tshark capture of a whole e2e session (libnfs-utils copies and listing plus the libnfs C
//! driver) decoded as ONC RPC on the test's ports: Wireshark's dissectors find no malformed
//! packet, and the session drove every one of the 22 NFSv3 procedures (RFC 1813 §3.3).

use std::collections::BTreeSet;
use std::time::Duration;

use janus_tests::e2e::{
    build_c_client, nfs_cat, nfs_cp, nfs_ls, pseudo_random_bytes, run, Capture, ServerBuilder,
};

#[test]
fn capture_is_clean_and_covers_all_nfsv3_procedures() {
    let driver = build_c_client("nfs3-driver");
    let server = ServerBuilder::new("capture").share("export").start();
    let local = server.scratch().join("local");
    std::fs::create_dir_all(&local).unwrap();
    let data = pseudo_random_bytes(99, 3 << 20);
    std::fs::write(local.join("in.bin"), &data).unwrap();
    for i in 0..20 {
        std::fs::write(server.share_dir("export").join(format!("listed-{i}")), b"x").unwrap();
    }

    // On a heavily loaded machine tshark occasionally records nothing although it said
    // "Capturing on": run the session again (fresh names, nfs-cp is GUARDED) in that case.
    let mut attempt = 0;
    let cap = loop {
        attempt += 1;
        let mut cap = Capture::start(
            &server.scratch().join(format!("session-{attempt}.pcap")),
            &server.ports(),
        );
        let name = format!("in-{attempt}.bin");
        let _ = std::fs::remove_file(local.join("out.bin"));
        nfs_cp(local.join("in.bin"), server.url("export", &name)).ok();
        nfs_cp(server.url("export", &name), local.join("out.bin")).ok();
        nfs_ls(&server.url("export", "")).ok();
        nfs_cat(&server.url("export", "listed-3")).ok();
        let out = run(
            std::process::Command::new(&driver)
                .arg("full")
                .arg(server.url("export", "")),
            Duration::from_secs(120),
        );
        out.ok();
        cap.stop();
        if !cap.fields("tcp", "frame.number").is_empty() || attempt == 3 {
            break cap;
        }
        eprintln!("capture attempt {attempt} recorded no frames; retrying");
    };
    assert_eq!(std::fs::read(local.join("out.bin")).unwrap(), data);

    let malformed = cap.frames("_ws.malformed");
    assert!(
        malformed.is_empty(),
        "malformed packets:\n{}",
        malformed.join("\n")
    );
    // Expert errors (not warnings: libnfs tears connections down with RST, which Wireshark
    // flags as a warning).
    let errors = cap.frames("_ws.expert.severity >= error");
    assert!(errors.is_empty(), "expert errors:\n{}", errors.join("\n"));

    // Calls of every procedure, and replies Wireshark matched to a call of every procedure
    // (it names a reply's procedure from the call with the same xid). Counts need not be
    // equal: libnfs resets connections with calls in flight (e.g. nfs-cp's last READ).
    let procs = |msgtyp: u32| -> BTreeSet<u32> {
        cap.fields(
            &format!("nfs && rpc.msgtyp == {msgtyp}"),
            "nfs.procedure_v3",
        )
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect()
    };
    let all: BTreeSet<u32> = (0..=21).collect();
    for (what, seen) in [("called", procs(0)), ("answered", procs(1))] {
        let missing: Vec<_> = all.difference(&seen).collect();
        assert!(
            missing.is_empty(),
            "NFSv3 procedures never {what}: {missing:?}"
        );
    }
    let mounts = cap.fields("mount && rpc.msgtyp == 1", "mount.procedure_v3");
    assert!(!mounts.is_empty(), "no MOUNT replies captured");
}
