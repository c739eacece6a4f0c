#!/usr/bin/env bash
# 96-steer: --steer sk_lookup.  ktproxy loads its BPF sk_lookup program into
# the gateway's namespace, which has no nftables rules and no policy
# routing: identities are delegated, bad ones refused, transfers
# byte-exact, IPv4 and IPv6; destinations outside the prefixes pass
# untouched (to the server), other ports of a steered address go to the
# gateway's own sockets, not to ktproxy.  Prefixes and ports change on
# SIGHUP with the program kept.  With two workers, each connection is
# served by the worker pinned to the CPU its packets arrive on.  kill -9
# leaves the prefix closed (reset, nothing reaches the server) until a
# restart or --intercept-remove; SIGTERM leaves nothing behind.
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
steer_tproxy_only "this script sets up its own steering"
env_up_bare
topo_ipv6_up || { fail "IPv6 addresses in the namespaces"; exit 1; }
UP_LISTEN_V6=$SRV_IP6 upstream_reconfigure || { fail "nginx on [$SRV_IP6]:443"; exit 1; }

CONF=$RUN_DIR/steer.conf
GW_PORT=9443	# a port of the steered address that is not steered at first

# write_conf PORTS PREFIXES: the steering settings, in the config file a
# SIGHUP reads again
write_conf() {
	printf 'steer sk_lookup\nintercept %s\nintercept-prefix %s\n' "$1" "$2" > "$CONF"
}

start() { ktproxy_start --listen "[::]:$TPROXY_PORT" -c "$CONF" "$@"; }

# peer_issuer ADDR [PORT]: the issuer's CN of the certificate the client is
# shown at ADDR: "Proxy CA" is ktproxy, "Upstream CA" the server itself
peer_issuer() {
	in_cli timeout 10 openssl s_client -connect "$1:${2:-443}" -servername server.test \
		</dev/null 2>/dev/null | openssl x509 -noout -issuer -nameopt multiline 2>/dev/null |
		sed -n 's/^ *commonName *= *//p'
}

# our_routes: the local routes ktproxy made (proto 107), one a line
our_routes() {
	{ in_gw ip -4 route show table local proto 107; in_gw ip -6 route show table local proto 107; } |
		awk '{ print $2 }' | sort
}

# link_prog: the id of the sk_lookup program attached to the gateway's
# namespace (bpftool lists the links of every namespace: the one whose
# netns_ino is the gateway's), empty when none
link_prog() {
	local ino
	ino=$(stat -L -c %i "/run/netns/$NS_GW")
	bpftool link show 2>/dev/null |
		awk -v ino="$ino" '/^[0-9]+: netns/ { for (i = 1; i <= NF; i++) if ($i == "prog") p = $(i + 1) }
		     /netns_ino/ && /attach_type sk_lookup/ { for (i = 1; i <= NF; i++) if ($i == "netns_ino" && $(i + 1) == ino) print p }'
}
HAVE_BPFTOOL=0
command -v bpftool >/dev/null && HAVE_BPFTOOL=1

whoami_ok() {
	local out
	out=$(CLI_SRV_ADDR=${2:-$SRV_IP} cli_curl alice "$URL/whoami")
	assert_eq "$1: upstream sees alice's subject" "$(field "$out" subject)" "$(subject_of alice)"
	assert_eq "$1: XFCC Hash is alice's certificate" \
		"$(xfcc_get "$(field "$out" xfcc)" Hash)" "$(sha256_der alice)"
}

# ---------------------------------------------------------------- --check
section "--check: what sk_lookup steering cannot do"
check_conf() {	# check_conf WANT-STATUS PATTERN ARGS...: ktproxy --check
	local want=$1 pat=$2 out rc
	shift 2
	out=$(in_gw "$KTPROXY_BUILD/ktproxy" -c /dev/null --listen "0.0.0.0:$TPROXY_PORT" \
		--server-cert "$PKI/proxy.crt" --server-key "$PKI/proxy.key" \
		--client-ca "$PKI/client-ca.crt" --delegation-ca "$PKI/delegation-ca.crt" \
		--delegation-key "$PKI/delegation-ca.key" --upstream-ca "$PKI/upstream-ca.crt" \
		"$@" --check 2>&1)
	rc=$?
	assert_eq "$* --check exits $want" "$rc" "$want"
	assert_match "... and says: $pat" "$out" "$pat"
}
check_conf 0 'configuration OK' --steer sk_lookup --intercept 443 --intercept-prefix "$SRV_IP/32"
check_conf 2 'say tproxy or sk_lookup' --steer ebpf
check_conf 2 'needs --intercept-prefix' --steer sk_lookup --intercept 443
check_conf 2 'needs --steer sk_lookup' --intercept 443 --intercept-prefix "$SRV_IP/32"
check_conf 2 'bits set past the prefix length' --steer sk_lookup --intercept 443 --intercept-prefix 10.77.2.1/24
check_conf 2 'not an IPv4 or IPv6 address' --steer sk_lookup --intercept 443 --intercept-prefix 10.77.2.0/33
check_conf 2 'IPv6 connections need an IPv6 listener' --steer sk_lookup --intercept 443 --intercept-prefix "$SRV_IP6/128"
check_conf 2 'spoof-source needs --steer tproxy' --steer sk_lookup --intercept 443 --intercept-prefix "$SRV_IP/32" --spoof-source
check_conf 2 'intercept-iface is for --steer tproxy' --steer sk_lookup --intercept 443 --intercept-prefix "$SRV_IP/32" --intercept-iface "$VETH_GW_CLI"

# ---------------------------------------------------------------- start
section "start: the program, the routes, and nothing else"
write_conf 443 "$SRV_IP/32,$SRV_IP6/128"
start || exit 1
assert_match "the daemon says the program is attached" "$(cat "$KTP_STDERR")" \
	'--steer sk_lookup: program [0-9]+ attached'
PROG=$(sed -n 's/.*--steer sk_lookup: program \([0-9]*\) attached.*/\1/p' "$KTP_STDERR")
assert_eq "no nftables ruleset in the gateway" "$(in_gw nft list ruleset)" ""
assert_eq "no IPv4 policy routing (the kernel's three rules only)" "$(in_gw ip -4 rule show | wc -l)" 3
assert_eq "no IPv6 policy routing (the kernel's two rules only)" "$(in_gw ip -6 rule show | wc -l)" 2
assert_eq "a local route for each prefix, proto 107" "$(our_routes | tr '\n' ' ')" "$SRV_IP $SRV_IP6 "
if [ "$HAVE_BPFTOOL" = 1 ]; then
	assert_eq "bpftool: the attached sk_lookup program is the one ktproxy named" "$(link_prog)" "$PROG"
else
	skip "bpftool not installed: the attachment is not looked at from outside"
fi

section "traffic: delegated, refused, byte-exact, IPv4 and IPv6"
whoami_ok "IPv4"
whoami_ok "IPv6" "[$SRV_IP6]"
out=$(cli_curl bob "$URL/whoami")
assert_eq "bob delegated too" "$(field "$out" subject)" "$(subject_of bob)"
for who in wrongca revoked expired; do
	before=$(upstream_requests)
	cli_curl "$who" "$URL/whoami" >/dev/null 2>&1
	assert_ne "$who: refused (curl fails)" "$?" 0
	assert_eq "$who: nothing reached the upstream" "$(upstream_requests)" "$before"
done
before=$(upstream_requests)
cli_curl none "$URL/whoami" >/dev/null 2>&1
assert_ne "no client certificate: refused" "$?" 0
assert_eq "no client certificate: nothing reached the upstream" "$(upstream_requests)" "$before"
got=$(cli_curl alice --max-time 60 "$URL/big" | sha256sum | cut -d' ' -f1)
assert_eq "32 MiB download is byte-exact" "$got" "$UP_BIG_SHA256"
out=$(cli_curl alice --max-time 60 -X POST --data-binary "@$UP_BIG" "$URL/upload")
assert_eq "32 MiB upload is byte-exact" "$(field "$out" body_sha256)" "$UP_BIG_SHA256"
got=$(CLI_SRV_ADDR="[$SRV_IP6]" cli_curl alice --max-time 60 "$URL/big" | sha256sum | cut -d' ' -f1)
assert_eq "32 MiB download over IPv6 is byte-exact" "$got" "$UP_BIG_SHA256"
assert_eq "the client is shown ktproxy's certificate" "$(peer_issuer "$SRV_IP")" "Proxy CA"
# Under a kTLS kernel (the VM run) steered connections relay in the kernel.
if grep -q 'kTLS on' "$KTP_STDERR"; then
	assert_ge "kTLS kernel: steered connections relayed by kTLS (relay_path{ktls})" \
		"$(stat_get .relay_path.ktls)" 5
else
	skip "kTLS relay of steered connections: this kernel has no kTLS (the VM run asserts it)"
fi
sleep 1.2	# the program's counters are copied every second
acc=$(stat_get .connections_accepted)
steered=$(stat_get .sk_lookup.steered)
# A SYN the client sends again is looked up again: at least one each.
assert_ge "sk_lookup{steered} ($steered) >= connections accepted ($acc)" "$steered" "$acc"
assert_eq "sk_lookup{errors} = 0" "$(stat_get .sk_lookup.errors)" 0
assert_match "Prometheus exports them" "$(in_gw "$KTPROXY_BUILD/ktproxy-stat" --stats "$KTP_STATS" --prometheus)" \
	"ktproxy_sk_lookup_total\\{reason=\"steered\"\\} $steered"

section "what is not steered is untouched"
# The gateway's own socket on a port of the steered address that is not in
# --intercept: the program leaves the lookup to the kernel, which finds it.
in_gw python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[1]))); s.listen(8); s.settimeout(60)
while True:
    try: c, _ = s.accept()
    except OSError: break
    c.sendall(b"gateway\n"); c.close()
' "$GW_PORT" >/dev/null 2>&1 &
GW_SOCK_PID=$!
gw_sock_stop() { kill "$GW_SOCK_PID" 2>/dev/null; }
ktp_on_exit gw_sock_stop
for i in $(seq 1 50); do in_gw ss -Htln "sport = :$GW_PORT" | grep -q . && break; sleep 0.1; done
misses0=$(stat_get .sk_lookup.misses)
assert_eq "a port not in --intercept reaches the gateway's own socket, not ktproxy" \
	"$(in_cli timeout 5 bash -c "exec 3<>/dev/tcp/$SRV_IP/$GW_PORT; head -n 1 <&3")" "gateway"
sleep 1.2
assert_ge "... counted as sk_lookup{misses}" "$(stat_get .sk_lookup.misses)" $((misses0 + 1))

# ---------------------------------------------------------------- SIGHUP
section "SIGHUP: prefixes and ports change in place"
write_conf "443,$GW_PORT" "$SRV_IP6/128"
assert_eq "SIGHUP with IPv4 prefix removed and port $GW_PORT added" "$(ktproxy_hup)" reloaded
assert_match "the daemon says it kept the program" "$(cat "$KTP_STDERR")" "in place \\(program $PROG kept\\)"
[ "$HAVE_BPFTOOL" = 1 ] && assert_eq "bpftool: the same program is attached" "$(link_prog)" "$PROG"
assert_eq "the IPv4 route went, the IPv6 one stayed" "$(our_routes | tr '\n' ' ')" "$SRV_IP6 "
assert_eq "IPv4 now goes to the server itself: the client sees its certificate" \
	"$(peer_issuer "$SRV_IP")" "Upstream CA"
before=$(stat_get .connections_accepted)
in_cli timeout 10 openssl s_client -connect "$SRV_IP:443" -servername server.test </dev/null >/dev/null 2>&1
sleep 0.3
assert_eq "... and ktproxy accepted nothing" "$(stat_get .connections_accepted)" "$before"
whoami_ok "IPv6 still steered" "[$SRV_IP6]"
assert_eq "port $GW_PORT of the steered IPv6 address is now ktproxy's" \
	"$(peer_issuer "[$SRV_IP6]" "$GW_PORT")" "Proxy CA"

write_conf 443 "$SRV_IP/32,$SRV_IP6/128"
assert_eq "SIGHUP with the IPv4 prefix back, port $GW_PORT gone" "$(ktproxy_hup)" reloaded
assert_eq "both routes again" "$(our_routes | tr '\n' ' ')" "$SRV_IP $SRV_IP6 "
whoami_ok "IPv4 steered again (a new connection)"
assert_eq "port $GW_PORT is the gateway's own again" \
	"$(in_cli timeout 5 bash -c "exec 3<>/dev/tcp/$SRV_IP/$GW_PORT; head -n 1 <&3")" "gateway"

printf 'steer tproxy\nintercept 443\n' > "$CONF"
assert_eq "SIGHUP with --steer tproxy: reloaded" "$(ktproxy_hup)" reloaded
assert_match "... saying the mechanism takes a restart" "$(cat "$KTP_STDERR")" \
	'SIGHUP: intercept changed, which takes a restart'
assert_eq "... the routes are as they were" "$(our_routes | tr '\n' ' ')" "$SRV_IP $SRV_IP6 "
whoami_ok "... and sk_lookup steering goes on"
[ "$HAVE_BPFTOOL" = 1 ] && assert_eq "... with the same program" "$(link_prog)" "$PROG"

write_conf 443 "10.77.2.1/24"
assert_eq "SIGHUP with a prefix written with host bits: refused" "$(ktproxy_hup)" refused
assert_eq "... the routes are as they were" "$(our_routes | tr '\n' ' ')" "$SRV_IP $SRV_IP6 "
whoami_ok "... and steering goes on"
write_conf 443 "$SRV_IP/32,$SRV_IP6/128"

# ---------------------------------------------------------------- placement
section "placement: the worker on the receiving CPU serves the connection"
ktproxy_stop
if [ "$(nproc)" -lt 2 ]; then
	skip "one CPU: placement needs two"
else
	start --workers 2 || exit 1
	N=12
	for cpu in 0 1; do
		for i in $(seq 1 $N); do
			in_cli taskset -c "$cpu" curl -sS --max-time 10 --resolve "server.test:443:$SRV_IP" \
				--cacert "$PKI/proxy-ca.crt" --cert "$PKI/alice.crt" --key "$PKI/alice.key" \
				-o /dev/null "$URL/whoami" || fail "curl on CPU $cpu"
		done
	done
	wait_idle 10
	per=$(in_gw "$KTPROXY_BUILD/ktproxy-stat" --stats "$KTP_STATS" --per-worker --json)
	for w in 0 1; do
		assert_eq "worker $w (pinned to CPU $w) accepted the $N connections made on CPU $w" \
			"$(jq ".workers[$w].connections_accepted" <<<"$per")" "$N"
		assert_eq "worker $w: all $N arrived on its own CPU (accepted_cpu{same})" \
			"$(jq ".workers[$w].accepted_cpu.same" <<<"$per")" "$N"
		assert_eq "worker $w: none from another CPU (accepted_cpu{other})" \
			"$(jq ".workers[$w].accepted_cpu.other" <<<"$per")" 0
	done
	assert_match "the daemon's threads: each worker pinned to one CPU" \
		"$(for t in /proc/"$KTP_PID"/task/*; do grep -h Cpus_allowed_list "$t/status"; done | sort | uniq -c | tr -s ' ')" \
		"1 Cpus_allowed_list:.0"
fi

# ---------------------------------------------------------------- draining
section "SIGTERM: while draining, new steered connections are refused"
ktproxy_stop
start --drain-timeout 20 || exit 1
cli_curl alice --limit-rate 8M -o "$RUN_DIR/held" "$URL/big" 2>/dev/null &
HELD=$!
wait_for_active 1
kill -TERM "$KTP_PID"
for i in $(seq 1 50); do grep -q 'draining 1 connection' "$KTP_STDERR" && break; sleep 0.1; done
errors0=$(stat_get .sk_lookup.errors)
before=$(upstream_requests)
CURL_CONNECT_TIMEOUT=2 CURL_MAX_TIME=4 cli_curl alice "$URL/whoami" >/dev/null 2>&1
assert_eq "a new connection while draining is refused (reset: curl 7)" "$?" 7
sleep 0.3	# the drain loop copies the program's counters every 100 ms
assert_ge "... counted as sk_lookup{errors}" "$(stat_get .sk_lookup.errors)" $((errors0 + 1))
wait "$HELD"
assert_eq "the download under way finishes byte-exact" \
	"$(sha256sum < "$RUN_DIR/held" | cut -d' ' -f1)" "$UP_BIG_SHA256"
assert_eq "... and only it reached the upstream" "$(upstream_requests)" $((before + 1))
ktproxy_stop

# ---------------------------------------------------------------- fail closed
section "kill -9: the prefix stays closed, nothing reaches the server"
start || exit 1
kill -9 "$KTP_PID"; wait "$KTP_PID" 2>/dev/null; KTP_PID=
for i in $(seq 1 50); do [ -z "$(link_prog)" ] && break; sleep 0.1; done
[ "$HAVE_BPFTOOL" = 1 ] && assert_eq "the program went with the process" "$(link_prog)" ""
assert_eq "the local routes stay" "$(our_routes | tr '\n' ' ')" "$SRV_IP $SRV_IP6 "
before=$(upstream_requests)
CURL_CONNECT_TIMEOUT=3 CURL_MAX_TIME=5 cli_curl alice "$URL/whoami" >/dev/null 2>&1
rc=$?
assert_ne "a client's connection fails (reset by the gateway: curl $rc)" "$rc" 0
assert_eq "no request reached the upstream" "$(upstream_requests)" "$before"
assert_eq "the client is never shown the server's certificate" "$(peer_issuer "$SRV_IP")" ""

section "restart takes over; --intercept-remove; SIGTERM leaves nothing"
start || exit 1
whoami_ok "after the restart"
ktproxy_stop
assert_eq "SIGTERM: no local route of ours left" "$(our_routes)" ""
[ "$HAVE_BPFTOOL" = 1 ] && assert_eq "SIGTERM: no program attached" "$(link_prog)" ""
assert_eq "the server answers for itself again" "$(peer_issuer "$SRV_IP")" "Upstream CA"
assert_match "the daemon said what it removed" "$(cat "$KTP_STDERR")" \
	'program detached, 2 local routes removed'

start || exit 1
kill -9 "$KTP_PID"; wait "$KTP_PID" 2>/dev/null; KTP_PID=
out=$(in_gw "$KTPROXY_BUILD/ktproxy" --intercept-remove 2>&1)
assert_eq "--intercept-remove after kill -9 exits 0" "$?" 0
assert_match "... says what it removed" "$out" 'removed 2 local routes of --steer sk_lookup'
assert_eq "... and no local route of ours is left" "$(our_routes)" ""
assert_eq "the server answers for itself" "$(peer_issuer "$SRV_IP")" "Upstream CA"

section "without the privileges for BPF: says so, and tproxy steering still runs"
if command -v setpriv >/dev/null; then
	out=$(in_gw setpriv --inh-caps=-bpf,-sys_admin --bounding-set=-bpf,-sys_admin \
		"$KTPROXY_BUILD/ktproxy" -c /dev/null --listen "0.0.0.0:$TPROXY_PORT" \
		--server-cert "$PKI/proxy.crt" --server-key "$PKI/proxy.key" \
		--client-ca "$PKI/client-ca.crt" --delegation-ca "$PKI/delegation-ca.crt" \
		--delegation-key "$PKI/delegation-ca.key" --upstream-ca "$PKI/upstream-ca.crt" \
		--stats "$RUN_DIR/nobpf.stats" --steer sk_lookup --intercept 443 \
		--intercept-prefix "$SRV_IP/32" 2>&1)
	assert_eq "--steer sk_lookup without CAP_BPF/CAP_SYS_ADMIN exits 1" "$?" 1
	assert_match "... naming what is missing" "$out" 'loading the sk_lookup program: .*CAP_BPF'
	assert_eq "... and leaves no route" "$(our_routes)" ""
	KTP_WRAP="setpriv --inh-caps=-bpf,-sys_admin --bounding-set=-bpf,-sys_admin" ktproxy__launch " without CAP_BPF/CAP_SYS_ADMIN, --intercept 443 (tproxy)" \
		-c /dev/null --listen "0.0.0.0:$TPROXY_PORT" \
		--server-cert "$PKI/proxy.crt" --server-key "$PKI/proxy.key" \
		--client-ca "$PKI/client-ca.crt" --delegation-ca "$PKI/delegation-ca.crt" \
		--delegation-key "$PKI/delegation-ca.key" --upstream-ca "$PKI/upstream-ca.crt" \
		--stats "$RUN_DIR/nobpf2.stats" --log "$RUN_DIR/nobpf2.log" --intercept 443 \
		--drain-timeout 5 || exit 1
	whoami_ok "tproxy steering with no BPF privilege"
	ktproxy_stop
else
	skip "no setpriv: the privilege check is not run"
fi

assert_summary
