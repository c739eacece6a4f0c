#!/usr/bin/env bash
# 05-cli: the command line as an operator meets it - --help documents every
# flag, --check validates, and every mistake gets a message that names it
# and a non-zero exit, before anything listens.
. "$(dirname "$0")/../lib/common"
need_ktproxy
"$TESTS_DIR/lib/mkpki" "$PKI" 50 >/dev/null || { fail "mkpki"; exit 1; }
KTP=$KTPROXY_BUILD/ktproxy
STAT=$KTPROXY_BUILD/ktproxy-stat
TMP=$(mktemp -d)
cli_cleanup() { rm -rf "$TMP"; }
ktp_on_exit cli_cleanup

good=(--listen 127.0.0.1:18443 --server-cert "$PKI/proxy.crt" --server-key "$PKI/proxy.key"
	--client-ca "$PKI/client-ca.crt" --crl "$PKI/crl.pem"
	--delegation-ca "$PKI/delegation-ca.crt" --delegation-key "$PKI/delegation-ca.key"
	--upstream-ca "$PKI/upstream-ca.crt")

# run_ktp WANT_RC PATTERN WHAT ARGS...: exit status and a message on stderr/stdout
# (-c /dev/null: a config file in /etc/ktproxy plays no part; a -c in ARGS wins)
run_ktp() {
	local want=$1 pat=$2 what=$3 out rc
	shift 3
	out=$(timeout 10 "$KTP" -c /dev/null "$@" 2>&1)
	rc=$?
	if [ "$rc" = "$want" ] && printf '%s' "$out" | grep -q -- "$pat"; then
		pass "$what"
	else
		fail "$what" "exit $rc (want $want), output: $(printf '%s' "$out" | head -n 5)"
	fi
}

section "--help and --version"
help=$("$KTP" --help)
for flag in --listen --server-cert --server-key --client-ca --crl --delegation-ca \
	--delegation-key --upstream-ca --headers --xfcc-mode --xfcc-fields --header-name \
	--stats --log --workers \
	--handshake-timeout --idle-timeout --drain-timeout --forge-cache --ktls --signer-user --check \
	--verify-depth --require-client-eku --allow --ocsp --ocsp-responder --ocsp-timeout \
	--ocsp-cache --ocsp-cache-ttl \
	--delegation-chain --forge-extensions --forge-copy-oid --forge-lifetime --forge-serial \
	--forge-key-type --forge-key-reuse --forge-origin-ext --forge-origin-oid; do
	assert_contains "--help documents $flag" "$help" "  $flag"
done
assert_contains "--help documents -c, --config" "$help" "  -c, --config FILE"
assert_contains "--help documents the config file's format" "$help" "One setting a line"
assert_contains "--help shows the TPROXY rules" "$help" "tproxy ip to :8443"
assert_match "--version" "$("$KTP" --version)" '^ktproxy [0-9]+\.[0-9]+'
assert_contains "ktproxy-stat --help" "$("$STAT" --help)" "--json"

printf 'not a crl\n' > "$TMP/bad.crl"

section "--check"
run_ktp 0 "configuration OK" "a good configuration" "${good[@]}" --check
nocrl=("${good[@]:0:8}" "${good[@]:10}")
run_ktp 0 "configuration OK" "a good configuration without --crl" "${nocrl[@]}" --check

section "Mistakes are named"
run_ktp 2 "--listen is required" "missing --listen" "${good[@]:2}" --check
run_ktp 2 "--upstream-ca is required" "missing --upstream-ca" "${good[@]:0:12}" --check
run_ktp 2 'not ADDR:PORT' "bad --listen" "${good[@]}" --listen 1.2.3.4 --check
run_ktp 2 'not ADDR:PORT' "bad --listen port" "${good[@]}" --listen 0.0.0.0:70000 --check
run_ktp 2 'not one of xfcc, amzn, amzn-passthrough, rfc9440, none' "bad --headers" "${good[@]}" --headers envoy --check
run_ktp 2 'not one of sanitize-set' "bad --xfcc-mode" "${good[@]}" --xfcc-mode SANITIZE --check
run_ktp 2 '--xfcc-mode needs --headers xfcc' "--xfcc-mode with amzn" "${good[@]}" \
	--headers amzn --xfcc-mode forward-only --check
run_ktp 2 '"Email" is not one of By' "bad --xfcc-fields" "${good[@]}" --xfcc-fields Hash,Email --check
run_ktp 2 'not a usable header name' "--header-name with a space" "${good[@]}" \
	--header-name 'X-Forwarded-Client-Cert=X Id' --check
run_ktp 2 'not a usable header name' "--header-name Host" "${good[@]}" \
	--header-name Client-Cert=Host --check
run_ktp 2 'is not a header ktproxy sends' "--header-name of an unknown header" "${good[@]}" \
	--header-name X-Foo=X-Bar --check
run_ktp 0 "configuration OK" "--header-name and --xfcc-fields" "${good[@]}" \
	--header-name X-Forwarded-Client-Cert=X-Client-Identity --xfcc-fields By,Hash,Chain --check
run_ktp 0 "configuration OK" "every --forge-* flag" "${good[@]}" \
	--forge-extensions subjectAltName,keyUsage --forge-copy-oid certificatePolicies \
	--forge-lifetime 12h --forge-serial copy --forge-key-type rsa2048 --forge-key-reuse pool:2 \
	--forge-origin-ext --forge-origin-oid 1.3.6.1.4.1.99999.42 \
	--delegation-chain "$PKI/delegation-ca.crt" --check
run_ktp 2 'is never copied' "--forge-extensions with the client CA's AKI" "${good[@]}" \
	--forge-extensions subjectAltName,authorityKeyIdentifier --check
run_ktp 2 'not an extension name or a dotted OID' "--forge-copy-oid nonsense" "${good[@]}" \
	--forge-copy-oid 'no such thing' --check
run_ktp 2 'not a lifetime from 60s to 7d' "--forge-lifetime too long" "${good[@]}" \
	--forge-lifetime 30d --check
run_ktp 2 'not random or copy' "bad --forge-serial" "${good[@]}" --forge-serial next --check
run_ktp 2 'not p256, p384, rsa2048, rsa3072 or ed25519' "bad --forge-key-type" "${good[@]}" \
	--forge-key-type p521 --check
run_ktp 2 'not worker, identity or pool' "bad --forge-key-reuse" "${good[@]}" \
	--forge-key-reuse pool:0 --check
run_ktp 2 'not a dotted OID of your own' "--forge-origin-oid of a known extension" "${good[@]}" \
	--forge-origin-oid 2.5.29.17 --check
run_ktp 1 'is not a CA that issued' "--delegation-chain of another CA" "${good[@]}" \
	--delegation-chain "$PKI/proxy-ca.crt" --check
run_ktp 1 'no PEM certificates' "--delegation-chain with none" "${good[@]}" \
	--delegation-chain "$TMP/bad.crl" --check
run_ktp 2 'not a number from 1 to 256' "bad --workers" "${good[@]}" --workers 0 --check
run_ktp 2 'not auto or off' "bad --ktls" "${good[@]}" --ktls maybe --check
run_ktp 2 'unexpected argument' "stray argument" "${good[@]}" extra --check
run_ktp 1 "$TMP/nope.crt" "missing --server-cert file" "${good[@]}" --server-cert "$TMP/nope.crt" --check
run_ktp 1 "does not match" "--server-key of another certificate" "${good[@]}" --server-key "$PKI/alice.key" --check
run_ktp 1 "not a CA certificate" "--delegation-ca that is not a CA" "${good[@]}" \
	--delegation-ca "$PKI/alice.crt" --delegation-key "$PKI/alice.key" --check
run_ktp 1 "--delegation-key does not match" "--delegation-key of another CA" "${good[@]}" \
	--delegation-key "$PKI/alice.key" --check
run_ktp 1 "$TMP/none.key" "missing --delegation-key file" "${good[@]}" \
	--delegation-key "$TMP/none.key" --check
run_ktp 1 "no such user" "unknown --signer-user" "${good[@]}" --signer-user no-such-ktp-user --check
run_ktp 1 "--crl: cannot load" "unreadable --crl" "${good[@]}" --crl "$TMP/bad.crl" --check
run_ktp 1 "--crl: cannot load CRLs from $TMP/bad.crl" "an unreadable second --crl is named" \
	"${good[@]}" --crl "$PKI/int2-crl.pem" --crl "$TMP/bad.crl" --check
run_ktp 0 "configuration OK" "client verification flags" "${good[@]}" --crl "$PKI/int2-crl.pem" \
	--verify-depth 2 --require-client-eku no --allow 'uri:spiffe://example.test/*' \
	--allow 'subject:CN=alice,*' --ocsp soft --ocsp-responder http://10.77.2.2:8889/ \
	--ocsp-timeout 2 --ocsp-cache 100 --ocsp-cache-ttl 600 --check
run_ktp 2 'not a number from 0 to 32' "bad --verify-depth" "${good[@]}" --verify-depth 33 --check
run_ktp 2 'is not yes or no' "bad --require-client-eku" "${good[@]}" --require-client-eku maybe --check
run_ktp 2 'is not KIND:PATTERN' "--allow without a kind" "${good[@]}" --allow 'alice' --check
run_ktp 2 'is not KIND:PATTERN' "--allow of an unknown kind" "${good[@]}" --allow 'ip:10.0.0.1' --check
run_ktp 2 'is not off, soft or hard' "bad --ocsp" "${good[@]}" --ocsp on --check
run_ktp 2 'is not an http:// URL' "--ocsp-responder https" "${good[@]}" --ocsp hard \
	--ocsp-responder https://ocsp.example.test/ --check
run_ktp 2 '--ocsp-responder needs --ocsp soft or hard' "--ocsp-responder without --ocsp" \
	"${good[@]}" --ocsp-responder http://10.77.2.2:8889/ --check
run_ktp 2 'not a number from 1 to 60' "bad --ocsp-timeout" "${good[@]}" --ocsp soft --ocsp-timeout 0 --check
run_ktp 1 "--client-ca: cannot load" "missing --client-ca file" "${good[@]}" --client-ca "$TMP/none.pem" --check

section "ktproxy-stat without a daemon"
out=$("$STAT" --stats "$TMP/absent" 2>&1); rc=$?
assert_eq "exit status 1" "$rc" 1
assert_contains "says what to check" "$out" "is ktproxy running"
