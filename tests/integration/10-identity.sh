#!/usr/bin/env bash
# 10-identity: verified clients reach the upstream as themselves.
#
# Through TPROXY and ktproxy, nginx (which trusts only the Delegation CA) must
# see a forged certificate whose subject is the client's own, issued by the
# Delegation CA, and the injected identity header must describe the client's
# real certificate: XFCC Hash/Cert/Subject/URI/DNS, or with --headers amzn
# the X-Amzn-Mtls-Clientcert-* set, or nothing with --headers none.
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up
ktproxy_start || exit 1

deleg_dn=$(issuer_of_ca delegation-ca)

# check_identity NAME: /whoami as NAME, compare what nginx saw
check_identity() {
	local c=$1 out xfcc want_subj
	out=$(cli_curl "$c" "$URL/whoami")
	if [ -z "$out" ]; then fail "$c: /whoami answered"; return; fi
	assert_eq "$c: upstream sees the client's subject" "$(field "$out" subject)" "$(subject_of "$c")"
	assert_eq "$c: issued by the Delegation CA" "$(field "$out" issuer)" "$deleg_dn"
	assert_eq "$c: nginx verified the forged certificate" "$(field "$out" verify)" SUCCESS
	assert_ne "$c: forged serial differs from the client's" "$(field "$out" serial)" \
		"$(openssl x509 -in "$PKI/$c.crt" -noout -serial | cut -d= -f2)"
	xfcc=$(field "$out" xfcc)
	assert_eq "$c: XFCC Hash is the client certificate's SHA-256" "$(xfcc_get "$xfcc" Hash)" "$(sha256_der "$c")"
	want_subj=$(xfcc_get "$xfcc" Subject)
	if [ "$want_subj" = "$(subject_of "$c")" ] || [ "$want_subj" = "$(subject_utf8 "$c")" ]; then
		pass "$c: XFCC Subject is the RFC 2253 subject"
	else
		fail "$c: XFCC Subject is the RFC 2253 subject" "got:      $want_subj"$'\n'"expected: $(subject_of "$c") (or UTF-8: $(subject_utf8 "$c"))"
	fi
	assert_eq "$c: XFCC Cert is the client's PEM" \
		"$(xfcc_get "$xfcc" Cert | urldecode | openssl x509 -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1)" \
		"$(sha256_der "$c")"
	assert_eq "$c: XFCC URI" "$(xfcc_get "$xfcc" URI)" "spiffe://example.test/$c"
	assert_eq "$c: XFCC DNS" "$(xfcc_get "$xfcc" DNS)" "$c.example.test"
}

section "XFCC (default --headers)"
hs0=$(stat_get .client_handshakes)
minted0=$(stat_get .forged_minted)
for c in alice multi unicode bob; do
	check_identity "$c"
done
assert_stat_delta "four verified handshakes" .client_handshakes "$hs0" 4
assert_stat_delta "four certificates minted" .forged_minted "$minted0" 4

# The forging cache is per worker (shared-nothing): a returning identity
# costs at most one signature per worker, ever.  Six more connections as
# alice on $KTPROXY_WORKERS workers: at most WORKERS-1 new signatures (her
# first worker already has one).  Each of the others takes a kept upstream
# connection, resumes her upstream session, or (a full handshake, which
# nginx answers with a CertificateRequest) is handed her cached
# certificate: minting is lazy, so only an upstream that asks gets one.
hits0=$(stat_get .forged_cache_hits)
minted0=$(stat_get .forged_minted)
reused0=$(stat_get .upstream_keepalive.reused)
resumed0=$(stat_get .upstream_resumed)
for i in 1 2 3 4 5 6; do
	out=$(cli_curl alice "$URL/whoami")
	assert_eq "alice again ($i): same subject" "$(field "$out" subject)" "$(subject_of alice)"
done
wait_idle 5
minted=$(( $(stat_get .forged_minted) - minted0 ))
hits=$(( $(stat_get .forged_cache_hits) - hits0 ))
reused=$(( $(stat_get .upstream_keepalive.reused) - reused0 ))
resumed=$(( $(stat_get .upstream_resumed) - resumed0 ))
assert_ge "returning client: at most one signature per worker ($minted new)" \
	"$((KTPROXY_WORKERS - 1))" "$minted"
assert_eq "returning client: the rest are cache hits ($hits), resumed ($resumed) or kept ($reused) upstreams" \
	"$((hits + minted + resumed + reused))" 6

out=$(cli_curl alice "$URL/echo-headers")
assert_eq "exactly one XFCC header reaches the upstream" "$(printf '%s\n' "$out" | grep -ci '^header: x-forwarded-client-cert:')" 1
assert_contains "backend sees the forged subject from nginx" "$out" "header: X-Ssl-Client-S-Dn: $(subject_of alice)"

section "Connection log"
wait_idle 5 || true
log=$(connlog)
assert_match "a result=ok line for alice" "$log" 'result=ok'
assert_contains "log names alice's subject" "$log" "$(subject_of alice | sed 's/,.*//')"
assert_match "log has client and original destination" "$log" "client=$CLI_IP:[0-9]+ dst=$SRV_IP:443"
assert_eq "connections_active back to 0" "$(stat_get .connections_active)" 0

section "--headers amzn"
ktproxy_restart --headers amzn || exit 1
out=$(cli_curl alice "$URL/whoami")
assert_eq "alice: upstream sees her subject" "$(field "$out" subject)" "$(subject_of alice)"
assert_eq "amzn: X-Amzn-Mtls-Clientcert-Subject" "$(field "$out" amzn_subject)" "$(subject_of alice)"
assert_eq "amzn: no XFCC" "$(field "$out" xfcc)" ""
out=$(cli_curl alice "$URL/echo-headers")
leaf=$(printf '%s\n' "$out" | sed -n 's/^header: X-Amzn-Mtls-Clientcert-Leaf: //Ip' | head -n 1)
assert_eq "amzn: Leaf is alice's URL-encoded PEM" \
	"$(printf '%s' "$leaf" | urldecode | openssl x509 -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1)" "$(sha256_der alice)"
lower=$(printf '%s' "$out" | tr 'A-Z' 'a-z')
for h in serial-number issuer subject validity leaf; do
	assert_eq "amzn: one X-Amzn-Mtls-Clientcert-$h header" \
		"$(printf '%s\n' "$lower" | grep -c "^header: x-amzn-mtls-clientcert-$h: ")" 1
done
assert_eq "amzn: Serial-Number is alice's serial" \
	"$(printf '%s\n' "$out" | sed -n 's/^header: X-Amzn-Mtls-Clientcert-Serial-Number: //Ip' | tr 'a-f' 'A-F' | sed 's/^0*//')" \
	"$(openssl x509 -in "$PKI/alice.crt" -noout -serial | cut -d= -f2 | sed 's/^0*//')"
out=$(cli_curl unicode "$URL/whoami")
assert_eq "unicode: upstream sees the UTF-8 subject" "$(field "$out" subject)" "$(subject_of unicode)"

section "--headers none"
ktproxy_restart --headers none || exit 1
out=$(cli_curl multi "$URL/echo-headers" -H 'X-Forwarded-Client-Cert: Hash=spoof')
assert_contains "none: upstream still sees the forged subject" "$out" "header: X-Ssl-Client-S-Dn: $(subject_of multi)"
assert_no_match "none: no identity header at all" "$out" '^header: ([Xx]-[Ff]orwarded-[Cc]lient-[Cc]ert|[Xx]-[Aa]mzn-[Mm]tls|[Cc]lient-[Cc]ert)'

ktproxy_stop
