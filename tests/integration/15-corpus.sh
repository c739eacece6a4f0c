#!/usr/bin/env bash
# 15-corpus: whatever shape a client certificate has, the upstream sees the
# client's identity byte for byte, in a certificate a strict verifier takes.
#
# The corpus (tests/lib/mkcorpus, listed in its SHAPES file): client
# certificates from the Client CA with RSA, RSA-PSS, EC and EdDSA keys;
# long, Unicode, multi-valued, unsorted, oddly typed and empty subjects;
# subjectAltNames of every type, a hundred and a thousand of them; odd
# serials; every sort of key usage and extension; and two made at the start
# of the run that expire while it runs.
#
#   1. forge_mint() on each (tests/unit/test_corpus, signing in-process)
#      keeps subject and SAN DER, stays within the validity, and passes a
#      strict verification; the certificates it made pass `openssl verify
#      -purpose sslclient -x509_strict` against the Delegation CA, and
#      tests/lib/certder, which reads DER without OpenSSL, agrees on bytes.
#   2. Through ktproxy: nginx verifies the forged certificate
#      (verify=SUCCESS) and prints the client's own subject; the very
#      certificate nginx was shown passes the same openssl and certder
#      checks.
#   3. The shapes ktproxy refuses by design are refused at the handshake,
#      counted (purpose: --require-client-eku; bad_cert), and nothing
#      reaches nginx; the one that names
#      nobody (empty subject, no SAN) gets nothing forged and a 502.
#   4. A certificate about to expire is served until it does, its forged
#      certificate ends exactly when it does, and once it has expired the
#      client is refused.
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up

CORPUS=$PKI/corpus
TIMED=$RUN_DIR/timed	# the two that expire during the run
FORGED=$RUN_DIR/forged	# what nginx was shown, NAME.pem
MINTED=$RUN_DIR/minted	# what test_corpus minted, NAME.pem
mkdir -p "$FORGED" "$MINTED"
"$TESTS_DIR/lib/mkcorpus" "$PKI" || { fail "mkcorpus $PKI"; exit 1; }
ktproxy_start || exit 1
# Their clocks start now: short-lived ends in 50 s, nearly-expired in 120 s.
"$TESTS_DIR/lib/mkcorpus" --timed "$PKI" "$TIMED" || { fail "mkcorpus --timed"; exit 1; }

# Shapes ktproxy refuses by design.  It verifies a client certificate for
# the SSL client purpose (X509_PURPOSE_SSL_CLIENT), as nginx and Envoy do;
# each of these fails that verification, so no certificate is forged and
# nothing goes upstream (the in-process forge_mint() checks still cover
# them: forging itself would be faithful).
declare -A REFUSED=(
	# extendedKeyUsage without clientAuth: the CA allowed the key other
	# uses only (RFC 5280 4.2.1.12).
	[eku-server-only]=purpose
	# anyExtendedKeyUsage alone: OpenSSL's purpose check wants clientAuth
	# itself, as RFC 5280 4.2.1.12 lets an application that needs one
	# particular purpose do.
	[eku-any]=purpose
	# keyUsage with neither digitalSignature nor keyAgreement: the key
	# may not sign the handshake (RFC 5280 4.2.1.3).
	[ku-key-encipherment]=purpose
	# A critical extension nobody here understands: RFC 5280 4.2 says a
	# certificate with one must be rejected.
	[ext-unknown-critical]=bad_cert
)

# A certificate with an empty subject and no names identifies nobody: the
# client is verified, but forge_mint() has nothing to delegate (and what it
# would make, no strict verifier takes), so the request is answered 502.
declare -A UNFORGED=([subj-empty-no-san]=1)

# huge's identity header (XFCC with its URL-encoded PEM and 1000 DNS
# entries, about 90 KB) is more than nginx takes in a request head (4
# buffers of 8 KiB): ktproxy forwards it (the rewritten head's room grows
# with the identity lines) and nginx answers 400 at once.  Its forged
# certificate is checked with --headers none, at the end.
declare -A HEADERLESS=([huge]=1)

deleg_dn=$(issuer_of_ca delegation-ca)
PAIRS=()	# original, forged: for certder

# through DIR NAME: /whoami as the certificate DIR/NAME.crt
through() {
	cli_curl none --cert "$1/$2.crt" --key "$1/$2.key" "$URL/whoami" 2>/dev/null
}

subject_rfc2253() { openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | sed 's/^subject=//'; }
not_after() { date -u -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s; }

# served DIR NAME: nginx verified a forged certificate carrying NAME's
# subject, issued by the Delegation CA; it is kept as $FORGED/NAME.pem.
served() {
	local dir=$1 c=$2 out
	out=$(through "$dir" "$c")
	if [ -z "$out" ]; then
		fail "$c: served through ktproxy" "$(connlog | tail -n 1)"
		return 1
	fi
	assert_eq "$c: nginx verified the forged certificate" "$(field "$out" verify)" SUCCESS
	assert_eq "$c: nginx sees the client's own subject" "$(field "$out" subject)" \
		"$(subject_rfc2253 "$dir/$c.crt")"
	assert_eq "$c: issued by the Delegation CA" "$(field "$out" issuer)" "$deleg_dn"
	field "$out" forged | urldecode > "$FORGED/$c.pem"
	PAIRS+=("$dir/$c.crt" "$FORGED/$c.pem")
}

# refused DIR NAME WHY-COUNTER: the handshake fails, counted under
# client_handshake_failures.WHY-COUNTER, and nginx sees no request.
refused() {
	local dir=$1 c=$2 why=$3 n0 r0
	n0=$(upstream_requests)
	r0=$(stat_get ".client_handshake_failures.$why")
	assert_eq "$c: refused at the handshake" "$(through "$dir" "$c")" ""
	assert_stat_delta "$c: counted as $why" ".client_handshake_failures.$why" "$r0" 1
	assert_eq "$c: nothing reached nginx" "$(upstream_requests)" "$n0"
}

# unforged DIR NAME: verified, but nothing is forged for it: 502, counted
# as upstream_failures.forge, and nginx sees no request.
unforged() {
	local dir=$1 c=$2 n0 r0 code
	n0=$(upstream_requests)
	r0=$(stat_get .upstream_failures.forge)
	code=$(cli_curl none --cert "$dir/$c.crt" --key "$dir/$c.key" -o /dev/null \
		-w '%{http_code}' "$URL/whoami" 2>/dev/null)
	assert_eq "$c: answered 502, nothing forged" "$code" 502
	assert_stat_delta "$c: counted as upstream_failures.forge" .upstream_failures.forge "$r0" 1
	assert_eq "$c: nothing reached nginx" "$(upstream_requests)" "$n0"
}

# verify_all WHAT FILE...: openssl verify -purpose sslclient -x509_strict
# against the Delegation CA alone, one pass or fail per certificate.
verify_all() {
	local what=$1 out f
	shift
	out=$(openssl verify ${VERIFY_AT:+-attime "$VERIFY_AT"} -purpose sslclient -x509_strict \
		-CAfile "$PKI/delegation-ca.crt" "$@" 2>&1)
	for f in "$@"; do
		if printf '%s\n' "$out" | grep -qxF "$f: OK"; then
			pass "$(basename "$f" .pem): $what passes openssl verify -x509_strict"
		else
			fail "$(basename "$f" .pem): $what passes openssl verify -x509_strict" \
				"$(printf '%s\n' "$out" | grep -F "$f" -B2)"
		fi
	done
}

# (VERIFY_AT=EPOCH: verify as of then)

# same_bytes WHAT ORIG FORGED...: certder's verdict on each pair.
same_bytes() {
	local what=$1 line
	shift
	while IFS= read -r line; do
		case $line in
		"ok "*) pass "$what: ${line#ok }" ;;
		*) fail "$what: ${line#FAIL }" ;;
		esac
	done < <("$TESTS_DIR/lib/certder" compare "$@")
}

section "Made now, expiring soon: served until they expire"
short_end=$(not_after "$TIMED/short-lived.crt")
nearly_end=$(not_after "$TIMED/nearly-expired.crt")
for c in short-lived nearly-expired; do
	served "$TIMED" "$c" || continue
	# The client certificate ends within FORGE_LIFETIME_MAX, so the forged
	# one must end exactly with it: not a second later.
	assert_eq "$c: the forged certificate ends when the client's does" \
		"$(not_after "$FORGED/$c.pem")" "$(not_after "$TIMED/$c.crt")"
done
# what nginx was shown is verified at the end, as of now: short-lived may
# have expired by then (in the TCG VM the corpus takes minutes)
shown_at=$(date +%s)

# Before the corpus goes through ktproxy: short-lived must still be valid.
section "forge_mint() in-process on every shape (tests/unit/test_corpus)"
out=$(KTP_PKI=$PKI KTP_CORPUS_OUT=$MINTED "$KTPROXY_BUILD/tests/test_corpus" "$CORPUS" "$TIMED" 2>&1)
rc=$?
summary=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -n 1)
if [ "$rc" = 0 ] && [[ "$summary" == *" 0 failed" ]]; then
	pass "test_corpus: ${summary#*: }"
else
	fail "test_corpus (exit $rc): ${summary:-no summary}" "$(printf '%s\n' "$out" | grep -v ' passed, ' | head -n 20)"
fi
minted_pairs=()
while IFS=$'\t' read -r c what; do
	[ -n "$c" ] && [ -z "${UNFORGED[$c]:-}" ] && minted_pairs+=("$CORPUS/$c.crt" "$MINTED/$c.pem")
done < "$CORPUS/SHAPES"
minted_pairs+=("$TIMED/short-lived.crt" "$MINTED/short-lived.pem" \
	"$TIMED/nearly-expired.crt" "$MINTED/nearly-expired.pem")
verify_all "minted in-process" "$MINTED"/*.pem
same_bytes "minted in-process" "${minted_pairs[@]}"

section "The corpus through ktproxy"
n=0
while IFS=$'\t' read -r c what; do
	[ -n "$c" ] || continue
	n=$((n + 1))
	if [ -n "${REFUSED[$c]:-}" ]; then
		refused "$CORPUS" "$c" "${REFUSED[$c]}"
	elif [ -n "${UNFORGED[$c]:-}" ]; then
		unforged "$CORPUS" "$c"
	elif [ -n "${HEADERLESS[$c]:-}" ]; then
		continue
	else
		served "$CORPUS" "$c"
	fi
done < "$CORPUS/SHAPES"
assert_ge "the corpus has its shapes ($n)" "$n" 50
wait_idle 10 || true
assert_eq "connections_active back to 0" "$(stat_get .connections_active)" 0

section "The certificates whose identity header is too large for nginx"
for c in "${!HEADERLESS[@]}"; do
	t0=$(date +%s)
	code=$(cli_curl none --cert "$CORPUS/$c.crt" --key "$CORPUS/$c.key" -o /dev/null \
		-w '%{http_code}' "$URL/whoami" 2>/dev/null)
	assert_eq "$c: its identity header is forwarded and nginx answers 400 (too large for it)" \
		"$code" 400
	assert_ge "...at once, not when the client gives up (5 s at most)" 5 $(($(date +%s) - t0))
done
ktproxy_restart --headers none || exit 1
for c in "${!HEADERLESS[@]}"; do
	served "$CORPUS" "$c"
done

section "What nginx was shown: the client's bytes, strictly verifiable"
VERIFY_AT=$shown_at verify_all "the forged certificate nginx was shown" "$FORGED"/*.pem
same_bytes "shown to nginx" "${PAIRS[@]}"

section "After short-lived has expired"
wait_s=$((short_end - $(date +%s) + 2))
if [ "$wait_s" -gt 0 ] && [ "$wait_s" -le 60 ]; then
	sleep "$wait_s"
fi
refused "$TIMED" short-lived expired
if [ "$(date +%s)" -lt $((nearly_end - 5)) ]; then
	served "$TIMED" nearly-expired
else
	skip "nearly-expired again: its 2 minutes ran out before this point (a slow run)"
fi

ktproxy_stop
