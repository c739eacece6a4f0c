#!/usr/bin/env bash
# 00-harness: proves the test rig without ktproxy, so a failure in the other
# scripts points at the daemon, not at the PKI, namespaces, nginx or backend.
#
#   - mkpki: every certificate verifies (or fails) the way the tests assume
#   - nginx, reached directly with certificates from the Delegation CA,
#     prints subjects exactly as mkpki's subjects.txt says (the identity
#     tests compare against that file), refuses Client-CA certificates, and
#     passes spoofed identity headers through (so the spoofing tests are
#     meaningful); /big and /upload are byte-exact
#   - the TPROXY rule steers client connections to a transparent listener
#     on the gateway, which sees the original destination
#   - teardown leaves no namespace and no process behind
. "$(dirname "$0")/../lib/common"
need_root

section "PKI"
"$TESTS_DIR/lib/mkpki" "$PKI" 50 || { fail "mkpki"; exit 1; }
verify() { openssl verify -CAfile "$PKI/$1" -CRLfile "$PKI/crl.pem" -crl_check "$PKI/$2.crt" 2>&1; }
for c in alice bob multi unicode client-001 client-050; do
	check "$c verifies against the Client CA and CRL" verify client-ca.crt "$c"
done
assert_contains "expired is expired" "$(verify client-ca.crt expired)" "certificate has expired"
assert_contains "notyet is not yet valid" "$(verify client-ca.crt notyet)" "certificate is not yet valid"
assert_contains "revoked is revoked" "$(verify client-ca.crt revoked)" "certificate revoked"
assert_contains "wrongca is not from the Client CA" "$(verify client-ca.crt wrongca)" "unable to get local issuer certificate"
for c in direct direct-multi direct-unicode; do
	check "$c verifies against the Delegation CA" openssl verify -CAfile "$PKI/delegation-ca.crt" "$PKI/$c.crt"
done
check "server.crt verifies against the Upstream CA" openssl verify -CAfile "$PKI/upstream-ca.crt" "$PKI/server.crt"
check "proxy.crt verifies against the Proxy CA" openssl verify -CAfile "$PKI/proxy-ca.crt" "$PKI/proxy.crt"
assert_eq "CRL lists exactly revoked's serial" \
	"$(openssl crl -in "$PKI/crl.pem" -noout -text | awk '/Serial Number:/ {print $3}')" \
	"$(openssl x509 -in "$PKI/revoked.crt" -noout -serial | cut -d= -f2)"
check "CRL is current" openssl verify -CAfile "$PKI/client-ca.crt" -CRLfile "$PKI/crl.pem" -crl_check "$PKI/alice.crt"
assert_eq "multi has a multi-valued RDN" "$(subject_of multi)" "CN=multi+OU=Ops,O=Example"
assert_eq "unicode subject in UTF-8" "$(subject_utf8 unicode)" "CN=Zoë Ångström,O=Example Corp"
assert_match "alice's SANs" "$(openssl x509 -in "$PKI/alice.crt" -noout -ext subjectAltName)" \
	'URI:spiffe://example.test/alice, DNS:alice.example.test, email:alice@example.test, IP Address:10.77.1.2'
[ -f "$PKI/client-050.crt" ] && pass "50 numbered clients" || fail "50 numbered clients"

section "Topology and upstream (no ktproxy: the client talks to nginx directly)"
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ktp-test.XXXXXX")
topo_up || { fail "topology set-up"; exit 1; }
ktp_on_exit common__cleanup
ktp_on_exit common__show_logs
upstream_start "$PKI" || { fail "upstream start"; exit 1; }
pass "namespaces $NS_CLI, $NS_GW, $NS_SRV; nginx and backend up"
assert_eq "gateway forwards" "$(in_gw sysctl -n net.ipv4.ip_forward)" 1

CLI_CA=$PKI/upstream-ca.crt
for c in direct direct-multi direct-unicode; do
	out=$(cli_curl "$c" "$URL/whoami")
	assert_eq "nginx sees $c's subject as subjects.txt says" "$(field "$out" subject)" "$(subject_of "$c")"
	assert_eq "nginx verified $c" "$(field "$out" verify)" SUCCESS
done
assert_eq "issuer as nginx prints it" "$(field "$out" issuer)" "$(issuer_of_ca delegation-ca)"

before=$(upstream_requests)
out=$(cli_curl alice -o /dev/null -w '%{http_code}' "$URL/whoami")
assert_eq "nginx refuses a Client-CA certificate (only forged ones get in)" "$out" 400
assert_eq "access log counts requests" "$(upstream_requests)" $((before + 1))
assert_contains "access log records the verify result" "$(tail -n 1 "$UP_ACCESS_LOG")" "verify=FAILED"
out=$(cli_curl none -o /dev/null -w '%{http_code}' "$URL/whoami")
assert_eq "nginx refuses no certificate" "$out" 400

out=$(cli_curl direct "$URL/echo-headers" -H 'X-Forwarded-Client-Cert: Hash=spoof;Subject="CN=evil"' \
	-H 'X-Amzn-Mtls-Clientcert-Subject: CN=evil' -H 'Client-Cert: :ZXZpbA==:' -H 'Client-Cert-Chain: :ZXZpbA==:')
assert_contains "spoofed XFCC passes nginx untouched" "$out" 'header: X-Forwarded-Client-Cert: Hash=spoof;Subject="CN=evil"'
assert_contains "spoofed X-Amzn-Mtls-* passes nginx" "$out" 'header: X-Amzn-Mtls-Clientcert-Subject: CN=evil'
assert_contains "spoofed Client-Cert passes nginx" "$out" 'header: Client-Cert: :ZXZpbA==:'
assert_contains "spoofed Client-Cert-Chain passes nginx" "$out" 'header: Client-Cert-Chain: :ZXZpbA==:'
assert_contains "nginx tells the backend the client subject" "$out" "header: X-Ssl-Client-S-Dn: $(subject_of direct)"

out=$(cli_curl direct "$URL/whoami" -H 'X-Forwarded-Client-Cert: By=x;Hash=abc' -H 'X-Amzn-Mtls-Clientcert-Subject: CN=x' -H 'Client-Cert: :eA==:')
assert_eq "/whoami shows xfcc" "$(field "$out" xfcc)" "By=x;Hash=abc"
assert_eq "/whoami shows amzn_subject" "$(field "$out" amzn_subject)" "CN=x"
assert_eq "/whoami shows client_cert" "$(field "$out" client_cert)" ":eA==:"

t0=$(date +%s.%N)
got=$(cli_curl direct "$URL/big" | sha256sum | cut -d' ' -f1)
assert_eq "32 MiB download is byte-exact" "$got" "$UP_BIG_SHA256"
out=$(cli_curl direct --data-binary "@$UP_BIG" -H 'Content-Type: application/octet-stream' "$URL/upload")
assert_eq "32 MiB upload (Content-Length): backend sha256" "$(field "$out" body_sha256)" "$UP_BIG_SHA256"
out=$(cli_curl direct --data-binary "@$UP_BIG" -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/octet-stream' "$URL/upload")
assert_eq "32 MiB upload (chunked): backend sha256" "$(field "$out" body_sha256)" "$UP_BIG_SHA256"
assert_eq "backend saw the whole body" "$(field "$out" body_length)" $((UP_BIG_MIB * 1024 * 1024))
printf '        (bulk transfers: %.1f s)\n' "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')"

printf 'GET /echo-headers HTTP/1.1\r\nHost: server.test\r\nX-Forwarded-Client-Cert: one\r\n\r\nGET /whoami HTTP/1.1\r\nHost: server.test\r\nConnection: close\r\n\r\n' > "$RUN_DIR/pipe.req"
out=$(cli_raw direct < "$RUN_DIR/pipe.req")
assert_eq "raw pipelined requests over s_client: two responses" "$(printf '%s' "$out" | grep -c '^HTTP/1.1 200')" 2

section "TPROXY steering (a transparent stand-in listener on :$TPROXY_PORT)"
topo_tproxy_on || fail "TPROXY rules"
cat > "$RUN_DIR/tp.py" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_IP, 19, 1)  # IP_TRANSPARENT
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8)
print("ready", flush=True)
s.settimeout(15)
c, peer = s.accept()
dst = c.getsockname()
c.sendall(f"peer={peer[0]} dst={dst[0]}:{dst[1]}\n".encode())
c.close()
EOF
ip netns exec "$NS_GW" python3 "$RUN_DIR/tp.py" "$TPROXY_PORT" > "$RUN_DIR/tp.out" 2>&1 &
tp_pid=$!
for i in $(seq 1 50); do grep -q ready "$RUN_DIR/tp.out" && break; sleep 0.1; done
out=$(in_cli timeout 5 python3 -c '
import socket
c = socket.create_connection(("10.77.2.2", 443), timeout=5)
print(c.recv(200).decode().strip())')
assert_eq "connection to $SRV_IP:443 lands on the gateway listener with its original destination" \
	"$out" "peer=$CLI_IP dst=$SRV_IP:443"
wait "$tp_pid" 2>/dev/null
topo_tproxy_off
out=$(cli_curl direct -o /dev/null -w '%{http_code}' "$URL/whoami")
assert_eq "without the rule the client reaches nginx again" "$out" 200

section "Teardown leaves nothing behind"
(
	TOPO_PREFIX=ktp-$$-td
	NS_CLI=$TOPO_PREFIX-cli NS_GW=$TOPO_PREFIX-gw NS_SRV=$TOPO_PREFIX-srv
	KTP_EXIT_HOOKS=()
	topo_up >/dev/null 2>&1 || exit 1
	ip netns exec "$NS_SRV" sleep 300 &
	echo $! > "$RUN_DIR/td.pid"
	exit 0
) 
pid=$(cat "$RUN_DIR/td.pid" 2>/dev/null)
assert_eq "no namespaces of a finished topology left" "$(ip netns list | grep -c "^ktp-$$-td-" || true)" 0
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
	fail "process started in a finished topology still runs (pid $pid)"
	kill "$pid" 2>/dev/null
else
	pass "processes of a finished topology were killed"
fi
