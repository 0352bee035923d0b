//! End-to-end NFSv3 with third-party clients against the real server (RFC 1813 over RFC 5531):
//! libnfs-utils copies and listings, the libnfs C driver's full procedure sequence, and file
//! handles that survive a restart.

use std::collections::HashSet;
use std::time::Duration;

use janus_tests::e2e::clients::ls_names;
use janus_tests::e2e::rpc::{nfsstat, RpcClient};
use janus_tests::e2e::{
    build_c_client, fnv1a64, nfs_cat, nfs_cp, nfs_ls, pseudo_random_bytes, run, ServerBuilder,
};

#[test]
fn nfs_cp_64_mib_in_and_out_and_nfs_cat() {
    let server = ServerBuilder::new("cp").share("export").start();
    let local = server.scratch().join("local");
    std::fs::create_dir_all(&local).unwrap();
    let data = pseudo_random_bytes(0x6a61_6e75_7301, 64 << 20);
    std::fs::write(local.join("in.bin"), &data).unwrap();

    nfs_cp(local.join("in.bin"), server.url("export", "big.bin")).ok();
    let on_server = std::fs::read(server.share_dir("export").join("big.bin")).unwrap();
    assert_eq!(
        (on_server.len(), fnv1a64(&on_server)),
        (data.len(), fnv1a64(&data)),
        "file written through NFS differs from the source"
    );

    nfs_cp(server.url("export", "big.bin"), local.join("out.bin")).ok();
    let back = std::fs::read(local.join("out.bin")).unwrap();
    assert_eq!(
        (back.len(), fnv1a64(&back)),
        (data.len(), fnv1a64(&data)),
        "file read back through NFS differs from the source"
    );
    assert!(back == data);

    // nfs-cp creates GUARDED (RFC 1813 §3.3.8): a second copy to the same name must fail.
    let again = nfs_cp(local.join("in.bin"), server.url("export", "big.bin"));
    assert!(
        !again.success(),
        "GUARDED CREATE over an existing file succeeded"
    );

    let text = "hello from the share\nsecond line\n";
    std::fs::write(server.share_dir("export").join("small.txt"), text).unwrap();
    let cat = nfs_cat(&server.url("export", "small.txt")).ok();
    assert_eq!(cat.stdout_str(), text);
    let missing = nfs_cat(&server.url("export", "no-such-file"));
    assert!(!missing.success(), "nfs-cat of a missing file succeeded");
}

#[test]
fn listing_5000_entries_readdirplus_and_readdir() {
    let server = ServerBuilder::new("ls").share("export").start();
    // In the share's root: libnfs mounts the URL's whole path, and a MNT of a sub-directory
    // of an export is server policy (RFC 1813 §5.2.1), not what this test is about.
    let dir = server.share_dir("export");
    let mut expected = HashSet::new();
    for i in 0..5000 {
        // Names of varying length so READDIRPLUS pages end at different offsets.
        let name = format!("entry-{i:05}-{}", "x".repeat(i % 37));
        std::fs::write(dir.join(&name), []).unwrap();
        expected.insert(name);
    }
    let out = nfs_ls(&server.url("export", "")).ok();
    let names = ls_names(&out);
    let mut seen: HashSet<String> = HashSet::new();
    let dups: Vec<&String> = names
        .iter()
        .filter(|n| !seen.insert((*n).clone()))
        .collect();
    assert!(
        dups.is_empty(),
        "listed more than once: {:?}",
        &dups[..dups.len().min(10)]
    );
    let missing: Vec<&String> = expected.difference(&seen).take(10).collect();
    let extra: Vec<&String> = seen.difference(&expected).take(10).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, unexpected {extra:?}"
    );
    assert_eq!(names.len(), 5000);

    // The same directory through plain READDIR pages of 4 KiB (libnfs raw API): every
    // cookie/cookieverf continuation must neither lose nor repeat an entry.
    let driver = build_c_client("nfs3-driver");
    let out = run(
        std::process::Command::new(&driver).args([
            "readdir",
            &server.url("export", ""),
            "",
            "5000",
        ]),
        Duration::from_secs(120),
    );
    println!("{}", out.stdout_str());
    assert!(out.ok().stdout_str().contains("readdir: 0 failure(s)"));
}

#[test]
fn libnfs_driver_full_sequence() {
    let driver = build_c_client("nfs3-driver");
    let server = ServerBuilder::new("driver").share("export").start();
    let out = run(
        std::process::Command::new(&driver)
            .arg("full")
            .arg(server.url("export", "")),
        Duration::from_secs(120),
    );
    println!("{}", out.stdout_str());
    let out = out.ok();
    let stdout = out.stdout_str();
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(stdout.contains("full: 0 failure(s)"), "{stdout}");
    // The driver removes everything it created.
    let left: Vec<_> = std::fs::read_dir(server.share_dir("export"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "driver left {left:?} behind");
}

#[test]
fn handles_survive_restart() {
    let mut server = ServerBuilder::new("restart").share("export").start();
    let share = server.share_dir("export");
    std::fs::create_dir(share.join("d")).unwrap();
    std::fs::write(share.join("d/keep.txt"), b"kept across restarts").unwrap();
    std::fs::write(share.join("gone.txt"), b"deleted while down").unwrap();

    let mut c = RpcClient::connect(server.mount_port()).unwrap();
    let root = c.mnt(&server.export_path("export")).unwrap().expect("MNT");
    let mut c = RpcClient::connect(server.nfs_port()).unwrap();
    let dir = c.lookup(&root, "d").unwrap().expect("LOOKUP d");
    let keep = c
        .lookup(&dir, "keep.txt")
        .unwrap()
        .expect("LOOKUP keep.txt");
    let gone = c
        .lookup(&root, "gone.txt")
        .unwrap()
        .expect("LOOKUP gone.txt");
    let before = c.getattr(&keep).unwrap().expect("GETATTR keep.txt");
    drop(c);

    server.restart();
    std::fs::remove_file(share.join("gone.txt")).unwrap();

    let mut c = RpcClient::connect(server.nfs_port()).unwrap();
    let after = c
        .getattr(&keep)
        .unwrap()
        .expect("GETATTR with a pre-restart handle");
    assert_eq!((after.fileid, after.size), (before.fileid, before.size));
    let data = c
        .read(&keep, 0, 4096)
        .unwrap()
        .expect("READ with a pre-restart handle");
    assert_eq!(data, b"kept across restarts");
    let again = c
        .lookup(&root, "d")
        .unwrap()
        .expect("LOOKUP in the pre-restart root handle");
    let again = c
        .lookup(&again, "keep.txt")
        .unwrap()
        .expect("LOOKUP keep.txt");
    assert_eq!(c.getattr(&again).unwrap().unwrap().fileid, before.fileid);
    // RFC 1813 §2.3.3: a handle of a removed file is stale, never another file's.
    assert_eq!(
        c.getattr(&gone).unwrap(),
        Err(nfsstat::STALE),
        "handle of a deleted file"
    );
    // Handles the server never issued are refused (RFC 1813 §2.6: BADHANDLE / STALE).
    for forged in [vec![], vec![0xff; 64], vec![0; 8]] {
        let res = c.getattr(&forged).unwrap();
        assert!(
            matches!(res, Err(nfsstat::STALE) | Err(nfsstat::BADHANDLE)),
            "GETATTR of a forged {}-byte handle gave {res:?}",
            forged.len()
        );
    }
    // libnfs still lists the share after the restart.
    let ls = nfs_ls(&server.url("export", "")).ok();
    assert!(
        ls.stdout_str().lines().any(|l| l.ends_with(" d")),
        "{}",
        ls.describe()
    );
}

/// Read-after-write across clients with write-behind (runtime-mio/src/write_behind.rs): a
/// second libnfs client reads each UNSTABLE write, and its overwrite, right after the
/// writer's reply (tests/clients/wb-driver.c), then the file on disk is checked.
#[test]
fn a_second_client_reads_unstable_writes_right_after_their_replies() {
    const ROUNDS: usize = 48;
    let driver = build_c_client("wb-driver");
    let server = ServerBuilder::new("wb").share("export").start();
    let out = run(
        std::process::Command::new(&driver)
            .arg(server.url("export", ""))
            .arg("wb.bin")
            .arg(ROUNDS.to_string()),
        Duration::from_secs(120),
    );
    println!("{}", out.stdout_str());
    let out = out.ok();
    assert!(out.stdout_str().contains("wb: 0 failure(s)"));
    // The same formulas as the driver: round i wrote len(i) bytes at offset(i), the second
    // version last.
    let offset = |i: usize| i * 300_007 + 13;
    let len = |i: usize| match i % 3 {
        0 => 1_048_576 - 5,
        1 => 262_151,
        _ => 777,
    };
    let fill = |i: usize, v: usize, k: usize| ((i * 31 + v * 101 + k * 7) % 251) as u8;
    let size = (0..ROUNDS).map(|i| offset(i) + len(i)).max().unwrap();
    let mut want = vec![0u8; size];
    for i in 0..ROUNDS {
        for k in 0..len(i) {
            want[offset(i) + k] = fill(i, 1, k);
        }
    }
    let on_disk = std::fs::read(server.share_dir("export").join("wb.bin")).unwrap();
    assert_eq!(on_disk.len(), want.len());
    assert!(on_disk == want, "file content differs from the writes");
}
