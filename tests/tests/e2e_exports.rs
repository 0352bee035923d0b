//! Export rules end to end: read-only shares (RFC 1813 NFS3ERR_ROFS), and confinement of every
//! path to the share (no `..` or symlink escape).

use std::os::unix::fs::symlink;
use std::time::Duration;

use janus_tests::e2e::rpc::{nfsstat, RpcClient};
use janus_tests::e2e::{build_c_client, nfs_cat, nfs_cp, run, ServerBuilder};

#[test]
fn read_only_share_refuses_writes() {
    let driver = build_c_client("nfs3-driver");
    let server = ServerBuilder::new("ro")
        .share("export")
        .read_only_share("ro")
        .start();
    let ro = server.share_dir("ro");
    std::fs::write(ro.join("existing.txt"), b"read me").unwrap();
    let local = server.scratch().join("upload.txt");
    std::fs::write(&local, b"should not land").unwrap();

    let cp = nfs_cp(&local, server.url("ro", "upload.txt"));
    assert!(!cp.success(), "nfs-cp into a read-only share succeeded");
    assert!(!ro.join("upload.txt").exists());
    // The read-write share next to it still takes writes.
    nfs_cp(&local, server.url("export", "upload.txt")).ok();
    assert!(server.share_dir("export").join("upload.txt").exists());
    // Reading from the read-only share works.
    assert_eq!(
        nfs_cat(&server.url("ro", "existing.txt")).ok().stdout_str(),
        "read me"
    );

    let out = run(
        std::process::Command::new(&driver)
            .arg("rofs")
            .arg(server.url("ro", ""))
            .arg("existing.txt"),
        Duration::from_secs(120),
    );
    println!("{}", out.stdout_str());
    let stdout = out.ok().stdout_str();
    assert!(stdout.contains("rofs: 0 failure(s)"), "{stdout}");

    // Raw WRITE with a valid handle: exactly NFS3ERR_ROFS.
    let mut m = RpcClient::connect(server.mount_port()).unwrap();
    let root = m.mnt(&server.export_path("ro")).unwrap().expect("MNT ro");
    let mut c = RpcClient::connect(server.nfs_port()).unwrap();
    let fh = c.lookup(&root, "existing.txt").unwrap().expect("LOOKUP");
    assert_eq!(c.write(&fh, 0, b"x").unwrap(), Err(nfsstat::ROFS));
    assert_eq!(std::fs::read(ro.join("existing.txt")).unwrap(), b"read me");
}

#[test]
fn paths_cannot_escape_the_share() {
    let server = ServerBuilder::new("escape").share("export").start();
    let share = server.share_dir("export");
    let outside = server.scratch().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let secret = "SECRET-OUTSIDE-THE-SHARE";
    std::fs::write(outside.join("secret.txt"), secret).unwrap();
    std::fs::create_dir(share.join("sub")).unwrap();
    // share = SCRATCH/shares/export, so ../../outside is SCRATCH/outside.
    symlink("../../outside", share.join("rel")).unwrap();
    symlink(&outside, share.join("abs")).unwrap();
    symlink("/etc", share.join("etc")).unwrap();

    // Through libnfs (which resolves symlinks on the client, relative to the export root).
    for path in [
        "rel/secret.txt",
        "abs/secret.txt",
        "../outside/secret.txt",
        "sub/../../outside/secret.txt",
    ] {
        let out = nfs_cat(&server.url("export", path));
        assert!(
            !out.stdout_str().contains(secret),
            "nfs-cat {path} read a file outside the share"
        );
    }
    let out = nfs_cat(&server.url("export", "etc/passwd"));
    assert!(
        !out.stdout_str().contains("root:x:0:0"),
        "nfs-cat etc/passwd read /etc/passwd"
    );

    // Raw LOOKUPs: the server itself must not step out.
    let mut m = RpcClient::connect(server.mount_port()).unwrap();
    let root = m.mnt(&server.export_path("export")).unwrap().expect("MNT");
    let mut c = RpcClient::connect(server.nfs_port()).unwrap();
    let root_id = c.getattr(&root).unwrap().expect("GETATTR root").fileid;

    // RFC 1813 §3.3.3: ".." of the export root must not leave the export.
    match c.lookup(&root, "..").unwrap() {
        Ok(fh) => assert_eq!(
            c.getattr(&fh).unwrap().expect("GETATTR ..").fileid,
            root_id,
            "LOOKUP .. at the export root left the share"
        ),
        Err(stat) => assert_ne!(stat, 0),
    }
    let sub = c.lookup(&root, "sub").unwrap().expect("LOOKUP sub");
    let up = c.lookup(&sub, "..").unwrap().expect("LOOKUP sub/..");
    assert_eq!(c.getattr(&up).unwrap().unwrap().fileid, root_id);
    for name in [
        "../outside",
        "sub/../../outside",
        "rel/secret.txt",
        "/etc/passwd",
        "../../outside/secret.txt",
    ] {
        // Measured: nfs-ganesha 4.3 (VFS FSAL) resolves "rel/secret.txt" through the symlink
        // and out of the export.
        if let Ok(fh) = c.lookup(&root, name).unwrap() {
            let attr = c.getattr(&fh).unwrap();
            server.require(false, format!("LOOKUP of {name:?} succeeded: {attr:?}"));
        }
    }
    // A symlink's handle is not a directory: LOOKUP through it fails (NFS3ERR_NOTDIR).
    for link in ["rel", "abs", "etc"] {
        let fh = c.lookup(&root, link).unwrap().expect("LOOKUP symlink");
        assert_eq!(
            c.getattr(&fh).unwrap().unwrap().ftype,
            5,
            "{link} is not a symlink"
        );
        let through = c
            .lookup(
                &fh,
                if link == "etc" {
                    "passwd"
                } else {
                    "secret.txt"
                },
            )
            .unwrap();
        assert!(through.is_err(), "LOOKUP through symlink {link} succeeded");
        assert_eq!(
            through,
            Err(nfsstat::NOTDIR),
            "LOOKUP through symlink {link}"
        );
    }
    // MOUNT of a path that climbs out of the export is refused.
    for path in ["/export/..", "/export/../outside", "/"] {
        if let Ok(fh) = m.mnt(path).unwrap() {
            let id = c.getattr(&fh).unwrap().map(|a| a.fileid);
            assert_eq!(
                id,
                Ok(root_id),
                "MNT {path} gave a handle outside the export"
            );
        }
    }
}
