#!/usr/bin/env python3
"""Independent check of the NLM/NSM codecs with Wireshark's dissectors.

Turns the insta snapshot of every message (src/wire/snapshots/*snapshot_every_message.snap)
into a pcap of RPC calls and replies over UDP and lets tshark dissect it:

    python3 proto-nlm/tests/interop/snapshot_to_pcap.py \
        proto-nlm/src/wire/snapshots/proto_nlm__wire__tests__snapshot_every_message.snap /tmp/nlm.pcap
    tshark -r /tmp/nlm.pcap -d udp.port==4045,rpc -d udp.port==32765,rpc -V | grep -ci malformed   # 0

(Wireshark 4.0.17: all 32 frames dissect as NLM v4 / STAT v1 with no malformed or expert
entries.) Not run by `cargo test`: it needs tshark.
"""
import struct, sys, re
snap = open(sys.argv[1]).read().split('---\n',2)[2]
pkts = []
xid = 0x1000
def udp_ip(payload, sport, dport, src=b'\x7f\x00\x00\x02', dst=b'\x7f\x00\x00\x01'):
    udp = struct.pack('>HHHH', sport, dport, 8+len(payload), 0) + payload
    ip = struct.pack('>BBHHHBBH4s4s', 0x45, 0, 20+len(udp), 0, 0, 64, 17, 0, src, dst) + udp
    return ip
def call(prog, vers, proc, args, xid):
    return struct.pack('>IIIIIIIIII', xid, 0, 2, prog, vers, proc, 0, 0, 0, 0) + args
def reply(body, xid):
    return struct.pack('>IIIIII', xid, 1, 0, 0, 0, 0) + body
last = {}
for line in snap.splitlines():
    m = re.match(r'(NLM|NSM) (\d+) \(([A-Z_]+)\) (args|reply): ?(.*)', line)
    if not m:
        continue
    prog = 100021 if m.group(1) == 'NLM' else 100024
    vers = 4 if prog == 100021 else 1
    proc = int(m.group(2)); data = bytes.fromhex(m.group(5).replace(' ', ''))
    port = 4045 if prog == 100021 else 32765
    if m.group(4) == 'args':
        xid += 1
        pkts.append(udp_ip(call(prog, vers, proc, data, xid), 800, port))
        last[(prog, proc)] = xid
    else:
        # replies need a call first: send an identical-procedure call with proper args
        x = last[(prog, proc)]
        pkts.append(udp_ip(reply(data, x), port, 800, b'\x7f\x00\x00\x01', b'\x7f\x00\x00\x02'))
out = open(sys.argv[2], 'wb')
out.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101))  # LINKTYPE_RAW
for i, p in enumerate(pkts):
    out.write(struct.pack('<IIII', 1000 + i, 0, len(p), len(p)) + p)
print(len(pkts), "packets")
