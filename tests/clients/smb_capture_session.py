#!/usr/bin/env python3
"""One signed, unencrypted SMB session per dialect with Python smbprotocol, touching the
commands a file server answers, for scripts/smb-capture-check.sh (tshark checks the capture).

  smb_capture_session.py --port P --user U --password PW --share S [--dialects 311,210]

Per dialect: NEGOTIATE (signing required by the client), SESSION_SETUP (NTLMv2 via SPNEGO),
TREE_CONNECT, CREATE directory, CREATE file + WRITE + FLUSH + READ + QUERY_INFO (basic,
standard) + CLOSE, QUERY_DIRECTORY, SET_INFO rename, ECHO, CREATE with DELETE_ON_CLOSE + CLOSE
for the file and the directory, TREE_DISCONNECT, LOGOFF. Prints one line per dialect; exits 1
on any failure (with the SMB status).
"""
import argparse
import sys
import uuid

from smbprotocol.connection import Connection, Dialects
from smbprotocol.file_info import FileBasicInformation, FileInformationClass, \
    FileRenameInformation, FileStandardInformation
from smbprotocol.open import CreateDisposition, CreateOptions, DirectoryAccessMask, \
    FileAttributes, FilePipePrinterAccessMask, ImpersonationLevel, Open, ShareAccess, \
    SMB2QueryInfoRequest, SMB2QueryInfoResponse, SMB2SetInfoRequest
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

DIALECTS = {
    "202": Dialects.SMB_2_0_2,
    "210": Dialects.SMB_2_1_0,
    "300": Dialects.SMB_3_0_0,
    "302": Dialects.SMB_3_0_2,
    "311": Dialects.SMB_3_1_1,
}
SHARE_ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE
IMP = ImpersonationLevel.Impersonation


def query_info(tree, fh, info_class):
    """QUERY_INFO of a file-information class (smbprotocol 1.17's Open has no method for it)."""
    info = info_class()
    req = SMB2QueryInfoRequest()
    req["info_type"] = info.INFO_TYPE
    req["file_info_class"] = info.INFO_CLASS
    req["file_id"] = fh.file_id
    req["output_buffer_length"] = 4096
    conn = tree.session.connection
    sent = conn.send(req, sid=tree.session.session_id, tid=tree.tree_connect_id)
    resp = SMB2QueryInfoResponse()
    resp.unpack(conn.receive(sent)["data"].get_value())
    return resp.parse_buffer(info_class)


def set_info(tree, fh, info):
    req = SMB2SetInfoRequest()
    req["info_type"] = info.INFO_TYPE
    req["file_info_class"] = info.INFO_CLASS
    req["file_id"] = fh.file_id
    req["buffer"] = info
    conn = tree.session.connection
    conn.receive(conn.send(req, sid=tree.session.session_id, tid=tree.tree_connect_id))


def session(port, user, password, share, dialect, tag):
    conn = Connection(uuid.uuid4(), "127.0.0.1", port, require_signing=True)
    conn.connect(dialect=DIALECTS[dialect], timeout=10)
    sess = Session(conn, user, password, require_encryption=False)
    sess.connect()
    tree = TreeConnect(sess, rf"\\127.0.0.1\{share}")
    tree.connect()
    d = f"capture-{tag}"
    dh = Open(tree, d)
    dh.create(IMP, DirectoryAccessMask.GENERIC_READ | DirectoryAccessMask.GENERIC_WRITE
              | DirectoryAccessMask.DELETE, FileAttributes.FILE_ATTRIBUTE_DIRECTORY, SHARE_ALL,
              CreateDisposition.FILE_CREATE, CreateOptions.FILE_DIRECTORY_FILE)
    # Closed before the rename: Samba refuses renames below a directory with an open handle
    # (STATUS_SHARING_VIOLATION), whatever its share access.
    dh.close()
    f = Open(tree, rf"{d}\file.bin")
    f.create(IMP, FilePipePrinterAccessMask.GENERIC_READ | FilePipePrinterAccessMask.GENERIC_WRITE
             | FilePipePrinterAccessMask.DELETE, FileAttributes.FILE_ATTRIBUTE_NORMAL, SHARE_ALL,
             CreateDisposition.FILE_CREATE, CreateOptions.FILE_NON_DIRECTORY_FILE)
    data = bytes(range(256)) * 256
    f.write(data, 0)
    f.flush()
    back = f.read(0, len(data))
    if back != data:
        raise SystemExit(f"{dialect}: read back {len(back)} bytes differing from the written {len(data)}")
    query_info(tree, f, FileBasicInformation)
    std = query_info(tree, f, FileStandardInformation)
    if std["end_of_file"].get_value() != len(data):
        raise SystemExit(f"{dialect}: end_of_file {std['end_of_file'].get_value()} != {len(data)}")
    ren = FileRenameInformation()
    ren["replace_if_exists"] = False
    ren["file_name"] = rf"{d}\renamed.bin".encode("utf-16-le")
    set_info(tree, f, ren)
    f.close()
    dh = Open(tree, d)
    dh.create(IMP, DirectoryAccessMask.FILE_LIST_DIRECTORY, FileAttributes.FILE_ATTRIBUTE_DIRECTORY,
              SHARE_ALL, CreateDisposition.FILE_OPEN, CreateOptions.FILE_DIRECTORY_FILE)
    names = sorted(e["file_name"].get_value().decode("utf-16-le")
                   for e in dh.query_directory("*", FileInformationClass.FILE_NAMES_INFORMATION))
    if "renamed.bin" not in names:
        raise SystemExit(f"{dialect}: renamed.bin not listed: {names}")
    conn.echo(sess.session_id)
    g = Open(tree, rf"{d}\renamed.bin")
    g.create(IMP, FilePipePrinterAccessMask.DELETE, FileAttributes.FILE_ATTRIBUTE_NORMAL, SHARE_ALL,
             CreateDisposition.FILE_OPEN,
             CreateOptions.FILE_NON_DIRECTORY_FILE | CreateOptions.FILE_DELETE_ON_CLOSE)
    g.close()
    dh.close()
    r = Open(tree, d)
    r.create(IMP, DirectoryAccessMask.DELETE, FileAttributes.FILE_ATTRIBUTE_DIRECTORY, SHARE_ALL,
             CreateDisposition.FILE_OPEN,
             CreateOptions.FILE_DIRECTORY_FILE | CreateOptions.FILE_DELETE_ON_CLOSE)
    r.close()
    tree.disconnect()
    sess.disconnect()
    conn.disconnect()
    print(f"dialect=0x{conn.dialect:04x} signed=True encrypted=False listed={names} ok")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--share", required=True)
    p.add_argument("--dialects", default="311,210")
    a = p.parse_args()
    for i, dialect in enumerate(a.dialects.split(",")):
        try:
            session(a.port, a.user, a.password, a.share, dialect, f"{dialect}-{i}-{uuid.uuid4().hex[:8]}")
        except SystemExit:
            raise
        except Exception as e:  # report the SMB status and fail
            print(f"dialect {dialect}: FAILED: {type(e).__name__}: {e}")
            sys.exit(1)


if __name__ == "__main__":
    main()
