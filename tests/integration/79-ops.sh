#!/usr/bin/env bash
# 79-ops: what an operator deploys: privileges, systemd, man pages, install.
#
#   - --user: the daemon and every one of its threads run as that user
#     with only CAP_NET_ADMIN and CAP_NET_RAW and no_new_privs; the signer
#     runs as --signer-user with no capability at all; traffic passes;
#     SIGHUP reloads files readable by the user and refuses, saying why,
#     one that is not; a signer restarted after the drop has no capability
#     either, and loads the key only once the user may read it
#   - --user mistakes (no such user, root) stop start-up and --check, and
#     so does a listener that cannot be bound, leaving nothing behind
#   - sd_notify: READY=1 once listening, RELOADING=1 / READY=1 around a
#     SIGHUP, STOPPING=1 on SIGTERM, on $NOTIFY_SOCKET
#   - dist/ktproxy.service passes systemd-analyze verify (installed), and
#     its capability bounding set is enough to start, drop and serve
#   - the man pages render without a warning and name every option
#     of --help (ktproxy, ktproxy-stat) and every config key
#   - make install / make uninstall into a DESTDIR
#
# The daemon runs as `daemon` (uid 1) and its signer as `nobody`: two
# different users, so stopping a signer cannot rely on kill(2) (it ends on
# its closed sockets).
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
steer_tproxy_only "it starts ktproxy under the systemd unit's capability bounding set, which has no CAP_BPF"
for u in daemon nobody; do
	id "$u" >/dev/null 2>&1 || skip_all "no user $u"
done
env_up

DUID=$(id -u daemon)
NUID=$(id -u nobody)
CAPS_KEPT=0000000000003000	# CAP_NET_ADMIN (12) and CAP_NET_RAW (13)

# The files, as a deployment keeps them: readable by root and the daemon's
# group, the delegation key by root only.
F=$RUN_DIR/files
install -d -m 0750 -o root -g daemon "$F"
for f in proxy.crt proxy.key client-ca.crt crl.pem upstream-ca.crt delegation-ca.crt; do
	install -m 0640 -o root -g daemon "$PKI/$f" "$F/$f"
done
install -m 0600 -o root -g root "$PKI/delegation-ca.key" "$F/delegation-ca.key"

# status_field PID FIELD: a line of /proc/PID/status, its values only,
# one blank apart (Uid: real effective saved filesystem).
status_field() {
	awk -v f="$2:" '$1 == f { v = $2; for (i = 3; i <= NF; i++) v = v " " $i; print v; exit }' \
		"/proc/$1/status" 2>/dev/null
}
signer_pid() { pgrep -P "$KTP_PID" -x ktproxy-signer | head -n 1; }
# wait_signer OLDPID: a signer other than OLDPID (10 s at most).
wait_signer() {
	local i p
	for i in $(seq 1 100); do
		p=$(signer_pid)
		[ -n "$p" ] && [ "$p" != "$1" ] && { echo "$p"; return 0; }
		sleep 0.1
	done
	return 1
}
code() { cli_curl "$1" -o /dev/null -w '%{http_code}' "$URL/whoami" 2>/dev/null; }

# A datagram listener standing in for systemd's notification socket: one
# line per datagram (newlines as spaces) into $NOTIFY_LOG, for 120 s at most.
NOTIFY_SOCK=$RUN_DIR/notify.sock
NOTIFY_LOG=$RUN_DIR/notify.log
: > "$NOTIFY_LOG"
python3 - "$NOTIFY_SOCK" "$NOTIFY_LOG" <<'EOF' &
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)	# the daemon sends once it is no longer root
s.settimeout(1)
end = time.time() + 120
while time.time() < end:
	try:
		d = s.recv(4096)
	except socket.timeout:
		continue
	with open(sys.argv[2], "a") as f:
		f.write(d.decode().replace("\n", " ") + "\n")
EOF
NOTIFY_PID=$!
stop_notify() { kill "$NOTIFY_PID" 2>/dev/null; wait "$NOTIFY_PID" 2>/dev/null; }
ktp_on_exit stop_notify
for i in $(seq 1 50); do [ -S "$NOTIFY_SOCK" ] && break; sleep 0.1; done
# notify_wait TEXT: until a datagram has TEXT (5 s at most); prints them all.
notify_wait() {
	local i
	for i in $(seq 1 50); do
		grep -q "$1" "$NOTIFY_LOG" && break
		sleep 0.1
	done
	tr '\n' '|' < "$NOTIFY_LOG"
}

daemon_flags=(-c /dev/null --listen "0.0.0.0:$TPROXY_PORT"
	--server-cert "$F/proxy.crt" --server-key "$F/proxy.key" --client-ca "$F/client-ca.crt"
	--crl "$F/crl.pem" --delegation-ca "$F/delegation-ca.crt"
	--delegation-key "$F/delegation-ca.key" --upstream-ca "$F/upstream-ca.crt"
	--workers "$KTPROXY_WORKERS")

section "--user mistakes stop start-up"
out=$(in_gw "$KTPROXY_BUILD/ktproxy" "${daemon_flags[@]}" --user ktp-no-such-user --check 2>&1)
rc=$?
assert_eq "--check with an unknown --user fails (status 1)" "$rc" 1
assert_contains "...saying so" "$out" "--user ktp-no-such-user: no such user"
out=$(in_gw timeout 20 "$KTPROXY_BUILD/ktproxy" "${daemon_flags[@]}" --stats "$RUN_DIR/x.stats" \
	--user root 2>&1)
rc=$?
assert_eq "--user root: no start (status 1)" "$rc" 1
assert_contains "...saying why" "$out" "--user root has uid 0: name an unprivileged user"
# The listeners are all bound before the drop: one that cannot be (its
# port taken, without SO_REUSEPORT) stops start-up, and nothing is left.
ip netns exec "$NS_GW" python3 -c 'import socket, time
s = socket.socket(); s.bind(("0.0.0.0", '"$TPROXY_PORT"')); s.listen(1); time.sleep(15)' &
holder=$!
for i in $(seq 1 50); do
	in_gw ss -Hltn "sport = :$TPROXY_PORT" | grep -q . && break
	sleep 0.1
done
out=$(in_gw timeout 20 "$KTPROXY_BUILD/ktproxy" "${daemon_flags[@]}" --stats "$RUN_DIR/y.stats" \
	--user daemon 2>&1)
rc=$?
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
assert_eq "--user daemon, port taken: no start (status 1)" "$rc" 1
assert_contains "...naming the listener" "$out" "--listen 0.0.0.0:$TPROXY_PORT: bind: Address already in use"
assert_not_contains "...without a sanitizer report" "$out" "Sanitizer"
assert_eq "--check with --user daemon: configuration OK" \
	"$(in_gw "$KTPROXY_BUILD/ktproxy" "${daemon_flags[@]}" --user daemon --check 2>&1)" \
	"configuration OK"

section "--user daemon: the daemon, its threads and its signer"
KTP_STATS=$RUN_DIR/ktproxy.stats
KTP_CONNLOG=$RUN_DIR/ktproxy.conn.log
export NOTIFY_SOCKET=$NOTIFY_SOCK
ktproxy_start_bare "${daemon_flags[@]}" --stats "$KTP_STATS" --log "$KTP_CONNLOG" \
	--user daemon || exit 1
unset NOTIFY_SOCKET
assert_contains "it says who it runs as" "$(cat "$KTP_STDERR")" \
	"running as daemon (uid $DUID), keeping CAP_NET_ADMIN and CAP_NET_RAW"
assert_eq "daemon: every uid is daemon's" "$(status_field "$KTP_PID" Uid)" \
	"$DUID $DUID $DUID $DUID"
assert_eq "daemon: every gid is daemon's" "$(status_field "$KTP_PID" Gid)" \
	"$(id -g daemon) $(id -g daemon) $(id -g daemon) $(id -g daemon)"
assert_eq "daemon: effective capabilities NET_ADMIN and NET_RAW only" \
	"$(status_field "$KTP_PID" CapEff)" "$CAPS_KEPT"
assert_eq "daemon: permitted the same" "$(status_field "$KTP_PID" CapPrm)" "$CAPS_KEPT"
assert_eq "daemon: nothing inheritable or ambient" \
	"$(status_field "$KTP_PID" CapInh) $(status_field "$KTP_PID" CapAmb)" \
	"0000000000000000 0000000000000000"
assert_eq "daemon: no_new_privs" "$(status_field "$KTP_PID" NoNewPrivs)" 1
ntask=0
bad=
for t in /proc/"$KTP_PID"/task/*; do
	ntask=$((ntask + 1))
	u=$(awk '$1 == "Uid:" { print $2 $3 $4 $5 }' "$t/status")
	c=$(awk '$1 == "CapEff:" { print $2 }' "$t/status")
	[ "$u" = "$DUID$DUID$DUID$DUID" ] && [ "$c" = "$CAPS_KEPT" ] || bad="$bad $(basename "$t"):$u:$c"
done
assert_ge "threads: main and $KTPROXY_WORKERS workers at least" "$ntask" $((KTPROXY_WORKERS + 1))
assert_eq "threads: every one has daemon's uids and only NET_ADMIN, NET_RAW" "$bad" ""
sp=$(signer_pid)
assert_match "the signer is running" "$sp" '^[0-9]+$'
assert_eq "signer: every uid is nobody's (--signer-user)" "$(status_field "$sp" Uid)" \
	"$NUID $NUID $NUID $NUID"
assert_eq "signer: no capability in any set" \
	"$(status_field "$sp" CapEff) $(status_field "$sp" CapPrm) $(status_field "$sp" CapInh) $(status_field "$sp" CapAmb)" \
	"0000000000000000 0000000000000000 0000000000000000 0000000000000000"
assert_eq "signer: no_new_privs" "$(status_field "$sp" NoNewPrivs)" 1
assert_contains "sd_notify: READY=1 once listening" "$(notify_wait READY=1)" "READY=1"

section "Traffic and reloads after the drop"
assert_eq "alice gets through (a certificate minted by the signer)" "$(code alice)" 200
assert_eq "bob too" "$(code bob)" 200
assert_eq "the revoked client is refused" "$(code revoked)" 000
assert_eq "SIGHUP: the files are readable by daemon, reloaded" "$(ktproxy_hup)" reloaded
assert_contains "sd_notify: RELOADING=1 with MONOTONIC_USEC, then READY=1" \
	"$(notify_wait 'READY=1.*RELOADING=1 MONOTONIC_USEC=[0-9]*|READY=1$')" \
	"READY=1|RELOADING=1 MONOTONIC_USEC="
assert_match "...in that order" "$(tr '\n' '|' < "$NOTIFY_LOG")" \
	'^READY=1\|RELOADING=1 MONOTONIC_USEC=[0-9]+\|READY=1\|$'
assert_eq "alice still gets through" "$(code alice)" 200
chmod 0600 "$F/proxy.key"
assert_eq "SIGHUP with a server key daemon cannot read: refused" "$(ktproxy_hup)" refused
assert_contains "...saying which file and why" "$(cat "$KTP_STDERR")" "$F/proxy.key"
assert_contains "...Permission denied" "$(cat "$KTP_STDERR")" "Permission denied"
assert_eq "...and the running configuration serves on" "$(code bob)" 200
chmod 0640 "$F/proxy.key"
assert_eq "readable again: reloaded" "$(ktproxy_hup)" reloaded

section "A signer restarted after the drop"
kill -KILL "$sp"
for i in $(seq 1 50); do
	grep -q "ktproxy: --delegation-key $F/delegation-ca.key: Permission denied" "$KTP_STDERR" && break
	sleep 0.1
done
assert_contains "the unprivileged daemon's new signer cannot read the root-only key" \
	"$(cat "$KTP_STDERR")" "ktproxy: --delegation-key $F/delegation-ca.key: Permission denied"
chgrp daemon "$F/delegation-ca.key"
chmod 0640 "$F/delegation-ca.key"
sp2=$(wait_signer "$sp")
assert_match "readable by daemon: a new signer is up" "$sp2" '^[0-9]+$'
assert_contains "...and said so" "$(cat "$KTP_STDERR")" "ktproxy: signer restarted (pid $sp2)"
assert_eq "the new signer runs as daemon (it cannot become --signer-user)" \
	"$(status_field "$sp2" Uid)" "$DUID $DUID $DUID $DUID"
assert_eq "...with no capability in any set" \
	"$(status_field "$sp2" CapEff) $(status_field "$sp2" CapPrm) $(status_field "$sp2" CapInh) $(status_field "$sp2" CapAmb)" \
	"0000000000000000 0000000000000000 0000000000000000 0000000000000000"
assert_eq "multi (a first mint) gets through" "$(code multi)" 200
kill -TERM "$KTP_PID"
assert_contains "sd_notify: STOPPING=1 on SIGTERM" "$(notify_wait STOPPING=1)" "STOPPING=1"
ktproxy_stop

section "Under the unit's capability bounding set"
# What dist/ktproxy.service lets a root ktproxy have, with no_new_privs:
# enough to start, drop to daemon, and serve.
bset=$(sed -n 's/^CapabilityBoundingSet=//p' "$REPO/dist/ktproxy.service" | tr 'A-Z' 'a-z' |
	sed -e 's/cap_/+/g' -e 's/ /,/g')
assert_match "the unit names a bounding set" "$bset" '^\+net_admin,'
KTP_STARTS=$((KTP_STARTS + 1))
KTP_STDERR=$RUN_DIR/ktproxy.bset.stderr
KTP_STATS=$RUN_DIR/ktproxy.bset.stats
ip netns exec "$NS_GW" setpriv --bounding-set "-all,$bset" --inh-caps=-all --no-new-privs \
	"$KTPROXY_BUILD/ktproxy" "${daemon_flags[@]}" --stats "$KTP_STATS" --log "$KTP_CONNLOG" \
	--user daemon 2>"$KTP_STDERR" &
KTP_PID=$!
for i in $(seq 1 100); do
	grep -q 'running as daemon' "$KTP_STDERR" && break
	kill -0 "$KTP_PID" 2>/dev/null || break
	sleep 0.1
done
assert_contains "ktproxy starts and drops to daemon" "$(cat "$KTP_STDERR")" "running as daemon (uid $DUID)"
assert_eq "...keeping NET_ADMIN and NET_RAW" "$(status_field "$KTP_PID" CapEff)" "$CAPS_KEPT"
assert_eq "alice gets through" "$(code alice)" 200
ktproxy_stop

if [ -n "${KTP_IN_VM:-}" ]; then
	# What follows reads files, not the kernel: the host run covers it.
	skip "man pages, make install, systemd-analyze: checked on the host (the kTLS VM carries no groff, man or make)"
	assert_summary
	exit
fi

section "Man pages"
# rendered: ASCII, lines long enough that no option name is broken
render() { groff -mandoc -Tascii -rLL=2000n -P-cbou "$1" 2>/dev/null; }
for p in man/ktproxy.8 man/ktproxy.conf.5 man/ktproxy-stat.8; do
	warn=$(groff -mandoc -Tutf8 -ww -z "$REPO/$p" 2>&1)
	assert_eq "$p renders without a warning (groff -ww)" "$warn" ""
	warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$REPO/$p" 2>&1 >/dev/null)
	assert_eq "...and man -l says nothing either" "$warn" ""
done
# option_gaps HELP_TEXT PAGE: the long options HELP_TEXT names that the
# rendered PAGE does not.
option_gaps() {
	local o text missing=
	text=$(render "$2")
	# (--xfcc-* is a family, not an option)
	for o in $(printf '%s\n' "$1" | sed 's/--[a-z-]*-\*//g' | grep -oE -- '--[a-z][a-z0-9-]*[a-z0-9]' |
		sort -u); do
		grep -qE -- "$o([^a-z0-9-]|$)" <<< "$text" || missing="$missing $o"
	done
	echo "$missing"
}
assert_eq "ktproxy.8 names every option of ktproxy --help" \
	"$(option_gaps "$("$KTPROXY_BUILD/ktproxy" --help)" "$REPO/man/ktproxy.8")" ""
assert_eq "ktproxy-stat.8 names every option of ktproxy-stat --help" \
	"$(option_gaps "$("$KTPROXY_BUILD/ktproxy-stat" --help 2>&1)" "$REPO/man/ktproxy-stat.8")" ""
missing=
keys=$(render "$REPO/man/ktproxy.conf.5" | sed -n '/^KEYS/,/^FILES/p')
for k in $("$KTPROXY_BUILD/ktproxy" --help | grep -oE -- '^  --[a-z][a-z0-9-]+' | sed 's/^  --//' |
	grep -vxE 'check|help|version|config|intercept-remove'); do  # command line only
	grep -qE "^ +$k( |$)" <<< "$keys" || missing="$missing $k"
done
assert_eq "ktproxy.conf.5 has an entry under KEYS for every config key" "$missing" ""

section "make install and make uninstall"
D=$RUN_DIR/destdir
make -s -C "$REPO" BUILD="$KTPROXY_BUILD" DESTDIR="$D" PREFIX=/usr/local install >"$RUN_DIR/install.log" 2>&1
assert_eq "make install DESTDIR=... succeeds" "$?" 0
expected="/etc/ktproxy/ktproxy.conf.example
/usr/local/bin/ktproxy-stat
/usr/local/lib/systemd/system/ktproxy.service
/usr/local/sbin/ktproxy
/usr/local/share/man/man5/ktproxy.conf.5
/usr/local/share/man/man8/ktproxy-stat.8
/usr/local/share/man/man8/ktproxy.8"
assert_eq "it installs these files, nothing else" "$(cd "$D" && find . -type f | sed 's/^\.//' | sort)" "$expected"
assert_contains "the unit runs the installed binary" "$(cat "$D/usr/local/lib/systemd/system/ktproxy.service")" \
	"ExecStart=/usr/local/sbin/ktproxy -c /etc/ktproxy/ktproxy.conf"
unknown=
for k in $(sed -nE 's/^#?([a-z][a-z0-9-]+)([[:blank:]].*)?$/\1/p' "$D/etc/ktproxy/ktproxy.conf.example"); do
	"$KTPROXY_BUILD/ktproxy" --help | grep -qE -- "^  --$k( |$)" || unknown="$unknown $k"
done
assert_ge "the example config shows settings" \
	"$(grep -cE '^#?[a-z][a-z0-9-]+' "$D/etc/ktproxy/ktproxy.conf.example")" 10
assert_eq "...each a key ktproxy knows" "$unknown" ""
# systemd-analyze verify checks that ExecStart's binary and the man pages of
# Documentation= exist: point both at the DESTDIR copy.
if command -v systemd-analyze >/dev/null; then
	U=$RUN_DIR/unit
	mkdir -p "$U"
	sed "s|ExecStart=/usr/local/sbin/ktproxy|ExecStart=$D/usr/local/sbin/ktproxy|" \
		"$D/usr/local/lib/systemd/system/ktproxy.service" > "$U/ktproxy.service"
	out=$(cd "$U" && MANPATH="$D/usr/local/share/man" SYSTEMD_LOG_LEVEL=notice \
		systemd-analyze verify "$U/ktproxy.service" 2>&1)
	rc=$?
	assert_eq "systemd-analyze verify ktproxy.service: no complaint" "$rc $out" "0 "
else
	skip "systemd-analyze not installed"
fi
make -s -C "$REPO" BUILD="$KTPROXY_BUILD" DESTDIR="$D" PREFIX=/usr/local uninstall >>"$RUN_DIR/install.log" 2>&1
assert_eq "make uninstall succeeds" "$?" 0
assert_eq "...and leaves no file behind" "$(cd "$D" && find . -type f | wc -l)" 0

assert_summary
