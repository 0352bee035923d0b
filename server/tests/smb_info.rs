//! QUERY_INFO and SET_INFO over MemoryFs (`server::smb_info`): every class, the output
//! buffer rules, access checks, and the answers compared field by field with Samba 4.17's
//! for the same file (`proto-smb2/tests/data/fscc-*`, see its README: `hello.txt`, 12
//! bytes, mode 0640, all times 2024-01-02 03:04:05.123456789 UTC).

use proto_smb2::cmd::{FileId, OutputBufferResponse, QueryInfoRequest, SetInfoRequest};
use proto_smb2::fscc::file::*;
use proto_smb2::fscc::fs::*;
use proto_smb2::fscc::{attributes, file_class, fs_class, info_type, FileTime, InfoClass};
use proto_smb2::names::parse_create_str;
use proto_smb2::security::{security_information as si, Ace, SecurityDescriptor, Sid};
use proto_smb2::server::Reply;
use proto_smb2::NtStatus;
use server::smb_access::*;
use server::smb_info::*;
use vfs::memory::{MemoryFs, MemoryFsConfig, VirtualClock};
use vfs::{Caller, CreateHow, Handle, SetAttrs, SetTime, Stability, Timestamp, Vfs};

macro_rules! samba {
    ($name:literal) => {
        &include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../proto-smb2/tests/data/",
            $name,
            ".nbss"
        ))[4..]
    };
}

fn samba_out(msg: &[u8]) -> Vec<u8> {
    OutputBufferResponse::decode(msg).unwrap().data
}

fn samba_status(msg: &[u8]) -> NtStatus {
    NtStatus(u32::from_le_bytes([msg[8], msg[9], msg[10], msg[11]]))
}

const HELLO: Timestamp = Timestamp {
    secs: 1_704_164_645,
    nsecs: 123_456_789,
};

const OWNER: u32 = 1000;
const GROUP: u32 = 100;

fn owner() -> Caller {
    Caller {
        uid: OWNER,
        gid: GROUP,
        gids: vec![],
    }
}

struct T {
    fs: MemoryFs,
    clock: VirtualClock,
    hello: Handle,
    sub: Handle,
}

/// `hello.txt` as in the Samba capture, and a directory `sub` (0755), owned by OWNER.
fn setup() -> T {
    let clock = VirtualClock::new(HELLO);
    let fs = MemoryFs::with_virtual_clock(MemoryFsConfig::default(), clock.clone());
    let root = fs.root();
    let c = owner();
    let (hello, _) = fs
        .create(
            &root,
            b"hello.txt",
            CreateHow::Guarded,
            &SetAttrs {
                mode: Some(0o640),
                ..Default::default()
            },
            &c,
        )
        .unwrap();
    fs.write(&hello, 0, b"hello world\n", Stability::FileSync)
        .unwrap();
    fs.setattr(
        &hello,
        &SetAttrs {
            atime: SetTime::Client(HELLO),
            mtime: SetTime::Client(HELLO),
            ..Default::default()
        },
    )
    .unwrap();
    let (sub, _) = fs
        .mkdir(
            &root,
            b"sub",
            &SetAttrs {
                mode: Some(0o755),
                ..Default::default()
            },
            &c,
        )
        .unwrap();
    T {
        fs,
        clock,
        hello,
        sub,
    }
}

/// The open of smbprotocol in the capture: 0x0012019f | WRITE_DAC | DELETE.
fn hello_open() -> OpenView {
    OpenView {
        path: parse_create_str("hello.txt").unwrap(),
        granted_access: 0x0013_019F,
        position: 0,
        mode: 0,
        delete_pending: false,
        is_dir: false,
        read_only: false,
        dialect: 0x0311,
    }
}

fn volume() -> VolumeView {
    VolumeView {
        serial_number: 0xbcdd_3c3d,
        label: "share".into(),
        creation_time: FileTime::from_unix(HELLO.secs, HELLO.nsecs).0,
        object_id: [7; 16],
        read_only: false,
    }
}

fn qreq(info_type: u8, class: u8, len: u32) -> QueryInfoRequest {
    QueryInfoRequest {
        info_type,
        file_info_class: class,
        output_buffer_length: len,
        additional_information: 0,
        flags: 0,
        file_id: FileId::default(),
        input: vec![],
    }
}

/// Status and output buffer of a reply (the body decoded as the response it is).
fn parts(r: &Reply) -> (NtStatus, Vec<u8>) {
    match r {
        Reply::Body { status, body } => {
            let mut msg = vec![0u8; 64];
            msg.extend_from_slice(body);
            (*status, OutputBufferResponse::decode(&msg).unwrap().data)
        }
        Reply::Error { status, .. } => (*status, vec![]),
        Reply::Framed { .. } => panic!("queries answer with Reply::Body: {r:?}"),
    }
}

fn query(t: &T, h: &Handle, open: &OpenView, info_type: u8, class: u8, len: u32) -> Reply {
    query_info(&t.fs, h, open, &volume(), &qreq(info_type, class, len))
}

fn file_q(t: &T, class: u8) -> Vec<u8> {
    let (st, data) = parts(&query(
        t,
        &t.hello,
        &hello_open(),
        info_type::FILE,
        class,
        4096,
    ));
    assert_eq!(st, NtStatus::SUCCESS, "class {class}");
    data
}

#[test]
fn file_classes_match_samba_byte_for_byte() {
    let t = setup();
    // Identical bytes: nothing in these depends on the server's disk.
    for (class, frame) in [
        (file_class::BASIC, samba!("fscc-17-basic-resp")),
        (file_class::STANDARD, samba!("fscc-19-standard-resp")),
        (file_class::EA, samba!("fscc-23-ea-resp")),
        (file_class::ACCESS, samba!("fscc-25-access-resp")),
        (file_class::POSITION, samba!("fscc-27-position-resp")),
        (file_class::ALIGNMENT, samba!("fscc-31-alignment-resp")),
        (file_class::STREAM, samba!("fscc-35-stream-resp")),
        (file_class::COMPRESSION, samba!("fscc-37-compression-resp")),
        (
            file_class::NETWORK_OPEN,
            samba!("fscc-39-network-open-resp"),
        ),
        (
            file_class::ATTRIBUTE_TAG,
            samba!("fscc-41-attribute-tag-resp"),
        ),
        (
            file_class::NORMALIZED_NAME,
            samba!("fscc-43-normalized-name-resp"),
        ),
    ] {
        assert_eq!(file_q(&t, class), samba_out(frame), "class {class}");
    }
    // The inode number is the disk's: the same field, our inode.
    let internal = FileInternalInformation::decode(&file_q(&t, file_class::INTERNAL)).unwrap();
    let ino = t.fs.getattr(&t.hello).unwrap().fileid;
    assert_eq!(internal.index_number, ino);
    // FileAllInformation: Samba's bytes with our inode (and Samba's mode word, which
    // reflects its open's flags: ours answers the open's mode).
    let ours = FileAllInformation::decode(&file_q(&t, file_class::ALL)).unwrap();
    let mut theirs = FileAllInformation::decode(&samba_out(samba!("fscc-33-all-resp"))).unwrap();
    theirs.internal.index_number = ino;
    theirs.mode.mode = 0;
    assert_eq!(ours, theirs);
    let mode = FileModeInformation::decode(&file_q(&t, file_class::MODE)).unwrap();
    assert_eq!(mode.mode, 0);
    let mut open = hello_open();
    open.mode = mode::WRITE_THROUGH | mode::SYNCHRONOUS_IO_NONALERT;
    open.position = 77;
    let (_, d) = parts(&query(&t, &t.hello, &open, 1, file_class::MODE, 4));
    assert_eq!(FileModeInformation::decode(&d).unwrap().mode, open.mode);
    let (_, d) = parts(&query(&t, &t.hello, &open, 1, file_class::POSITION, 8));
    assert_eq!(
        FilePositionInformation::decode(&d)
            .unwrap()
            .current_byte_offset,
        77
    );
}

#[test]
fn file_system_classes_against_samba() {
    let t = setup();
    let fsq = |class| {
        let (st, d) = parts(&query(&t, &t.hello, &hello_open(), 2, class, 4096));
        assert_eq!(st, NtStatus::SUCCESS);
        d
    };
    // Same label, serial and creation time as Samba's share: the same bytes.
    assert_eq!(
        fsq(fs_class::VOLUME),
        samba_out(samba!("fscc-53-fs-volume-resp"))
    );
    assert_eq!(
        fsq(fs_class::DEVICE),
        samba_out(samba!("fscc-57-fs-device-resp"))
    );
    assert_eq!(
        fsq(fs_class::SECTOR_SIZE),
        samba_out(samba!("fscc-65-fs-sector-size-resp"))
    );
    // Sizes: the disk's figures differ, the unit shape is Samba's.
    let ours = FileFsSizeInformation::decode(&fsq(fs_class::SIZE)).unwrap();
    let theirs = FileFsSizeInformation::decode(&samba_out(samba!("fscc-55-fs-size-resp"))).unwrap();
    assert_eq!(
        (ours.sectors_per_allocation_unit, ours.bytes_per_sector),
        (theirs.sectors_per_allocation_unit, theirs.bytes_per_sector)
    );
    let st = t.fs.fsstat(&t.hello).unwrap();
    assert_eq!(ours.total_allocation_units, st.total_bytes / 1024);
    assert_eq!(ours.available_allocation_units, st.avail_bytes / 1024);
    let full = FileFsFullSizeInformation::decode(&fsq(fs_class::FULL_SIZE)).unwrap();
    assert_eq!(full.size(), ours);
    assert_eq!(full.actual_available_allocation_units, st.free_bytes / 1024);
    // Attribute: "NTFS" and 255 as Samba; the flags are Janus's (no streams, no quotas).
    let ours = FileFsAttributeInformation::decode(&fsq(fs_class::ATTRIBUTE)).unwrap();
    let theirs =
        FileFsAttributeInformation::decode(&samba_out(samba!("fscc-59-fs-attribute-resp")))
            .unwrap();
    assert_eq!(ours.file_system_name, theirs.file_system_name);
    assert_eq!(
        ours.maximum_component_name_length,
        theirs.maximum_component_name_length
    );
    assert_eq!(ours.file_system_attributes, fs_attributes::JANUS);
    assert_eq!(
        theirs.file_system_attributes & !ours.file_system_attributes,
        fs_attributes::NAMED_STREAMS | fs_attributes::VOLUME_QUOTAS
    );
    let obj = FileFsObjectIdInformation::decode(&fsq(fs_class::OBJECT_ID)).unwrap();
    assert_eq!(obj.object_id, [7; 16]);
    assert_eq!(
        samba_out(samba!("fscc-63-fs-object-id-resp")).len(),
        fsq(fs_class::OBJECT_ID).len()
    );
    // A read-only volume says so.
    let mut ro = volume();
    ro.read_only = true;
    let (_, d) = parts(&query_info(
        &t.fs,
        &t.hello,
        &hello_open(),
        &ro,
        &qreq(2, fs_class::ATTRIBUTE, 100),
    ));
    assert_ne!(
        FileFsAttributeInformation::decode(&d)
            .unwrap()
            .file_system_attributes
            & fs_attributes::READ_ONLY_VOLUME,
        0
    );
    let (_, d) = parts(&query_info(
        &t.fs,
        &t.hello,
        &hello_open(),
        &ro,
        &qreq(2, fs_class::DEVICE, 100),
    ));
    assert_eq!(
        FileFsDeviceInformation::decode(&d).unwrap().characteristics,
        0x22
    );
    // Control (quota) information: none.
    let d = fsq(fs_class::CONTROL);
    assert_eq!(d.len(), 48);
    assert_eq!(&d[24..40], &[0xff; 16]);
    assert_eq!(&d[40..48], &[0; 8]);
    // Not a class Janus answers.
    assert_eq!(
        query(&t, &t.hello, &hello_open(), 2, fs_class::DRIVER_PATH, 100).status(),
        NtStatus::INVALID_INFO_CLASS
    );
}

#[test]
fn buffer_rules_match_samba_where_samba_follows_the_spec() {
    let t = setup();
    let o = hello_open();
    // Below the fixed part: INFO_LENGTH_MISMATCH (frames 45, 47, 49).
    for (class, len, frame) in [
        (file_class::BASIC, 8, samba!("fscc-45-basic-8-resp")),
        (file_class::ALL, 100, samba!("fscc-47-all-100-resp")),
        (file_class::STREAM, 30, samba!("fscc-49-stream-30-resp")),
    ] {
        let r = query(&t, &t.hello, &o, 1, class, len);
        assert_eq!(r.status(), samba_status(frame), "class {class} in {len}");
        assert!(matches!(r, Reply::Error { .. }));
    }
    // Exactly the fixed part of a fixed class: success.
    for (class, len) in [
        (file_class::BASIC, 40),
        (file_class::STANDARD, 24),
        (file_class::INTERNAL, 8),
        (file_class::EA, 4),
        (file_class::ACCESS, 4),
        (file_class::POSITION, 8),
        (file_class::MODE, 4),
        (file_class::ALIGNMENT, 4),
        (file_class::COMPRESSION, 16),
        (file_class::NETWORK_OPEN, 56),
        (file_class::ATTRIBUTE_TAG, 8),
        (file_class::ID, 24),
    ] {
        let (st, d) = parts(&query(&t, &t.hello, &o, 1, class, len));
        assert_eq!(
            (st, d.len()),
            (NtStatus::SUCCESS, len as usize),
            "class {class}"
        );
        assert_eq!(
            query(&t, &t.hello, &o, 1, class, len - 1).status(),
            NtStatus::INFO_LENGTH_MISMATCH,
            "class {class}"
        );
    }
    // A variable class cut: BUFFER_OVERFLOW with a body, the name length still whole.
    let r = query(&t, &t.hello, &o, 1, file_class::ALL, 104);
    let (st, d) = parts(&r);
    assert_eq!((st, d.len()), (NtStatus::BUFFER_OVERFLOW, 104));
    assert_eq!(&d[96..100], &20u32.to_le_bytes());
    assert!(matches!(r, Reply::Body { .. }));
    let (st, d) = parts(&query(&t, &t.hello, &o, 1, file_class::ALL, 120));
    assert_eq!((st, d.len()), (NtStatus::SUCCESS, 120));
    // Streams: whole entries only.
    let (st, d) = parts(&query(&t, &t.hello, &o, 1, file_class::STREAM, 37));
    assert_eq!((st, d.len()), (NtStatus::BUFFER_OVERFLOW, 0));
    let (st, d) = parts(&query(&t, &t.hello, &o, 1, file_class::STREAM, 38));
    assert_eq!((st, d.len()), (NtStatus::SUCCESS, 38));
    // File-system attribute: below 16 bytes (the fixed part and one character, aligned)
    // INFO_LENGTH_MISMATCH, as Samba answers for 14 (and Windows, smbtorture says);
    // from 16 the name cut with BUFFER_OVERFLOW.
    assert_eq!(
        query(&t, &t.hello, &o, 2, fs_class::ATTRIBUTE, 14).status(),
        samba_status(samba!("fscc-67-fs-attribute-14-resp"))
    );
    let (st, d) = parts(&query(&t, &t.hello, &o, 2, fs_class::ATTRIBUTE, 16));
    assert_eq!((st, d.len()), (NtStatus::BUFFER_OVERFLOW, 16));
    let (st, d) = parts(&query(&t, &t.hello, &o, 2, fs_class::VOLUME, 24));
    assert_eq!((st, d.len()), (NtStatus::BUFFER_OVERFLOW, 24));
    assert_eq!(
        query(&t, &t.hello, &o, 2, fs_class::VOLUME, 23).status(),
        NtStatus::INFO_LENGTH_MISMATCH
    );
}

/// smbtorture's smb2.getinfo.qfile_buffercheck and qfs_buffercheck, whose minimum sizes
/// were taken from Windows: every OutputBufferLength from 0 to the whole answer gives
/// INFO_LENGTH_MISMATCH below the minimum, BUFFER_OVERFLOW with data below the whole
/// answer, SUCCESS at it.
#[test]
fn every_buffer_size_as_windows_answers() {
    let t = setup();
    let o = OpenView {
        granted_access: FILE_ALL_ACCESS,
        ..hello_open()
    };
    let file = [
        (4, 40),
        (5, 24),
        (6, 8),
        (7, 4),
        (8, 4),
        (16, 4),
        (17, 4),
        (18, 104),
        (21, 8),
        (22, 32),
        (28, 16),
        (34, 56),
        (35, 8),
    ];
    let fs = [
        (1, 24),
        (3, 24),
        (4, 8),
        (5, 16),
        (6, 48),
        (7, 32),
        (11, 28),
    ];
    let levels = file
        .iter()
        .map(|&(c, m)| (1u8, c, m))
        .chain(fs.iter().map(|&(c, m)| (2u8, c, m)));
    for (ty, class, fixed) in levels {
        let (st, full) = parts(&query(&t, &t.hello, &o, ty, class, 65535));
        assert_eq!(st, NtStatus::SUCCESS, "type {ty} class {class}");
        for len in 0..=full.len() as u32 {
            let r = query(&t, &t.hello, &o, ty, class, len);
            let want = if len < fixed {
                NtStatus::INFO_LENGTH_MISMATCH
            } else if (len as usize) < full.len() {
                NtStatus::BUFFER_OVERFLOW
            } else {
                NtStatus::SUCCESS
            };
            assert_eq!(r.status(), want, "type {ty} class {class} in {len}");
        }
    }
}

#[test]
fn names_streams_and_directories() {
    let t = setup();
    let all = |h: &Handle, open: &OpenView| {
        let (_, d) = parts(&query(&t, h, open, 1, file_class::ALL, 4096));
        FileAllInformation::decode(&d).unwrap()
    };
    let a = all(&t.hello, &hello_open());
    assert_eq!(
        String::from_utf16(&a.name.file_name).unwrap(),
        "\\hello.txt"
    );
    let (_, d) = parts(&query(
        &t,
        &t.hello,
        &hello_open(),
        1,
        file_class::NAME,
        4096,
    ));
    assert_eq!(
        FileNameInformation::decode(&d).unwrap(),
        FileNameInformation::new("\\hello.txt")
    );
    // A directory: DIRECTORY, sizes 0, no stream.
    let sub_open = OpenView {
        path: parse_create_str("sub").unwrap(),
        is_dir: true,
        ..hello_open()
    };
    let a = all(&t.sub, &sub_open);
    assert!(a.standard.directory);
    assert_eq!(t.fs.getattr(&t.sub).unwrap().nlink, 2);
    assert_eq!(a.standard.number_of_links, 1);
    assert_eq!(a.basic.file_attributes, attributes::DIRECTORY);
    assert_eq!((a.standard.end_of_file, a.standard.allocation_size), (0, 0));
    let (st, d) = parts(&query(&t, &t.sub, &sub_open, 1, file_class::STREAM, 4096));
    assert_eq!((st, d.len()), (NtStatus::SUCCESS, 0));
    // The share root and a nested path.
    let root_open = OpenView {
        path: parse_create_str("").unwrap(),
        is_dir: true,
        ..hello_open()
    };
    let a = all(&t.fs.root(), &root_open);
    assert_eq!(String::from_utf16(&a.name.file_name).unwrap(), "\\");
    let nested = OpenView {
        path: parse_create_str("sub\\deep.txt").unwrap(),
        ..hello_open()
    };
    let (_, d) = parts(&query(
        &t,
        &t.hello,
        &nested,
        1,
        file_class::NORMALIZED_NAME,
        4096,
    ));
    assert_eq!(
        FileNormalizedNameInformation::decode(&d).unwrap(),
        FileNormalizedNameInformation::new("sub\\deep.txt")
    );
    // Normalized names are 3.1.1 only; no short names; no EAs; delete pending shows.
    let old = OpenView {
        dialect: 0x0302,
        delete_pending: true,
        ..hello_open()
    };
    assert_eq!(
        query(&t, &t.hello, &old, 1, file_class::NORMALIZED_NAME, 4096).status(),
        NtStatus::NOT_SUPPORTED
    );
    let a = all(&t.hello, &old);
    assert!(a.standard.delete_pending);
    assert_eq!(a.standard.number_of_links, 0);
    // A valid 8.3 name is its own short name (Samba's answer); a long one has none.
    let (st, d) = parts(&query(
        &t,
        &t.hello,
        &old,
        1,
        file_class::ALTERNATE_NAME,
        4096,
    ));
    assert_eq!(st, NtStatus::SUCCESS);
    assert_eq!(
        FileAlternateNameInformation::decode(&d).unwrap(),
        FileAlternateNameInformation::new("hello.txt")
    );
    let long = OpenView {
        path: parse_create_str("a long name.text").unwrap(),
        ..old.clone()
    };
    assert_eq!(
        query(&t, &t.hello, &long, 1, file_class::ALTERNATE_NAME, 4096).status(),
        NtStatus::OBJECT_NAME_NOT_FOUND
    );
    assert_eq!(
        query(&t, &t.hello, &old, 1, file_class::FULL_EA, 4096).status(),
        NtStatus::EAS_NOT_SUPPORTED
    );
    // FileIdInformation: serial and inode.
    let (_, d) = parts(&query(&t, &t.hello, &old, 1, file_class::ID, 24));
    assert_eq!(&d[0..8], &0xbcdd_3c3du64.to_le_bytes());
    assert_eq!(
        &d[8..16],
        &t.fs.getattr(&t.hello).unwrap().fileid.to_le_bytes()
    );
    // Unknown classes and types.
    for class in [0u8, 3, 10, 13, 19, 20, 60, 200] {
        assert_eq!(
            query(&t, &t.hello, &old, 1, class, 4096).status(),
            NtStatus::INVALID_INFO_CLASS,
            "class {class}"
        );
    }
    assert_eq!(
        query(&t, &t.hello, &old, 9, 1, 4096).status(),
        NtStatus::INVALID_PARAMETER
    );
    // A file deleted behind the open.
    t.fs.remove(&t.fs.root(), b"hello.txt").unwrap();
    assert_eq!(
        query(&t, &t.hello, &old, 1, file_class::BASIC, 4096).status(),
        STATUS_FILE_DELETED
    );
}

#[test]
fn query_access_checks() {
    let t = setup();
    let none = OpenView {
        granted_access: SYNCHRONIZE,
        ..hello_open()
    };
    for class in [
        file_class::BASIC,
        file_class::ALL,
        file_class::NETWORK_OPEN,
        file_class::ATTRIBUTE_TAG,
    ] {
        assert_eq!(
            query(&t, &t.hello, &none, 1, class, 4096).status(),
            NtStatus::ACCESS_DENIED,
            "class {class}"
        );
    }
    // MS-SMB2 §3.3.5.20.1 needs nothing for these.
    for class in [
        file_class::STANDARD,
        file_class::INTERNAL,
        file_class::EA,
        file_class::ACCESS,
        file_class::POSITION,
        file_class::MODE,
        file_class::STREAM,
    ] {
        assert_eq!(
            query(&t, &t.hello, &none, 1, class, 4096).status(),
            NtStatus::SUCCESS,
            "class {class}"
        );
    }
    let mut q = qreq(info_type::SECURITY, 0, 4096);
    q.additional_information = si::OWNER;
    assert_eq!(
        query_info(&t.fs, &t.hello, &none, &volume(), &q).status(),
        NtStatus::ACCESS_DENIED
    );
    q.additional_information = si::SACL;
    assert_eq!(
        query_info(&t.fs, &t.hello, &hello_open(), &volume(), &q).status(),
        NtStatus::ACCESS_DENIED
    );
}

#[test]
fn security_descriptor_matches_samba_and_buffer_too_small() {
    let t = setup();
    let mut q = qreq(info_type::SECURITY, 0, 4096);
    q.additional_information = si::OWNER | si::GROUP | si::DACL;
    let (st, d) = parts(&query_info(&t.fs, &t.hello, &hello_open(), &volume(), &q));
    assert_eq!(st, NtStatus::SUCCESS);
    let ours = SecurityDescriptor::decode(&d).unwrap();
    let theirs = SecurityDescriptor::decode(&samba_out(samba!("fscc-69-security-resp"))).unwrap();
    assert_eq!(ours.owner, Some(Sid::unix_user(OWNER)));
    assert_eq!(ours.group, Some(Sid::unix_group(GROUP)));
    // Samba names the owner by its passdb SID; the control word and the DACL's masks, in
    // order, are the same for the same mode.
    assert_eq!(ours.control, theirs.control);
    let masks = |sd: &SecurityDescriptor| -> Vec<u32> {
        sd.dacl
            .as_ref()
            .unwrap()
            .aces
            .iter()
            .map(|a| match a {
                Ace::Basic { mask, .. } => *mask,
                _ => panic!("unexpected ACE"),
            })
            .collect()
    };
    assert_eq!(masks(&ours), masks(&theirs));
    // Too small: BUFFER_TOO_SMALL with the size needed in the error data.
    q.output_buffer_length = d.len() as u32 - 1;
    match query_info(&t.fs, &t.hello, &hello_open(), &volume(), &q) {
        Reply::Error { status, error } => {
            assert_eq!(status, NtStatus::BUFFER_TOO_SMALL);
            assert_eq!(error.error_data, (d.len() as u32).to_le_bytes().to_vec());
        }
        r => panic!("{r:?}"),
    }
    q.output_buffer_length = d.len() as u32;
    assert_eq!(
        query_info(&t.fs, &t.hello, &hello_open(), &volume(), &q).status(),
        NtStatus::SUCCESS
    );
}

// ------------------------------------------------------------------------------------
// SET_INFO
// ------------------------------------------------------------------------------------

fn sreq(info_type: u8, class: u8, buffer: Vec<u8>) -> SetInfoRequest {
    SetInfoRequest {
        info_type,
        file_info_class: class,
        additional_information: 0,
        file_id: FileId::default(),
        buffer,
    }
}

fn set(t: &T, open: &OpenView, caller: &Caller, info: SetFileInfo) -> SetInfoOutcome {
    let (class, buf) = info.encode();
    set_info(&t.fs, &t.hello, open, caller, &sreq(1, class, buf))
}

fn rw_open() -> OpenView {
    OpenView {
        granted_access: FILE_ALL_ACCESS,
        ..hello_open()
    }
}

#[test]
fn set_basic_times_and_readonly() {
    let t = setup();
    t.clock.advance(100, 0);
    let new = FileTime::from_unix(1_600_000_000, 500);
    // Samba's captured request (fscc-72): write time -1, the rest 0.
    let captured =
        proto_smb2::cmd::SetInfoRequest::decode(samba!("fscc-72-set-basic-req")).unwrap();
    let out = set_info(&t.fs, &t.hello, &rw_open(), &owner(), &captured);
    let SetInfoOutcome::Applied { time_freeze, .. } = out else {
        panic!("{out:?}")
    };
    assert_eq!(time_freeze[2], Some(true));
    assert_eq!(t.fs.getattr(&t.hello).unwrap().mtime, HELLO);

    let out = set(
        &t,
        &rw_open(),
        &owner(),
        SetFileInfo::Basic(FileBasicInformation {
            creation_time: 0,
            last_access_time: new.0 as i64,
            last_write_time: new.0 as i64,
            change_time: -2,
            file_attributes: 0,
        }),
    );
    assert!(matches!(
        out,
        SetInfoOutcome::Applied {
            time_freeze: [None, None, None, Some(false)],
            ..
        }
    ));
    assert_eq!(out.reply().unwrap().status(), NtStatus::SUCCESS);
    let a = t.fs.getattr(&t.hello).unwrap();
    assert_eq!(filetime(a.mtime), new.0);
    assert_eq!(filetime(a.atime), new.0);
    // READONLY clears the write bits and shows; clearing it gives the owner's back.
    let ro = |attrs| {
        SetFileInfo::Basic(FileBasicInformation {
            file_attributes: attrs,
            ..Default::default()
        })
    };
    set(
        &t,
        &rw_open(),
        &owner(),
        ro(attributes::READONLY | attributes::ARCHIVE),
    );
    let a = t.fs.getattr(&t.hello).unwrap();
    assert_eq!(a.mode & 0o777, 0o440);
    assert_eq!(view(&a).file_attributes, attributes::READONLY);
    // Delete-pending on a READONLY file: STATUS_CANNOT_DELETE (MS-FSA 2.1.5.15.3).
    assert_eq!(
        set(
            &t,
            &rw_open(),
            &owner(),
            SetFileInfo::Disposition(FileDispositionInformation {
                delete_pending: true
            })
        ),
        SetInfoOutcome::Failed(STATUS_CANNOT_DELETE)
    );
    set(&t, &rw_open(), &owner(), ro(attributes::NORMAL));
    assert_eq!(t.fs.getattr(&t.hello).unwrap().mode & 0o777, 0o640);
    // Someone else may not change the mode, even with FILE_WRITE_ATTRIBUTES.
    let other = Caller {
        uid: 2000,
        gid: 2000,
        gids: vec![],
    };
    assert_eq!(
        set(&t, &rw_open(), &other, ro(attributes::READONLY)),
        SetInfoOutcome::Failed(NtStatus::ACCESS_DENIED)
    );
    // Invalid attributes and times.
    // Bits that cannot be set are ignored, as Samba does: DIRECTORY on a file, an
    // undefined bit (neither is READONLY, so the file stays writable); with READONLY
    // they still apply it.
    for odd in [attributes::DIRECTORY, 0x8000_0000] {
        assert!(matches!(
            set(&t, &rw_open(), &owner(), ro(odd)),
            SetInfoOutcome::Applied { attr: None, .. }
        ));
        assert_eq!(t.fs.getattr(&t.hello).unwrap().mode & 0o777, 0o640);
        set(&t, &rw_open(), &owner(), ro(odd | attributes::READONLY));
        assert_eq!(t.fs.getattr(&t.hello).unwrap().mode & 0o777, 0o440);
        set(&t, &rw_open(), &owner(), ro(attributes::ARCHIVE));
        assert_eq!(t.fs.getattr(&t.hello).unwrap().mode & 0o777, 0o640);
    }
    assert_eq!(
        set(
            &t,
            &rw_open(),
            &owner(),
            SetFileInfo::Basic(FileBasicInformation {
                last_write_time: -3,
                ..Default::default()
            })
        ),
        SetInfoOutcome::Failed(NtStatus::INVALID_PARAMETER)
    );
    // Without FILE_WRITE_ATTRIBUTES.
    let r = OpenView {
        granted_access: FILE_GENERIC_READ,
        ..hello_open()
    };
    assert_eq!(
        set(&t, &r, &owner(), ro(attributes::READONLY)),
        SetInfoOutcome::Failed(NtStatus::ACCESS_DENIED)
    );
    // A short basic buffer.
    assert_eq!(
        set_info(
            &t.fs,
            &t.hello,
            &rw_open(),
            &owner(),
            &sreq(1, file_class::BASIC, vec![0; 35])
        ),
        SetInfoOutcome::Failed(NtStatus::INFO_LENGTH_MISMATCH)
    );
}

#[test]
fn set_sizes() {
    let t = setup();
    let captured = proto_smb2::cmd::SetInfoRequest::decode(samba!("fscc-74-set-eof-req")).unwrap();
    let want = u64::from_le_bytes(captured.buffer[..8].try_into().unwrap());
    assert!(matches!(
        set_info(&t.fs, &t.hello, &rw_open(), &owner(), &captured),
        SetInfoOutcome::Applied { attr: Some(_), .. }
    ));
    assert_eq!(t.fs.getattr(&t.hello).unwrap().size, want);
    let eof = |n| SetFileInfo::EndOfFile(FileEndOfFileInformation { end_of_file: n });
    let alloc = |n| SetFileInfo::Allocation(FileAllocationInformation { allocation_size: n });
    set(&t, &rw_open(), &owner(), eof(10_000));
    assert_eq!(t.fs.getattr(&t.hello).unwrap().size, 10_000);
    // Allocation above EOF changes nothing; below truncates (MS-FSA 2.1.5.15.2).
    set(&t, &rw_open(), &owner(), alloc(20_000));
    assert_eq!(t.fs.getattr(&t.hello).unwrap().size, 10_000);
    set(&t, &rw_open(), &owner(), alloc(5));
    assert_eq!(t.fs.getattr(&t.hello).unwrap().size, 5);
    let (_, d) = parts(&query(
        &t,
        &t.hello,
        &hello_open(),
        1,
        file_class::STANDARD,
        24,
    ));
    assert_eq!(FileStandardInformation::decode(&d).unwrap().end_of_file, 5);
    // Rights, directories, signed range.
    let r = OpenView {
        granted_access: FILE_GENERIC_READ | FILE_WRITE_ATTRIBUTES,
        ..hello_open()
    };
    assert_eq!(
        set(&t, &r, &owner(), eof(1)),
        SetInfoOutcome::Failed(NtStatus::ACCESS_DENIED)
    );
    assert_eq!(
        set(&t, &r, &owner(), alloc(1)),
        SetInfoOutcome::Failed(NtStatus::ACCESS_DENIED)
    );
    let d = OpenView {
        is_dir: true,
        ..rw_open()
    };
    assert_eq!(
        set(&t, &d, &owner(), eof(1)),
        SetInfoOutcome::Failed(NtStatus::INVALID_PARAMETER)
    );
    assert_eq!(
        set(&t, &rw_open(), &owner(), eof(u64::MAX)),
        SetInfoOutcome::Failed(NtStatus::INVALID_PARAMETER)
    );
}

#[test]
fn set_outcomes_for_the_core() {
    let t = setup();
    let captured =
        proto_smb2::cmd::SetInfoRequest::decode(samba!("fscc-76-set-position-req")).unwrap();
    let want = u64::from_le_bytes(captured.buffer[..8].try_into().unwrap());
    assert_eq!(
        set_info(&t.fs, &t.hello, &hello_open(), &owner(), &captured),
        SetInfoOutcome::Position(want)
    );
    // Position needs no right; a sector-aligned one with NO_INTERMEDIATE_BUFFERING.
    let nb = OpenView {
        mode: mode::NO_INTERMEDIATE_BUFFERING,
        granted_access: 0,
        ..hello_open()
    };
    let pos = |n| {
        SetFileInfo::Position(FilePositionInformation {
            current_byte_offset: n,
        })
    };
    assert_eq!(
        set(&t, &nb, &owner(), pos(1024)),
        SetInfoOutcome::Position(1024)
    );
    assert_eq!(
        set(&t, &nb, &owner(), pos(1000)),
        SetInfoOutcome::Failed(NtStatus::INVALID_PARAMETER)
    );
    assert_eq!(
        set(&t, &nb, &owner(), pos(7)).reply(),
        Some(Reply::error(NtStatus::INVALID_PARAMETER))
    );
    // Mode: settable bits only, the synchronous bits unchanged.
    let m = |n| SetFileInfo::Mode(FileModeInformation { mode: n });
    let sync = OpenView {
        mode: mode::SYNCHRONOUS_IO_NONALERT | mode::DELETE_ON_CLOSE,
        ..hello_open()
    };
    assert_eq!(
        set(
            &t,
            &sync,
            &owner(),
            m(mode::SYNCHRONOUS_IO_NONALERT | mode::WRITE_THROUGH)
        ),
        SetInfoOutcome::Mode(
            mode::SYNCHRONOUS_IO_NONALERT | mode::WRITE_THROUGH | mode::DELETE_ON_CLOSE
        )
    );
    assert_eq!(
        set(&t, &sync, &owner(), m(mode::WRITE_THROUGH)),
        SetInfoOutcome::Failed(NtStatus::INVALID_PARAMETER)
    );
    assert_eq!(
        set(
            &t,
            &sync,
            &owner(),
            m(mode::DELETE_ON_CLOSE | mode::SYNCHRONOUS_IO_NONALERT)
        ),
        SetInfoOutcome::Failed(NtStatus::INVALID_PARAMETER)
    );
    // Disposition: DELETE needed; a non-empty directory refused; clearing always fine.
    let disp = |d| SetFileInfo::Disposition(FileDispositionInformation { delete_pending: d });
    assert_eq!(
        set(&t, &rw_open(), &owner(), disp(true)),
        SetInfoOutcome::Disposition { delete: true }
    );
    assert_eq!(
        set(&t, &rw_open(), &owner(), disp(false)),
        SetInfoOutcome::Disposition { delete: false }
    );
    let nodel = OpenView {
        granted_access: FILE_GENERIC_WRITE,
        ..hello_open()
    };
    assert_eq!(
        set(&t, &nodel, &owner(), disp(true)),
        SetInfoOutcome::Failed(NtStatus::ACCESS_DENIED)
    );
    t.fs.create(
        &t.sub,
        b"x",
        CreateHow::Guarded,
        &SetAttrs::default(),
        &owner(),
    )
    .unwrap();
    let sub_open = OpenView {
        path: parse_create_str("sub").unwrap(),
        is_dir: true,
        ..rw_open()
    };
    let (class, buf) = disp(true).encode();
    assert_eq!(
        set_info(
            &t.fs,
            &t.sub,
            &sub_open,
            &owner(),
            &sreq(1, class, buf.clone())
        ),
        SetInfoOutcome::Failed(STATUS_DIRECTORY_NOT_EMPTY)
    );
    t.fs.remove(&t.sub, b"x").unwrap();
    assert_eq!(
        set_info(&t.fs, &t.sub, &sub_open, &owner(), &sreq(1, class, buf)),
        SetInfoOutcome::Disposition { delete: true }
    );
    // DispositionEx.
    let dx = |f| SetFileInfo::DispositionEx(FileDispositionInformationEx { flags: f });
    assert_eq!(
        set(&t, &rw_open(), &owner(), dx(1 | 0x10)),
        SetInfoOutcome::Disposition { delete: true }
    );
    assert_eq!(
        set(&t, &rw_open(), &owner(), dx(0)),
        SetInfoOutcome::Disposition { delete: false }
    );
    assert_eq!(
        set(&t, &rw_open(), &owner(), dx(1 | 2)),
        SetInfoOutcome::Failed(NtStatus::NOT_SUPPORTED)
    );
    assert_eq!(
        set(&t, &rw_open(), &owner(), dx(1 | 8)),
        SetInfoOutcome::Failed(NtStatus::NOT_SUPPORTED)
    );
    // Rename: Samba's captured requests, with and without ReplaceIfExists.
    for (frame, replace) in [
        (samba!("fscc-112-set-rename-req"), false),
        (samba!("fscc-106-set-rename-replace-req"), true),
    ] {
        let req = proto_smb2::cmd::SetInfoRequest::decode(frame).unwrap();
        let info = FileRenameInformation::decode(&req.buffer).unwrap();
        let name = String::from_utf16(&info.file_name).unwrap();
        match set_info(&t.fs, &t.hello, &rw_open(), &owner(), &req) {
            SetInfoOutcome::Rename { target, replace: r } => {
                assert_eq!(r, replace);
                assert_eq!(target.components.join("\\"), name.trim_start_matches('\\'));
            }
            o => panic!("{o:?}"),
        }
    }
    let rename = |name: &str| {
        SetFileInfo::Rename(FileRenameInformation {
            replace_if_exists: false,
            root_directory: 0,
            file_name: name.encode_utf16().collect(),
        })
    };
    assert_eq!(
        set(&t, &rw_open(), &owner(), rename("a\\..\\b")),
        SetInfoOutcome::Failed(NtStatus::OBJECT_PATH_SYNTAX_BAD)
    );
    assert_eq!(
        set(&t, &rw_open(), &owner(), rename("a*b")),
        SetInfoOutcome::Failed(NtStatus::OBJECT_NAME_INVALID)
    );
    assert_eq!(
        set(&t, &nodel, &owner(), rename("b")),
        SetInfoOutcome::Failed(NtStatus::ACCESS_DENIED)
    );
    let link = SetFileInfo::Link(FileLinkInformation(FileRenameInformation {
        replace_if_exists: true,
        root_directory: 0,
        file_name: "sub\\l".encode_utf16().collect(),
    }));
    assert!(matches!(
        set(&t, &rw_open(), &owner(), link),
        SetInfoOutcome::Link { replace: true, .. }
    ));
    // Classes that cannot be set, EAs, file-system and quota types.
    assert_eq!(
        set_info(
            &t.fs,
            &t.hello,
            &rw_open(),
            &owner(),
            &sreq(1, file_class::STANDARD, vec![0; 24])
        ),
        SetInfoOutcome::Failed(NtStatus::INVALID_INFO_CLASS)
    );
    assert_eq!(
        set_info(
            &t.fs,
            &t.hello,
            &rw_open(),
            &owner(),
            &sreq(1, file_class::FULL_EA, vec![0; 16])
        ),
        SetInfoOutcome::Failed(NtStatus::EAS_NOT_SUPPORTED)
    );
    // Settable classes Janus does not implement: NOT_SUPPORTED, as Samba answers, also to
    // an open without the right the class needs.
    for class in [file_class::VALID_DATA_LENGTH, file_class::SHORT_NAME] {
        assert_eq!(
            set_info(
                &t.fs,
                &t.hello,
                &hello_open(),
                &owner(),
                &sreq(1, class, vec![0; 24])
            ),
            SetInfoOutcome::Failed(NtStatus::NOT_SUPPORTED)
        );
        assert_eq!(
            set_info(
                &t.fs,
                &t.hello,
                &rw_open(),
                &owner(),
                &sreq(1, class, vec![0; 24])
            ),
            SetInfoOutcome::Failed(NtStatus::NOT_SUPPORTED)
        );
    }
    assert_eq!(
        set_info(
            &t.fs,
            &t.hello,
            &rw_open(),
            &owner(),
            &sreq(2, fs_class::LABEL, vec![0; 16])
        ),
        SetInfoOutcome::Failed(NtStatus::INVALID_INFO_CLASS)
    );
}

#[test]
fn read_only_share_refuses_changes() {
    let t = setup();
    // Even an open that claims every right (the core never grants one on a read-only
    // share, smb_access::maximal_access) changes nothing there.
    let ro = OpenView {
        read_only: true,
        ..rw_open()
    };
    let before = t.fs.getattr(&t.hello).unwrap();
    for info in [
        SetFileInfo::EndOfFile(FileEndOfFileInformation { end_of_file: 0 }),
        SetFileInfo::Basic(FileBasicInformation {
            last_write_time: 5,
            ..Default::default()
        }),
        SetFileInfo::Disposition(FileDispositionInformation {
            delete_pending: true,
        }),
    ] {
        assert_eq!(
            set(&t, &ro, &owner(), info),
            SetInfoOutcome::Failed(NtStatus::ACCESS_DENIED)
        );
    }
    assert_eq!(t.fs.getattr(&t.hello).unwrap(), before);
    // The open's own state may still change.
    assert_eq!(
        set(
            &t,
            &ro,
            &owner(),
            SetFileInfo::Position(FilePositionInformation {
                current_byte_offset: 3
            })
        ),
        SetInfoOutcome::Position(3)
    );
    let granted = maximal_access(
        &before,
        Some(&t.fs.getattr(&t.fs.root()).unwrap()),
        &proto_nfs::server::Creds {
            uid: OWNER,
            gid: GROUP,
            gids: vec![],
        },
        true,
    );
    assert_eq!(granted & WRITE_RIGHTS, 0);
}

fn sd_req(info: u32, sd: &SecurityDescriptor) -> SetInfoRequest {
    SetInfoRequest {
        info_type: info_type::SECURITY,
        file_info_class: 0,
        additional_information: info,
        file_id: FileId::default(),
        buffer: sd.to_vec(),
    }
}

#[test]
fn set_security_maps_to_chmod_and_chown() {
    let t = setup();
    let sd = |uid, gid, mode| {
        SecurityDescriptor::from_mode(
            Sid::unix_user(uid),
            Sid::unix_group(gid),
            mode,
            false,
            si::OWNER | si::GROUP | si::DACL,
        )
    };
    let s = |open: &OpenView, c: &Caller, info, d: &SecurityDescriptor| {
        set_info(&t.fs, &t.hello, open, c, &sd_req(info, d))
    };
    // chmod through the DACL by the owner.
    assert!(matches!(
        s(&rw_open(), &owner(), si::DACL, &sd(OWNER, GROUP, 0o604)),
        SetInfoOutcome::Applied { .. }
    ));
    assert_eq!(t.fs.getattr(&t.hello).unwrap().mode & 0o777, 0o604);
    // Needs WRITE_DAC.
    let nodac = OpenView {
        granted_access: FILE_ALL_ACCESS & !WRITE_DAC,
        ..hello_open()
    };
    assert_eq!(
        s(&nodac, &owner(), si::DACL, &sd(OWNER, GROUP, 0o600)),
        SetInfoOutcome::Failed(NtStatus::ACCESS_DENIED)
    );
    // Not the owner: no chmod.
    let other = Caller {
        uid: 2000,
        gid: 2000,
        gids: vec![],
    };
    assert_eq!(
        s(&rw_open(), &other, si::DACL, &sd(OWNER, GROUP, 0o600)),
        SetInfoOutcome::Failed(NtStatus::ACCESS_DENIED)
    );
    // Giving the file away: root only. The same owner is no change.
    assert_eq!(
        s(&rw_open(), &owner(), si::OWNER, &sd(2000, GROUP, 0)),
        SetInfoOutcome::Failed(NtStatus::ACCESS_DENIED)
    );
    assert!(matches!(
        s(&rw_open(), &owner(), si::OWNER, &sd(OWNER, GROUP, 0)),
        SetInfoOutcome::Applied { attr: None, .. }
    ));
    let root = Caller {
        uid: 0,
        gid: 0,
        gids: vec![],
    };
    assert!(matches!(
        s(&rw_open(), &root, si::OWNER, &sd(2000, GROUP, 0)),
        SetInfoOutcome::Applied { attr: Some(_), .. }
    ));
    assert_eq!(t.fs.getattr(&t.hello).unwrap().uid, 2000);
    // The owner may change the group to one of its groups only.
    let member = Caller {
        uid: 2000,
        gid: 2000,
        gids: vec![300],
    };
    assert!(matches!(
        s(&rw_open(), &member, si::GROUP, &sd(2000, 300, 0)),
        SetInfoOutcome::Applied { .. }
    ));
    assert_eq!(t.fs.getattr(&t.hello).unwrap().gid, 300);
    assert_eq!(
        s(&rw_open(), &member, si::GROUP, &sd(2000, 301, 0)),
        SetInfoOutcome::Failed(NtStatus::ACCESS_DENIED)
    );
    // Not representable, malformed, SACL.
    let mut odd = sd(2000, 300, 0o600);
    if let Some(d) = odd.dacl.as_mut() {
        d.aces.push(Ace::allow(Sid::unix_user(4242), 0x1f01ff));
    }
    assert_eq!(
        s(&rw_open(), &member, si::DACL, &odd),
        SetInfoOutcome::Failed(NtStatus::NOT_SUPPORTED)
    );
    assert_eq!(
        s(
            &rw_open(),
            &root,
            si::OWNER,
            &SecurityDescriptor::from_mode(
                "S-1-5-32-544".parse().unwrap(),
                Sid::unix_group(0),
                0,
                false,
                si::OWNER
            )
        ),
        SetInfoOutcome::Failed(NtStatus::INVALID_OWNER)
    );
    let mut bad = sd_req(si::DACL, &sd(2000, 300, 0));
    bad.buffer.truncate(10);
    assert_eq!(
        set_info(&t.fs, &t.hello, &rw_open(), &member, &bad),
        SetInfoOutcome::Failed(NtStatus::INVALID_SECURITY_DESCR)
    );
    assert_eq!(
        s(&rw_open(), &root, si::SACL, &sd(0, 0, 0)),
        SetInfoOutcome::Failed(NtStatus::ACCESS_DENIED)
    );
}

mod arbitrary_requests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Any QUERY_INFO is answered without a panic, and never with more than
        /// OutputBufferLength bytes.
        #[test]
        fn query_info_never_panics_or_overruns(
            info_type in 0u8..6,
            class in prop_oneof![0u8..70, any::<u8>()],
            len in prop_oneof![0u32..200, any::<u32>().prop_map(|l| l % 70_000)],
            addl in any::<u32>(),
            granted in any::<u32>(),
            dir in any::<bool>(),
        ) {
            let t = setup();
            let open = OpenView { granted_access: granted, is_dir: dir, ..hello_open() };
            let h = if dir { &t.sub } else { &t.hello };
            let mut q = qreq(info_type, class, len);
            q.additional_information = addl;
            let r = query_info(&t.fs, h, &open, &volume(), &q);
            if let Reply::Body { .. } = r {
                let (st, d) = parts(&r);
                prop_assert!(d.len() <= len as usize);
                prop_assert!(st == NtStatus::SUCCESS || st == NtStatus::BUFFER_OVERFLOW);
            }
        }

        /// Any SET_INFO is answered without a panic; a refused one changes nothing.
        #[test]
        fn set_info_never_panics(
            info_type in 0u8..6,
            class in prop_oneof![0u8..70, any::<u8>()],
            addl in any::<u32>(),
            buffer in proptest::collection::vec(any::<u8>(), 0..128),
            granted in any::<u32>(),
            uid in prop_oneof![Just(0u32), Just(OWNER), Just(2000u32)],
        ) {
            let t = setup();
            let open = OpenView { granted_access: granted, ..hello_open() };
            let before = t.fs.getattr(&t.hello).unwrap();
            let req = SetInfoRequest {
                info_type,
                file_info_class: class,
                additional_information: addl,
                file_id: FileId::default(),
                buffer,
            };
            let c = Caller { uid, gid: GROUP, gids: vec![] };
            if let SetInfoOutcome::Failed(_) = set_info(&t.fs, &t.hello, &open, &c, &req) {
                prop_assert_eq!(t.fs.getattr(&t.hello).unwrap(), before);
            }
        }
    }
}

/// The attributes and creation time SET_INFO stores in the backend (`Vfs::set_dos_attrs`)
/// come back from QUERY_INFO and QUERY_DIRECTORY; READONLY lives in the mode.
#[test]
fn stored_dos_attributes_and_creation_time() {
    let t = setup();
    let basic = |attrs: u32, creation: i64| {
        SetFileInfo::Basic(FileBasicInformation {
            creation_time: creation,
            file_attributes: attrs,
            ..Default::default()
        })
    };
    let query_basic = |t: &T| {
        let (_, d) = parts(&query(t, &t.hello, &rw_open(), 1, file_class::BASIC, 40));
        FileBasicInformation::decode(&d).unwrap()
    };
    let born = FileTime::from_unix(1_500_000_000, 0);
    let out = set(
        &t,
        &rw_open(),
        &owner(),
        basic(
            attributes::HIDDEN | attributes::ARCHIVE | attributes::SYSTEM,
            born.0 as i64,
        ),
    );
    assert!(matches!(out, SetInfoOutcome::Applied { .. }), "{out:?}");
    let b = query_basic(&t);
    assert_eq!(
        b.file_attributes,
        attributes::HIDDEN | attributes::ARCHIVE | attributes::SYSTEM
    );
    assert_eq!(b.creation_time, born.0 as i64);
    // The mode did not change; the backend stored the word.
    let d = t.fs.dos_attrs(&t.hello).unwrap();
    assert!(d.stored);
    assert_eq!(t.fs.getattr(&t.hello).unwrap().mode & 0o777, 0o640);
    // READONLY: in the mode, shown with the stored bits.
    set(
        &t,
        &rw_open(),
        &owner(),
        basic(attributes::READONLY | attributes::ARCHIVE, 0),
    );
    assert_eq!(t.fs.getattr(&t.hello).unwrap().mode & 0o777, 0o440);
    assert_eq!(
        query_basic(&t).file_attributes,
        attributes::READONLY | attributes::ARCHIVE
    );
    assert_eq!(
        t.fs.dos_attrs(&t.hello).unwrap().attributes & attributes::READONLY,
        0
    );
    // The creation time stays (0: unchanged).
    assert_eq!(query_basic(&t).creation_time, born.0 as i64);
    // NORMAL alone clears everything.
    set(&t, &rw_open(), &owner(), basic(attributes::NORMAL, 0));
    assert_eq!(query_basic(&t).file_attributes, attributes::NORMAL);
    assert_eq!(t.fs.getattr(&t.hello).unwrap().mode & 0o777, 0o640);
    // A READONLY an earlier server stored in the word is shown (until the next set).
    t.fs.set_dos_attrs(
        &t.hello,
        &vfs::SetDosAttrs {
            attributes: Some(attributes::READONLY),
            creation_time: None,
        },
    )
    .unwrap();
    assert_eq!(query_basic(&t).file_attributes, attributes::READONLY);
    set(&t, &rw_open(), &owner(), basic(attributes::ARCHIVE, 0));
    assert_eq!(query_basic(&t).file_attributes, attributes::ARCHIVE);
    // TEMPORARY on a directory is STATUS_INVALID_PARAMETER (MS-FSA 2.1.5.15.1; Samba
    // refuses it too, smbtorture smb2.create.dosattr_tmp_dir) and changes nothing.
    let sub_open = OpenView {
        path: parse_create_str("sub").unwrap(),
        is_dir: true,
        ..rw_open()
    };
    let (class, buf) = basic(attributes::TEMPORARY | attributes::HIDDEN, 0).encode();
    assert!(matches!(
        set_info(&t.fs, &t.sub, &sub_open, &owner(), &sreq(1, class, buf)),
        SetInfoOutcome::Failed(NtStatus::INVALID_PARAMETER)
    ));
    let (class, buf) = basic(attributes::HIDDEN, 0).encode();
    assert!(matches!(
        set_info(&t.fs, &t.sub, &sub_open, &owner(), &sreq(1, class, buf)),
        SetInfoOutcome::Applied { .. }
    ));
    let (_, d) = parts(&query(&t, &t.sub, &sub_open, 1, file_class::BASIC, 40));
    assert_eq!(
        FileBasicInformation::decode(&d).unwrap().file_attributes,
        attributes::DIRECTORY | attributes::HIDDEN
    );
    // A symbolic link stores nothing: the set succeeds, nothing is kept.
    let (link, _) =
        t.fs.symlink(
            &t.fs.root(),
            b"ln",
            b"hello.txt",
            &SetAttrs::default(),
            &owner(),
        )
        .unwrap();
    let link_open = OpenView {
        path: parse_create_str("ln").unwrap(),
        ..rw_open()
    };
    let (class, buf) = basic(attributes::HIDDEN, born.0 as i64).encode();
    assert!(matches!(
        set_info(&t.fs, &link, &link_open, &owner(), &sreq(1, class, buf)),
        SetInfoOutcome::Applied { .. }
    ));
    assert!(!t.fs.dos_attrs(&link).unwrap().stored);
}

#[test]
fn allocation_reserves_space() {
    let t = setup();
    let alloc = |n| SetFileInfo::Allocation(FileAllocationInformation { allocation_size: n });
    assert!(matches!(
        set(&t, &rw_open(), &owner(), alloc(1 << 20)),
        SetInfoOutcome::Applied { attr: Some(_), .. }
    ));
    let (_, d) = parts(&query(
        &t,
        &t.hello,
        &rw_open(),
        1,
        file_class::STANDARD,
        24,
    ));
    let s = FileStandardInformation::decode(&d).unwrap();
    assert_eq!(s.end_of_file, 12);
    assert!(s.allocation_size >= 1 << 20, "{}", s.allocation_size);
    set(&t, &rw_open(), &owner(), alloc(5));
    let (_, d) = parts(&query(
        &t,
        &t.hello,
        &rw_open(),
        1,
        file_class::STANDARD,
        24,
    ));
    let s = FileStandardInformation::decode(&d).unwrap();
    assert_eq!(s.end_of_file, 5);
    assert!(s.allocation_size < 1 << 20);
}
