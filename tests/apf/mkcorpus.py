#!/usr/bin/env python3
"""Seed corpus for fuzz_session from tests/vectors/apf.txt: each vector alone
and whole device conversations, each prefixed by the fuzzer's mode byte.
usage: mkcorpus.py VECTORS OUTDIR STAMP"""
import os
import sys

vec_path, outdir, stamp = sys.argv[1:4]
vec = {}
for line in open(vec_path):
    if line.startswith('#') or not line.strip():
        continue
    name, hexs = line.split(None, 1)
    vec[name] = bytes.fromhex(hexs.strip())

def fwd(port):
    return bytes.fromhex('500000000d74637069702d666f727761726400000000') + port.to_bytes(4, 'big')

def data(chan, payload):
    return b'\x5e' + chan.to_bytes(4, 'big') + len(payload).to_bytes(4, 'big') + payload

login = vec['V1'] + vec['V3'] + vec['V8'] + vec['V5']
seeds = {name: b'\x00' + v for name, v in vec.items()}
seeds['login'] = b'\x04' + login + vec['V13'] + vec['V12'] + fwd(5900)
seeds['channel'] = (b'\x04' + login + fwd(16992) + vec['V25'] + data(4, b'HTTP/1.1 200 OK\r\n\r\n')
                    + vec['V27'].replace(b'\x00\x00\x00\x06', b'\x00\x00\x00\x04', 1)
                    + vec['V18-request'] + vec['V30'] + vec['V31'])
seeds['channel-close'] = b'\x84' + login + fwd(16992) + vec['V25'] + data(4, b'x' * 3000) + vec['V30']
seeds['device-open'] = b'\x0d' + login + fwd(16992) + vec['V24'] + data(5, b'abc') + vec['V17']
seeds['deferred'] = b'\x12' + login + vec['V13'] + vec['V16'] + vec['V22']
seeds['big-send'] = b'\x45' + login + fwd(16993) + bytes.fromhex('5b000000040000000000000200ffffffff') \
    + bytes.fromhex('5d0000000400001000')

os.makedirs(outdir, exist_ok=True)
for name, blob in seeds.items():
    with open(os.path.join(outdir, 'seed-' + name), 'wb') as f:
        f.write(blob)
open(stamp, 'w').write('%d seeds\n' % len(seeds))
