#!/usr/bin/env bash
# 26-ocsp: client certificates checked with a real OCSP responder (openssl
# ocsp -index), during the handshake, without blocking the worker.
#
#   responder      the one in the certificate's authorityInfoAccess
#                  (http://10.77.2.2:8889/, in the server namespace), or
#                  --ocsp-responder (127.0.0.1:8890 in the gateway; also by
#                  name, localhost)
#   good           let in; the answer is cached (a second chain for the same
#                  certificate: client_ocsp.cache_hit, no second query)
#   revoked        refused in both modes: certificate_revoked (44),
#                  client_handshake_failures.revoked, client_cert_revoked_ocsp
#   unknown        hard: certificate_unknown (46), ocsp_unknown; soft: let in
#   no answer      no responder named, responder down, responder silent
#                  (--ocsp-timeout): hard refuses (ocsp_unavailable), soft
#                  lets in (client_ocsp.soft_allowed)
#   not blocking   while one handshake waits for a silent responder, another
#                  client of the same worker is served
#   shutdown       a handshake waiting for OCSP does not hold up SIGTERM
# One worker: the cache and the verdicts are per worker.
KTPROXY_WORKERS=1
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up

REQ=$'GET /whoami HTTP/1.1\r\nHost: server.test\r\nConnection: close\r\n\r\n'
AIA_PORT=8889
GW_PORT=8890

subject_rfc() { openssl x509 -in "$PKI/$1.crt" -noout -subject -nameopt RFC2253 | sed 's/^subject=//'; }

# responder_start NS PORT: openssl ocsp in namespace NS, until it listens;
# its pid in RESP_PID
responder_start() {
	local ns=$1 port=$2 i
	ip netns exec "$ns" openssl ocsp -index "$PKI/ocsp-index.txt" -CA "$PKI/client-ca.crt" \
		-rsigner "$PKI/ocsp-signer.crt" -rkey "$PKI/ocsp-signer.key" -port "$port" \
		-nmin 60 -ignore_err >>"$RUN_DIR/ocsp-$port.log" 2>&1 &
	RESP_PID=$!
	for i in $(seq 1 50); do
		ip netns exec "$ns" ss -ltnH "sport = :$port" | grep -q . && return 0
		sleep 0.1
	done
	return 1
}
responder_stop() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# served NAME [curl args]: a request as NAME reaches the upstream as NAME
served() {
	local c=$1 out
	shift
	out=$(cli_curl "$c" "$@" "$URL/whoami" 2>&1)
	assert_eq "$c is served as itself" "$(field "$out" subject)" "$(subject_rfc "$c")"
}

# refused NAME ALERTNUM ALERTTEXT REASON TOKEN: refused in the handshake
refused() {
	local c=$1 num=$2 text=$3 reason=$4 token=$5 out before fails0 line
	before=$(upstream_requests)
	fails0=$(stat_get ".client_handshake_failures.$reason")
	out=$(printf '%s' "$REQ" | cli_sclient "$c" -ign_eof)
	assert_match "$c: TLS alert $num ($text)" "$out" "alert $text|alert number $num"
	assert_no_match "$c: no HTTP answer" "$out" '^HTTP/1\.[01] '
	assert_stat_delta "$c: counted as $reason" ".client_handshake_failures.$reason" "$fails0" 1
	assert_eq "$c: nothing reached the upstream" "$(upstream_requests)" "$before"
	line=$(connlog | tail -n 1)
	assert_contains "$c: logged as $token" "$line" "result=error reason=$token"
	assert_contains "$c: the log names who was refused" "$line" "subject=\"$(subject_rfc "$c")\""
}

# last_ocsp: the ocsp= field of the last log line
last_ocsp() { connlog | tail -n 1 | sed -n 's/.* ocsp=\([^ ]*\) .*/\1/p'; }

responder_start "$NS_SRV" "$AIA_PORT" || { fail "OCSP responder on 10.77.2.2:$AIA_PORT"; exit 1; }
AIA_PID=$RESP_PID
pass "openssl ocsp answers on 10.77.2.2:$AIA_PORT (the certificates' authorityInfoAccess)"

section "--ocsp hard, the responder in the certificate"
ktproxy_start --ocsp hard || exit 1
g0=$(stat_get .client_ocsp.good)
served ocsp-good
assert_stat_delta "the responder said good" .client_ocsp.good "$g0" 1
assert_eq "log: ocsp=good" "$(last_ocsp)" good
m0=$(stat_get .client_chains_remembered)
served ocsp-good
assert_stat_delta "the second time, the chain's verdict is remembered" .client_chains_remembered "$m0" 1
assert_eq "log: no OCSP needed (ocsp=-)" "$(last_ocsp)" -
# The same certificate with another chain is verified again; its status
# comes from the cache.
cat "$PKI/ocsp-good.crt" "$PKI/client-ca.crt" > "$RUN_DIR/ocsp-good-chain.pem"
h0=$(stat_get .client_ocsp.cache_hit)
out=$(in_cli curl -sS --max-time "$CURL_MAX_TIME" --resolve "server.test:443:$SRV_IP" \
	--cacert "$PKI/proxy-ca.crt" --cert "$RUN_DIR/ocsp-good-chain.pem" --key "$PKI/ocsp-good.key" \
	"$URL/whoami")
assert_eq "ocsp-good with another chain is served" "$(field "$out" subject)" "$(subject_rfc ocsp-good)"
assert_stat_delta "its status came from the cache" .client_ocsp.cache_hit "$h0" 1
assert_eq "the responder was not asked again" "$(stat_get .client_ocsp.good)" $((g0 + 1))
assert_eq "log: ocsp=good,cached" "$(last_ocsp)" good,cached

r0=$(stat_get .client_ocsp.revoked)
refused ocsp-revoked 44 "certificate revoked" revoked client_cert_revoked_ocsp
assert_stat_delta "the responder said revoked" .client_ocsp.revoked "$r0" 1
assert_eq "log: ocsp=revoked" "$(last_ocsp)" revoked
refused ocsp-revoked 44 "certificate revoked" revoked client_cert_revoked_ocsp
assert_eq "log: ocsp=revoked,cached the second time" "$(last_ocsp)" revoked,cached
u0=$(stat_get .client_ocsp.unknown)
refused ocsp-unknown 46 "certificate unknown" ocsp_unknown client_ocsp_unknown
assert_stat_delta "the responder said unknown" .client_ocsp.unknown "$u0" 1
e0=$(stat_get .client_ocsp.error)
refused alice 46 "certificate unknown" ocsp_unavailable client_ocsp_unavailable
assert_stat_delta "alice names no responder: an error" .client_ocsp.error "$e0" 1
assert_eq "log: ocsp=error:no_responder" "$(last_ocsp)" error:no_responder
assert_eq "nothing let in softly" "$(stat_get .client_ocsp.soft_allowed)" 0
ktproxy_stop

section "--ocsp soft"
ktproxy_start --ocsp soft || exit 1
s0=$(stat_get .client_ocsp.soft_allowed)
served ocsp-unknown
assert_eq "log: ocsp=unknown" "$(last_ocsp)" unknown
served alice
assert_eq "log: ocsp=error:no_responder" "$(last_ocsp)" error:no_responder
assert_stat_delta "both let in softly" .client_ocsp.soft_allowed "$s0" 2
refused ocsp-revoked 44 "certificate revoked" revoked client_cert_revoked_ocsp
served ocsp-good
ktproxy_stop

section "--ocsp-responder overrides the certificate's"
responder_start "$NS_GW" "$GW_PORT" || { fail "OCSP responder on 127.0.0.1:$GW_PORT"; exit 1; }
GW_PID=$RESP_PID
responder_stop "$AIA_PID"	# the certificates' responder is gone
ktproxy_start --ocsp hard --ocsp-responder "http://127.0.0.1:$GW_PORT/" || exit 1
served alice
assert_eq "log: ocsp=good" "$(last_ocsp)" good
served ocsp-good
refused ocsp-revoked 44 "certificate revoked" revoked client_cert_revoked_ocsp
if in_gw python3 -c 'import socket; socket.getaddrinfo("localhost", 80)' 2>/dev/null; then
	ktproxy_restart --ocsp hard --ocsp-responder "http://localhost:$GW_PORT/" || exit 1
	served bob
	assert_eq "by name (localhost): ocsp=good" "$(last_ocsp)" good
else
	skip "localhost does not resolve here: the responder by name"
fi
ktproxy_stop
responder_stop "$GW_PID"

section "No responder listening"
ktproxy_start --ocsp hard || exit 1
refused ocsp-good 46 "certificate unknown" ocsp_unavailable client_ocsp_unavailable
assert_eq "log: ocsp=error:connect_failed" "$(last_ocsp)" error:connect_failed
ktproxy_restart --ocsp soft || exit 1
s0=$(stat_get .client_ocsp.soft_allowed)
served ocsp-good
assert_stat_delta "let in softly" .client_ocsp.soft_allowed "$s0" 1
ktproxy_stop

section "A silent responder: --ocsp-timeout, and the worker goes on meanwhile"
# Takes connections (the kernel's backlog) and never answers.
in_srv python3 -c 'import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.2.2", 8889)); s.listen(64); time.sleep(120)' &
SILENT_PID=$!
for i in $(seq 1 50); do in_srv ss -ltnH "sport = :$AIA_PORT" | grep -q . && break; sleep 0.1; done
# (A slower machine, the emulated kTLS VM, gets more time.)
T=4
[ "${KTP_IN_VM:-0}" = 1 ] && T=10
ktproxy_start --ocsp soft --ocsp-timeout "$T" || exit 1
t0=$(date +%s.%N)
cli_curl ocsp-good "$URL/whoami" > "$RUN_DIR/slow.out" 2>&1 &
slow=$!
sleep 0.5
t1=$(date +%s.%N)
served alice
t2=$(date +%s.%N)
fast=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f", b - a }')
assert_eq "alice was served ($fast s) while ocsp-good waits $T s" \
	"$(awk -v d="$fast" -v t="$T" 'BEGIN { print (d < t - 1.5) ? "yes" : "no" }')" yes
if kill -0 "$slow" 2>/dev/null; then pass "ocsp-good still waiting for its responder"; else fail "ocsp-good still waiting for its responder"; fi
wait "$slow"
t3=$(date +%s.%N)
assert_eq "ocsp-good let in after the timeout (soft)" "$(field "$(cat "$RUN_DIR/slow.out")" subject)" \
	"$(subject_rfc ocsp-good)"
assert_eq "... after about --ocsp-timeout" \
	"$(awk -v a="$t0" -v b="$t3" -v t="$T" 'BEGIN { d = b - a; print (d >= t - 0.5 && d < t + 6) ? "yes" : "no (" d " s)" }')" yes
assert_contains "log: ocsp=error:timeout" "$(connlog | grep -F "$(subject_rfc ocsp-good)")" "ocsp=error:timeout"
ktproxy_restart --ocsp hard --ocsp-timeout 2 || exit 1
refused ocsp-good 46 "certificate unknown" ocsp_unavailable client_ocsp_unavailable
assert_eq "log: ocsp=error:timeout" "$(last_ocsp)" error:timeout

section "SIGTERM while a handshake waits for OCSP"
cli_curl ocsp-unknown "$URL/whoami" > /dev/null 2>&1 &
waiting=$!
sleep 0.7
assert_eq "one handshake waiting" "$(stat_get .connections_active)" 1
ktproxy_stop
wait "$waiting"
assert_ne "the waiting client got no answer" "$?" 0
kill "$SILENT_PID" 2>/dev/null
