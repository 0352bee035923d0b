//! Properties of the FSCC, security, DCE/RPC/srvsvc and names codecs over generated values:
//! `decode(encode(x)) == x` for every structure, the packing and buffer-size invariants,
//! and that no decoder panics on arbitrary bytes.

use proptest::collection::vec;
use proptest::prelude::*;
use proto_smb2::dcerpc::srvsvc::{
    Share, ShareEnumRequest, ShareEnumResponse, ShareGetInfoRequest, ShareGetInfoResponse,
    ShareInfo, SrvsvcPipe, SRVSVC,
};
use proto_smb2::dcerpc::{
    Bind, BindAck, ContextElement, ContextResult, Fault, Packet, Pdu, PduHeader, Request, Response,
    SyntaxId, DREP_LE, NDR20,
};
use proto_smb2::fscc::dir::{DirClass, DirEntry, DirPacker, Push};
use proto_smb2::fscc::file::*;
use proto_smb2::fscc::fs::*;
use proto_smb2::fscc::{fit_query_output, FileTime, InfoClass};
use proto_smb2::names;
use proto_smb2::security::{control, Ace, Acl, SecurityDescriptor, Sid, UnixOwnership};
use proto_smb2::NtStatus;

fn units(max: usize) -> impl Strategy<Value = Vec<u16>> {
    vec(any::<u16>(), 0..max)
}

fn ft() -> impl Strategy<Value = FileTime> {
    any::<u64>().prop_map(FileTime)
}

fn rt<T: InfoClass + PartialEq + std::fmt::Debug>(v: &T) {
    let b = v.to_vec();
    assert_eq!(&T::decode(&b).unwrap(), v);
}

fn basic() -> impl Strategy<Value = FileBasicInformation> {
    (
        any::<i64>(),
        any::<i64>(),
        any::<i64>(),
        any::<i64>(),
        any::<u32>(),
    )
        .prop_map(|(c, a, w, ch, f)| FileBasicInformation {
            creation_time: c,
            last_access_time: a,
            last_write_time: w,
            change_time: ch,
            file_attributes: f,
        })
}

fn standard() -> impl Strategy<Value = FileStandardInformation> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(a, e, n, d, dir)| FileStandardInformation {
            allocation_size: a,
            end_of_file: e,
            number_of_links: n,
            delete_pending: d,
            directory: dir,
        })
}

fn all_info() -> impl Strategy<Value = FileAllInformation> {
    (
        basic(),
        standard(),
        any::<[u64; 2]>(),
        any::<[u32; 4]>(),
        units(64),
    )
        .prop_map(|(b, s, q, d, n)| FileAllInformation {
            basic: b,
            standard: s,
            internal: FileInternalInformation { index_number: q[0] },
            ea: FileEaInformation { ea_size: d[0] },
            access: FileAccessInformation { access_flags: d[1] },
            position: FilePositionInformation {
                current_byte_offset: q[1],
            },
            mode: FileModeInformation { mode: d[2] },
            alignment: FileAlignmentInformation {
                alignment_requirement: d[3],
            },
            name: FileNameInformation { file_name: n },
        })
}

fn streams() -> impl Strategy<Value = FileStreamInformation> {
    vec((units(20), any::<u64>(), any::<u64>()), 0..5).prop_map(|v| FileStreamInformation {
        entries: v
            .into_iter()
            .map(|(name, size, allocation_size)| StreamEntry {
                name,
                size,
                allocation_size,
            })
            .collect(),
    })
}

fn rename() -> impl Strategy<Value = FileRenameInformation> {
    (any::<bool>(), any::<u64>(), vec(any::<u16>(), 1..40)).prop_map(|(r, d, n)| {
        FileRenameInformation {
            replace_if_exists: r,
            root_directory: d,
            file_name: n,
        }
    })
}

fn dir_entry() -> impl Strategy<Value = DirEntry> {
    (
        any::<u32>(),
        (ft(), ft(), ft(), ft()),
        any::<[u64; 3]>(),
        any::<[u32; 2]>(),
        units(13),
        units(40),
    )
        .prop_map(|(idx, t, q, d, short, name)| DirEntry {
            file_index: idx,
            creation_time: t.0,
            last_access_time: t.1,
            last_write_time: t.2,
            change_time: t.3,
            end_of_file: q[0],
            allocation_size: q[1],
            file_attributes: d[0],
            ea_size: d[1],
            short_name: short,
            file_id: q[2],
            file_name: name,
        })
}

fn dir_class() -> impl Strategy<Value = DirClass> {
    prop::sample::select(DirClass::ALL.to_vec())
}

fn sid() -> impl Strategy<Value = Sid> {
    (0u64..=0xFFFF_FFFF_FFFF, vec(any::<u32>(), 0..=15)).prop_map(|(a, s)| Sid::new(a, &s))
}

fn ace() -> impl Strategy<Value = Ace> {
    prop_oneof![
        (0u8..3, any::<u8>(), any::<u32>(), sid()).prop_map(|(t, f, m, s)| Ace::Basic {
            ace_type: t,
            flags: f,
            mask: m,
            sid: s
        }),
        (5u8..20, any::<u8>(), vec(any::<u8>(), 0..40)).prop_map(|(t, f, b)| Ace::Other {
            ace_type: t,
            flags: f,
            body: b
        }),
    ]
}

fn acl() -> impl Strategy<Value = Acl> {
    (2u8..=4, vec(ace(), 0..6)).prop_map(|(r, a)| Acl {
        revision: r,
        aces: a,
    })
}

fn sd() -> impl Strategy<Value = SecurityDescriptor> {
    (
        any::<u16>(),
        prop::option::of(sid()),
        prop::option::of(sid()),
        prop::option::of(acl()),
        prop::option::of(acl()),
    )
        .prop_map(|(c, o, g, s, d)| {
            // What encode writes: SELF_RELATIVE, and the PRESENT bits follow the parts.
            let mut c =
                (c | control::SELF_RELATIVE) & !(control::SACL_PRESENT | control::DACL_PRESENT);
            if s.is_some() {
                c |= control::SACL_PRESENT;
            }
            if d.is_some() {
                c |= control::DACL_PRESENT;
            }
            SecurityDescriptor {
                control: c,
                owner: o,
                group: g,
                sacl: s,
                dacl: d,
            }
        })
}

fn syntax() -> impl Strategy<Value = SyntaxId> {
    (any::<[u8; 16]>(), any::<u32>()).prop_map(|(uuid, version)| SyntaxId { uuid, version })
}

fn packet() -> impl Strategy<Value = Packet> {
    let bind = || {
        (
            any::<[u16; 2]>(),
            any::<u32>(),
            vec((any::<u16>(), syntax(), vec(syntax(), 0..3)), 0..4),
        )
            .prop_map(|(f, g, c)| Bind {
                max_xmit_frag: f[0],
                max_recv_frag: f[1],
                assoc_group_id: g,
                contexts: c
                    .into_iter()
                    .map(|(id, a, t)| ContextElement {
                        context_id: id,
                        abstract_syntax: a,
                        transfer_syntaxes: t,
                    })
                    .collect(),
            })
    };
    let ack = || {
        (
            any::<[u16; 2]>(),
            any::<u32>(),
            vec(any::<u8>(), 0..20),
            vec((any::<u16>(), any::<u16>(), syntax()), 0..4),
        )
            .prop_map(|(f, g, a, r)| BindAck {
                max_xmit_frag: f[0],
                max_recv_frag: f[1],
                assoc_group_id: g,
                secondary_address: a,
                results: r
                    .into_iter()
                    .map(|(result, reason, transfer_syntax)| ContextResult {
                        result,
                        reason,
                        transfer_syntax,
                    })
                    .collect(),
            })
    };
    let pdu = prop_oneof![
        bind().prop_map(Pdu::Bind),
        bind().prop_map(Pdu::AlterContext),
        ack().prop_map(Pdu::BindAck),
        ack().prop_map(Pdu::AlterContextResp),
        (
            any::<u32>(),
            any::<u16>(),
            any::<u16>(),
            prop::option::of(any::<[u8; 16]>()),
            vec(any::<u8>(), 0..100)
        )
            .prop_map(|(h, c, o, obj, s)| Pdu::Request(Request {
                alloc_hint: h,
                context_id: c,
                opnum: o,
                object: obj,
                stub: s
            })),
        (
            any::<u32>(),
            any::<u16>(),
            any::<u8>(),
            vec(any::<u8>(), 0..100)
        )
            .prop_map(|(h, c, n, s)| {
                Pdu::Response(Response {
                    alloc_hint: h,
                    context_id: c,
                    cancel_count: n,
                    stub: s,
                })
            }),
        (any::<u32>(), any::<u16>(), any::<u8>(), any::<u32>()).prop_map(
            |(h, c, n, s)| Pdu::Fault(Fault {
                alloc_hint: h,
                context_id: c,
                cancel_count: n,
                status: s
            })
        ),
    ];
    (pdu, any::<u8>(), any::<u32>()).prop_map(|(pdu, flags, call_id)| {
        let mut p = Packet {
            header: PduHeader {
                ptype: 0,
                flags: flags & !0x80,
                drep: DREP_LE,
                frag_length: 0,
                auth_length: 0,
                call_id,
            },
            pdu,
        };
        // What decode reports: the header as encoded.
        p.header = PduHeader::decode(&p.encode()).unwrap();
        p
    })
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ._$-]{1,20}"
}

fn share_info(level: u32) -> impl Strategy<Value = ShareInfo> {
    (name(), any::<u32>(), name(), any::<[u32; 4]>()).prop_map(move |(n, t, r, x)| {
        let share = Share {
            name: n,
            share_type: t,
            comment: r,
        };
        let mut i = ShareInfo::of(&share, level);
        if level == 2 {
            i.permissions = x[0];
            i.max_uses = x[1];
            i.current_uses = x[2];
        }
        if level == 501 {
            i.flags = x[3];
        }
        if level == 1005 {
            i = ShareInfo {
                flags: x[3],
                ..Default::default()
            };
        }
        i
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn file_classes_round_trip(b in basic(), s in standard(), a in all_info(), st in streams(),
                               r in rename(), q in any::<[u64; 4]>(), d in any::<[u32; 4]>(),
                               n in units(50), flag in any::<bool>()) {
        rt(&b);
        rt(&s);
        rt(&a);
        rt(&st);
        rt(&r);
        rt(&FileLinkInformation(r.clone()));
        rt(&FileNameInformation { file_name: n.clone() });
        rt(&FileNormalizedNameInformation { file_name: n.clone() });
        rt(&FileAlternateNameInformation { file_name: n });
        rt(&FileNetworkOpenInformation {
            creation_time: FileTime(q[0]), last_access_time: FileTime(q[1]),
            last_write_time: FileTime(q[2]), change_time: FileTime(q[3]),
            allocation_size: q[1], end_of_file: q[2], file_attributes: d[0],
        });
        rt(&FileAttributeTagInformation { file_attributes: d[0], reparse_tag: d[1] });
        rt(&FileCompressionInformation {
            compressed_file_size: q[0], compression_format: d[0] as u16,
            compression_unit_shift: d[1] as u8, chunk_shift: d[2] as u8, cluster_shift: d[3] as u8,
        });
        rt(&FileDispositionInformation { delete_pending: flag });
        rt(&FileDispositionInformationEx { flags: d[2] });
        rt(&FileEndOfFileInformation { end_of_file: q[0] });
        rt(&FileAllocationInformation { allocation_size: q[1] });
        for v in [SetFileInfo::Basic(b), SetFileInfo::Rename(r.clone()), SetFileInfo::Link(FileLinkInformation(r)),
                  SetFileInfo::EndOfFile(FileEndOfFileInformation { end_of_file: q[0] }),
                  SetFileInfo::Mode(FileModeInformation { mode: d[0] }),
                  SetFileInfo::DispositionEx(FileDispositionInformationEx { flags: d[1] })] {
            let (class, buf) = v.encode();
            prop_assert_eq!(SetFileInfo::decode(class, &buf).unwrap(), v);
        }
    }

    #[test]
    fn fs_classes_round_trip(q in any::<[u64; 3]>(), d in any::<[u32; 7]>(), n in units(40),
                             oid in any::<[u8; 16]>(), flag in any::<bool>()) {
        rt(&FileFsVolumeInformation { volume_creation_time: FileTime(q[0]), volume_serial_number: d[0],
                                      supports_objects: flag, volume_label: n.clone() });
        rt(&FileFsSizeInformation { total_allocation_units: q[0], available_allocation_units: q[1],
                                    sectors_per_allocation_unit: d[0], bytes_per_sector: d[1] });
        rt(&FileFsFullSizeInformation { total_allocation_units: q[0], caller_available_allocation_units: q[1],
                                        actual_available_allocation_units: q[2],
                                        sectors_per_allocation_unit: d[0], bytes_per_sector: d[1] });
        rt(&FileFsDeviceInformation { device_type: d[0], characteristics: d[1] });
        rt(&FileFsAttributeInformation { file_system_attributes: d[0], maximum_component_name_length: d[1] as i32,
                                         file_system_name: n });
        rt(&FileFsSectorSizeInformation { logical_bytes_per_sector: d[0], physical_bytes_per_sector_for_atomicity: d[1],
            physical_bytes_per_sector_for_performance: d[2], effective_physical_bytes_per_sector_for_atomicity: d[3],
            flags: d[4], byte_offset_for_sector_alignment: d[5], byte_offset_for_partition_alignment: d[6] });
        let mut extended_info = [0u8; 48];
        extended_info[..16].copy_from_slice(&oid);
        rt(&FileFsObjectIdInformation { object_id: oid, extended_info });
    }

    #[test]
    fn query_output_rules(a in all_info(), st in streams(), obl in 0u32..400) {
        match fit_query_output(&a, obl) {
            Err(s) => { prop_assert_eq!(s, NtStatus::INFO_LENGTH_MISMATCH); prop_assert!(obl < 104); }
            Ok(o) => {
                prop_assert!(o.data.len() <= obl as usize);
                let whole = a.to_vec();
                prop_assert_eq!(o.status == NtStatus::SUCCESS, whole.len() <= obl as usize);
                prop_assert_eq!(&whole[..o.data.len()], &o.data[..]);
            }
        }
        if let Ok(o) = fit_query_output(&st, obl) {
            // Whole entries only: what was sent decodes, and is a prefix of the list.
            prop_assert!(o.data.len() <= obl as usize);
            let got = FileStreamInformation::decode(&o.data).unwrap();
            prop_assert_eq!(&got.entries[..], &st.entries[..got.entries.len()]);
            prop_assert_eq!(o.status == NtStatus::SUCCESS, got.entries.len() == st.entries.len());
        }
    }

    #[test]
    fn dir_packing(class in dir_class(), entries in vec(dir_entry(), 0..12), obl in 0u32..2000) {
        let Ok(mut p) = DirPacker::new(class, obl) else {
            prop_assert!((obl as usize) < class.fixed_len());
            return Ok(());
        };
        let mut added = Vec::new();
        let mut overflow = false;
        for e in &entries {
            match p.push(e) {
                Push::Added => added.push(class.normalize(e)),
                Push::Full => break,
                Push::Overflow => { overflow = true; break; }
            }
        }
        let (status, buf) = p.finish();
        prop_assert!(buf.len() <= obl as usize);
        if overflow {
            prop_assert_eq!(status, NtStatus::BUFFER_OVERFLOW);
            prop_assert!(added.is_empty());
        } else {
            prop_assert_eq!(status, NtStatus::SUCCESS);
            // Offsets 8-aligned, the last zero, no trailing padding.
            let mut at = 0usize;
            for i in 0..added.len() {
                let next = u32::from_le_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
                if i + 1 == added.len() {
                    prop_assert_eq!(next, 0);
                    prop_assert_eq!(at + class.entry_len(&added[i]), buf.len());
                } else {
                    prop_assert_eq!(next % 8, 0);
                    at += next;
                }
            }
            prop_assert_eq!(class.decode_entries(&buf).unwrap(), added);
        }
    }

    #[test]
    fn security_round_trip(s in sid(), d in sd()) {
        let mut b = Vec::new();
        s.encode(&mut b);
        prop_assert_eq!(Sid::decode(&b).unwrap().0, s.clone());
        prop_assert_eq!(s.to_string().parse::<Sid>().unwrap(), s);
        let bytes = d.to_vec();
        prop_assert_eq!(bytes.len(), d.len());
        prop_assert_eq!(SecurityDescriptor::decode(&bytes).unwrap(), d);
    }

    #[test]
    fn packets_round_trip(p in packet()) {
        let b = p.encode();
        prop_assert_eq!(Packet::decode(&b).unwrap(), p);
    }

    #[test]
    fn srvsvc_stubs_round_trip(level in prop::sample::select(vec![0u32, 1, 2, 501]),
                               server in prop::option::of(name()), net in name(),
                               resume in prop::option::of(any::<u32>()), max in any::<u32>(),
                               entries in vec(share_info(1), 0..5), st in any::<u32>()) {
        let q = ShareEnumRequest { server_name: server.clone(), level, prefered_maximum_length: max, resume_handle: resume };
        prop_assert_eq!(ShareEnumRequest::decode(&q.encode()).unwrap(), q);
        let g = ShareGetInfoRequest { server_name: server, net_name: net, level };
        prop_assert_eq!(ShareGetInfoRequest::decode(&g.encode()).unwrap(), g);
        let r = ShareEnumResponse { level: 1, total_entries: entries.len() as u32, entries: entries.clone(),
                                    resume_handle: resume, status: st };
        prop_assert_eq!(ShareEnumResponse::decode(&r.encode()).unwrap(), r);
        let gi = ShareGetInfoResponse { level: 1, info: entries.first().cloned(), status: st };
        prop_assert_eq!(ShareGetInfoResponse::decode(&gi.encode()).unwrap(), gi);
    }

    #[test]
    fn srvsvc_info_levels_round_trip((level, info) in prop::sample::select(vec![0u32, 1, 2, 501, 1005])
                                         .prop_flat_map(|l| (Just(l), share_info(l)))) {
        let gi = ShareGetInfoResponse { level, info: Some(info), status: 0 };
        prop_assert_eq!(ShareGetInfoResponse::decode(&gi.encode()).unwrap(), gi);
    }

    /// Writing the same bytes in any chunking gives the same answers.
    #[test]
    fn pipe_chunking(cuts in vec(1usize..40, 1..20)) {
        let bind = Packet { header: PduHeader { ptype: 11, flags: 3, drep: DREP_LE, frag_length: 0, auth_length: 0, call_id: 1 },
            pdu: Pdu::Bind(Bind { max_xmit_frag: 4280, max_recv_frag: 4280, assoc_group_id: 0,
                contexts: vec![ContextElement { context_id: 0, abstract_syntax: SRVSVC, transfer_syntaxes: vec![NDR20] }] }) }.encode();
        let req = Packet { header: PduHeader { ptype: 0, flags: 3, drep: DREP_LE, frag_length: 0, auth_length: 0, call_id: 2 },
            pdu: Pdu::Request(Request { alloc_hint: 0, context_id: 0, opnum: 15, object: None,
                stub: ShareEnumRequest { server_name: None, level: 2, prefered_maximum_length: u32::MAX, resume_handle: None }.encode() }) }.encode();
        let mut input = bind;
        input.extend(req);
        let shares = vec![Share::disk("a", "b"), Share::ipc("c")];
        let mut whole = SrvsvcPipe::new(shares.clone(), 1);
        whole.write(&input).unwrap();
        let mut chunked = SrvsvcPipe::new(shares, 1);
        let mut at = 0;
        for c in cuts.iter().cycle() {
            if at >= input.len() { break; }
            let end = (at + c).min(input.len());
            chunked.write(&input[at..end]).unwrap();
            at = end;
        }
        loop {
            let a = whole.read(4280);
            let b = chunked.read(4280);
            prop_assert_eq!(&a, &b);
            if a.data.is_empty() { break; }
        }
    }

    #[test]
    fn paths_stay_inside(u in vec(prop_oneof![Just(b'\\' as u16), Just(b'.' as u16), Just(b':' as u16),
                                               Just(b'/' as u16), Just(0u16), 0x20u16..0x7f, any::<u16>()], 0..40)) {
        if let Ok(p) = names::parse_create_path(&u) {
            for c in &p.components {
                prop_assert!(!c.is_empty() && c != "." && c != "..");
                prop_assert!(!c.contains(['\\', '/', ':', '\0', '*', '?', '"', '<', '>', '|']));
                prop_assert!(c.encode_utf16().count() <= names::MAX_COMPONENT_UNITS);
            }
        }
        let _ = names::parse_rename_target(&u);
        let _ = names::parse_pattern(&u);
    }

    #[test]
    fn wildcard_properties(n in "[a-zA-Z0-9._ -]{1,30}", p in "[a-zA-Z0-9._*?<>\" -]{0,12}") {
        let nu: Vec<u16> = n.encode_utf16().collect();
        prop_assert!(names::wildcard_match(&[b'*' as u16], &nu, true));
        prop_assert!(names::wildcard_match(&nu, &nu, false));
        prop_assert!(names::wildcard_match(&names::upcase_units(&nu), &nu, true));
        // '*' absorbs anything after any prefix that matches.
        let mut star: Vec<u16> = p.encode_utf16().collect();
        let m = names::wildcard_match(&star, &nu, true);
        star.push(b'*' as u16);
        if m { prop_assert!(names::wildcard_match(&star, &nu, true)); }
    }

    #[test]
    fn decoders_never_panic(b in vec(any::<u8>(), 0..300), class in any::<u8>()) {
        let _ = SetFileInfo::decode(class, &b);
        let _ = FileAllInformation::decode(&b);
        let _ = FileStreamInformation::decode(&b);
        let _ = FileFsVolumeInformation::decode(&b);
        let _ = FileFsAttributeInformation::decode(&b);
        for c in DirClass::ALL { let _ = c.decode_entries(&b); }
        let _ = SecurityDescriptor::decode(&b);
        let _ = Packet::decode(&b);
        let _ = ShareEnumRequest::decode(&b);
        let _ = ShareGetInfoRequest::decode(&b);
        let _ = ShareEnumResponse::decode(&b);
        let _ = ShareGetInfoResponse::decode(&b);
        let mut pipe = SrvsvcPipe::new(vec![Share::disk("x", "")], 1);
        let _ = pipe.write(&b);
        let _ = pipe.read(100);
    }
}

/// Every mode survives mode → descriptor → mode, for files and directories.
#[test]
fn every_mode_maps_back() {
    for directory in [false, true] {
        for mode in 0..0o1000 {
            let u = UnixOwnership {
                uid: 1000,
                gid: 100,
                mode,
                directory,
            };
            let sd = SecurityDescriptor::from_unix(&u, 0x7);
            let back = SecurityDescriptor::decode(&sd.to_vec()).unwrap();
            let change = back.to_unix(0x7, &u).unwrap();
            assert_eq!(change.mode, Some(mode), "{mode:o} dir={directory}");
            assert_eq!((change.uid, change.gid), (Some(1000), Some(100)));
        }
    }
}
