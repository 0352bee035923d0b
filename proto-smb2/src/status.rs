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
}
