#!/usr/bin/env bash
# 08-listeners: two listener blocks in one daemon, each with its own trust,
# allow list and header format.  Listener "inner" (the usual port) trusts
# the Client CA, checks its CRL, lets in only alice and sends XFCC;
# listener "partner" (the next port) trusts the Other CA, lets in anyone
# it verified and sends RFC 9440 Client-Cert.  The gateway steers the
# client's connections to the server by source port: from 50000-50999 to
# "partner", the rest to "inner" (both keep 10.77.2.2:443 as the original
# destination).  A client let in on one listener is refused on the other,
# even right after its verdict was remembered there; each connection's log
# line names its listener; SIGHUP with a new allow list for one listener
# applies to that one only.
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
steer_tproxy_only "it steers to its second listener by source port with its own nftables rules (sk_lookup steers to the first listener)"
env_up
PORT2=$((TPROXY_PORT + 1))
CONF=$RUN_DIR/listeners.conf
KTP_STATS=$RUN_DIR/lis.stats
KTP_CONNLOG=$RUN_DIR/lis.conn.log

# The steering: the test's own table, replacing topo_tproxy_on's (same name,
# so topo_tproxy_off removes it), a rule for "partner" before the one for
# "inner".
in_gw nft delete table ip ktproxy_test
in_gw nft -f - <<EOF || { fail "two TPROXY rules"; exit 1; }
table ip ktproxy_test {
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		meta l4proto tcp socket transparent 1 meta mark set $TPROXY_MARK accept
		iifname "$VETH_GW_CLI" ip daddr $SRV_IP tcp dport 443 tcp sport 50000-50999 tproxy ip to :$PORT2 meta mark set $TPROXY_MARK accept
		iifname "$VETH_GW_CLI" ip daddr $SRV_IP tcp dport 443 tproxy ip to :$TPROXY_PORT meta mark set $TPROXY_MARK accept
	}
}
EOF

cat > "$CONF" <<EOF
# the daemon's
server-cert     $PKI/proxy.crt
server-key      $PKI/proxy.key
delegation-ca   $PKI/delegation-ca.crt
delegation-key  $PKI/delegation-ca.key
upstream-ca     $PKI/upstream-ca.crt
stats           $KTP_STATS
log             $KTP_CONNLOG
workers         1   # one forge cache: a remembered verdict is always at hand
drain-timeout   5
client-ca       $PKI/client-ca.crt   # inner's, inherited

listener inner {
	listen  0.0.0.0:$TPROXY_PORT
	crl     $PKI/crl.pem
	allow   uri:spiffe://example.test/alice
}
listener partner {
	listen    0.0.0.0:$PORT2
	client-ca $PKI/other-ca.crt
	headers   rfc9440
}
EOF
chmod 600 "$CONF"

# on LISTENER IDENT: the upstream's answer to IDENT's request through LISTENER
on() {
	local lis=$1 ident=$2
	if [ "$lis" = partner ]; then
		cli_curl "$ident" --local-port 50000-50999 "$URL/whoami" 2>/dev/null
	else
		cli_curl "$ident" "$URL/whoami" 2>/dev/null
	fi
}
# subject_on LISTENER IDENT: the subject the upstream saw (empty: refused)
subject_on() { field "$(on "$1" "$2")" subject; }
# last_log: the connection log's last line
last_log() { connlog | tail -n 1; }

section "Two listeners, each with its own trust, allow list and headers"
run_check=$("$KTPROXY_BUILD/ktproxy" -c "$CONF" --check 2>&1)
assert_eq "ktproxy --check: the file is good" "$run_check" "configuration OK"
ktproxy_start_bare -c "$CONF" || exit 1
assert_contains "it says both listeners" "$(cat "$KTP_STDERR")" \
	"listening on inner 0.0.0.0:$TPROXY_PORT, partner 0.0.0.0:$PORT2"
out=$(on inner alice)
assert_eq "inner: alice (Client CA, allowed) is served as herself" "$(field "$out" subject)" \
	"$(subject_of alice)"
assert_contains "...with inner's XFCC" "$(field "$out" xfcc)" "Hash="
assert_eq "...and no Client-Cert" "$(field "$out" client_cert)" ""
assert_contains "...logged as inner's" "$(last_log)" "listener=inner"
assert_eq "inner: bob (Client CA, not in inner's allow list) is refused" "$(subject_on inner bob)" ""
assert_contains "...as not allowed, on inner" "$(last_log)" "listener=inner"
assert_contains "...(reason)" "$(last_log)" "reason=client_not_allowed"
assert_eq "inner: wrongca (Other CA, which inner does not trust) is refused" \
	"$(subject_on inner wrongca)" ""

out=$(on partner wrongca)
assert_eq "partner: wrongca (Other CA) is served" "$(field "$out" subject)" "$(subject_of wrongca)"
assert_match "...with partner's Client-Cert (rfc9440)" "$(field "$out" client_cert)" '^:[A-Za-z0-9+/=]*:$'
assert_eq "...and no XFCC" "$(field "$out" xfcc)" ""
assert_contains "...logged as partner's" "$(last_log)" "listener=partner"

section "A client let in on one listener is judged by the other's trust there"
assert_eq "alice, just verified and remembered on inner, is refused on partner" \
	"$(subject_on partner alice)" ""
assert_contains "...on partner" "$(last_log)" "listener=partner"
assert_contains "...for her CA, which partner does not trust" "$(last_log)" "result=error"
assert_eq "wrongca, just let in on partner, is still refused on inner" "$(subject_on inner wrongca)" ""
assert_eq "...and alice is still served on inner" "$(subject_on inner alice)" "$(subject_of alice)"
assert_eq "a remembered verdict served only inner's own clients" \
	"$(connlog | grep -c 'listener=partner.*CN=alice.*result=ok')" 0

section "SIGHUP: a new allow list for one listener applies to that one"
sed -i "s|^	headers   rfc9440|	headers   rfc9440\n	allow     subject:CN=nobody,*|" "$CONF"
assert_eq "partner lets in only CN=nobody now: reloaded" "$(ktproxy_hup)" reloaded
assert_eq "partner: wrongca is refused now" "$(subject_on partner wrongca)" ""
assert_contains "...as not allowed" "$(last_log)" "reason=client_not_allowed"
assert_eq "inner: alice is served as before" "$(subject_on inner alice)" "$(subject_of alice)"

sed -i "s|^	listen    0.0.0.0:$PORT2|	listen    0.0.0.0:$((PORT2 + 1))|" "$CONF"
assert_eq "a listener moved to another port: the reload is refused" "$(ktproxy_hup)" refused
assert_contains "...saying it takes a restart" "$(cat "$KTP_STDERR")" \
	"the listeners changed (added, removed, renamed, reordered or moved to another address), which takes a restart"
assert_eq "...and inner goes on" "$(subject_on inner alice)" "$(subject_of alice)"
ktproxy_stop

section "The JSON connection log names the listener too"
sed -i -e "s|^	listen    0.0.0.0:$((PORT2 + 1))|	listen    0.0.0.0:$PORT2|" \
	-e '/^	allow     subject:CN=nobody/d' "$CONF"
echo "log-format      json" >> "$CONF"
KTP_CONNLOG=$RUN_DIR/lis.json.log
sed -i "s|^log .*|log             $KTP_CONNLOG|" "$CONF"
ktproxy_start_bare -c "$CONF" || exit 1
on inner alice > /dev/null
assert_contains "inner's connection: \"listener\":\"inner\"" "$(last_log)" '"listener":"inner"'
on partner bob > /dev/null
assert_contains "partner's: \"listener\":\"partner\"" "$(last_log)" '"listener":"partner"'
# Each listener's server context gets kTLS where the kernel has it: the
# VM (tests/vm) proves the second listener's connections are spliced too.
want_path=userspace
grep -q 'kTLS on' "$KTP_STDERR" && want_path=ktls
[ "${KTP_IN_VM:-0}" = 1 ] && assert_eq "the VM kernel has kTLS and ktproxy uses it" "$want_path" ktls
on partner wrongca > /dev/null
assert_contains "partner's connection took the $want_path path" "$(last_log)" "\"path\":\"$want_path\""
assert_contains "...and inner's" "$(grep '"listener":"inner"' "$KTP_CONNLOG" | tail -n 1)" "\"path\":\"$want_path\""
ktproxy_stop

assert_summary
