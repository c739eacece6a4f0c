#!/usr/bin/env bash
# 77-signer: the delegation CA key lives in the signer process only.
#
# The daemon and its workers never read --delegation-key: a scan of the
# daemon's memory finds no copy of the CA's private key, while the same
# scan of the signer finds it (so the scan can fail).  The signer runs as
# an unprivileged user, undumpable, with no_new_privs.  Killed, it is
# restarted; while none is up, a connection that needs a certificate
# minted fails closed (502 or a clean close, upstream_failures{signer},
# reason=signer_unavailable), a connection established before keeps
# working, and once a new signer is up minting works again.  A signer that
# hangs (SIGSTOP) costs one mint the timeout, then is killed and replaced.
#
# One worker and --forge-cache 1, so each new identity mints.  The key is
# a copy in the run directory: taking it away is how the test holds the
# signer down long enough to see the fail-closed window.
KTPROXY_WORKERS=1
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up

KEY=$RUN_DIR/delegation-ca.key
install -m 0600 "$PKI/delegation-ca.key" "$KEY"
ktproxy_start --forge-cache 1 --delegation-key "$KEY" || exit 1

# key_hits PID: how often the CA's private scalar (big- or little-endian,
# as OpenSSL's BIGNUM words hold it) is in the readable memory of PID.
key_hits() {
	python3 - "$PKI/delegation-ca.key" "$1" <<'EOF'
import re, subprocess, sys
out = subprocess.run(["openssl", "pkey", "-in", sys.argv[1], "-text", "-noout"],
                     capture_output=True, text=True, check=True).stdout
m = re.search(r"^priv:\s*\n((?:\s+[0-9a-f:]+\n)+)", out, re.M)
k = bytes.fromhex(re.sub(r"[\s:]", "", m.group(1)))
if len(k) > 32 and k[0] == 0:
    k = k[1:]
needles = [k, k[::-1]]
CHUNK, SKIP = 64 << 20, 4 << 30
hits = 0
with open(f"/proc/{sys.argv[2]}/maps") as maps, open(f"/proc/{sys.argv[2]}/mem", "rb", 0) as mem:
    for line in maps:
        addr, perms = line.split()[:2]
        if perms[0] != "r":
            continue
        lo, hi = (int(x, 16) for x in addr.split("-"))
        # Terabytes of sanitizer shadow (ASan builds) hold no heap data.
        if hi - lo > SKIP:
            continue
        # In chunks that overlap by a needle's length, so a copy that
        # straddles two chunks is still found exactly once.
        off = lo
        while off < hi:
            try:
                mem.seek(off)
                data = mem.read(min(CHUNK + len(k) - 1, hi - off))
            except (OSError, ValueError, OverflowError):
                break
            hits += sum(data.count(n) for n in needles)
            off += CHUNK
print(hits)
EOF
}
signer_pid() { pgrep -P "$KTP_PID" -x ktproxy-signer | head -n 1; }
proc_field() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
last() { wait_idle 5; connlog | tail -n 1 | grep -o " $1=[a-z_]*" | cut -d= -f2; }
# line_of NAME FIELD SEEN: FIELD of NAME's newest log line, once NAME has
# more than SEEN lines (bounded: a connection is logged when it is freed,
# just after its client saw it end).
line_of() {
	for _ in $(seq 1 50); do
		[ "$(connlog_count "CN=$1,")" -gt "$3" ] && break
		sleep 0.1
	done
	connlog | grep "CN=$1," | tail -n 1 | grep -o " $2=[a-z_]*" | cut -d= -f2
}
code() { cli_curl "$1" -o /dev/null -w '%{http_code}' "$URL/whoami" 2>/dev/null; }

section "The signer: a separate, unprivileged process"
sp=$(signer_pid)
assert_match "a ktproxy-signer child of the daemon" "$sp" '^[0-9]+$'
assert_ne "...running as a non-root user" "$(proc_field "$sp" Uid)" 0
assert_eq "...with no_new_privs" "$(proc_field "$sp" NoNewPrivs)" 1
# what its descriptors above stderr point to
fds=$(ls -l "/proc/$sp/fd" 2>/dev/null | awk '$9 ~ /^[0-9]+$/ && $9 > 2 { print $NF }')
assert_eq "...holding one socket per worker" "$(printf '%s\n' "$fds" | grep -c '^socket:')" 1
assert_eq "...and nothing else (no key file, log, stats, listener)" \
	"$(printf '%s\n' "$fds" | grep -vc '^socket:')" 0
assert_eq "...stdin is /dev/null" "$(readlink "/proc/$sp/fd/0")" /dev/null
assert_eq "a first identity mints" "$(code alice)" 200
assert_eq "...through the signer" "$(last forged)" minted

section "The CA key is in the signer's memory, never in the daemon's"
assert_eq "the daemon (workers included) holds no copy of the CA private key" \
	"$(key_hits "$KTP_PID")" 0
assert_ge "the signer does (the scan finds what is there)" "$(key_hits "$sp")" 1
assert_not_contains "the daemon never opened the key file" \
	"$(ls -l "/proc/$KTP_PID/fd" 2>/dev/null)" "$KEY"

section "Killing the signer fails closed and recovers"
# alice's keep-alive connection: one request now, one after the kill.
REQ=$'GET /whoami HTTP/1.1\r\nHost: server.test\r\n\r\n'
LASTREQ=$'GET /whoami HTTP/1.1\r\nHost: server.test\r\nConnection: close\r\n\r\n'
feed() {
	printf '%s' "$REQ"
	# Bounded, and generous: under TCG with a busy host the steps
	# between the two requests take tens of seconds.
	for _ in $(seq 1 1800); do [ -e "$1" ] && break; sleep 0.1; done
	printf '%s' "$LASTREQ"
}
go=$RUN_DIR/go.1
feed "$go" | cli_raw alice > "$RUN_DIR/ka.1" 2>&1 &
spid=$!
for _ in $(seq 1 100); do
	[ "$(grep -c '^HTTP/1.1 200' "$RUN_DIR/ka.1" 2>/dev/null)" -ge 1 ] && break
	sleep 0.1
done
assert_eq "alice's connection answered its first request" "$(grep -c '^HTTP/1.1 200' "$RUN_DIR/ka.1")" 1

s0=$(stat_get '.upstream_failures.signer')
mv "$KEY" "$KEY.away"			# the restart cannot succeed yet
kill -KILL "$sp"
for _ in $(seq 1 50); do
	grep -q 'signer could not be restarted' "$KTP_STDERR" && break
	sleep 0.1
done
assert_contains "the daemon saw the signer die" "$(cat "$KTP_STDERR")" "killed by signal 9"
assert_contains "...and is trying to start another" "$(cat "$KTP_STDERR")" "signer could not be restarted"
nbob=$(connlog_count 'CN=bob,')
got=$(code bob)
assert_match "bob needs a certificate minted: fails closed (502 or a closed connection)" "$got" '^(502|000)$'
assert_stat_delta "counted as upstream_failures{signer}" '.upstream_failures.signer' "$s0" 1
# Not `last`: alice's connection stays open, so waiting for an idle
# daemon would only stall; bob's own line is the one that counts.
assert_eq "...logged as signer_unavailable" "$(line_of bob reason "$nbob")" signer_unavailable
assert_eq "no certificate minted meanwhile" "$(connlog | grep -c 'CN=bob.*forged=minted')" 0

touch "$go"; wait "$spid"
assert_eq "alice's established connection: its next request answered too" \
	"$(grep -c '^HTTP/1.1 200' "$RUN_DIR/ka.1")" 2
assert_eq "...as alice" "$(grep -c "^subject=$(subject_of alice)\$" "$RUN_DIR/ka.1")" 2

mv "$KEY.away" "$KEY"
assert_ge "a new signer is up within a few seconds" "$(stat_wait .signer_restarts 1 5)" 1
sp2=$(signer_pid)
assert_match "...a new process" "$sp2" '^[0-9]+$'
assert_ne "...not the old one" "$sp2" "$sp"
assert_ne "...again not root" "$(proc_field "$sp2" Uid)" 0
assert_eq "bob now mints" "$(code bob)" 200
assert_eq "...minted" "$(last forged)" minted

section "A plain kill: restarted at once"
sleep 1.1				# restarts are at least 1 s apart
kill -KILL "$sp2"
assert_ge "signer_restarts counts it" "$(stat_wait .signer_restarts 2 5)" 2
sp3=$(signer_pid)
assert_ne "a third signer" "$sp3" "$sp2"
assert_eq "client-001 mints through it" "$(code client-001)" 200
assert_eq "the daemon still holds no copy of the key" "$(key_hits "$KTP_PID")" 0
assert_ge "...the new signer does" "$(key_hits "$sp3")" 1

section "A hung signer is killed and replaced"
sleep 1.1
kill -STOP "$sp3"
f0=$(stat_get .upstream_failures.signer)
assert_match "a mint waits at most the timeout, then fails closed" "$(code client-002)" '^(502|000)$'
assert_stat_delta "counted as upstream_failures{signer}" .upstream_failures.signer "$f0" 1
assert_ge "the stopped signer was killed and another started" "$(stat_wait .signer_restarts 3 5)" 3
sp4=$(signer_pid)
assert_ne "...a new process" "$sp4" "$sp3"
assert_eq "client-003 mints through it" "$(code client-003)" 200

section "An established client needs a new upstream while the signer is down"
# alice's idle upstream goes to the pool and expires (1 s here), bob takes
# the one cache slot, and nothing can be minted: alice's next request
# needs a new upstream connection, which is shown the certificate her
# connection already holds (forged=held), not a 502.
ktproxy_restart --forge-cache 1 --delegation-key "$KEY" --upstream-keepalive-timeout 1 || exit 1
go=$RUN_DIR/go.2
feed "$go" | cli_raw alice > "$RUN_DIR/ka.2" 2>&1 &
spid=$!
for _ in $(seq 1 100); do
	[ "$(grep -c '^HTTP/1.1 200' "$RUN_DIR/ka.2" 2>/dev/null)" -ge 1 ] && break
	sleep 0.1
done
assert_ge "alice's idle upstream went to the pool and expired" \
	"$(stat_wait .upstream_keepalive.expired 1 10)" 1
sp5=$(signer_pid)
mv "$KEY" "$KEY.away"
kill -KILL "$sp5"
for _ in $(seq 1 50); do
	grep -q 'signer could not be restarted' "$KTP_STDERR" && break
	sleep 0.1
done
assert_match "bob: nothing can be minted" "$(code bob)" '^(502|000)$'
touch "$go"; wait "$spid"
assert_eq "alice's next request is answered" "$(grep -c '^HTTP/1.1 200' "$RUN_DIR/ka.2")" 2
assert_eq "...through a new upstream shown the certificate her connection held" \
	"$(last forged)" held
mv "$KEY.away" "$KEY"

sp4=$(signer_pid)
ktproxy_stop
assert_eq "the signer ends with the daemon" "$(kill -0 "$sp4" 2>/dev/null && echo alive || echo gone)" gone
