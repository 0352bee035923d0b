//! SMB access checks (`server::smb_access`) on files of the in-memory backend: the NT
//! rights a uid/gid gets from owner, group, mode and parent directory, and that they agree
//! with what the NFS executor allows the same credentials (one permission model).

use bytes::Bytes;
use proto_nfs::nfs3::*;
use proto_nfs::server::Creds;
use proto_smb2::status::NtStatus;
use server::nfs3_exec::{access_bits, Executor};
use server::smb_access::*;
use vfs::memory::{MemoryFs, MemoryFsConfig, VirtualClock};
use vfs::{Caller, CreateHow, FileAttr, Handle, SetAttrs, Timestamp, Vfs};

const SHARE: u32 = 7;

fn user(uid: u32, gid: u32, gids: &[u32]) -> Creds {
    Creds {
        uid,
        gid,
        gids: gids.to_vec(),
    }
}

fn alice() -> Creds {
    user(1000, 100, &[])
}

fn root() -> Creds {
    user(0, 0, &[])
}

struct T {
    fs: MemoryFs,
}

impl T {
    fn new() -> T {
        let clock = VirtualClock::new(Timestamp {
            secs: 1_700_000_000,
            nsecs: 0,
        });
        let config = MemoryFsConfig {
            root_mode: 0o777,
            ..MemoryFsConfig::default()
        };
        T {
            fs: MemoryFs::with_virtual_clock(config, clock),
        }
    }

    fn attrs(mode: u32, uid: u32, gid: u32) -> SetAttrs {
        SetAttrs {
            mode: Some(mode),
            uid: Some(uid),
            gid: Some(gid),
            ..SetAttrs::default()
        }
    }

    /// A file `name` in `dir` with this mode and owner, made by root.
    fn file(&self, dir: &Handle, name: &str, mode: u32, uid: u32, gid: u32) -> (Handle, FileAttr) {
        let caller = Caller {
            uid: 0,
            gid: 0,
            gids: vec![],
        };
        let (h, _) = self
            .fs
            .create(
                dir,
                name.as_bytes(),
                CreateHow::Guarded,
                &SetAttrs::default(),
                &caller,
            )
            .expect("create");
        let a = self
            .fs
            .setattr(&h, &Self::attrs(mode, uid, gid))
            .expect("setattr");
        (h, a)
    }

    fn dir(&self, dir: &Handle, name: &str, mode: u32, uid: u32, gid: u32) -> (Handle, FileAttr) {
        let caller = Caller {
            uid: 0,
            gid: 0,
            gids: vec![],
        };
        let (h, _) = self
            .fs
            .mkdir(dir, name.as_bytes(), &SetAttrs::default(), &caller)
            .expect("mkdir");
        let a = self
            .fs
            .setattr(&h, &Self::attrs(mode, uid, gid))
            .expect("setattr");
        (h, a)
    }

    fn root_dir(&self) -> (Handle, FileAttr) {
        let h = self.fs.root();
        let a = self.fs.getattr(&h).expect("root attrs");
        (h, a)
    }

    /// What an NFS REMOVE of `dir`/`name` by `c` answers (it removes the file on success).
    fn nfs_remove(&self, c: &Creds, dir: &Handle, name: &str) -> Nfs3Status {
        let exec = Executor::new(*b"bootverf");
        let call = Nfs3Call::Remove(RemoveArgs {
            object: DirOpArgs3 {
                dir: FileHandle::new(SHARE, &dir.0).expect("fits"),
                name: Filename3(Bytes::copy_from_slice(name.as_bytes())),
            },
        });
        match exec.execute(&self.fs, SHARE, c, &call) {
            Nfs3Reply::Remove(Nfs3Result::Ok(_)) => Nfs3Status::Ok,
            Nfs3Reply::Remove(Nfs3Result::Err(s, _)) => s,
            other => panic!("remove: {other:?}"),
        }
    }
}

#[test]
fn the_class_that_applies_decides() {
    let t = T::new();
    let (top, top_a) = t.root_dir();
    let (_, f) = t.file(&top, "f", 0o640, 1000, 100);
    let owner = maximal_access(&f, Some(&top_a), &alice(), false);
    assert_eq!(
        owner & (FILE_READ_DATA | FILE_WRITE_DATA | FILE_APPEND_DATA | FILE_EXECUTE),
        FILE_READ_DATA | FILE_WRITE_DATA | FILE_APPEND_DATA
    );
    // A member of group 100 by a supplementary gid reads, does not write.
    let member = user(2000, 2000, &[5, 100]);
    let g = maximal_access(&f, Some(&top_a), &member, false);
    assert_eq!(g & (FILE_READ_DATA | FILE_WRITE_DATA), FILE_READ_DATA);
    // Anyone else: no data, but attributes and the security descriptor.
    let other = user(3000, 3000, &[]);
    let o = maximal_access(&f, Some(&top_a), &other, false);
    assert_eq!(o & (FILE_READ_DATA | FILE_WRITE_DATA | FILE_EXECUTE), 0);
    assert_eq!(
        o & (FILE_READ_ATTRIBUTES | READ_CONTROL | SYNCHRONIZE),
        FILE_READ_ATTRIBUTES | READ_CONTROL | SYNCHRONIZE
    );
    // Owner bits decide for the owner even when "other" would allow more.
    let (_, f2) = t.file(&top, "f2", 0o077, 1000, 100);
    let m = maximal_access(&f2, Some(&top_a), &alice(), false);
    assert_eq!(m & (FILE_READ_DATA | FILE_WRITE_DATA), 0);
}

#[test]
fn create_access_check_grants_or_denies() {
    let t = T::new();
    let (top, top_a) = t.root_dir();
    let (_, f) = t.file(&top, "f", 0o600, 1000, 100);
    let other = user(3000, 3000, &[]);
    assert_eq!(
        check_open(GENERIC_READ, &f, Some(&top_a), &other, false),
        Err(NtStatus::ACCESS_DENIED)
    );
    // Reading attributes needs nothing on the file (MS-FSA §2.1.5.1.2.1).
    assert_eq!(
        check_open(FILE_READ_ATTRIBUTES, &f, Some(&top_a), &other, false),
        Ok(FILE_READ_ATTRIBUTES)
    );
    assert_eq!(
        check_open(
            GENERIC_READ | GENERIC_WRITE,
            &f,
            Some(&top_a),
            &alice(),
            false
        ),
        Ok(FILE_GENERIC_READ | FILE_GENERIC_WRITE)
    );
    // No execute bit: GENERIC_ALL (which includes FILE_EXECUTE) is refused, as on Samba.
    assert_eq!(
        check_open(GENERIC_ALL, &f, Some(&top_a), &alice(), false),
        Err(NtStatus::ACCESS_DENIED)
    );
    let (_, x) = t.file(&top, "x", 0o700, 1000, 100);
    assert_eq!(
        check_open(GENERIC_ALL, &x, Some(&top_a), &alice(), false),
        Ok(FILE_ALL_ACCESS),
        "rwx owner in a writable directory has everything"
    );
}

#[test]
fn maximum_allowed_grants_what_the_caller_has() {
    let t = T::new();
    let (top, top_a) = t.root_dir();
    let (_, f) = t.file(&top, "f", 0o644, 1000, 100);
    let other = user(3000, 3000, &[]);
    let max = maximal_access(&f, Some(&top_a), &other, false);
    assert_eq!(
        max,
        FILE_READ_DATA | FILE_READ_EA | FILE_READ_ATTRIBUTES | READ_CONTROL | SYNCHRONIZE | DELETE,
        "root directory is 0777: others may delete"
    );
    assert_eq!(
        check_open(MAXIMUM_ALLOWED, &f, Some(&top_a), &other, false),
        Ok(max)
    );
    // Rights named beside MAXIMUM_ALLOWED must be there too.
    assert_eq!(
        check_open(
            MAXIMUM_ALLOWED | FILE_READ_DATA,
            &f,
            Some(&top_a),
            &other,
            false
        ),
        Ok(max)
    );
    assert_eq!(
        check_open(
            MAXIMUM_ALLOWED | FILE_WRITE_DATA,
            &f,
            Some(&top_a),
            &other,
            false
        ),
        Err(NtStatus::ACCESS_DENIED)
    );
}

#[test]
fn owner_rights_without_an_nfs_style_owner_override() {
    let t = T::new();
    let (top, top_a) = t.root_dir();
    let (_, f) = t.file(&top, "ro", 0o444, 1000, 100);
    let m = maximal_access(&f, Some(&top_a), &alice(), false);
    assert_eq!(m & FILE_WRITE_DATA, 0, "0444: the owner may not write data");
    assert_eq!(
        m & (WRITE_DAC | WRITE_OWNER | FILE_WRITE_ATTRIBUTES),
        WRITE_DAC | WRITE_OWNER | FILE_WRITE_ATTRIBUTES,
        "but may change its mode and times"
    );
    let other = user(3000, 3000, &[]);
    let o = maximal_access(&f, Some(&top_a), &other, false);
    assert_eq!(o & (WRITE_DAC | WRITE_OWNER | FILE_WRITE_ATTRIBUTES), 0);
    // A writer who is not the owner may set times (Samba's `dos filetimes`).
    let (_, w) = t.file(&top, "w", 0o666, 1000, 100);
    let o = maximal_access(&w, Some(&top_a), &other, false);
    assert_eq!(
        o & (FILE_WRITE_ATTRIBUTES | WRITE_DAC),
        FILE_WRITE_ATTRIBUTES
    );
}

#[test]
fn root_has_everything_but_execute_without_x_bits() {
    let t = T::new();
    let (top, _) = t.root_dir();
    let (d, d_a) = t.dir(&top, "d", 0o000, 1000, 100);
    let (_, f) = t.file(&d, "f", 0o000, 1000, 100);
    let m = maximal_access(&f, Some(&d_a), &root(), false);
    assert_eq!(m, FILE_ALL_ACCESS & !FILE_EXECUTE);
    let (_, x) = t.file(&d, "x", 0o001, 1000, 100);
    assert_eq!(
        maximal_access(&x, Some(&d_a), &root(), false),
        FILE_ALL_ACCESS
    );
    // A directory is always searchable for root.
    let (_, top_a) = t.root_dir();
    assert_eq!(
        maximal_access(&d_a, Some(&top_a), &root(), false),
        FILE_ALL_ACCESS
    );
}

#[test]
fn directory_rights_need_write_and_search_to_change_entries() {
    let t = T::new();
    let (top, top_a) = t.root_dir();
    let (_, wx) = t.dir(&top, "wx", 0o700, 1000, 100);
    let (_, w) = t.dir(&top, "w", 0o600, 1000, 100);
    let (_, rx) = t.dir(&top, "rx", 0o500, 1000, 100);
    let changes = FILE_ADD_FILE | FILE_ADD_SUBDIRECTORY | FILE_DELETE_CHILD;
    let c = alice();
    assert_eq!(
        maximal_access(&wx, Some(&top_a), &c, false) & changes,
        changes
    );
    assert_eq!(maximal_access(&w, Some(&top_a), &c, false) & changes, 0);
    assert_eq!(maximal_access(&rx, Some(&top_a), &c, false) & changes, 0);
    let rx_m = maximal_access(&rx, Some(&top_a), &c, false);
    assert_eq!(
        rx_m & (FILE_LIST_DIRECTORY | FILE_TRAVERSE),
        FILE_LIST_DIRECTORY | FILE_TRAVERSE
    );
    // Creating in them: FILE_ADD_FILE on the parent.
    assert_eq!(
        check_create(GENERIC_READ | GENERIC_WRITE, &wx, &c, false),
        Ok(FILE_GENERIC_READ | FILE_GENERIC_WRITE)
    );
    assert_eq!(
        check_create(MAXIMUM_ALLOWED, &wx, &c, false),
        Ok(FILE_ALL_ACCESS)
    );
    for d in [&w, &rx] {
        assert_eq!(
            check_create(GENERIC_READ, d, &c, false),
            Err(NtStatus::ACCESS_DENIED)
        );
    }
    let (_, f) = t.file(&top, "plain", 0o777, 1000, 100);
    assert_eq!(
        check_create(GENERIC_READ, &f, &c, false),
        Err(NtStatus::ACCESS_DENIED),
        "a file is no parent"
    );
}

#[test]
fn delete_follows_the_parent_and_the_sticky_rule_like_nfs_remove() {
    let t = T::new();
    let (top, _) = t.root_dir();
    let me = alice();
    let other = user(3000, 3000, &[]);
    // (parent mode, parent owner, file owner, who)
    let cases = [
        (0o755, 0, 1000, &me),
        (0o777, 0, 3000, &me),
        (0o1777, 0, 3000, &me),
        (0o1777, 0, 1000, &me),
        (0o1777, 1000, 3000, &me),
        (0o1777, 0, 1000, &other),
        (0o1777, 0, 0, &root()),
        (0o555, 1000, 1000, &me),
        (0o300, 1000, 3000, &me),
        (0o1770, 3000, 1000, &user(4000, 4000, &[3000])),
    ];
    for (i, (pmode, powner, fowner, who)) in cases.into_iter().enumerate() {
        let (d, d_a) = t.dir(&top, &format!("d{i}"), pmode, powner, powner);
        let (_, f) = t.file(&d, "victim", 0o644, fowner, fowner);
        let smb = check_open(DELETE, &f, Some(&d_a), who, false);
        let nfs = t.nfs_remove(who, &d, "victim");
        assert_eq!(
            smb.is_ok(),
            nfs == Nfs3Status::Ok,
            "case {i}: parent {pmode:o} owned by {powner}, file owner {fowner}, uid {}: SMB {smb:?}, NFS {nfs:?}",
            who.uid
        );
        if nfs != Nfs3Status::Ok {
            assert_eq!(smb, Err(NtStatus::ACCESS_DENIED));
        }
    }
    // The share's root has no parent: it cannot be deleted.
    let (_, top_a) = t.root_dir();
    assert_eq!(
        check_open(DELETE, &top_a, None, &root(), false),
        Err(NtStatus::ACCESS_DENIED)
    );
}

#[test]
fn read_only_share_refuses_every_write_right() {
    let t = T::new();
    let (top, top_a) = t.root_dir();
    let (_, f) = t.file(&top, "f", 0o666, 1000, 100);
    let c = alice();
    for want in [
        GENERIC_WRITE,
        FILE_WRITE_DATA,
        FILE_APPEND_DATA,
        FILE_WRITE_ATTRIBUTES,
        FILE_WRITE_EA,
        DELETE,
        WRITE_DAC,
        WRITE_OWNER,
        GENERIC_ALL,
    ] {
        assert_eq!(
            check_open(want, &f, Some(&top_a), &c, true),
            Err(NtStatus::ACCESS_DENIED),
            "{want:#x}"
        );
    }
    assert_eq!(
        check_open(GENERIC_READ, &f, Some(&top_a), &c, true),
        Ok(FILE_GENERIC_READ)
    );
    let max = check_open(MAXIMUM_ALLOWED, &f, Some(&top_a), &c, true).unwrap();
    assert_eq!(max & WRITE_RIGHTS, 0);
    assert_ne!(max & FILE_READ_DATA, 0);
    assert_eq!(
        check_create(GENERIC_READ, &top_a, &root(), true),
        Err(NtStatus::ACCESS_DENIED)
    );
}

#[test]
fn reserved_bits_and_the_sacl_right_are_refused() {
    let t = T::new();
    let (top, top_a) = t.root_dir();
    let (_, f) = t.file(&top, "f", 0o666, 1000, 100);
    for bit in [
        0x0000_0200,
        0x0000_8000,
        0x0020_0000,
        0x0080_0000,
        0x0400_0000,
        0x0800_0000,
    ] {
        assert_eq!(
            check_open(FILE_READ_DATA | bit, &f, Some(&top_a), &root(), false),
            Err(NtStatus::ACCESS_DENIED),
            "{bit:#x}"
        );
    }
    assert_eq!(
        check_open(ACCESS_SYSTEM_SECURITY, &f, Some(&top_a), &root(), false),
        Err(STATUS_PRIVILEGE_NOT_HELD)
    );
    assert_eq!(
        check_create(ACCESS_SYSTEM_SECURITY, &top_a, &root(), false),
        Err(STATUS_PRIVILEGE_NOT_HELD)
    );
}

/// Over a grid of modes, owners and callers, the SMB rights agree with the NFS ACCESS
/// answer for the same credentials: one permission model.
#[test]
fn agrees_with_nfs_access_for_every_mode_class() {
    let t = T::new();
    let (top, top_a) = t.root_dir();
    let callers = [
        alice(),
        user(2000, 100, &[]),
        user(2000, 2000, &[100]),
        user(3000, 3000, &[]),
        root(),
    ];
    let mut n = 0;
    for mode in [
        0o000, 0o700, 0o070, 0o007, 0o644, 0o755, 0o351, 0o124, 0o777,
    ] {
        for is_dir in [false, true] {
            n += 1;
            let name = format!("o{n}");
            let (_, a) = if is_dir {
                t.dir(&top, &name, mode, 1000, 100)
            } else {
                t.file(&top, &name, mode, 1000, 100)
            };
            for c in &callers {
                let smb = maximal_access(&a, Some(&top_a), c, false);
                let nfs = access_bits(&a, c, u32::MAX);
                let has = |bit: u32| smb & bit != 0;
                let ctx = format!("mode {mode:o} dir {is_dir} uid {} gids {:?}", c.uid, c.gids);
                assert_eq!(has(FILE_READ_DATA), nfs & ACCESS3_READ != 0, "{ctx}");
                if is_dir {
                    assert_eq!(has(FILE_TRAVERSE), nfs & ACCESS3_LOOKUP != 0, "{ctx}");
                    assert_eq!(has(FILE_ADD_FILE), nfs & ACCESS3_MODIFY != 0, "{ctx}");
                    assert_eq!(has(FILE_DELETE_CHILD), nfs & ACCESS3_DELETE != 0, "{ctx}");
                } else {
                    assert_eq!(has(FILE_WRITE_DATA), nfs & ACCESS3_MODIFY != 0, "{ctx}");
                    assert_eq!(has(FILE_APPEND_DATA), nfs & ACCESS3_EXTEND != 0, "{ctx}");
                    assert_eq!(has(FILE_EXECUTE), nfs & ACCESS3_EXECUTE != 0, "{ctx}");
                }
            }
        }
    }
}

#[test]
fn overwrite_of_a_read_only_file_needs_write_even_when_only_read_was_asked() {
    let t = T::new();
    let (top, top_a) = t.root_dir();
    let (_, ro) = t.file(&top, "ro", 0o444, 1000, 100);
    let (_, rw) = t.file(&top, "rw", 0o644, 1000, 100);
    let c = alice();
    let want = GENERIC_READ | implied_by_disposition(FILE_OVERWRITE_IF);
    assert_eq!(
        check_open(want, &ro, Some(&top_a), &c, false),
        Err(NtStatus::ACCESS_DENIED)
    );
    let granted = check_open(want, &rw, Some(&top_a), &c, false).unwrap();
    assert_eq!(granted & FILE_WRITE_DATA, FILE_WRITE_DATA);
    // Superseding needs DELETE: not in a directory only root may write to.
    let (d, d_a) = t.dir(&top, "rootonly", 0o755, 0, 0);
    let (_, f) = t.file(&d, "f", 0o666, 1000, 100);
    let want = GENERIC_WRITE | implied_by_disposition(FILE_SUPERSEDE);
    assert_eq!(
        check_open(want, &f, Some(&d_a), &c, false),
        Err(NtStatus::ACCESS_DENIED)
    );
    assert!(check_open(GENERIC_WRITE, &f, Some(&d_a), &c, false).is_ok());
}
