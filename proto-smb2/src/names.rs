//! SMB names: the UTF-16 paths of CREATE and SET_INFO rename turned into validated components
//! below a share root ([MS-FSCC] §2.1.5, MS-SMB2 §3.3.5.9, MS-FSA §2.1.5.1), case-insensitive
//! comparison, and the wildcard matching of QUERY_DIRECTORY (MS-FSA §2.1.4.4).
//!
//! The guarantee: a [`SharePath`] names something inside the share. Its components are
//! non-empty UTF-8 strings with no separator, no `.` or `..`, no NUL, control character or
//! reserved character, and at most [`MAX_COMPONENT_UNITS`] UTF-16 units each, so joining them
//! under the share root can never leave it.
//!
//! Not done here: 8.3 short names are never generated (as Samba with `mangled names = no`),
//! and named streams are not advertised (no FILE_NAMED_STREAMS), so `name:stream` is refused
//! while `name::$DATA` names the file itself, as Windows treats it.

use crate::status::NtStatus;

/// Most UTF-16 units in one path component ([MS-FSCC] §2.1.5.2: 255).
pub const MAX_COMPONENT_UNITS: usize = 255;
/// Most UTF-16 units in a whole path (the NT limit of 32,767; an SMB2 NameLength of 16 bits
/// cannot say more).
pub const MAX_PATH_UNITS: usize = 32_767;

const BACKSLASH: u16 = b'\\' as u16;
const COLON: u16 = b':' as u16;
const DOT: u16 = b'.' as u16;

/// A validated path inside a share.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SharePath {
    /// The components from the share root; empty for the root itself.
    pub components: Vec<String>,
    /// The name ended in a backslash: only a directory may be opened that way (MS-FSA
    /// 2.1.5.1: STATUS_OBJECT_NAME_INVALID for FILE_NON_DIRECTORY_FILE).
    pub trailing_separator: bool,
}

impl SharePath {
    /// The components joined with `/`, the relative path below the share root.
    pub fn to_relative(&self) -> String {
        self.components.join("/")
    }

    /// The last component, or `None` for the share root.
    pub fn file_name(&self) -> Option<&str> {
        self.components.last().map(String::as_str)
    }
}

/// Why a character makes a component invalid ([MS-FSCC] §2.1.5.2: NUL, 0x01-0x1F and
/// `" * / : < > ? \ |` are not allowed in a file name). `:` is handled by the caller as the
/// stream separator and `\` as the path separator before this is asked.
fn invalid_char(u: u16) -> bool {
    u < 0x20
        || matches!(
            u,
            0x22 | 0x2A | 0x2F | 0x3A | 0x3C | 0x3E | 0x3F | 0x5C | 0x7C
        )
}

/// Validates one component (without stream suffix) and converts it to UTF-8.
fn component(units: &[u16]) -> Result<String, NtStatus> {
    if units.is_empty() {
        // "a\\b": an empty component (MS-FSA 2.1.5.1.2: STATUS_OBJECT_NAME_INVALID).
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    if units.len() > MAX_COMPONENT_UNITS {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    if units == [DOT, DOT] {
        // Going up is never let through: Samba answers STATUS_OBJECT_PATH_SYNTAX_BAD to a
        // ".." that would leave the share, and Windows clients resolve ".." themselves
        // before they send a name, so refusing every ".." costs them nothing.
        return Err(NtStatus::OBJECT_PATH_SYNTAX_BAD);
    }
    if units == [DOT] {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    if units.iter().any(|&u| invalid_char(u)) {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    // Unpaired surrogates have no UTF-8 form, so no on-disk name can match them.
    String::from_utf16(units).map_err(|_| NtStatus::OBJECT_NAME_INVALID)
}

/// Splits the stream suffix off the last component: `name::$DATA` (case-insensitive `$DATA`)
/// is the file itself; any other `:` form is refused with STATUS_OBJECT_NAME_INVALID, what
/// a file system without named streams answers (Windows on FAT; Janus does not advertise
/// FILE_NAMED_STREAMS).
fn strip_data_stream(units: &[u16]) -> Result<&[u16], NtStatus> {
    let Some(colon) = units.iter().position(|&u| u == COLON) else {
        return Ok(units);
    };
    let (name, suffix) = units.split_at(colon);
    let is_data = suffix.len() == 7
        && suffix[1] == COLON
        && String::from_utf16(&suffix[2..])
            .map(|s| s.eq_ignore_ascii_case("$DATA"))
            .unwrap_or(false);
    if is_data && !name.is_empty() {
        Ok(name)
    } else {
        Err(NtStatus::OBJECT_NAME_INVALID)
    }
}

/// Validates a CREATE name (MS-SMB2 §3.3.5.9): relative to the share root, `\`-separated.
///
/// - a leading `\` (which also covers `\\?\` and `\??\` forms) is STATUS_INVALID_PARAMETER
///   (MS-SMB2 §3.3.5.9: "If the first character is a path separator");
/// - everything else as [`parse_path_units`] says.
pub fn parse_create_path(units: &[u16]) -> Result<SharePath, NtStatus> {
    if units.first() == Some(&BACKSLASH) {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    parse_path_units(units)
}

/// Validates the new name of a SET_INFO FileRenameInformation or FileLinkInformation
/// (MS-SMB2 §3.3.5.21.1: a full path from the share root). One leading `\` is tolerated
/// there, as Samba does, since some clients send the name in that form.
pub fn parse_rename_target(units: &[u16]) -> Result<SharePath, NtStatus> {
    let rest = match units.first() {
        Some(&BACKSLASH) => &units[1..],
        _ => units,
    };
    if rest.first() == Some(&BACKSLASH) {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    let p = parse_path_units(rest)?;
    if p.components.is_empty() {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    Ok(p)
}

/// The component rules shared by CREATE and rename: each component non-empty, at most 255
/// units, not `.`/`..`, no NUL/control/reserved character; a `:` only as `::$DATA` on the
/// last component; one trailing `\` allowed (reported in [`SharePath::trailing_separator`]).
/// The empty name is the share root.
///
/// Statuses: STATUS_OBJECT_NAME_INVALID for a bad character, empty, `.` or over-long
/// component and for streams; STATUS_OBJECT_PATH_SYNTAX_BAD for `..`; STATUS_NAME_TOO_LONG
/// for a path over [`MAX_PATH_UNITS`].
pub fn parse_path_units(units: &[u16]) -> Result<SharePath, NtStatus> {
    if units.len() > MAX_PATH_UNITS {
        return Err(NtStatus::NAME_TOO_LONG);
    }
    if units.is_empty() {
        return Ok(SharePath::default());
    }
    let (body, trailing_separator) = match units.split_last() {
        Some((&BACKSLASH, body)) => (body, true),
        _ => (units, false),
    };
    if body.is_empty() {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    let parts: Vec<&[u16]> = body.split(|&u| u == BACKSLASH).collect();
    let last = parts.len() - 1;
    let mut components = Vec::with_capacity(parts.len());
    for (i, part) in parts.into_iter().enumerate() {
        let part = if i == last && !trailing_separator {
            strip_data_stream(part)?
        } else {
            part
        };
        components.push(component(part)?);
    }
    Ok(SharePath {
        components,
        trailing_separator,
    })
}

/// [`parse_create_path`] over a Rust string (tests and callers that hold text).
pub fn parse_create_str(s: &str) -> Result<SharePath, NtStatus> {
    let units: Vec<u16> = s.encode_utf16().collect();
    parse_create_path(&units)
}

/// Upper-cases one UTF-16 unit by Unicode simple case mapping where that maps a BMP
/// character to one BMP character, and leaves it alone otherwise (surrogates, characters
/// whose upper case is several characters such as `ß`). This approximates the NTFS upcase
/// table, which is a 1:1 map over the BMP built from the same Unicode data.
pub fn upcase_unit(u: u16) -> u16 {
    if u < 0x80 {
        return (u as u8).to_ascii_uppercase() as u16;
    }
    let Some(c) = char::from_u32(u32::from(u)) else {
        return u;
    };
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(x), None) if (x as u32) <= 0xFFFF => x as u32 as u16,
        _ => u,
    }
}

/// The name with every unit upper-cased ([`upcase_unit`]): the key under which names are
/// compared on a case-insensitive share.
pub fn upcase_units(units: &[u16]) -> Vec<u16> {
    units.iter().map(|&u| upcase_unit(u)).collect()
}

/// Case-insensitive equality of two names, as NTFS compares them.
pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        // upcase_unit maps ASCII to ASCII by to_ascii_uppercase, one unit per byte.
        return a.eq_ignore_ascii_case(b);
    }
    let mut x = a.encode_utf16();
    let mut y = b.encode_utf16();
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(p), Some(q)) if p == q || upcase_unit(p) == upcase_unit(q) => {}
            _ => return false,
        }
    }
}

/// A QUERY_DIRECTORY search pattern (MS-SMB2 §3.3.5.18, MS-FSA §2.1.5.6): empty means `*`;
/// a pattern with a path separator, NUL or other control character is
/// STATUS_OBJECT_NAME_INVALID.
pub fn parse_pattern(units: &[u16]) -> Result<Vec<u16>, NtStatus> {
    if units.is_empty() {
        return Ok(vec![b'*' as u16]);
    }
    if units.len() > MAX_PATH_UNITS
        || units
            .iter()
            .any(|&u| u < 0x20 || u == BACKSLASH || u == b'/' as u16)
    {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    Ok(units.to_vec())
}

/// True when the pattern has a wildcard (`* ? < > "`): without one, a search is an exact
/// (case-insensitive on such shares) name lookup.
pub fn has_wildcards(pattern: &[u16]) -> bool {
    pattern
        .iter()
        .any(|&u| matches!(u, 0x2A | 0x3F | 0x3C | 0x3E | 0x22))
}

/// Does `name` match `pattern` (MS-FSA §2.1.4.4, the FsRtlIsNameInExpression rules)?
///
/// - `*` matches zero or more characters;
/// - `?` matches exactly one character;
/// - `<` (DOS_STAR) matches zero or more characters up to and including the name's last
///   `.`, never past it (any characters when the name has no `.`);
/// - `>` (DOS_QM) matches one character other than `.`, or nothing at a `.` or at the end
///   of the name (a final `.` is matched by it);
/// - `"` (DOS_DOT) matches a `.`, or nothing at the end of the name;
/// - any other character matches itself, upper-cased first when `case_insensitive`.
///
/// The semantics are those of Samba's `ms_fnmatch` for NT1 and later protocols (checked
/// against its cases in the tests below). Runs an NFA over the pattern positions:
/// O(pattern x name) time, two bit vectors of memory, no backtracking blow-up.
pub fn wildcard_match(pattern: &[u16], name: &[u16], case_insensitive: bool) -> bool {
    let n = pattern.len();
    let last_dot = name.iter().rposition(|&u| u == DOT);
    let mut cur = vec![false; n + 1];
    let mut next = vec![false; n + 1];
    cur[0] = true;
    // Epsilon moves only go forward by one, so one ascending pass closes a state set.
    let close = |set: &mut [bool], at: Option<u16>| {
        for i in 0..n {
            if !set[i] {
                continue;
            }
            let skip = match pattern[i] {
                0x2A | 0x3C => true,                     // * <
                0x3E => at.is_none() || at == Some(DOT), // >
                0x22 => at.is_none(),                    // "
                _ => false,
            };
            if skip {
                set[i + 1] = true;
            }
        }
    };
    let eq = |p: u16, c: u16| p == c || (case_insensitive && upcase_unit(p) == upcase_unit(c));
    for (k, &c) in name.iter().enumerate() {
        close(&mut cur, Some(c));
        if !cur.iter().any(|&s| s) {
            return false;
        }
        next.iter_mut().for_each(|s| *s = false);
        let is_last = k + 1 == name.len();
        for i in 0..n {
            if !cur[i] {
                continue;
            }
            match pattern[i] {
                0x2A => next[i] = true,
                0x3C => match last_dot {
                    Some(d) if k == d => next[i + 1] = true,
                    Some(d) if k < d => next[i] = true,
                    _ => next[i] = true,
                },
                0x3F => next[i + 1] = true,
                0x3E => {
                    if c != DOT || is_last {
                        next[i + 1] = true;
                    }
                }
                0x22 => {
                    if c == DOT {
                        next[i + 1] = true;
                    }
                }
                p => {
                    if eq(p, c) {
                        next[i + 1] = true;
                    }
                }
            }
        }
        std::mem::swap(&mut cur, &mut next);
    }
    close(&mut cur, None);
    cur[n]
}

/// [`wildcard_match`] over strings.
pub fn wildcard_match_str(pattern: &str, name: &str, case_insensitive: bool) -> bool {
    let p: Vec<u16> = pattern.encode_utf16().collect();
    let n: Vec<u16> = name.encode_utf16().collect();
    wildcard_match(&p, &n, case_insensitive)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Vec<String> {
        parse_create_str(s).unwrap().components
    }

    fn err(s: &str) -> NtStatus {
        parse_create_str(s).unwrap_err()
    }

    #[test]
    fn valid_paths() {
        assert_eq!(ok(""), Vec::<String>::new());
        assert_eq!(ok("a"), vec!["a"]);
        assert_eq!(ok("dir\\sub\\f.txt"), vec!["dir", "sub", "f.txt"]);
        assert_eq!(ok("f.txt::$DATA"), vec!["f.txt"]);
        assert_eq!(ok("f.txt::$data"), vec!["f.txt"]);
        assert_eq!(ok("émoji 😀 ünïcode"), vec!["émoji 😀 ünïcode"]);
        assert_eq!(ok("...x"), vec!["...x"]);
        let p = parse_create_str("dir\\").unwrap();
        assert!(p.trailing_separator);
        assert_eq!(p.components, vec!["dir"]);
        assert_eq!(ok(&"x".repeat(255)).len(), 1);
    }

    #[test]
    fn refused_paths() {
        assert_eq!(err("\\a"), NtStatus::INVALID_PARAMETER);
        assert_eq!(err("\\\\?\\C:\\x"), NtStatus::INVALID_PARAMETER);
        assert_eq!(err(".."), NtStatus::OBJECT_PATH_SYNTAX_BAD);
        assert_eq!(err("a\\..\\..\\etc"), NtStatus::OBJECT_PATH_SYNTAX_BAD);
        assert_eq!(err("a\\.\\b"), NtStatus::OBJECT_NAME_INVALID);
        assert_eq!(err("a\\\\b"), NtStatus::OBJECT_NAME_INVALID);
        assert_eq!(err("\\"), NtStatus::INVALID_PARAMETER);
        for c in ["\"", "*", "/", "<", ">", "?", "|", "\u{1}", "\u{1f}", "\0"] {
            assert_eq!(
                err(&format!("a{c}b")),
                NtStatus::OBJECT_NAME_INVALID,
                "{c:?}"
            );
        }
        assert_eq!(err("a/../b"), NtStatus::OBJECT_NAME_INVALID);
        assert_eq!(err("f.txt:stream"), NtStatus::OBJECT_NAME_INVALID);
        assert_eq!(err("f.txt:stream:$DATA"), NtStatus::OBJECT_NAME_INVALID);
        assert_eq!(err("f.txt:"), NtStatus::OBJECT_NAME_INVALID);
        assert_eq!(err("::$DATA"), NtStatus::OBJECT_NAME_INVALID);
        assert_eq!(err("d:x\\f"), NtStatus::OBJECT_NAME_INVALID);
        assert_eq!(err("C:\\x"), NtStatus::OBJECT_NAME_INVALID);
        assert_eq!(err(&"x".repeat(256)), NtStatus::OBJECT_NAME_INVALID);
        // An unpaired surrogate.
        assert_eq!(
            parse_create_path(&[b'a' as u16, 0xD800]).unwrap_err(),
            NtStatus::OBJECT_NAME_INVALID
        );
    }

    #[test]
    fn rename_targets() {
        let t = |s: &str| parse_rename_target(&s.encode_utf16().collect::<Vec<_>>());
        assert_eq!(t("new.txt").unwrap().components, vec!["new.txt"]);
        assert_eq!(t("\\d\\new.txt").unwrap().components, vec!["d", "new.txt"]);
        assert_eq!(t("").unwrap_err(), NtStatus::OBJECT_NAME_INVALID);
        assert_eq!(t("\\\\x").unwrap_err(), NtStatus::OBJECT_NAME_INVALID);
        assert_eq!(t("..\\x").unwrap_err(), NtStatus::OBJECT_PATH_SYNTAX_BAD);
    }

    #[test]
    fn case_folding() {
        assert!(eq_ignore_case("Hello.TXT", "hello.txt"));
        assert!(eq_ignore_case("ÄÖÜ", "äöü"));
        assert!(eq_ignore_case("ΣΊΣΥΦΟΣ", "σίσυφοσ"));
        assert!(!eq_ignore_case("straße", "STRASSE"));
        assert!(!eq_ignore_case("a", "ab"));
        assert_eq!(upcase_unit(0xD83D), 0xD83D);
    }

    #[test]
    fn wildcards_star_and_question() {
        let m = |p, n| wildcard_match_str(p, n, true);
        assert!(m("*", "anything.txt"));
        assert!(m("*.txt", "a.txt"));
        assert!(m("*.txt", "A.TXT"));
        assert!(!m("*.txt", "a.txt.bak"));
        assert!(m("*.*", "a.b"));
        assert!(!m("*.*", "abc"), "*.* needs a dot under MS-FSA 2.1.4.4");
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("?", "."));
        assert!(m("h*.TXT", "hello.txt"));
        assert!(!wildcard_match_str("h*.TXT", "hello.txt", false));
        assert!(m("**a", "a"));
        assert!(m("*a*b*c*", "xaxbxcx"));
        assert!(!m("*a*b*c*", "xaxcxbx"));
    }

    #[test]
    fn wildcards_dos() {
        let m = |p, n| wildcard_match_str(p, n, true);
        // DOS "*." is sent as "<": names without an extension.
        assert!(m("<", "abc"));
        assert!(m("<", "abc."));
        assert!(!m("<", "abc.txt"));
        // "<.txt": anything up to the last dot, then ".txt".
        assert!(m("<.txt", "a.b.txt"));
        assert!(m("<.txt", ".txt"));
        assert!(!m("<.txt", "a.txt.x"));
        // DOS "????????.???" arrives as ">>>>>>>>\">>>".
        let dos83 = ">>>>>>>>\">>>";
        assert!(m(dos83, "abc"));
        assert!(m(dos83, "abc.txt"));
        assert!(m(dos83, "abcdefgh.txt"));
        assert!(m(dos83, "abcdefgh"));
        assert!(!m(dos83, "abcdefghi.txt"));
        assert!(!m(dos83, "abc.text"));
        // ">" matches a final dot, and nothing at a dot that is not final.
        assert!(m("ab>", "ab"));
        assert!(m("ab>", "abc"));
        assert!(m("ab>", "ab."));
        assert!(!m("ab>", "abcd"));
        assert!(m("a>.b", "a.b"));
        // DOS "*.*" arrives as "<\"*": every name, with or without a dot.
        assert!(m("<\"*", "abc"));
        assert!(m("<\"*", "a.b.c"));
        // '"' matches a dot or the end.
        assert!(m("a\"", "a"));
        assert!(m("a\"", "a."));
        assert!(!m("a\"", "ab"));
    }

    #[test]
    fn patterns() {
        assert_eq!(parse_pattern(&[]).unwrap(), vec![b'*' as u16]);
        assert_eq!(
            parse_pattern(&[b'a' as u16, BACKSLASH]),
            Err(NtStatus::OBJECT_NAME_INVALID)
        );
        assert!(has_wildcards(&"a<".encode_utf16().collect::<Vec<_>>()));
        assert!(!has_wildcards(&"a.txt".encode_utf16().collect::<Vec<_>>()));
    }
}
