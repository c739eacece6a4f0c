#!/usr/bin/env bash
# 72-resume: upstream TLS sessions are resumed per identity and destination,
# and only ever for the identity that established them.
#
# A returning client's upstream handshake resumes the session its forged
# certificate established (no certificate, no signature, no chain to
# verify); the upstream still sees that client's identity.  Another client
# never rides on it.  Sessions die with the forged certificate: evicted from
# the forge cache, they are gone.  TLS 1.2 and 1.3 resume on either relay
# path: on the kTLS path a TLS 1.3 upstream's RX key goes into the kernel
# only after OpenSSL has read the tickets that precede the first response.
# One worker: each worker keeps its own forge cache, and with it the
# sessions (shared-nothing), so a second worker would see a stranger.
# No kept upstream connections (--upstream-keepalive 0, see 73-keepalive):
# a returning client would otherwise skip the upstream handshake outright.
KTPROXY_WORKERS=1
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up
ktproxy_start --upstream-keepalive 0 || exit 1

have_ktls=0
grep -q 'kTLS on' "$KTP_STDERR" && have_ktls=1

# visit NAME: one request as NAME; prints what the upstream saw.
visit() { cli_curl "$1" "$URL/whoami"; }
# last_session: the upstream_session field of the newest log line.
last_session() { wait_idle 5; connlog | tail -n 1 | grep -o 'upstream_session=[a-z]*' | cut -d= -f2; }
serial_seen() { field "$1" serial; }

# check_identity LABEL OUT NAME: the upstream saw NAME's subject.
check_identity() { assert_eq "$1: upstream sees $3" "$(field "$2" subject)" "$(subject_of "$3")"; }

# round LABEL RESUMES: alice, alice, bob, bob, alice through ktproxy;
# RESUMES=1 when this protocol resumes on this path.
round() {
	local label=$1 resumes=$2 r0 out a1 a2 b1 want
	r0=$(stat_get .upstream_resumed)

	out=$(visit alice); check_identity "$label: alice first" "$out" alice
	a1=$(serial_seen "$out")
	assert_eq "$label: alice's first upstream handshake is a full one" "$(last_session)" new

	want=new; [ "$resumes" = 1 ] && want=resumed
	out=$(visit alice); check_identity "$label: alice again" "$out" alice
	assert_eq "$label: alice returns: upstream session $want" "$(last_session)" "$want"
	a2=$(serial_seen "$out")
	assert_eq "$label: same forged certificate both times (serial)" "$a2" "$a1"

	out=$(visit bob); check_identity "$label: bob first" "$out" bob
	b1=$(serial_seen "$out")
	assert_eq "$label: bob does not ride on alice's session" "$(last_session)" new
	assert_ne "$label: bob presents his own certificate" "$b1" "$a1"

	out=$(visit bob); check_identity "$label: bob again" "$out" bob
	assert_eq "$label: bob returns: upstream session $want" "$(last_session)" "$want"

	out=$(visit alice); check_identity "$label: alice after bob" "$out" alice
	assert_eq "$label: ...with her own certificate" "$(serial_seen "$out")" "$a1"
	assert_eq "$label: ...and her own session" "$(last_session)" "$want"
	assert_eq "$label: upstream_resumed counted" "$(stat_get .upstream_resumed)" \
		"$((r0 + (resumes ? 3 : 0)))"
}

section "TLS 1.3 upstream"
late0=$(stat_get .ktls_upstream_rx.after_tickets)
round "TLS 1.3" 1
if [ "$have_ktls" = 1 ]; then
	assert_contains "TLS 1.3: resumed connections ride kTLS" "$(connlog | tail -n 1)" "path=ktls"
	assert_eq "TLS 1.3: each upstream RX key went in after the tickets" \
		"$(stat_get .ktls_upstream_rx.after_tickets)" "$((late0 + 5))"
	assert_eq "TLS 1.3: no upstream RX left with OpenSSL" "$(stat_get .ktls_upstream_rx.openssl)" 0
fi

section "Many clients at once, closing as they please (ktp-load)"
# A kept session must survive the connections that resumed it, however
# they end: OpenSSL spoils the session of a connection freed without a
# close_notify, so no connection may hold a kept one itself.
n=${KTP_RESUME_HANDSHAKES:-100}
r0=$(stat_get .upstream_resumed)
u0=$(stat_get .upstream_handshakes)
out=$(in_cli "$KTPROXY_BUILD/ktp-load" --connect "$SRV_IP:443" --sni server.test \
	--ca "$PKI/proxy-ca.crt" --cert "$PKI/alice.crt" --key "$PKI/alice.key" \
	--path /whoami --json --mode handshake --concurrency 4 --requests "$n" --duration 120)
assert_eq "$n handshakes and requests, no errors" \
	"$(printf '%s' "$out" | jq -r '"\(.requests) \(.errors)"')" "$n 0"
assert_stat_delta "$n upstream handshakes" .upstream_handshakes "$u0" "$n"
assert_stat_delta "every one of them resumed alice's session" .upstream_resumed "$r0" "$n"

section "TLS 1.2 upstream"
upstream_protocols "TLSv1.2" || fail "nginx restart"
# ktproxy still holds TLS 1.3 sessions from the nginx that was stopped: the
# new one cannot resume them, and the first handshake is a full one.
ktproxy_restart --upstream-keepalive 0 || exit 1
round "TLS 1.2" 1
[ "$have_ktls" = 1 ] && assert_contains "TLS 1.2 resumed connections ride kTLS" "$(connlog | tail -n 1)" "path=ktls"

section "Sessions go with the forged certificate (--forge-cache 1)"
ktproxy_restart --upstream-keepalive 0 --forge-cache 1 || exit 1
r0=$(stat_get .upstream_resumed)
out=$(visit alice); check_identity "cache 1: alice" "$out" alice
out=$(visit alice); check_identity "cache 1: alice again" "$out" alice
assert_eq "cache 1: alice returns: resumed" "$(last_session)" resumed
out=$(visit bob); check_identity "cache 1: bob evicts alice" "$out" bob
out=$(visit alice); check_identity "cache 1: alice re-minted" "$out" alice
assert_eq "cache 1: alice's session went with her evicted certificate" "$(last_session)" new
assert_eq "cache 1: one resumption in all" "$(stat_get .upstream_resumed)" "$((r0 + 1))"

upstream_protocols "TLSv1.2 TLSv1.3" || fail "nginx restart"
ktproxy_stop
