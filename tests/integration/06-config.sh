#!/usr/bin/env bash
# 06-config: ktproxy.conf as an operator meets it - the flags of a normal
# start written as a file run the daemon on their own and pass traffic; the
# command line overrides the file (a value replaces the file's, a
# repeatable flag replaces its whole list); --check -c names every kind of
# mistake by FILE:LINE; without -c, /etc/ktproxy/ktproxy.conf is read when
# it exists (shown in a private mount namespace: the real /etc is never
# touched).  SIGHUP reads the file again: a changed allow list, header
# format and lifetime take effect, a bad line leaves everything as it was,
# and settings that need a restart say so.
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up
KTP=$KTPROXY_BUILD/ktproxy
CONF=$RUN_DIR/ktproxy.conf
BAD=$RUN_DIR/bad.conf
KTP_STATS=$RUN_DIR/conf.stats
KTP_CONNLOG=$RUN_DIR/conf.conn.log

cat > "$CONF" <<EOF
# ktproxy_start's flags as a config file: a key is a long flag without --
listen          0.0.0.0:$TPROXY_PORT
server-cert     $PKI/proxy.crt
server-key      "$PKI/proxy.key"	# quoted, then a comment

client-ca       $PKI/client-ca.crt
crl             $PKI/crl.pem
delegation-ca   $PKI/delegation-ca.crt
delegation-key  $PKI/delegation-ca.key
upstream-ca     $PKI/upstream-ca.crt
stats           $KTP_STATS
log             $KTP_CONNLOG
workers         $KTPROXY_WORKERS
	# repeated keys make a list
allow           uri:spiffe://example.test/alice
allow           uri:spiffe://example.test/bob
forge-origin-ext yes
EOF
chmod 600 "$CONF"
conf_lines=$(wc -l < "$CONF")

# run_ktp WANT_RC PATTERN WHAT ARGS...: exit status and a message on stderr/stdout
run_ktp() {
	local want=$1 pat=$2 what=$3 out rc
	shift 3
	out=$(timeout 10 "$KTP" "$@" 2>&1)
	rc=$?
	if [ "$rc" = "$want" ] && printf '%s' "$out" | grep -q -- "$pat"; then
		pass "$what"
	else
		fail "$what" "exit $rc (want $want), output: $(printf '%s' "$out" | head -n 8)"
	fi
}

# whoami NAME: the subject the upstream saw for a request as NAME (empty
# when the handshake was refused)
whoami() { field "$(cli_curl "$1" "$URL/whoami" 2>/dev/null)" subject; }

section "--check -c FILE"
run_ktp 0 "configuration OK" "a file with ktproxy_start's flags is good" -c "$CONF" --check
out=$("$KTP" -c "$CONF" --check 2>&1)
assert_not_contains "no warning for a file only root may write" "$out" "warning"
assert_not_contains "-c names the file: nothing says it reads the default" "$out" "reading"

section "Running from the file alone"
ktproxy_start_bare -c "$CONF" || exit 1
assert_contains "the file's workers" "$(cat "$KTP_STDERR")" "($KTPROXY_WORKERS workers)"
assert_eq "alice is served as herself" "$(whoami alice)" "$(subject_of alice)"
assert_eq "client-001 is not in the file's allow list" "$(whoami client-001)" ""
assert_contains "the file's log: alice's connection" "$(connlog)" "CN=alice"
assert_eq "the file's stats file: two handshakes, one let in" \
	"$(stat_get .client_handshake_failures.not_allowed)" 1
ktproxy_stop

section "The command line overrides the file"
KTP_CONNLOG=$RUN_DIR/conf2.conn.log
ktproxy_start_bare -c "$CONF" --workers 1 --log "$KTP_CONNLOG" \
	--allow 'uri:spiffe://example.test/client-001' || exit 1
assert_contains "--workers replaces the file's value" "$(cat "$KTP_STDERR")" "(1 worker)"
assert_contains "--allow replaces the file's list: client-001 in" "$(whoami client-001)" "CN=client-001"
assert_eq "...and the file's alice out" "$(whoami alice)" ""
assert_eq "--log replaces the file's" "$(connlog_count 'CN=client-001')" 1
ktproxy_stop

section "Every kind of mistake, named FILE:LINE"
# bad WANT_RC PATTERN WHAT LINE...: the good file plus LINEs, --check
bad() {
	local want=$1 pat=$2 what=$3
	shift 3
	{ cat "$CONF"; printf '%s\n' "$@"; } > "$BAD"
	run_ktp "$want" "$pat" "$what" -c "$BAD" --check
}
n=$((conf_lines + 1))
bad 2 "^ktproxy: $BAD:$n: unknown key \"foo\"$" "unknown key" "foo bar"
bad 2 "$BAD:$n: unknown key \"--idle-timeout\" (write it without the --)" "a key written as a flag" \
	"--idle-timeout 5"
bad 2 "$BAD:$n: idle-timeout: missing value" "missing value" "idle-timeout"
bad 2 "$BAD:$n: ocsp: \"sometimes\" is not off, soft or hard" "bad value: the flag's own words" \
	"ocsp sometimes"
bad 2 "$BAD:$((n + 1)): idle-timeout: \"0\" is not a number from 1 to 86400" "bad number, after a blank line" \
	"" "idle-timeout 0"
bad 2 "$BAD:$n: listen: given twice (first on line 2)" "single-valued key twice" "listen 0.0.0.0:1"
bad 2 "$BAD:$n: check: only on the command line (--check), not in a file" \
	"command-line only key" "check"
bad 2 "$BAD:$n: log: the value's closing '\"' is missing" "unterminated quote" 'log "/tmp/x'
bad 2 "$BAD:$n: delegation-chain: cannot read $RUN_DIR/none.pem: No such file or directory" \
	"unreadable file named in the file" "delegation-chain $RUN_DIR/none.pem"
bad 2 "$BAD:$n: line too long (more than 4096 bytes)" "line too long" "log /$(head -c 5000 /dev/zero | tr '\0' a)"
{ cat "$CONF"; printf 'log /tmp/a\0b\n'; } > "$BAD"
run_ktp 2 "$BAD:$n: a NUL byte at column 11" "NUL byte" -c "$BAD" --check
bad 2 "$BAD:$n: header-name: \"X-Foo\" is not a header ktproxy sends" "header-name of an unknown header" \
	"header-name X-Foo=X-Bar"
bad 2 "$BAD:$n: forge-origin-ext: given twice" "a flag without a value, twice" "forge-origin-ext no"

# All of them at once: each reported, in the file's order, then exit 2.
{ cat "$CONF"; printf '%s\n' "foo bar" "idle-timeout" "ocsp sometimes" "listen 0.0.0.0:1" "check" \
	'log "/tmp/x' "delegation-chain $RUN_DIR/none.pem"; } > "$BAD"
out=$("$KTP" -c "$BAD" --check 2>&1); rc=$?
assert_eq "every mistake at once: exit status 2" "$rc" 2
assert_eq "...each one reported" "$(printf '%s\n' "$out" | grep -c "^ktproxy: $BAD:")" 7
assert_eq "...in the file's order" "$(printf '%s\n' "$out" | sed -n "s|^ktproxy: $BAD:\([0-9]*\):.*|\1|p" | tr '\n' ' ')" \
	"$(seq -s ' ' "$n" $((n + 6))) "

section "Mistakes in what the files hold (exit 1), named FILE:LINE"
# line KEY: the line of $CONF that sets KEY
line() { grep -n "^$1 " "$CONF" | cut -d: -f1; }
sed "s|^server-key .*|server-key $PKI/alice.key|" "$CONF" > "$BAD"
run_ktp 1 "^ktproxy: $BAD:$(line server-key): server-key $PKI/alice.key does not match the certificate in $PKI/proxy.crt" \
	"server-key of another certificate" -c "$BAD" --check
sed -e "s|^delegation-ca .*|delegation-ca $PKI/alice.crt|" \
	-e "s|^delegation-key .*|delegation-key $PKI/alice.key|" "$CONF" > "$BAD"
run_ktp 1 "^ktproxy: $BAD:$(line delegation-ca): delegation-ca $PKI/alice.crt is not a CA certificate" \
	"delegation-ca that is not a CA" -c "$BAD" --check
sed "s|^client-ca .*|client-ca $PKI/alice.crt|" "$CONF" > "$BAD"
run_ktp 1 "^ktproxy: $BAD:$(line client-ca): client-ca $PKI/alice.crt holds a certificate that is not a CA certificate (/C=US/O=Example Corp/OU=Engineering/CN=alice;" \
	"client-ca that is a client's certificate, not a CA" -c "$BAD" --check
sed "s|^upstream-ca .*|upstream-ca $PKI/server.crt|" "$CONF" > "$BAD"
run_ktp 1 "^ktproxy: $BAD:$(line upstream-ca): upstream-ca $PKI/server.crt holds a certificate that is not a CA" \
	"upstream-ca that is a server's certificate, not a CA" -c "$BAD" --check
: > "$RUN_DIR/empty.pem"
sed "s|^client-ca .*|client-ca $RUN_DIR/empty.pem|" "$CONF" > "$BAD"
run_ktp 1 "^ktproxy: $BAD:$(line client-ca): client-ca: cannot load CA certificates from $RUN_DIR/empty.pem" \
	"client-ca of an empty file" -c "$BAD" --check
sed -e "s|^server-cert .*|server-cert $PKI/expired.crt|" \
	-e "s|^server-key .*|server-key $PKI/expired.key|" "$CONF" > "$BAD"
run_ktp 1 "^ktproxy: $BAD:$(line server-cert): server-cert $PKI/expired.crt has expired (notAfter 2021-01-01 00:00:00 UTC)" \
	"an expired server-cert" -c "$BAD" --check
sed -e "s|^server-cert .*|server-cert $PKI/notyet.crt|" \
	-e "s|^server-key .*|server-key $PKI/notyet.key|" "$CONF" > "$BAD"
run_ktp 1 "^ktproxy: $BAD:$(line server-cert): server-cert $PKI/notyet.crt is not valid yet" \
	"a server-cert not valid yet" -c "$BAD" --check
sed -e "s|^server-cert .*|server-cert $PKI/proxy-ca.crt|" \
	-e "s|^server-key .*|server-key $PKI/proxy-ca.key|" "$CONF" > "$BAD"
run_ktp 1 "^ktproxy: $BAD:$(line server-cert): server-cert $PKI/proxy-ca.crt is a CA certificate" \
	"a CA certificate as server-cert" -c "$BAD" --check
sed "s|^server-cert .*|server-cert $PKI/proxy.key|" "$CONF" > "$BAD"
run_ktp 1 "^ktproxy: $BAD:$(line server-cert): server-cert: cannot load the certificate chain in $PKI/proxy.key" \
	"a server-cert file with no certificate" -c "$BAD" --check
sed "s|^server-key .*|server-key $PKI/proxy.crt|" "$CONF" > "$BAD"
run_ktp 1 "^ktproxy: $BAD:$(line server-key): server-key: cannot load the private key in $PKI/proxy.crt" \
	"a server-key file with no key" -c "$BAD" --check
sed "s|^client-ca .*|client-ca $RUN_DIR|" "$CONF" > "$BAD"
run_ktp 2 "^ktproxy: $BAD:$(line client-ca): client-ca: cannot read $RUN_DIR: it is a directory, not a file" \
	"a directory where a file is named" -c "$BAD" --check
sed "s|^upstream-ca .*|upstream-ca $RUN_DIR/none.pem|" "$CONF" > "$BAD"
run_ktp 2 "^ktproxy: $BAD:$(line upstream-ca): upstream-ca: cannot read $RUN_DIR/none.pem: No such file or directory" \
	"a required file that is not there" -c "$BAD" --check
run_ktp 1 "^ktproxy: --server-key $PKI/alice.key does not match" \
	"a flag's file: named as the flag, not by the file's line" -c "$CONF" --server-key "$PKI/alice.key" --check
# Root reads any file; without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (as
# after --user) a mode 0000 file is what an unreadable one is to ktproxy.
cp "$PKI/upstream-ca.crt" "$RUN_DIR/unreadable.pem"
chmod 000 "$RUN_DIR/unreadable.pem"
sed "s|^upstream-ca .*|upstream-ca $RUN_DIR/unreadable.pem|" "$CONF" > "$BAD"
out=$(timeout 10 setpriv --bounding-set=-dac_override,-dac_read_search --inh-caps=-all \
	"$KTP" -c "$BAD" --check 2>&1)
assert_eq "a file ktproxy may not read: exit 2" "$?" 2
assert_contains "...named FILE:LINE, with the reason" "$out" \
	"ktproxy: $BAD:$(line upstream-ca): upstream-ca: cannot read $RUN_DIR/unreadable.pem: Permission denied"
grep -v '^upstream-ca' "$CONF" > "$BAD"
run_ktp 2 "--upstream-ca is required (on the command line, or \"upstream-ca\" in $BAD)" \
	"a required key missing" -c "$BAD" --check

section "Listener blocks: every kind of mistake, named FILE:LINE"
# $CONF without its listen line: the blocks name theirs
grep -v '^listen ' "$CONF" > "$RUN_DIR/noln.conf"
# blocks WANT_RC PATTERN WHAT LINE...: the file without listen, plus LINEs
blocks() {
	local want=$1 pat=$2 what=$3
	shift 3
	{ cat "$RUN_DIR/noln.conf"; printf '%s\n' "$@"; } > "$BAD"
	run_ktp "$want" "$pat" "$what" -c "$BAD" --check
}
m=$(($(wc -l < "$RUN_DIR/noln.conf") + 1))	# the first added line
blocks 0 "configuration OK" "two listener blocks, different ports, allow lists and headers" \
	"listener inner {" "listen 0.0.0.0:8443" "}" \
	"listener outer {" "	listen 0.0.0.0:8444" "	allow uri:spiffe://example.test/bob" \
	"	headers rfc9440" "}"
blocks 2 "^ktproxy: $BAD:$((m + 3)): listener \"a\": a second block of that name (the first on line $m)" \
	"two listeners of one name" \
	"listener a {" "listen 0.0.0.0:1" "}" "listener a {" "listen 0.0.0.0:2" "}"
blocks 2 "^ktproxy: $BAD:$((m + 4)): listen: 0.0.0.0:1 is listener \"a\"'s address too (line $((m + 1)))" \
	"two listeners on one address" \
	"listener a {" "listen 0.0.0.0:1" "}" "listener b {" "listen 0.0.0.0:1" "}"
blocks 2 "^ktproxy: $BAD:$((m + 2)): workers: not a listener's own key: set it outside the listener blocks" \
	"a key that is not a listener's, inside a block" \
	"listener a {" "listen 0.0.0.0:1" "workers 2" "}"
blocks 2 "^ktproxy: $BAD:$((m + 2)): listen: given twice in listener \"a\" (first on line $((m + 1)))" \
	"a listener's key twice in its block" \
	"listener a {" "listen 0.0.0.0:1" "listen 0.0.0.0:2" "}"
blocks 2 "^ktproxy: $BAD:$m: listener \"a\": no listen line in the block" \
	"a block without listen" "listener a {" "allow dns:x.test" "}"
blocks 2 "^ktproxy: $BAD:$m: listener \"a\": no } closes the block (it runs to the end of the file)" \
	"a block never closed" "listener a {" "listen 0.0.0.0:1"
blocks 2 "^ktproxy: $BAD:$m: } without a listener block to close" "a } alone" "}"
blocks 2 "^ktproxy: $BAD:$((m + 2)): listener: inside listener \"a\" (line $m): close that one with } first" \
	"a block inside a block" "listener a {" "listen 0.0.0.0:1" "listener b {" "}" "}"
blocks 2 "^ktproxy: $BAD:$m: listener: \"a\" is not NAME {" "a listener line without {" \
	"listener a" "}"
blocks 2 "^ktproxy: $BAD:$((m + 1)): unknown key \"bogus\"" "an unknown key in a block" \
	"listener a {" "bogus 1" "listen 0.0.0.0:1" "}"
blocks 2 "^ktproxy: $BAD:$((m + 2)): verify-depth: \"99\" is not a number" "a bad value in a block" \
	"listener a {" "listen 0.0.0.0:1" "verify-depth 99" "}"
blocks 2 "^ktproxy: $BAD:$((m + 2)): client-ca: cannot read $RUN_DIR/none.pem: No such file" \
	"a block's file that is not there" "listener a {" "listen 0.0.0.0:1" "client-ca $RUN_DIR/none.pem" "}"
blocks 2 "^ktproxy: $BAD:$m: xfcc-mode needs --headers xfcc" "a block's settings that disagree" \
	"listener a {" "listen 0.0.0.0:1" "headers none" "xfcc-mode sanitize" "}"
{ cat "$CONF"; printf '%s\n' "listener a {" "listen 0.0.0.0:1" "}"; } > "$BAD"
run_ktp 2 "^ktproxy: $BAD:$(line listen): listen: the file has listener blocks, and each names its own" \
	"a listen line outside the blocks, when there are blocks" -c "$BAD" --check
blocks 1 "^ktproxy: $BAD:$((m + 5)): client-ca $PKI/alice.crt holds a certificate that is not a CA certificate .* (listener \"b\")" \
	"the second listener's client-ca is not a CA: named by its line and listener (exit 1)" \
	"listener a {" "listen 0.0.0.0:1" "}" "listener b {" "listen 0.0.0.0:2" "client-ca $PKI/alice.crt" "}"
{ sed "s|^server-key .*|server-key $PKI/alice.key|" "$RUN_DIR/noln.conf"
  printf '%s\n' "listener a {" "listen 0.0.0.0:1" "}" "listener b {" "listen 0.0.0.0:2" "}"; } > "$BAD"
run_ktp 1 "^ktproxy: $BAD:$(grep -n '^server-key ' "$BAD" | cut -d: -f1): server-key $PKI/alice.key does not match .* (listener \"a\")" \
	"an inherited key that does not match: named by its top-level line, and the listener" \
	-c "$BAD" --check

section "One listener block runs as the same keys at the top level would"
LIS=$RUN_DIR/lis.conf
KTP_CONNLOG=$RUN_DIR/lis.conn.log
{ grep -v '^listen \|^log ' "$CONF"; printf '%s\n' "log $KTP_CONNLOG" "listener edge {" \
	"	listen 0.0.0.0:$TPROXY_PORT" "	allow uri:spiffe://example.test/client-*   # replaces the list" \
	"	headers rfc9440" "}"; } > "$LIS"
ktproxy_start_bare -c "$LIS" || exit 1
assert_eq "one block: its allow list replaces the top level's (alice out)" "$(whoami alice)" ""
out=$(cli_curl client-001 "$URL/whoami")
assert_contains "...client-001 in" "$(field "$out" subject)" "CN=client-001"
assert_eq "...with the block's header format (no XFCC)" "$(field "$out" xfcc)" ""
assert_match "...but Client-Cert (rfc9440)" "$(field "$out" client_cert)" '^:[A-Za-z0-9+/=]*:$'
ktproxy_stop

section "The file and the command line together"
run_ktp 2 "cannot read config file $RUN_DIR/absent.conf: No such file or directory" \
	"-c of a file that is not there" -c "$RUN_DIR/absent.conf" --check
run_ktp 0 "configuration OK" "a flag overrides a good line" -c "$CONF" --listen 127.0.0.1:18443 --check
{ cat "$CONF"; echo "ocsp sometimes"; } > "$BAD"
run_ktp 2 "$BAD:$n: ocsp: \"sometimes\"" "a bad line is a mistake even when a flag overrides it" \
	-c "$BAD" --ocsp soft --check
run_ktp 2 '--workers: "0" is not a number' "a bad flag is named as a flag" -c "$CONF" --workers 0 --check
run_ktp 2 "unrecognized option '--no-such-flag'" "an unknown flag" -c "$CONF" --no-such-flag --check
cp "$CONF" "$BAD"
chmod 666 "$BAD"
run_ktp 0 "warning: config file $BAD is writable by every user" "a file anyone may write: warned" \
	-c "$BAD" --check

section "SIGHUP reads the file again"
LIVE=$RUN_DIR/live.conf
KTP_STATS=$RUN_DIR/live.stats
KTP_CONNLOG=$RUN_DIR/live.conn.log
sed -e "s|^stats .*|stats $KTP_STATS|" -e "s|^log .*|log $KTP_CONNLOG|" "$CONF" > "$LIVE"
chmod 600 "$LIVE"
ktproxy_start_bare -c "$LIVE" || exit 1
assert_eq "client-001 is not in the file's allow list" "$(whoami client-001)" ""
echo "allow           uri:spiffe://example.test/client-*" >> "$LIVE"
assert_eq "an allow line added, SIGHUP: reloaded" "$(ktproxy_hup)" reloaded
assert_match "client-001 is let in now" "$(whoami client-001)" 'CN=client-001' 
assert_eq "...and alice still" "$(whoami alice)" "$(subject_of alice)"
out=$(cli_curl alice "$URL/whoami")
assert_contains "alice's identity header as before" "$(field "$out" xfcc)" "Hash="

sed -i -e "s/^workers .*/workers 7/" "$LIVE"
echo "ocsp            sometimes" >> "$LIVE"
bad_line=$(wc -l < "$LIVE")
assert_eq "a bad value in the file: the reload is refused" "$(ktproxy_hup)" refused
assert_contains "...naming FILE:LINE" "$(cat "$KTP_STDERR")" "$LIVE:$bad_line: ocsp: \"sometimes\""
assert_match "...and the running configuration stays: client-001 still let in" \
	"$(whoami client-001)" 'CN=client-001' 
sed -i '$d' "$LIVE"
echo "headers         none" >> "$LIVE"
echo "forge-lifetime  2h" >> "$LIVE"
assert_eq "headers none, a 2 h lifetime and 7 workers: reloaded" "$(ktproxy_hup)" reloaded
assert_contains "workers take a restart: said, and the running value stays" "$(cat "$KTP_STDERR")" \
	"SIGHUP: workers changed, which takes a restart: the running value stays"
assert_contains "a new lifetime: a new signer enforces it" "$(cat "$KTP_STDERR")" "changed, new signer pid"
out=$(cli_curl alice "$URL/whoami")
assert_eq "alice's request carries no identity header now" "$(field "$out" xfcc)" ""
assert_eq "...and her forged certificate still verifies" "$(field "$out" verify)" SUCCESS
assert_eq "reloads: 2 ok, 1 failed" "$(stat_get .reloads.ok) $(stat_get .reloads.failed)" "2 1"
ktproxy_stop

section "The default file, /etc/ktproxy/ktproxy.conf"
# In a private mount namespace, /etc gets an overlay that holds the file; the
# real /etc is not changed.
etc_run() {
	unshare -m --propagation private sh -c '
		t=$1; shift
		mount -t tmpfs tmpfs "$t" && mkdir -p "$t/up/ktproxy" "$t/work" &&
		cp "$CONF" "$t/up/ktproxy/ktproxy.conf" &&
		mount -t overlay overlay -o "lowerdir=/etc,upperdir=$t/up,workdir=$t/work" /etc ||
			{ echo "no overlay mount"; exit 99; }
		exec "$@"' sh "$RUN_DIR/etc" "$@" 2>&1
}
mkdir -p "$RUN_DIR/etc"
export CONF
out=$(etc_run "$KTP" --check); rc=$?
if [ "$rc" = 99 ]; then
	skip "no overlay mount in a private namespace here: $out"
else
	assert_eq "without -c, the default file: exit 0" "$rc" 0
	assert_contains "...says it reads it" "$out" "ktproxy: reading /etc/ktproxy/ktproxy.conf"
	assert_contains "...and it is good" "$out" "configuration OK"
	out=$(etc_run "$KTP" -c /dev/null --check); rc=$?
	assert_eq "-c /dev/null reads no file: the flags are missing" "$rc" 2
	assert_not_contains "...and nothing says it read the default" "$out" "reading"
	assert_contains "...so --listen is required" "$out" "--listen is required (see ktproxy --help)"
fi
