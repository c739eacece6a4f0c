#!/usr/bin/env python3
# cryptocal.py [SECONDS] - calibration for the benchmark's VM part: how fast
# this machine runs AES-256-GCM (the cipher TLS 1.3 negotiates here) in the
# kernel, which kTLS uses, and in OpenSSL, which the userspace relay uses,
# on one CPU, in 16 KiB records (a full TLS record).  Under qemu TCG both are
# emulated, and not equally well; this puts a number on the skew that the
# kTLS-vs-userspace ratios of the VM run carry.
#
# Kernel: AF_ALG "aead" gcm(aes), one encryption per sendmsg (so syscall and
# copy overhead are included, as they are for kTLS).  OpenSSL: `openssl
# speed -evp aes-256-gcm -bytes 16384`.  Prints one JSON line:
#   {"record_bytes": 16384, "kernel_driver": "...", "kernel_mb_s": N,
#    "openssl_mb_s": N, "kernel_error": "..." (if AF_ALG failed)}
# Run it pinned (taskset -c 0) with nothing else on that CPU.
import json
import os
import re
import socket
import subprocess
import sys
import time

SECS = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
N = 16384
out = {"record_bytes": N}


def kernel():
    subprocess.run(["modprobe", "-q", "algif_aead"], capture_output=True)
    s = socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET, 0)
    s.bind(("aead", "gcm(aes)"))
    s.setsockopt(socket.SOL_ALG, socket.ALG_SET_KEY, os.urandom(32))
    s.setsockopt(socket.SOL_ALG, socket.ALG_SET_AEAD_AUTHSIZE, None, 16)
    op, _ = s.accept()
    buf, iv = os.urandom(N), os.urandom(12)
    total, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < SECS:
        op.sendmsg_afalg([buf], op=socket.ALG_OP_ENCRYPT, iv=iv, assoclen=0)
        op.recv(N + 16)
        total += N
    out["kernel_mb_s"] = round(total / (time.monotonic() - t0) / 1e6, 3)
    drv = ""
    try:
        with open("/proc/crypto") as f:
            blocks = f.read().split("\n\n")
        for b in blocks:
            if re.search(r"^name\s*:\s*gcm\(aes\)$", b, re.M):
                m = re.search(r"^driver\s*:\s*(\S+)", b, re.M)
                drv = m.group(1) if m else ""
                break
    except OSError:
        pass
    out["kernel_driver"] = drv


def openssl():
    r = subprocess.run(["openssl", "speed", "-seconds", str(max(1, int(SECS))), "-bytes", str(N),
                        "-evp", "aes-256-gcm"], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        m = re.match(r"^(AES-256-GCM|aes-256-gcm)\s+([0-9.]+)k\s*$", line.strip())
        if m:
            out["openssl_mb_s"] = round(float(m.group(2)) * 1000 / 1e6, 3)
            return
    out["openssl_error"] = "no figure in openssl speed's output: %s" % (r.stdout + r.stderr).strip()[-160:]


try:
    kernel()
except (OSError, AttributeError) as e:
    out["kernel_error"] = str(e)
openssl()
print(json.dumps(out))
