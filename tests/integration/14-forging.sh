#!/usr/bin/env bash
# 14-forging: the forging policy as the upstream sees it, and lazy minting.
#
# nginx's /cert shows the certificate it was presented (URL-encoded PEM),
# the TLS version and its verdict.  Through ktproxy with non-default
# --forge-* flags: every --forge-key-type is accepted over TLS 1.2 and 1.3;
# --forge-serial copy repeats the client's serial; --forge-lifetime sets
# notAfter, never past the client's; the client's extensions are copied as
# the policy says (EKU made fit for a client, further OIDs, none at all),
# with --forge-origin-ext naming the original certificate; a delegation CA
# below a root that nginx alone trusts works only with --delegation-chain;
# and an upstream that sends no CertificateRequest gets no certificate and
# costs no signature (forged_not_requested, forged=not_requested).
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up

# cert_curl CERT KEY [curl args...]: cli_curl with a certificate made here
cert_curl() {
	local crt=$1 key=$2
	shift 2
	in_cli curl -sS --max-time "$CURL_MAX_TIME" --connect-timeout "${CURL_CONNECT_TIMEOUT:-5}" \
		--resolve "server.test:443:$SRV_IP" --cacert "$PKI/proxy-ca.crt" \
		--cert "$crt" --key "$key" "$@"
}
# forged OUT: the PEM nginx was shown, from a /cert answer
forged() { field "$1" cert | urldecode; }
# epoch_of PEM WHICH: notBefore/notAfter (startdate/enddate) in seconds
epoch_of() { date -d "$(printf '%s\n' "$1" | openssl x509 -noout "-$2" | cut -d= -f2)" +%s; }
serial_of() { printf '%s\n' "$1" | openssl x509 -noout -serial | cut -d= -f2 | sed 's/^0*//'; }
text_of() { printf '%s\n' "$1" | openssl x509 -noout -text 2>&1; }
last() { wait_idle 5; connlog | tail -n 1 | grep -o " $1=[a-z_]*" | cut -d= -f2; }

# certificates made here, from the test PKI's Client CA
cnf=$RUN_DIR/forging.cnf
cat > "$cnf" <<'EOF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ root ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ intermediate ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ plain ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = URI:spiffe://example.test/short
[ rich ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth, emailProtection, serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = URI:spiffe://example.test/rich, DNS:rich.example.test
certificatePolicies = 1.3.6.1.4.1.99999.1.2
1.3.6.1.4.1.99999.7 = ASN1:UTF8String:ktproxy-test
authorityInfoAccess = OCSP;URI:http://ocsp.example.test/
EOF
# mk NAME SUBJECT CA EXT DAYS
mk() {
	openssl req -config "$cnf" -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$RUN_DIR/$1.key" -subj "$2" 2>/dev/null |
		openssl x509 -req -CA "$3.crt" -CAkey "$3.key" -set_serial "0x$(openssl rand -hex 10)" \
			-days "$5" -sha256 -extfile "$cnf" -extensions "$4" -out "$RUN_DIR/$1.crt" 2>/dev/null
}
mk short "/O=Example Corp/CN=short" "$PKI/client-ca" plain 1
mk rich "/O=Example Corp/CN=rich" "$PKI/client-ca" rich 30
openssl req -config "$cnf" -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$RUN_DIR/root.key" -subj "/O=Example Corp/CN=Forging Root CA" -days 30 \
	-extensions root -out "$RUN_DIR/root.crt" 2>/dev/null
mk mid "/O=Example Corp/CN=Intermediate Delegation CA" "$RUN_DIR/root" intermediate 30
for f in short rich root mid; do
	[ -s "$RUN_DIR/$f.crt" ] || { fail "make $f.crt"; exit 1; }
done

section "Every key type, over TLS 1.2 and 1.3"
declare -A want=([p256]="NIST CURVE: P-256" [p384]="NIST CURVE: P-384"
	[rsa2048]="Public-Key: (2048 bit)" [rsa3072]="Public-Key: (3072 bit)"
	[ed25519]="Public Key Algorithm: ED25519")
for proto in TLSv1.2 TLSv1.3; do
	upstream_protocols "$proto" || fail "nginx restart ($proto)"
	for t in p256 p384 rsa2048 rsa3072 ed25519; do
		ktproxy_restart --forge-key-type "$t" || continue
		out=$(cli_curl alice "$URL/cert")
		pem=$(forged "$out")
		assert_eq "$t, $proto: nginx verified the forged certificate" "$(field "$out" verify)" SUCCESS
		assert_eq "$t, $proto: spoken over $proto" "$(field "$out" protocol)" "$proto"
		assert_contains "$t, $proto: its key is $t" "$(text_of "$pem")" "${want[$t]}"
		assert_eq "$t, $proto: alice's subject" \
			"$(printf '%s\n' "$pem" | openssl x509 -noout -subject -nameopt RFC2253 | sed 's/^subject=//')" \
			"$(subject_of alice)"
		assert_eq "$t, $proto: minted for it" "$(last forged)" minted
	done
done
upstream_protocols "TLSv1.2 TLSv1.3" || fail "nginx restart"

section "--forge-serial copy, --forge-lifetime"
ktproxy_restart --forge-serial copy --forge-lifetime 2h || exit 1
out=$(cli_curl alice "$URL/cert")
pem=$(forged "$out")
now=$(date +%s)
assert_eq "nginx sees alice's own serial" "$(field "$out" serial | sed 's/^0*//')" \
	"$(openssl x509 -in "$PKI/alice.crt" -noout -serial | cut -d= -f2 | sed 's/^0*//')"
assert_eq "...in the certificate itself" "$(serial_of "$pem")" \
	"$(openssl x509 -in "$PKI/alice.crt" -noout -serial | cut -d= -f2 | sed 's/^0*//')"
na=$(epoch_of "$pem" enddate); nb=$(epoch_of "$pem" startdate)
# notBefore: 5 minutes back for clock skew, but never before alice's own
# (a freshly made test PKI has an alice younger than that)
a_nb=$(epoch_of "$(cat "$PKI/alice.crt")" startdate)
want_nb=$((now - 300)); [ "$a_nb" -gt "$want_nb" ] && want_nb=$a_nb
d=$((nb - want_nb))
if [ "${d#-}" -le 5 ]; then pass "notBefore 5 minutes back, or alice's own if later"
else fail "notBefore 5 minutes back, or alice's own if later" "off by $d s"; fi
left=$((na - now))
if [ "$left" -gt 7000 ] && [ "$left" -le 7200 ]; then pass "notAfter is 2h from now ($left s)"
else fail "notAfter is 2h from now" "$left s"; fi
ktproxy_restart --forge-lifetime 3d || exit 1
pem=$(forged "$(cli_curl alice "$URL/cert")")
left=$(( $(epoch_of "$pem" enddate) - $(date +%s) ))
if [ "$left" -gt $((3 * 86400 - 200)) ] && [ "$left" -le $((3 * 86400)) ]; then
	pass "--forge-lifetime 3d: the signer signs 3 days ($left s)"
else
	fail "--forge-lifetime 3d: the signer signs 3 days" "$left s"
fi
out=$(cert_curl "$RUN_DIR/short.crt" "$RUN_DIR/short.key" "$URL/cert")
pem=$(forged "$out")
assert_eq "a client certificate with a day left: verified" "$(field "$out" verify)" SUCCESS
assert_eq "...and the forged one ends when it does, not 3 days on" \
	"$(epoch_of "$pem" enddate)" "$(epoch_of "$(cat "$RUN_DIR/short.crt")" enddate)"
assert_ne "the random serial by default" "$(serial_of "$pem")" \
	"$(openssl x509 -in "$RUN_DIR/short.crt" -noout -serial | cut -d= -f2 | sed 's/^0*//')"

section "Extensions copied"
ktproxy_restart || exit 1
out=$(cert_curl "$RUN_DIR/rich.crt" "$RUN_DIR/rich.key" "$URL/cert")
pem=$(forged "$out"); text=$(text_of "$pem")
assert_eq "rich: verified by nginx" "$(field "$out" verify)" SUCCESS
assert_contains "default: the client's EKU, clientAuth kept, emailProtection copied" "$text" \
	"TLS Web Client Authentication, E-mail Protection"
assert_not_contains "...serverAuth dropped" "$text" "Server Authentication"
assert_contains "...its subjectAltName" "$text" "URI:spiffe://example.test/rich, DNS:rich.example.test"
assert_eq "...keyUsage: digitalSignature alone (a P-256 key enciphers no keys)" \
	"$(printf '%s\n' "$text" | grep -A1 'X509v3 Key Usage' | tail -n 1 | tr -d ' ')" DigitalSignature
assert_contains "...CA:FALSE" "$text" "CA:FALSE"
assert_not_contains "...no certificatePolicies" "$text" "Certificate Policies"
assert_not_contains "...no private OID" "$text" "1.3.6.1.4.1.99999.7"
assert_not_contains "...never the client CA's AIA" "$text" "Authority Information Access"
assert_not_contains "...no origin extension" "$text" "1.3.6.1.4.1.32473.5.1"

ktproxy_restart --forge-copy-oid certificatePolicies --forge-copy-oid 1.3.6.1.4.1.99999.7 \
	--forge-origin-ext || exit 1
out=$(cert_curl "$RUN_DIR/rich.crt" "$RUN_DIR/rich.key" "$URL/cert")
pem=$(forged "$out"); text=$(text_of "$pem")
assert_eq "with further OIDs: verified by nginx" "$(field "$out" verify)" SUCCESS
assert_contains "certificatePolicies copied" "$text" "Policy: 1.3.6.1.4.1.99999.1.2"
assert_contains "the private OID copied" "$text" "1.3.6.1.4.1.99999.7"
assert_contains "...with its value" "$text" "ktproxy-test"
assert_contains "the origin extension is there" "$text" "1.3.6.1.4.1.32473.5.1"
printf '%s\n' "$pem" > "$RUN_DIR/forged-rich.pem"
off=$(openssl asn1parse -in "$RUN_DIR/forged-rich.pem" |
	awk '/:1\.3\.6\.1\.4\.1\.32473\.5\.1/ { getline; sub(/:.*/, "", $1); print $1; exit }')
origin=$(openssl asn1parse -in "$RUN_DIR/forged-rich.pem" -strparse "$off" 2>&1)
assert_eq "origin: SEQUENCE { OCTET STRING, Name, INTEGER }" \
	"$(printf '%s\n' "$origin" | awk '$1 ~ /:d=1$/ { sub(/.*(prim|cons): */, ""); sub(/ *(\[HEX DUMP\])?:.*/, ""); sub(/ +$/, ""); print }' | tr '\n' ',')" \
	"OCTET STRING,SEQUENCE,INTEGER,"
assert_contains "origin: the client certificate's SHA-256" "$origin" \
	"$(openssl x509 -in "$RUN_DIR/rich.crt" -outform DER | sha256sum | cut -d' ' -f1 | tr a-f A-F)"
assert_contains "origin: its issuer" "$origin" ":Client CA"
assert_eq "origin: its serial" \
	"$(printf '%s\n' "$origin" | awk '/d=1 .*INTEGER/ { sub(/.*:/, ""); print }' | sed 's/^0*//')" \
	"$(openssl x509 -in "$RUN_DIR/rich.crt" -noout -serial | cut -d= -f2 | sed 's/^0*//')"

ktproxy_restart --forge-extensions none || exit 1
out=$(cli_curl alice "$URL/cert")
text=$(text_of "$(forged "$out")")
assert_eq "--forge-extensions none: still verified" "$(field "$out" verify)" SUCCESS
assert_not_contains "...without alice's subjectAltName" "$text" "Subject Alternative Name"
assert_contains "...with clientAuth of our own" "$text" "TLS Web Client Authentication"

section "--delegation-chain: a delegation CA below a root nginx trusts"
UP_CLIENT_CA=$RUN_DIR/root.crt
mid=(--delegation-ca "$RUN_DIR/mid.crt" --delegation-key "$RUN_DIR/mid.key")
for proto in TLSv1.2 TLSv1.3; do
	upstream_protocols "$proto" || fail "nginx restart ($proto)"
	ktproxy_restart "${mid[@]}" --delegation-chain "$RUN_DIR/mid.crt" || continue
	out=$(cli_curl alice "$URL/cert")
	assert_eq "$proto, with the chain: nginx verified alice up to the root" "$(field "$out" verify)" SUCCESS
	assert_contains "$proto: issued by the intermediate" \
		"$(printf '%s\n' "$(forged "$out")" | openssl x509 -noout -issuer)" "Intermediate Delegation CA"
	ktproxy_restart "${mid[@]}" || continue
	assert_eq "$proto, no chain: nginx cannot build the path (400)" \
		"$(cli_curl alice -o /dev/null -w '%{http_code}' "$URL/cert")" 400
done
UP_CLIENT_CA=
upstream_protocols "TLSv1.2 TLSv1.3" || fail "nginx restart"
ktproxy_stop
out=$(timeout 20 "$KTPROXY_BUILD/ktproxy" -c /dev/null --listen 127.0.0.1:18443 \
	--server-cert "$PKI/proxy.crt" --server-key "$PKI/proxy.key" --client-ca "$PKI/client-ca.crt" \
	"${mid[@]}" --upstream-ca "$PKI/upstream-ca.crt" --delegation-chain "$PKI/proxy-ca.crt" --check 2>&1)
assert_eq "--check refuses a chain file that does not lead up from the delegation CA" "$?" 1
assert_contains "...and says so" "$out" "is not a CA that issued the --delegation-ca"

section "Lazy minting: an upstream that asks for no certificate"
UP_VERIFY_CLIENT=off upstream_reconfigure || fail "nginx restart (verify off)"
ktproxy_start || exit 1
for c in alice bob client-001; do
	out=$(cli_curl "$c" "$URL/cert")
	assert_eq "$c: answered, no certificate asked for" "$(field "$out" verify)" NONE
done
wait_idle 5
assert_eq "nothing minted" "$(stat_get .forged_minted)" 0
assert_eq "nothing served from the cache either" "$(stat_get .forged_cache_hits)" 0
assert_eq "three upstream handshakes without a CertificateRequest" "$(stat_get .forged_not_requested)" 3
assert_eq "the log says so: forged=not_requested" "$(connlog_count 'forged=not_requested')" 3
assert_contains "ktproxy-stat shows forged_not_requested" \
	"$(in_gw "$KTPROXY_BUILD/ktproxy-stat" --stats "$KTP_STATS" 2>&1)" "forged_not_requested"
upstream_reconfigure || fail "nginx restart (verify on)"
out=$(cli_curl alice "$URL/cert")
assert_eq "the upstream asks now: alice verified" "$(field "$out" verify)" SUCCESS
assert_eq "...one certificate minted, on demand" "$(stat_get .forged_minted)" 1
assert_eq "...logged as minted" "$(last forged)" minted

ktproxy_stop
