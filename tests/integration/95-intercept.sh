#!/usr/bin/env bash
# 95-intercept: with --intercept ktproxy installs its own TPROXY steering
# (nft table inet ktproxy, ip rule fwmark, local route) and removes it on
# SIGTERM.  Killed with -9 it leaves the table, and the intercepted port is
# dropped (fails closed), never forwarded around the proxy to the server;
# a restart replaces the stale table, --intercept-remove cleans it up.
#
# --spoof-source: the upstream sees the client's address (IPv4 and IPv6);
# the server's replies come back through the gateway, whose socket
# transparent rule hands them to ktproxy.
#
# The namespaces have no hand-made rules (env_up_bare).
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
steer_tproxy_only "it tests the TPROXY steering --intercept installs"
env_up_bare

MARK=0x6b74
TABLE=27508

# steering_state: what the gateway has of ours, one fact a line
steering_state() {
	in_gw nft list tables 2>/dev/null | grep -x 'table inet ktproxy'
	in_gw ip -4 rule show | grep -o "fwmark $MARK lookup $TABLE"
	in_gw ip -6 rule show | grep -o "fwmark $MARK lookup $TABLE" | sed 's/^/v6 /'
	in_gw ip -4 route show table "$TABLE" 2>/dev/null | grep -o '^local default dev lo'
	in_gw ip -6 route show table "$TABLE" 2>/dev/null | grep -o '^local default dev lo' | sed 's/^/v6 /'
}

# whoami_ok WHAT [REMOTE]: alice through the proxy, as the upstream sees
# her; connecting from REMOTE when given
whoami_ok() {
	local out
	out=$(cli_curl alice "$URL/whoami")
	assert_eq "$1: upstream sees alice's subject" "$(field "$out" subject)" "$(subject_of alice)"
	assert_eq "$1: XFCC Hash is alice's certificate" \
		"$(xfcc_get "$(field "$out" xfcc)" Hash)" "$(sha256_der alice)"
	[ -z "${2:-}" ] || assert_eq "$1: upstream sees the connection come from $2" \
		"$(field "$out" remote)" "$2"
}

# blocked WHAT: a connection to server:443 gets nowhere within 3 s, and no
# request reaches nginx
blocked() {
	local before rc
	before=$(upstream_requests)
	CURL_CONNECT_TIMEOUT=3 CURL_MAX_TIME=5 cli_curl alice "$URL/whoami" >/dev/null 2>&1
	rc=$?
	# 28: timed out (the SYN was dropped); 7 would be a refusal (RST)
	assert_eq "$1: the connection times out (dropped, curl status 28)" "$rc" 28
	assert_eq "$1: no request reached the upstream" "$(upstream_requests)" "$before"
}

# kill9: kill -9 the daemon and wait (5 s at most) until its listener is
# gone from the kernel too.  The io_uring's pending accepts hold the
# listening socket, and the kernel tears a dead process's ring down in a
# work queue, after the process is reaped: meanwhile a SYN still finds
# the socket, completes the TCP handshake and is reset (curl 35) instead
# of being dropped.
kill9() {
	local i
	kill -9 "$KTP_PID" 2>/dev/null
	wait "$KTP_PID" 2>/dev/null
	KTP_PID=
	for i in $(seq 1 50); do
		[ -z "$(in_gw ss -Hltn "sport = :$TPROXY_PORT")" ] && return 0
		sleep 0.1
	done
	fail "kill -9: the listener on :$TPROXY_PORT was still there after 5 s"
}

section "Without --intercept nothing steers"
assert_eq "no table, rule or route in the gateway" "$(steering_state)" ""

section "--intercept 443 installs the steering"
ktproxy_start --intercept 443 || exit 1
assert_match "it says what it installed" "$(cat "$KTP_STDERR")" \
	'intercept: installed nft table inet ktproxy \(tcp dport 443 on every interface but lo -> tproxy to :8443'
rs=$(in_gw nft list table inet ktproxy 2>&1)
assert_match "prerouting chain at priority mangle" "$rs" \
	'type filter hook prerouting priority mangle; policy accept;'
# nft prints the mark as 0x00006b74
assert_match "rule 1: socket transparent 1 -> mark, accept" "$rs" \
	"meta l4proto tcp socket transparent 1 meta mark set 0x0*6b74 accept"
assert_match "rule 2: tcp dport 443 -> tproxy to :8443, mark, accept" "$rs" \
	"iifname != \"lo\" tcp dport 443 tproxy to :8443 meta mark set 0x0*6b74 accept"
assert_match "rule 3: tcp dport 443 counter drop (fails closed)" "$rs" \
	'iifname != "lo" tcp dport 443 counter packets 0 bytes 0 drop'
assert_eq "three rules, in that order" "$(printf '%s\n' "$rs" |
	grep -oE 'socket transparent|tproxy to|dport 443 counter' | tr '\n' ,)" \
	"socket transparent,tproxy to,dport 443 counter,"
assert_eq "ip rule and local route, IPv4 and IPv6" "$(steering_state)" "table inet ktproxy
fwmark $MARK lookup $TABLE
v6 fwmark $MARK lookup $TABLE
local default dev lo
v6 local default dev lo"
whoami_ok "intercepted" "$GW_SRV_IP"

section "kill -9: the port fails closed"
whoami_ok "intercepted, again"
assert_match "while ktproxy listens nothing is dropped" "$(in_gw nft list table inet ktproxy)" \
	'dport 443 counter packets 0 bytes 0 drop'
kill9
assert_contains "the table stays" "$(steering_state)" "table inet ktproxy"
blocked "after kill -9"
assert_match "the drop rule counted the client's SYNs" "$(in_gw nft list table inet ktproxy)" \
	'dport 443 counter packets [1-9][0-9]* bytes [0-9]+ drop'

section "A restart replaces the stale table"
ktproxy_start --intercept 443 || exit 1
assert_eq "one table of ours, with one tproxy rule" \
	"$(in_gw nft list ruleset | grep -c 'tproxy to :8443')" 1
whoami_ok "after the restart"

section "SIGTERM removes everything"
ktproxy_stop
assert_match "it says what it removed" "$(cat "$KTP_STDERR")" 'intercept: removed nft table inet ktproxy'
assert_eq "no table, rule or route left" "$(steering_state)" ""

section "--intercept-remove after kill -9"
ktproxy_start --intercept 443 --intercept-iface "$VETH_GW_CLI" --intercept-mark 0x77 \
	--intercept-table 777 || exit 1
MARK=0x77 TABLE=777
assert_match "--intercept-iface: the rules name the interface" \
	"$(in_gw nft list table inet ktproxy)" "iifname \"$VETH_GW_CLI\" tcp dport 443 tproxy to :8443"
whoami_ok "on $VETH_GW_CLI, mark 0x77, table 777"
kill9
blocked "after kill -9"
out=$(in_gw "$KTPROXY_BUILD/ktproxy" --intercept-remove --intercept-mark 0x77 --intercept-table 777 2>&1)
assert_eq "--intercept-remove exits 0" "$?" 0
assert_contains "it says it removed the table" "$out" "removed nft table inet ktproxy"
assert_eq "no table, rule or route left" "$(steering_state)" ""
out=$(in_gw "$KTPROXY_BUILD/ktproxy" --intercept-remove --intercept-mark 0x77 --intercept-table 777 2>&1)
assert_eq "again, with nothing to remove: exit 0" "$?" 0
assert_contains "and it says there was no table" "$out" "no nft table inet ktproxy"

section "Ranges and several interfaces"
ktproxy_start --intercept 443,8000-8099 --intercept-iface "$VETH_GW_CLI,$VETH_GW_SRV" || exit 1
rs=$(in_gw nft list table inet ktproxy)
assert_eq "a tproxy rule per interface and port range" "$(printf '%s\n' "$rs" | grep -c 'tproxy to :8443')" 4
assert_eq "a drop rule after each" "$(printf '%s\n' "$rs" | grep -c ' counter packets 0 bytes 0 drop')" 4
assert_contains "the range as one rule" "$rs" "iifname \"$VETH_GW_SRV\" tcp dport 8000-8099 tproxy to :8443"
whoami_ok "443 among them"
ktproxy_stop

section "SIGHUP: new --intercept settings take a restart"
printf 'intercept 443\n' > "$RUN_DIR/intercept.conf"
ktproxy_start -c "$RUN_DIR/intercept.conf" || exit 1
printf 'intercept 443,8443\n' > "$RUN_DIR/intercept.conf"
assert_eq "a reload with other ports goes through" "$(ktproxy_hup)" reloaded
assert_contains "...saying intercept takes a restart" "$(cat "$KTP_STDERR")" \
	"SIGHUP: intercept changed, which takes a restart"
assert_eq "...and the steering is the running one: one tproxy rule" \
	"$(in_gw nft list table inet ktproxy | grep -c 'tproxy to')" 1
whoami_ok "traffic passes after the reload"
ktproxy_stop
assert_eq "SIGTERM removes what runs" "$(steering_state)" ""

section "--spoof-source: the upstream sees the client's address"
ktproxy_start --intercept 443 --spoof-source || exit 1
whoami_ok "spoofed" "$CLI_IP"
whoami_ok "spoofed, again (a kept connection or a new one)" "$CLI_IP"
ktproxy_stop

section "IPv6: one [::] listener, both families"
MARK=0x6b74 TABLE=27508
topo_ipv6_up || { fail "IPv6 addresses in the namespaces"; exit 1; }
UP_LISTEN_V6=$SRV_IP6 upstream_reconfigure || { fail "nginx on [$SRV_IP6]:443"; exit 1; }
ktproxy_start --listen "[::]:$TPROXY_PORT" --intercept 443 || exit 1
CLI_SRV_ADDR="[$SRV_IP6]" whoami_ok "IPv6 client"
assert_match "ktproxy's log: the client came over IPv6, to the server's address" "$(connlog)" \
	"client=\\[$CLI_IP6\\]:[0-9]+ dst=\\[$SRV_IP6\\]:443 .*result=ok"
whoami_ok "IPv4 client on the same listener"
kill9
CLI_SRV_ADDR="[$SRV_IP6]" blocked "IPv6 after kill -9"
blocked "IPv4 after kill -9"
ktproxy_start --listen "[::]:$TPROXY_PORT" --intercept 443 || exit 1
CLI_SRV_ADDR="[$SRV_IP6]" whoami_ok "IPv6 after the restart" "$GW_SRV_IP6"
ktproxy_stop
ktproxy_start --listen "[::]:$TPROXY_PORT" --intercept 443 --spoof-source || exit 1
CLI_SRV_ADDR="[$SRV_IP6]" whoami_ok "IPv6, --spoof-source" "$CLI_IP6"
ktproxy_stop
assert_eq "SIGTERM: no table, rule or route left" "$(steering_state)" ""

section "Mistakes"
out=$("$KTPROXY_BUILD/ktproxy" --intercept 443,70000 --intercept-remove 2>&1)
assert_eq "a port out of range: exit 2" "$?" 2
assert_contains "named" "$out" '--intercept: "443,70000" is not a comma-separated list of ports'
out=$("$KTPROXY_BUILD/ktproxy" --intercept-iface eth0 --intercept-remove 2>&1)
assert_contains "--intercept-iface alone" "$out" "--intercept-iface needs --intercept PORTS"
out=$("$KTPROXY_BUILD/ktproxy" --intercept-table 255 --intercept-remove 2>&1)
assert_contains "the kernel's own table" "$out" "255 is one of the kernel's own tables"
if command -v setpriv >/dev/null; then
	out=$(in_gw setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$KTPROXY_BUILD/ktproxy" --intercept-remove 2>&1)
	assert_eq "--intercept-remove without CAP_NET_ADMIN: exit 1" "$?" 1
	assert_contains "the nftables refusal is named" "$out" \
		"nftables batch (as a whole): Operation not permitted (needs CAP_NET_ADMIN"
	assert_contains "the rtnetlink refusal is named" "$out" \
		"rtnetlink RTM_DELRULE (IPv4 fwmark 0x6b74 lookup 27508): Operation not permitted"
else
	skip "setpriv missing: no unprivileged --intercept-remove"
fi

assert_summary
