#!/usr/bin/env bash
# 78-reload: SIGHUP loads every file again, atomically, without dropping
# anything established.
#
#   - a new server certificate is what the next client sees, while a
#     download begun before the reload finishes byte-exact
#   - a bad new file (a key that does not match, a CRL that is not one)
#     leaves the running configuration as it was, says why, and counts
#     reloads{failed}
#   - a CRL swapped under load: the newly revoked client is refused on its
#     next connection (its download under way finishes), the upstream
#     connection kept for it is closed, and a client making requests all
#     along never sees an error
#   - a new delegation CA and key: a new signer loads the key, the old one
#     goes, and the next forged certificate is the new CA's; a CA whose key
#     does not match is refused and minting goes on with the old one
#
# Two workers, so the handover reaches more than one; the daemon reads
# copies of the files in the run directory, which the test replaces.
KTPROXY_WORKERS=2
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up

F=$RUN_DIR/files
mkdir -p "$F"
for f in proxy.crt proxy.key crl.pem delegation-ca.crt delegation-ca.key; do
	install -m 0600 "$PKI/$f" "$F/$f"
done
# A copy of the Client CA's database, to revoke bob in a CRL of our own.
W=$RUN_DIR/pki
mkdir -p "$W"
cp -a "$PKI/.ca" "$PKI/client-ca.crt" "$PKI/client-ca.key" "$PKI/bob.crt" "$PKI/proxy-ca.crt" \
	"$PKI/proxy-ca.key" "$W/"
in_w() { (cd "$W" && "$@"); }
CNF=.ca/openssl.cnf

daemon_flags=(--server-cert "$F/proxy.crt" --server-key "$F/proxy.key" --crl "$F/crl.pem"
	--delegation-ca "$F/delegation-ca.crt" --delegation-key "$F/delegation-ca.key")
ktproxy_start "${daemon_flags[@]}" || exit 1

proxy_serial() {
	in_cli timeout 10 openssl s_client -connect "$SRV_IP:443" -servername server.test \
		-cert "$PKI/alice.crt" -key "$PKI/alice.key" </dev/null 2>/dev/null |
		openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
code() { cli_curl "$1" -o /dev/null -w '%{http_code}' "$URL/whoami" 2>/dev/null; }
# download IDENT OUTFILE: /big at 8 MB/s in the background (about 4 s),
# its SHA-256 (or "failed") into OUTFILE; DL_PID to wait for (never a bare
# `wait`: ktproxy is a background job too).
download() {
	( out=$(cli_curl "$1" --limit-rate 8M "$URL/big" | sha256sum | cut -d' ' -f1)
	  [ "${PIPESTATUS[0]}" = 0 ] || out=failed
	  echo "$out" > "$2" ) &
	DL_PID=$!
}
signer_pid() { pgrep -P "$KTP_PID" -x ktproxy-signer | head -n 1; }

section "A new server certificate, an established download untouched"
old_serial=$(proxy_serial)
assert_match "clients see the first proxy certificate" "$old_serial" '^[0-9A-F]+$'
in_w openssl req -config "$CNF" -new -key "$F/proxy.key" -subj "/O=Example Corp/CN=server.test" \
	-out proxy2.csr 2>/dev/null
in_w openssl x509 -req -in proxy2.csr -CA proxy-ca.crt -CAkey proxy-ca.key -set_serial 0x5e1e17ed \
	-days 30 -sha256 -extfile "$CNF" -extensions server -out proxy2.crt 2>/dev/null
download alice "$RUN_DIR/dl1"
wait_for_active 1 || fail "the download did not start"
cp "$W/proxy2.crt" "$F/proxy.crt"
assert_eq "SIGHUP reloads" "$(ktproxy_hup)" reloaded
assert_contains "...and says established connections are untouched" "$(cat "$KTP_STDERR")" \
	"generation 2); delegation CA and key unchanged"
assert_eq "the next client sees the new certificate" "$(proxy_serial)" 5E1E17ED
assert_eq "reloads{ok} counted" "$(stat_get .reloads.ok)" 1
wait "$DL_PID"
assert_eq "the download begun before the reload is byte-exact" "$(cat "$RUN_DIR/dl1")" "$UP_BIG_SHA256"
assert_eq "alice still gets in" "$(code alice)" 200

section "A bad file leaves the running configuration"
cp "$PKI/alice.key" "$F/proxy.key"
assert_eq "a key that does not match the certificate: refused" "$(ktproxy_hup)" refused
assert_contains "...saying which" "$(cat "$KTP_STDERR")" "--server-key $F/proxy.key does not match"
assert_contains "...and that nothing changed" "$(cat "$KTP_STDERR")" "still running generation 2, unchanged"
assert_eq "reloads{failed} counted" "$(stat_get .reloads.failed)" 1
assert_eq "clients still see the running certificate" "$(proxy_serial)" 5E1E17ED
assert_eq "...and get through" "$(code bob)" 200
install -m 0600 "$PKI/proxy.key" "$F/proxy.key"
echo "not a CRL" > "$F/crl.pem"
assert_eq "a CRL file that is no CRL: refused" "$(ktproxy_hup)" refused
assert_contains "...saying which" "$(cat "$KTP_STDERR")" "--crl: cannot load CRLs from $F/crl.pem"
assert_eq "reloads{failed} is 2" "$(stat_get .reloads.failed)" 2
assert_eq "the revoked certificate is still refused" "$(code revoked)" 000
install -m 0600 "$PKI/crl.pem" "$F/crl.pem"
assert_eq "good files again: reloaded" "$(ktproxy_hup)" reloaded

section "A CRL swapped under load"
# bob's upstream connection is kept when he leaves; a second worker may
# hold one too, so count what each kept.
assert_eq "bob gets in before" "$(code bob)" 200
assert_eq "...twice" "$(code bob)" 200
kept=$(stat_get .upstream_keepalive_idle)
assert_ge "bob's upstream connections are kept" "$kept" 1
in_w openssl ca -config "$CNF" -revoke bob.crt -crl_reason keyCompromise >/dev/null 2>&1
in_w openssl ca -config "$CNF" -gencrl -crldays 30 -out crl2.pem 2>/dev/null
assert_contains "the new CRL lists bob" "$(openssl crl -in "$W/crl2.pem" -noout -text)" \
	"$(openssl x509 -in "$PKI/bob.crt" -noout -serial | cut -d= -f2)"
# alice: 40 requests, one connection each, before, during and after; and
# ktp-load's fresh handshakes across 50 other identities, 4 at a time,
# for 4 s around the swap
( for i in $(seq 1 40); do code alice; echo; done > "$RUN_DIR/alice-codes" ) &
load=$!
( in_cli "$KTPROXY_BUILD/ktp-load" --connect "$SRV_IP:443" --sni server.test \
	--ca "$PKI/proxy-ca.crt" --cert "$PKI/client-001.crt" --key "$PKI/client-001.key" \
	--certs-glob "$PKI/client-[0-9]*.crt" --path /whoami --mode handshake --concurrency 4 \
	--duration 4 --json > "$RUN_DIR/load.json" 2>&1 ) &
hs_load=$!
download bob "$RUN_DIR/dl-bob"
wait_for_active 1 || fail "bob's download did not start"
# the download may have taken bob's kept connection: one more visit
# leaves one in a pool for certain
assert_eq "bob visits while his download runs" "$(code bob)" 200
rev0=$(stat_get .client_handshake_failures.revoked)
log0=$(connlog_count 'subject="CN=bob,O=Example Corp".*reason=client_cert_revoked')
sleep 0.5
cp "$W/crl2.pem" "$F/crl.pem"
assert_eq "SIGHUP with the new CRL" "$(ktproxy_hup)" reloaded
refused=0
for i in 1 2 3 4 5 6; do
	[ "$(code bob)" = 000 ] && refused=$((refused + 1))
done
assert_eq "bob is refused on every connection after it" "$refused" 6
assert_stat_delta "...as revoked" .client_handshake_failures.revoked "$rev0" 6
wait_idle 5
assert_eq "...named in the connection log" "$(connlog_count 'subject="CN=bob,O=Example Corp".*reason=client_cert_revoked')" $((log0 + 6))
wait "$load"
assert_eq "alice's 40 requests across the swap all answered 200" \
	"$(grep -c '^200$' "$RUN_DIR/alice-codes")" 40
wait "$hs_load"
assert_ge "ktp-load made handshakes across the swap (7 in the TCG VM)" "$(jq -r .requests "$RUN_DIR/load.json")" 4
assert_eq "...none failed" "$(jq -r .errors "$RUN_DIR/load.json")" 0
wait "$DL_PID"
assert_eq "bob's download under way when he was revoked finishes byte-exact" \
	"$(cat "$RUN_DIR/dl-bob")" "$UP_BIG_SHA256"
# Each worker forgets what it kept for bob when it refuses him: with two
# workers, a few more attempts (bounded) reach the one holding his kept
# connection.
for i in $(seq 1 20); do
	[ "$(stat_get .upstream_keepalive.revoked)" -ge 1 ] && break
	code bob >/dev/null
done
assert_ge "upstream connections kept for bob are closed when he is found revoked" \
	"$(stat_get .upstream_keepalive.revoked)" 1

section "A new delegation CA and key: a new signer"
old_signer=$(signer_pid)
in_w openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out deleg2.key 2>/dev/null
in_w openssl req -config "$CNF" -new -x509 -key deleg2.key -subj "/O=Example Corp/CN=Delegation CA 2" \
	-days 30 -extensions v3_ca -sha256 -out deleg2.crt 2>/dev/null
deleg2_dn=$(openssl x509 -in "$W/deleg2.crt" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
# The upstream trusts both CAs from now on.
cat "$PKI/delegation-ca.crt" "$W/deleg2.crt" > "$RUN_DIR/deleg-both.crt"
sed -i "s|ssl_client_certificate .*;|ssl_client_certificate $RUN_DIR/deleg-both.crt;|" "$UP_DIR/nginx.conf"
upstream_stop_nginx && upstream_start_nginx || fail "nginx restart with both delegation CAs"
out=$(cli_curl alice "$URL/whoami")
assert_eq "before: forged by the first delegation CA" "$(field "$out" issuer)" "$(issuer_of_ca delegation-ca)"
install -m 0600 "$W/deleg2.crt" "$F/delegation-ca.crt"
install -m 0600 "$W/deleg2.key" "$F/delegation-ca.key"
assert_eq "SIGHUP with the new CA and key" "$(ktproxy_hup)" reloaded
assert_contains "...a new signer loaded the key" "$(cat "$KTP_STDERR")" "changed, new signer pid"
new_signer=$(signer_pid)
assert_match "a signer runs" "$new_signer" '^[0-9]+$'
assert_ne "...another process than before" "$new_signer" "$old_signer"
check "the old signer is gone" bash -c "! kill -0 $old_signer 2>/dev/null"
out=$(cli_curl alice "$URL/whoami")
assert_eq "alice's next forged certificate is the new CA's" "$(field "$out" issuer)" "$deleg2_dn"
assert_eq "...and the upstream verified it" "$(field "$out" verify)" SUCCESS

install -m 0600 "$PKI/delegation-ca.crt" "$F/delegation-ca.crt"
assert_eq "the first CA with the second CA's key: refused" "$(ktproxy_hup)" refused
assert_contains "...the signer says the key does not match" "$(cat "$KTP_STDERR")" \
	"--delegation-key does not match the certificate in $F/delegation-ca.crt"
assert_eq "...the running signer stays" "$(signer_pid)" "$new_signer"
out=$(cli_curl multi "$URL/whoami")
assert_eq "minting goes on with the running CA" "$(field "$out" issuer)" "$deleg2_dn"
assert_eq "reloads: 4 ok, 3 failed" "$(stat_get .reloads.ok) $(stat_get .reloads.failed)" "4 3"

ktproxy_stop
assert_summary
