#!/usr/bin/env bash
# 12-headers: every --headers format, the XFCC keys and modes, and renamed
# headers, as nginx's /echo-headers backend receives them.
#
# alice connects once with her leaf alone and once with her leaf followed by
# the Client CA (a chain of two): XFCC By= (the URI SAN of a --server-cert
# made here) and Chain=, RFC 9440 Client-Cert / Client-Cert-Chain decoding to
# exactly her DER and the CA's, ALB passthrough's X-Amzn-Mtls-Clientcert,
# --header-name (and a client-sent header under the new name stripped),
# --xfcc-mode append-forward (the client's element kept in front of ours)
# and forward-only.
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up

alice_hash=$(sha256_der alice)
alice_der=$(openssl x509 -in "$PKI/alice.crt" -outform DER | base64 -w0)
ca_der=$(openssl x509 -in "$PKI/client-ca.crt" -outform DER | base64 -w0)

# ktproxy's own certificate with a URI SAN, for By=: same key, same CA
proxy_uri=spiffe://example.test/ktproxy
openssl req -new -key "$PKI/proxy.key" -subj "/CN=server.test" 2>/dev/null |
	openssl x509 -req -CA "$PKI/proxy-ca.crt" -CAkey "$PKI/proxy-ca.key" \
		-set_serial 0x4b5450 -days 2 -sha256 -out "$RUN_DIR/proxy-uri.crt" \
		-extfile <(printf 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:server.test,IP:%s,URI:%s\n' "$SRV_IP" "$proxy_uri") \
		2>/dev/null
# alice presenting her leaf and the Client CA after it
cat "$PKI/alice.crt" "$PKI/client-ca.crt" > "$RUN_DIR/alice-chain.crt"

# chain_curl [curl args...]: cli_curl as alice, sending the chain of two
chain_curl() {
	in_cli curl -sS --max-time "$CURL_MAX_TIME" --connect-timeout "${CURL_CONNECT_TIMEOUT:-5}" \
		--resolve "server.test:443:$SRV_IP" --cacert "${CLI_CA:-$PKI/proxy-ca.crt}" \
		--cert "$RUN_DIR/alice-chain.crt" --key "$PKI/alice.key" "$@"
}
# hdr TEXT NAME: the values of header NAME (any case) in an echo answer
hdr() { printf '%s\n' "$1" | awk -v n="$(printf '%s' "$2" | tr 'A-Z' 'a-z')" '
	{ l = tolower($0) } index(l, "header: " n ": ") == 1 { print substr($0, length(n) + 11) }'; }
hdr_count() { hdr "$1" "$2" | grep -c . || true; }
# pem_ders: URL-decoded PEM certificates on stdin -> base64 DER of each
pem_ders() {
	urldecode | awk -v d="$RUN_DIR/pem" '/BEGIN CERT/ { n++ } n { print > (d "." n) }'
	for f in "$RUN_DIR"/pem.*; do openssl x509 -in "$f" -outform DER | base64 -w0; echo; done
	rm -f "$RUN_DIR"/pem.*
}

section "XFCC with By and Chain"
ktproxy_start --server-cert "$RUN_DIR/proxy-uri.crt" \
	--xfcc-fields By,Hash,Cert,Chain,Subject,URI,DNS || exit 1
out=$(chain_curl "$URL/echo-headers" -H 'X-Forwarded-Client-Cert: By=spoof')
assert_eq "one XFCC" "$(hdr_count "$out" X-Forwarded-Client-Cert)" 1
xfcc=$(hdr "$out" X-Forwarded-Client-Cert)
assert_no_match "client's XFCC stripped (sanitize-set)" "$xfcc" spoof
assert_eq "By is our --server-cert's URI SAN" "$(xfcc_get "$xfcc" By)" "$proxy_uri"
assert_match "keys in Envoy's order" "$xfcc" '^By=[^;]*;Hash=[^;]*;Cert="[^"]*";Chain="[^"]*";Subject="[^"]*";URI=[^;]*;DNS='
assert_eq "Hash is alice's" "$(xfcc_get "$xfcc" Hash)" "$alice_hash"
assert_eq "Chain is alice's leaf then the Client CA" \
	"$(xfcc_get "$xfcc" Chain | pem_ders | tr '\n' ' ')" "$alice_der $ca_der "
assert_eq "Cert is the leaf alone" "$(xfcc_get "$xfcc" Cert | pem_ders)" "$alice_der"
out=$(cli_curl alice "$URL/echo-headers")
xfcc=$(hdr "$out" X-Forwarded-Client-Cert)
assert_eq "leaf alone: Chain is the leaf" "$(xfcc_get "$xfcc" Chain | pem_ders)" "$alice_der"

section "--headers rfc9440"
ktproxy_restart --headers rfc9440 || exit 1
out=$(chain_curl "$URL/echo-headers" -H 'Client-Cert: :ZXZpbA==:' -H 'X-Forwarded-Client-Cert: Hash=spoof')
assert_eq "one Client-Cert" "$(hdr_count "$out" Client-Cert)" 1
cc=$(hdr "$out" Client-Cert)
assert_match "Client-Cert is an sf-binary" "$cc" '^:[A-Za-z0-9+/=]+:$'
cc=${cc#:}; cc=${cc%:}
printf '%s' "$cc" | base64 -d > "$RUN_DIR/cc.der"
if openssl x509 -in "$PKI/alice.crt" -outform DER | cmp -s - "$RUN_DIR/cc.der"; then
	pass "Client-Cert decodes to exactly alice's DER"
else
	fail "Client-Cert decodes to exactly alice's DER" "got: $cc"
fi
assert_eq "Client-Cert-Chain is the Client CA" "$(hdr "$out" Client-Cert-Chain)" ":$ca_der:"
assert_eq "no XFCC" "$(hdr_count "$out" X-Forwarded-Client-Cert)" 0
out=$(cli_curl alice "$URL/echo-headers" -H 'Client-Cert-Chain: :ZXZpbA==:')
assert_eq "leaf alone: Client-Cert" "$(hdr "$out" Client-Cert)" ":$alice_der:"
assert_eq "leaf alone: no Client-Cert-Chain" "$(hdr_count "$out" Client-Cert-Chain)" 0

section "--headers amzn-passthrough"
ktproxy_restart --headers amzn-passthrough || exit 1
out=$(chain_curl "$URL/echo-headers" -H 'X-Amzn-Mtls-Clientcert: evil')
assert_eq "one X-Amzn-Mtls-Clientcert" "$(hdr_count "$out" X-Amzn-Mtls-Clientcert)" 1
v=$(hdr "$out" X-Amzn-Mtls-Clientcert)
assert_match "URL-encoded with +=/ safe" "$v" '^-----BEGIN%20CERTIFICATE-----%0A[-A-Za-z0-9+/=%]+$'
assert_eq "the chain, leaf first" "$(printf '%s' "$v" | pem_ders | tr '\n' ' ')" "$alice_der $ca_der "
assert_no_match "no verify-mode headers" "$out" '^header: [Xx]-[Aa]mzn-[Mm]tls-[Cc]lientcert-'

section "--header-name"
ktproxy_restart --header-name X-Forwarded-Client-Cert=X-Client-Identity || exit 1
out=$(cli_curl alice "$URL/echo-headers" -H 'X-Client-Identity: Hash=spoof' \
	-H 'x-client-identity: Hash=spoof2' -H 'X-Forwarded-Client-Cert: Hash=spoof')
assert_eq "one X-Client-Identity" "$(hdr_count "$out" X-Client-Identity)" 1
assert_eq "it is ours" "$(xfcc_get "$(hdr "$out" X-Client-Identity)" Hash)" "$alice_hash"
assert_eq "no X-Forwarded-Client-Cert" "$(hdr_count "$out" X-Forwarded-Client-Cert)" 0
assert_no_match "client-sent headers under the new name stripped" "$out" spoof

section "--xfcc-mode append-forward"
ktproxy_restart --xfcc-mode append-forward --xfcc-fields Hash,URI || exit 1
out=$(cli_curl alice "$URL/echo-headers" -H 'X-Forwarded-Client-Cert: By=spiffe://front;Hash=frontside' \
	-H 'Client-Cert: :ZXZpbA==:')
assert_eq "one XFCC" "$(hdr_count "$out" X-Forwarded-Client-Cert)" 1
assert_eq "the client's element, then ours" "$(hdr "$out" X-Forwarded-Client-Cert)" \
	"By=spiffe://front;Hash=frontside,Hash=$alice_hash;URI=spiffe://example.test/alice"
assert_eq "Client-Cert still stripped" "$(hdr_count "$out" Client-Cert)" 0
out=$(cli_curl alice "$URL/echo-headers")
assert_eq "no client XFCC: ours alone" "$(hdr "$out" X-Forwarded-Client-Cert)" \
	"Hash=$alice_hash;URI=spiffe://example.test/alice"

section "--xfcc-mode forward-only"
ktproxy_restart --xfcc-mode forward-only || exit 1
out=$(cli_curl alice "$URL/echo-headers" -H 'X-Forwarded-Client-Cert: By=spiffe://front;Hash=frontside')
assert_eq "the client's XFCC unchanged" "$(hdr "$out" X-Forwarded-Client-Cert)" "By=spiffe://front;Hash=frontside"
out=$(cli_curl alice "$URL/echo-headers")
assert_eq "no client XFCC: none" "$(hdr_count "$out" X-Forwarded-Client-Cert)" 0

section "--xfcc-mode sanitize"
ktproxy_restart --xfcc-mode sanitize || exit 1
out=$(cli_curl alice "$URL/echo-headers" -H 'X-Forwarded-Client-Cert: Hash=spoof')
assert_eq "no XFCC at all" "$(hdr_count "$out" X-Forwarded-Client-Cert)" 0

section "Renamed and append-forward"
ktproxy_restart --xfcc-mode append-forward --xfcc-fields Hash \
	--header-name X-Forwarded-Client-Cert=X-Client-Identity || exit 1
out=$(cli_curl alice "$URL/echo-headers" -H 'X-Client-Identity: Hash=front' \
	-H 'X-Forwarded-Client-Cert: Hash=spoof')
assert_eq "kept under the new name, ours after" "$(hdr "$out" X-Client-Identity)" "Hash=front,Hash=$alice_hash"
assert_no_match "the standard name is stripped" "$out" spoof

ktproxy_stop
