//! Share rules every runtime applies the same way: the default share id carried in file
//! handles, share names, and the directory-write check behind the start-up squash warning.

use proto_nfs::server::Creds;
use server::perm::may_change_dir;
use server::ShareConfig;

#[test]
fn share_ids_are_stable() {
    // FNV-1a 32 reference values: these are what existing file handles carry, so they
    // must never change.
    let id = ShareConfig::default_id;
    assert_eq!(id(""), 0x811c_9dc5);
    assert_eq!(id("a"), 0xe40c_292c);
    assert_eq!(id("foobar"), 0xbf9c_f968);
    assert_ne!(id("export"), id("export2"));
}

#[test]
fn share_names() {
    for ok in [
        "export",
        "a",
        "Ünïcode",
        "dots.and-dashes_",
        &"x".repeat(255),
    ] {
        assert!(ShareConfig::valid_name(ok), "{ok:?}");
    }
    for bad in ["", "a/b", "a b", "tab\t", "nul\0", &"x".repeat(256)] {
        assert!(!ShareConfig::valid_name(bad), "{bad:?}");
    }
}

/// Squashed credentials (no supplementary groups) against a share's directory: the one
/// class that applies decides, and creating entries needs write and search.
#[test]
fn directory_change_permission_follows_the_class_that_applies() {
    const A: u32 = 65534;
    let may = |mode, uid, gid, who: u32| {
        let c = Creds {
            uid: who,
            gid: who,
            gids: Vec::new(),
        };
        may_change_dir(mode, uid, gid, &c)
    };
    // Owner class.
    assert!(may(0o700, A, 0, A));
    assert!(!may(0o577, A, 0, A), "owner bits decide, not other");
    assert!(!may(0o500, A, A, A));
    // Group class.
    assert!(may(0o070, 0, A, A));
    assert!(!may(0o757, 0, A, A), "group bits decide");
    // Other class.
    assert!(may(0o1777, 0, 0, A));
    assert!(may(0o003, 0, 0, A));
    assert!(!may(0o755, 0, 0, A));
    assert!(!may(0o775, 0, 0, A));
    // Write without search is not enough to create entries.
    assert!(!may(0o002, 0, 0, A));
    // Squashing to root squashes nothing away.
    assert!(may(0o000, 5, 5, 0));
}
