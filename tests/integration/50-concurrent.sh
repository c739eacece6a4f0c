#!/usr/bin/env bash
# 50-concurrent: 50 clients at once (client-001..client-050), each sees its
# own identity at the upstream, none another's; the forge cache is per
# identity; the gauge returns to 0.
. "$(dirname "$0")/../lib/common"
need_root
need_ktproxy
env_up
ktproxy_start || exit 1

N=${KTP_CONCURRENT:-50}
hs0=$(stat_get .client_handshakes)
minted0=$(stat_get .forged_minted)
before=$(upstream_requests)

section "$N clients at once"
t0=$(date +%s.%N)
pids=()
for i in $(seq 1 "$N"); do
	c=client-$(printf '%03d' "$i")
	cli_curl "$c" --max-time 60 -o "$RUN_DIR/$c.out" "$URL/whoami" 2>"$RUN_DIR/$c.err" &
	pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
printf '        (%d requests in %.1f s)\n' "$N" "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')"
assert_eq "every curl succeeded" "$failed" 0

# One python pass over all answers (subject, verify, XFCC URI and Hash).
check_all() {
	python3 - "$PKI" "$RUN_DIR" "$N" "$1" <<'EOF'
import base64, hashlib, re, sys
pki, run, n, suffix = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
bad = []
for i in range(1, n + 1):
    c = "client-%03d" % i
    pem = open(f"{pki}/{c}.crt").read()
    der = base64.b64decode("".join(l for l in pem.splitlines() if not l.startswith("-----")))
    want = {"subject": f"CN={c},O=Example Corp", "verify": "SUCCESS"}
    try:
        out = open(f"{run}/{c}.{suffix}").read()
    except OSError:
        out = ""
    f = dict(l.split("=", 1) for l in out.splitlines() if "=" in l)
    xfcc = f.get("xfcc", "")
    problems = [k for k, v in want.items() if f.get(k) != v]
    if f"URI=spiffe://example.test/{c}" not in re.split(r";|,", xfcc):
        problems.append("xfcc URI")
    if f"Hash={hashlib.sha256(der).hexdigest()}" not in xfcc.split(";"):
        problems.append("xfcc Hash")
    if problems:
        bad.append(f"{c}: wrong {', '.join(problems)}: {out.splitlines()[:1]}")
print(n - len(bad))
print("\n".join(bad[:10]))
EOF
}
res=$(check_all out)
ok=$(printf '%s\n' "$res" | head -n 1)
if [ "$ok" = "$N" ]; then
	pass "all $N clients saw their own subject, URI and hash"
else
	fail "$ok of $N clients saw their own identity" "$(printf '%s\n' "$res" | tail -n +2; cat "$RUN_DIR"/client-*.err | sort | uniq -c | head -n 5)"
fi
assert_eq "$N requests reached the upstream" "$(upstream_requests)" $((before + N))
assert_stat_delta "$N verified handshakes" .client_handshakes "$hs0" "$N"
assert_stat_delta "$N certificates minted (one per identity)" .forged_minted "$minted0" "$N"

section "Again, now from the forge cache"
hits0=$(stat_get .forged_cache_hits)
minted0=$(stat_get .forged_minted)
reused0=$(stat_get .upstream_keepalive.reused)
resumed0=$(stat_get .upstream_resumed)
pids=()
for i in $(seq 1 "$N"); do
	c=client-$(printf '%03d' "$i")
	cli_curl "$c" --max-time 60 -o "$RUN_DIR/$c.out2" "$URL/whoami" 2>/dev/null &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
res=$(check_all out2)
assert_eq "second round: every client saw itself" "$(printf '%s\n' "$res" | head -n 1)" "$N"
# With several workers each has its own cache: a returning client may land
# on a worker that has not seen it yet.  One that lands on a worker that
# has takes its kept upstream connection or resumes its session; only a
# full upstream handshake asks for a certificate (lazy minting), which the
# cache then serves.
wait_idle 15
hits=$(( $(stat_get .forged_cache_hits) - hits0 )); minted=$(( $(stat_get .forged_minted) - minted0 ))
reused=$(( $(stat_get .upstream_keepalive.reused) - reused0 ))
resumed=$(( $(stat_get .upstream_resumed) - resumed0 ))
assert_eq "second round: every upstream was kept ($reused), resumed ($resumed), or shown a cached ($hits) or fresh ($minted) certificate" \
	$((hits + minted + reused + resumed)) "$N"
assert_ge "second round: served from what the first left (kept, resumed, cached)" \
	"$((hits + reused + resumed))" 1

if wait_idle 15; then pass "connections_active back to 0"
else fail "connections_active back to 0" "$(stat_get .connections_active)"; fi
ktproxy_stop
