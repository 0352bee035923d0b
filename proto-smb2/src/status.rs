//! NTSTATUS values (MS-ERREF §2.3) that SMB2 replies carry in the header's Status field.

/// A 32-bit NTSTATUS code as it appears in the SMB2 header (MS-SMB2 §2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NtStatus(pub u32);

impl NtStatus {
    /// The operation succeeded.
    pub const SUCCESS: NtStatus = NtStatus(0x0000_0000);
    /// An asynchronous operation is under way (MS-SMB2 §3.3.4.2, interim response).
    pub const PENDING: NtStatus = NtStatus(0x0000_0103);
    /// Data did not fit: the reply holds what fitted.
    pub const BUFFER_OVERFLOW: NtStatus = NtStatus(0x8000_0005);
    /// A directory enumeration has no more entries.
    pub const NO_MORE_FILES: NtStatus = NtStatus(0x8000_0006);
    /// The requested operation is not implemented.
    pub const NOT_IMPLEMENTED: NtStatus = NtStatus(0xC000_0002);
    /// The handle does not name an open file.
    pub const INVALID_HANDLE: NtStatus = NtStatus(0xC000_0008);
    /// A parameter of the request is invalid: what a malformed request gets.
    pub const INVALID_PARAMETER: NtStatus = NtStatus(0xC000_000D);
    /// The file does not exist.
    pub const NO_SUCH_FILE: NtStatus = NtStatus(0xC000_000F);
    /// The request is not valid for this device or file.
    pub const INVALID_DEVICE_REQUEST: NtStatus = NtStatus(0xC000_0010);
    /// Read past the end of the file.
    pub const END_OF_FILE: NtStatus = NtStatus(0xC000_0011);
    /// SESSION_SETUP: the authentication exchange needs another round trip.
    pub const MORE_PROCESSING_REQUIRED: NtStatus = NtStatus(0xC000_0016);
    /// Access is denied.
    pub const ACCESS_DENIED: NtStatus = NtStatus(0xC000_0022);
    /// The buffer is too small for the smallest answer.
    pub const BUFFER_TOO_SMALL: NtStatus = NtStatus(0xC000_0023);
    /// The name does not exist.
    pub const OBJECT_NAME_NOT_FOUND: NtStatus = NtStatus(0xC000_0034);
    /// The name already exists.
    pub const OBJECT_NAME_COLLISION: NtStatus = NtStatus(0xC000_0035);
    /// Share modes conflict with an existing open.
    pub const SHARING_VIOLATION: NtStatus = NtStatus(0xC000_0043);
    /// The file is marked for deletion.
    pub const DELETE_PENDING: NtStatus = NtStatus(0xC000_0056);
    /// User name or password wrong (the only failure a client is told, MS-NLMP §3.2.5.1.2).
    pub const LOGON_FAILURE: NtStatus = NtStatus(0xC000_006D);
    /// Not enough server resources.
    pub const INSUFFICIENT_RESOURCES: NtStatus = NtStatus(0xC000_009A);
    /// The request is not supported.
    pub const NOT_SUPPORTED: NtStatus = NtStatus(0xC000_00BB);
    /// The tree connect is gone.
    pub const NETWORK_NAME_DELETED: NtStatus = NtStatus(0xC000_00C9);
    /// The share does not exist.
    pub const BAD_NETWORK_NAME: NtStatus = NtStatus(0xC000_00CC);
    /// The server refuses new requests (for example too many sessions).
    pub const REQUEST_NOT_ACCEPTED: NtStatus = NtStatus(0xC000_00D0);
    /// The operation was cancelled (MS-SMB2 §3.3.5.16).
    pub const CANCELLED: NtStatus = NtStatus(0xC000_0120);
    /// The handle was closed.
    pub const FILE_CLOSED: NtStatus = NtStatus(0xC000_0128);
    /// The session does not exist or was logged off.
    pub const USER_SESSION_DELETED: NtStatus = NtStatus(0xC000_0203);
    /// Object not found.
    pub const NOT_FOUND: NtStatus = NtStatus(0xC000_0225);
    /// The session's authentication expired.
    pub const NETWORK_SESSION_EXPIRED: NtStatus = NtStatus(0xC000_035C);

    /// The information class is not valid for this request (MS-FSA 2.1.5.12).
    pub const INVALID_INFO_CLASS: NtStatus = NtStatus(0xC000_0003);
    /// The buffer is too small for the fixed part of the information class (MS-FSA 2.1.5.12).
    pub const INFO_LENGTH_MISMATCH: NtStatus = NtStatus(0xC000_0004);
    /// The ACL is malformed.
    pub const INVALID_ACL: NtStatus = NtStatus(0xC000_0077);
    /// The SID is malformed.
    pub const INVALID_SID: NtStatus = NtStatus(0xC000_0078);
    /// The security descriptor is malformed.
    pub const INVALID_SECURITY_DESCR: NtStatus = NtStatus(0xC000_0079);
    /// The owner SID cannot be the owner of this object.
    pub const INVALID_OWNER: NtStatus = NtStatus(0xC000_005A);
    /// The group SID cannot be the primary group of this object.
    pub const INVALID_PRIMARY_GROUP: NtStatus = NtStatus(0xC000_005B);
    /// A name holds a character or form the file system does not allow (MS-FSCC 2.1.5).
    pub const OBJECT_NAME_INVALID: NtStatus = NtStatus(0xC000_0033);
    /// A directory on the path does not exist.
    pub const OBJECT_PATH_NOT_FOUND: NtStatus = NtStatus(0xC000_003A);
    /// The path is syntactically wrong (MS-SMB2 3.3.5.9: a leading backslash).
    pub const OBJECT_PATH_SYNTAX_BAD: NtStatus = NtStatus(0xC000_003B);
    /// Extended attributes are not supported by this file system.
    pub const EAS_NOT_SUPPORTED: NtStatus = NtStatus(0xC000_004F);
    /// The pipe is busy: its buffers are full.
    pub const PIPE_BUSY: NtStatus = NtStatus(0xC000_00AE);
    /// The pipe is being closed: its framing broke.
    pub const PIPE_BROKEN: NtStatus = NtStatus(0xC000_014B);
    /// A name or path is too long.
    pub const NAME_TOO_LONG: NtStatus = NtStatus(0xC000_0106);

    /// True for error codes (severity 3), for which MS-SMB2 §3.3.4.4 sends an ERROR response.
    pub const fn is_error(self) -> bool {
        self.0 >> 30 == 3
    }

    /// The MS-ERREF §2.3.1 name (`STATUS_OBJECT_NAME_NOT_FOUND`) of the statuses an SMB2
    /// server or client meets, `None` for others (printed as hex by `Display`).
    pub fn name(self) -> Option<&'static str> {
        NAMES
            .binary_search_by_key(&self.0, |(v, _)| *v)
            .ok()
            .map(|i| NAMES[i].1)
    }
}

/// `STATUS_...` name, or `0x%08x` for a status without one in [`NtStatus::name`]'s table.
impl core::fmt::Display for NtStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "0x{:08x}", self.0),
        }
    }
}

/// MS-ERREF §2.3.1 values and names, sorted by value (checked by a test).
const NAMES: &[(u32, &str)] = &[
    (0x0000_0000, "STATUS_SUCCESS"),
    (0x0000_0103, "STATUS_PENDING"),
    (0x0000_0104, "STATUS_REPARSE"),
    (0x0000_0107, "STATUS_SOME_NOT_MAPPED"),
    (0x0000_0108, "STATUS_OPLOCK_BREAK_IN_PROGRESS"),
    (0x0000_010B, "STATUS_NOTIFY_CLEANUP"),
    (0x0000_010C, "STATUS_NOTIFY_ENUM_DIR"),
    (0x4000_0000, "STATUS_OBJECT_NAME_EXISTS"),
    (0x8000_0005, "STATUS_BUFFER_OVERFLOW"),
    (0x8000_0006, "STATUS_NO_MORE_FILES"),
    (0x8000_001A, "STATUS_NO_MORE_ENTRIES"),
    (0x8000_002D, "STATUS_STOPPED_ON_SYMLINK"),
    (0xC000_0001, "STATUS_UNSUCCESSFUL"),
    (0xC000_0002, "STATUS_NOT_IMPLEMENTED"),
    (0xC000_0003, "STATUS_INVALID_INFO_CLASS"),
    (0xC000_0004, "STATUS_INFO_LENGTH_MISMATCH"),
    (0xC000_0005, "STATUS_ACCESS_VIOLATION"),
    (0xC000_0008, "STATUS_INVALID_HANDLE"),
    (0xC000_000D, "STATUS_INVALID_PARAMETER"),
    (0xC000_000E, "STATUS_NO_SUCH_DEVICE"),
    (0xC000_000F, "STATUS_NO_SUCH_FILE"),
    (0xC000_0010, "STATUS_INVALID_DEVICE_REQUEST"),
    (0xC000_0011, "STATUS_END_OF_FILE"),
    (0xC000_0016, "STATUS_MORE_PROCESSING_REQUIRED"),
    (0xC000_0017, "STATUS_NO_MEMORY"),
    (0xC000_001E, "STATUS_INVALID_LOCK_SEQUENCE"),
    (0xC000_0022, "STATUS_ACCESS_DENIED"),
    (0xC000_0023, "STATUS_BUFFER_TOO_SMALL"),
    (0xC000_0024, "STATUS_OBJECT_TYPE_MISMATCH"),
    (0xC000_0033, "STATUS_OBJECT_NAME_INVALID"),
    (0xC000_0034, "STATUS_OBJECT_NAME_NOT_FOUND"),
    (0xC000_0035, "STATUS_OBJECT_NAME_COLLISION"),
    (0xC000_0039, "STATUS_OBJECT_PATH_INVALID"),
    (0xC000_003A, "STATUS_OBJECT_PATH_NOT_FOUND"),
    (0xC000_003B, "STATUS_OBJECT_PATH_SYNTAX_BAD"),
    (0xC000_003E, "STATUS_DATA_ERROR"),
    (0xC000_0043, "STATUS_SHARING_VIOLATION"),
    (0xC000_004F, "STATUS_EAS_NOT_SUPPORTED"),
    (0xC000_0050, "STATUS_EA_TOO_LARGE"),
    (0xC000_0051, "STATUS_NONEXISTENT_EA_ENTRY"),
    (0xC000_0052, "STATUS_NO_EAS_ON_FILE"),
    (0xC000_0054, "STATUS_FILE_LOCK_CONFLICT"),
    (0xC000_0055, "STATUS_LOCK_NOT_GRANTED"),
    (0xC000_0056, "STATUS_DELETE_PENDING"),
    (0xC000_005A, "STATUS_INVALID_OWNER"),
    (0xC000_005B, "STATUS_INVALID_PRIMARY_GROUP"),
    (0xC000_0061, "STATUS_PRIVILEGE_NOT_HELD"),
    (0xC000_0064, "STATUS_NO_SUCH_USER"),
    (0xC000_006A, "STATUS_WRONG_PASSWORD"),
    (0xC000_006D, "STATUS_LOGON_FAILURE"),
    (0xC000_006E, "STATUS_ACCOUNT_RESTRICTION"),
    (0xC000_0071, "STATUS_PASSWORD_EXPIRED"),
    (0xC000_0072, "STATUS_ACCOUNT_DISABLED"),
    (0xC000_0073, "STATUS_NONE_MAPPED"),
    (0xC000_0077, "STATUS_INVALID_ACL"),
    (0xC000_0078, "STATUS_INVALID_SID"),
    (0xC000_0079, "STATUS_INVALID_SECURITY_DESCR"),
    (0xC000_007E, "STATUS_RANGE_NOT_LOCKED"),
    (0xC000_007F, "STATUS_DISK_FULL"),
    (0xC000_009A, "STATUS_INSUFFICIENT_RESOURCES"),
    (0xC000_00A2, "STATUS_MEDIA_WRITE_PROTECTED"),
    (0xC000_00A5, "STATUS_BAD_IMPERSONATION_LEVEL"),
    (0xC000_00AC, "STATUS_PIPE_NOT_AVAILABLE"),
    (0xC000_00AD, "STATUS_INVALID_PIPE_STATE"),
    (0xC000_00AE, "STATUS_PIPE_BUSY"),
    (0xC000_00B0, "STATUS_PIPE_DISCONNECTED"),
    (0xC000_00B1, "STATUS_PIPE_CLOSING"),
    (0xC000_00B5, "STATUS_IO_TIMEOUT"),
    (0xC000_00BA, "STATUS_FILE_IS_A_DIRECTORY"),
    (0xC000_00BB, "STATUS_NOT_SUPPORTED"),
    (0xC000_00C3, "STATUS_INVALID_NETWORK_RESPONSE"),
    (0xC000_00C9, "STATUS_NETWORK_NAME_DELETED"),
    (0xC000_00CA, "STATUS_NETWORK_ACCESS_DENIED"),
    (0xC000_00CC, "STATUS_BAD_NETWORK_NAME"),
    (0xC000_00D0, "STATUS_REQUEST_NOT_ACCEPTED"),
    (0xC000_00D4, "STATUS_NOT_SAME_DEVICE"),
    (0xC000_00E5, "STATUS_INTERNAL_ERROR"),
    (0xC000_0101, "STATUS_DIRECTORY_NOT_EMPTY"),
    (0xC000_0103, "STATUS_NOT_A_DIRECTORY"),
    (0xC000_0106, "STATUS_NAME_TOO_LONG"),
    (0xC000_0107, "STATUS_FILES_OPEN"),
    (0xC000_011F, "STATUS_TOO_MANY_OPENED_FILES"),
    (0xC000_0120, "STATUS_CANCELLED"),
    (0xC000_0121, "STATUS_CANNOT_DELETE"),
    (0xC000_0123, "STATUS_FILE_DELETED"),
    (0xC000_0128, "STATUS_FILE_CLOSED"),
    (0xC000_014B, "STATUS_PIPE_BROKEN"),
    (0xC000_0184, "STATUS_INVALID_DEVICE_STATE"),
    (0xC000_019C, "STATUS_FS_DRIVER_REQUIRED"),
    (0xC000_0203, "STATUS_USER_SESSION_DELETED"),
    (0xC000_0205, "STATUS_INSUFF_SERVER_RESOURCES"),
    (0xC000_0225, "STATUS_NOT_FOUND"),
    (0xC000_0275, "STATUS_NOT_A_REPARSE_POINT"),
    (0xC000_035C, "STATUS_NETWORK_SESSION_EXPIRED"),
    (0xC000_0467, "STATUS_FILE_NOT_AVAILABLE"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_table_is_sorted_and_names_every_constant() {
        assert!(
            NAMES.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted, no duplicates"
        );
        assert!(NAMES.iter().all(|(_, n)| n.starts_with("STATUS_")));
        for (s, n) in [
            (NtStatus::SUCCESS, "STATUS_SUCCESS"),
            (NtStatus::PENDING, "STATUS_PENDING"),
            (NtStatus::BUFFER_OVERFLOW, "STATUS_BUFFER_OVERFLOW"),
            (NtStatus::NO_MORE_FILES, "STATUS_NO_MORE_FILES"),
            (NtStatus::NOT_IMPLEMENTED, "STATUS_NOT_IMPLEMENTED"),
            (NtStatus::INVALID_HANDLE, "STATUS_INVALID_HANDLE"),
            (NtStatus::INVALID_PARAMETER, "STATUS_INVALID_PARAMETER"),
            (NtStatus::NO_SUCH_FILE, "STATUS_NO_SUCH_FILE"),
            (
                NtStatus::INVALID_DEVICE_REQUEST,
                "STATUS_INVALID_DEVICE_REQUEST",
            ),
            (NtStatus::END_OF_FILE, "STATUS_END_OF_FILE"),
            (
                NtStatus::MORE_PROCESSING_REQUIRED,
                "STATUS_MORE_PROCESSING_REQUIRED",
            ),
            (NtStatus::ACCESS_DENIED, "STATUS_ACCESS_DENIED"),
            (NtStatus::BUFFER_TOO_SMALL, "STATUS_BUFFER_TOO_SMALL"),
            (
                NtStatus::OBJECT_NAME_NOT_FOUND,
                "STATUS_OBJECT_NAME_NOT_FOUND",
            ),
            (
                NtStatus::OBJECT_NAME_COLLISION,
                "STATUS_OBJECT_NAME_COLLISION",
            ),
            (NtStatus::SHARING_VIOLATION, "STATUS_SHARING_VIOLATION"),
            (NtStatus::DELETE_PENDING, "STATUS_DELETE_PENDING"),
            (NtStatus::LOGON_FAILURE, "STATUS_LOGON_FAILURE"),
            (
                NtStatus::INSUFFICIENT_RESOURCES,
                "STATUS_INSUFFICIENT_RESOURCES",
            ),
            (NtStatus::NOT_SUPPORTED, "STATUS_NOT_SUPPORTED"),
            (
                NtStatus::NETWORK_NAME_DELETED,
                "STATUS_NETWORK_NAME_DELETED",
            ),
            (NtStatus::BAD_NETWORK_NAME, "STATUS_BAD_NETWORK_NAME"),
            (
                NtStatus::REQUEST_NOT_ACCEPTED,
                "STATUS_REQUEST_NOT_ACCEPTED",
            ),
            (NtStatus::CANCELLED, "STATUS_CANCELLED"),
            (NtStatus::FILE_CLOSED, "STATUS_FILE_CLOSED"),
            (
                NtStatus::USER_SESSION_DELETED,
                "STATUS_USER_SESSION_DELETED",
            ),
            (NtStatus::NOT_FOUND, "STATUS_NOT_FOUND"),
            (
                NtStatus::NETWORK_SESSION_EXPIRED,
                "STATUS_NETWORK_SESSION_EXPIRED",
            ),
            (NtStatus::INVALID_INFO_CLASS, "STATUS_INVALID_INFO_CLASS"),
            (
                NtStatus::INFO_LENGTH_MISMATCH,
                "STATUS_INFO_LENGTH_MISMATCH",
            ),
            (NtStatus::INVALID_ACL, "STATUS_INVALID_ACL"),
            (NtStatus::INVALID_SID, "STATUS_INVALID_SID"),
            (
                NtStatus::INVALID_SECURITY_DESCR,
                "STATUS_INVALID_SECURITY_DESCR",
            ),
            (NtStatus::INVALID_OWNER, "STATUS_INVALID_OWNER"),
            (
                NtStatus::INVALID_PRIMARY_GROUP,
                "STATUS_INVALID_PRIMARY_GROUP",
            ),
            (NtStatus::OBJECT_NAME_INVALID, "STATUS_OBJECT_NAME_INVALID"),
            (
                NtStatus::OBJECT_PATH_NOT_FOUND,
                "STATUS_OBJECT_PATH_NOT_FOUND",
            ),
            (
                NtStatus::OBJECT_PATH_SYNTAX_BAD,
                "STATUS_OBJECT_PATH_SYNTAX_BAD",
            ),
            (NtStatus::EAS_NOT_SUPPORTED, "STATUS_EAS_NOT_SUPPORTED"),
            (NtStatus::PIPE_BUSY, "STATUS_PIPE_BUSY"),
            (NtStatus::PIPE_BROKEN, "STATUS_PIPE_BROKEN"),
            (NtStatus::NAME_TOO_LONG, "STATUS_NAME_TOO_LONG"),
        ] {
            assert_eq!(s.name(), Some(n), "{:#x}", s.0);
            assert_eq!(s.to_string(), n);
        }
        assert_eq!(NtStatus(0xC0DE_0001).name(), None);
        assert_eq!(NtStatus(0xC0DE_0001).to_string(), "0xc0de0001");
    }
}
