/*
 * config.c - the settings: every option by name, from the config file and
 * the command line, each applied by one function (config_apply).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_file.h"
#include "config_msg.h"

#define KTPROXY_VERSION "0.1.0"

static const char usage_text[] =
"usage: ktproxy --listen ADDR:PORT --server-cert FILE --server-key FILE\n"
"               --client-ca FILE [--crl FILE]... [--verify-depth N]\n"
"               [--require-client-eku yes|no] [--allow KIND:PATTERN]...\n"
"               [--ocsp off|soft|hard] [--ocsp-responder URL]\n"
"               [--ocsp-timeout SEC] [--ocsp-cache N] [--ocsp-cache-ttl SEC]\n"
"               --delegation-ca FILE --delegation-key FILE --upstream-ca FILE\n"
"               [--headers FORMAT] [--xfcc-mode MODE] [--xfcc-fields LIST]\n"
"               [--header-name CANONICAL=NAME]... [--stats FILE] [--log FILE|-]\n"
"               [--log-format text|json] [--metrics ADDR:PORT]\n"
"               [--workers N] [--handshake-timeout SEC] [--idle-timeout SEC]\n"
"               [--drain-timeout SEC]\n"
"               [--forge-cache N] [--upstream-keepalive N]\n"
"               [--upstream-keepalive-timeout SEC] [--ktls auto|off]\n"
"               [--signer-user NAME] [--user NAME] [--delegation-chain FILE]\n"
"               [--forge-extensions LIST] [--forge-copy-oid OID]...\n"
"               [--forge-lifetime TIME] [--forge-serial random|copy]\n"
"               [--forge-key-type TYPE] [--forge-key-reuse MODE]\n"
"               [--forge-origin-ext] [--forge-origin-oid OID]\n"
"               [--intercept PORTS] [--intercept-iface IFNAME]...\n"
"               [--intercept-mark MARK] [--intercept-table TABLE]\n"
"               [--steer tproxy|sk_lookup] [--intercept-prefix CIDR]...\n"
"               [--spoof-source] [--check]\n"
"               [-c FILE] [--help] [--version]\n"
"       ktproxy --intercept-remove [--intercept-mark MARK] [--intercept-table TABLE]\n"
"\n"
"Transparent mTLS delegation proxy.  Connections that nftables TPROXY steers to\n"
"the listener are terminated with mutual TLS; the client certificate is verified,\n"
"a certificate for the same identity is minted by the delegation CA, and TLS is\n"
"re-originated to the connection's original destination presenting it.  Verified\n"
"identity headers are injected into every HTTP/1.1 request head.\n"
"\n"
"Listener and certificates:\n"
"  --listen ADDR:PORT       transparent listener (IP_TRANSPARENT, one SO_REUSEPORT\n"
"                           socket per worker), e.g. 0.0.0.0:8443 or [::]:8443.\n"
"                           Several listeners, each with its own certificates,\n"
"                           trust, policy and headers: listener blocks in the\n"
"                           config file (-c)\n"
"  --server-cert FILE       PEM certificate chain presented to clients (leaf first)\n"
"  --server-key FILE        PEM private key of --server-cert\n"
"  --client-ca FILE         PEM CA certificates client certificates must chain to\n"
"  --crl FILE               PEM CRLs for --client-ca; a revoked client is refused,\n"
"                           and so is any client while its CA's CRL is expired.\n"
"                           Repeatable (up to 32 files, e.g. one per CA): all are\n"
"                           loaded, and the client's issuer must have a CRL in\n"
"                           them (only the client's own certificate is checked)\n"
"  --delegation-ca FILE     PEM certificate of the CA that signs forged client\n"
"                           certificates (the upstream must trust it)\n"
"  --delegation-key FILE    PEM private key of --delegation-ca.  Only the signer\n"
"                           process reads it: workers send it what to sign\n"
"  --signer-user NAME       the signer process drops to this user after loading\n"
"                           --delegation-key (default nobody; as root only).  If\n"
"                           it dies it is restarted; meanwhile new connections\n"
"                           that need a certificate minted fail closed\n"
"  --user NAME              once the listeners are up, and before the workers\n"
"                           start, become this user for good, keeping only\n"
"                           CAP_NET_ADMIN and CAP_NET_RAW (default: none, stay\n"
"                           as started).  Takes root.  Every file a reload reads\n"
"                           must then be readable by NAME; a signer started\n"
"                           later (after a crash, or a reload with a new\n"
"                           delegation CA or key) runs as NAME and can read\n"
"                           --delegation-key only if NAME can\n"
"  --upstream-ca FILE       PEM CA certificates upstream server certificates must\n"
"                           chain to; the name checked is the client's SNI, or the\n"
"                           original destination address when there is none\n""\n"
"Client verification (besides --client-ca and --crl):\n"
"  --verify-depth N         most intermediate CAs between a client certificate and\n"
"                           its --client-ca (default 8; 0: signed by a --client-ca\n"
"                           itself); a longer chain is refused (chain_too_long)\n"
"  --require-client-eku yes|no\n"
"                           yes (default): a client certificate with an\n"
"                           extendedKeyUsage must list clientAuth (alone,\n"
"                           anyExtendedKeyUsage is not enough), a keyUsage must\n"
"                           allow digitalSignature, and CAs of the chain with an\n"
"                           extendedKeyUsage must list clientAuth too; one without\n"
"                           these extensions may be used for anything (RFC 5280).\n"
"                           Refused: purpose.  no: the purpose is not checked\n"
"  --allow KIND:PATTERN     only let in verified clients with an identity that\n"
"                           matches a pattern (repeatable, any one will do; none:\n"
"                           every verified client).  KIND: uri, dns, email (each\n"
"                           subjectAltName of that type), subject (RFC 2253, as\n"
"                           logged: CN=alice,O=Example).  PATTERN: fnmatch(3)\n"
"                           glob where * and ? also match / and . (dns and email\n"
"                           ignore case), e.g. uri:spiffe://example.test/*,\n"
"                           dns:*.example.test, email:*@example.test,\n"
"                           'subject:CN=alice,*'.  Others are refused with a\n"
"                           handshake_failure alert (not_allowed)\n"
"  --ocsp off|soft|hard     ask the client certificate's OCSP responder (RFC 6960)\n"
"                           during the handshake (default off).  revoked is\n"
"                           refused in both modes; soft lets the client in when\n"
"                           the responder answers unknown or gives no usable\n"
"                           answer (none named, unreachable, --ocsp-timeout, not\n"
"                           signed by the issuer or a responder it delegated to,\n"
"                           out of date); hard refuses it (ocsp_unknown,\n"
"                           ocsp_unavailable).  The worker goes on with other\n"
"                           connections while one waits\n"
"  --ocsp-responder URL     ask this http:// responder about every client\n"
"                           certificate (default: the OCSP URL of the\n"
"                           certificate's authorityInfoAccess)\n"
"  --ocsp-timeout SEC       time allowed for one OCSP query (default 3); the\n"
"                           --handshake-timeout still runs\n"
"  --ocsp-cache N           OCSP answers kept per worker (default 10000; 0:\n"
"                           none).  A failed query is kept 10 s\n"
"  --ocsp-cache-ttl SEC     an answer is kept until its nextUpdate, and at most\n"
"                           this long (default 3600)\n"
"\n"
"Behaviour:\n"
"  --headers FORMAT         identity headers injected into every request head:\n"
"                           xfcc              Envoy X-Forwarded-Client-Cert\n"
"                                             (default; see --xfcc-*)\n"
"                           amzn              AWS ALB verify mode:\n"
"                                             X-Amzn-Mtls-Clientcert-Serial-Number,\n"
"                                             -Issuer, -Subject, -Validity, -Leaf\n"
"                           amzn-passthrough  AWS ALB passthrough mode:\n"
"                                             X-Amzn-Mtls-Clientcert, the chain the\n"
"                                             client sent as URL-encoded PEM, leaf\n"
"                                             first (verified here all the same)\n"
"                           rfc9440           Client-Cert: :<base64 DER>: and, when\n"
"                                             the client sent more than its leaf,\n"
"                                             Client-Cert-Chain: :<b64>:, :<b64>:\n"
"                           none              nothing\n"
"                           Whatever the format, a client's own copies of all of\n"
"                           these headers (under their standard names and under\n"
"                           any --header-name) are removed, except XFCC with\n"
"                           --xfcc-mode append-forward or forward-only\n"
"  --xfcc-mode MODE         what happens to a client-sent X-Forwarded-Client-Cert\n"
"                           (Envoy's forward_client_cert_details; xfcc only):\n"
"                           sanitize-set (default) remove it, send ours;\n"
"                           sanitize remove it, send none; append-forward keep\n"
"                           it and append our element after a ','; forward-only\n"
"                           keep it, add nothing.  The last two let a client put\n"
"                           claims of its own in front of ours: only for clients\n"
"                           that are themselves trusted proxies\n"
"  --xfcc-fields LIST       XFCC keys to send, comma-separated, from By, Hash,\n"
"                           Cert, Chain, Subject, URI, DNS; always in that order\n"
"                           (default By,Hash,Cert,Subject,URI,DNS).  By: the URI\n"
"                           SANs of --server-cert, left out when it has none;\n"
"                           Chain: the leaf and the chain the client sent\n"
"  --header-name CANONICAL=NAME\n"
"                           send header CANONICAL under NAME, e.g.\n"
"                           X-Forwarded-Client-Cert=X-Client-Identity; NAME is\n"
"                           removed from client requests like CANONICAL.\n"
"                           Repeatable, once per header\n"
"  --workers N              worker threads, one io_uring each (default: CPUs)\n"
"  --handshake-timeout SEC  time allowed for both TLS handshakes (default 10)\n"
"  --idle-timeout SEC       close a connection idle this long (default 120)\n"
"  --drain-timeout SEC      on SIGTERM or SIGINT, stop listening at once and give\n"
"                           the connections open this long to finish (default\n"
"                           30; 0: close them at once).  Connections idle between\n"
"                           requests are closed (close_notify) as soon as they\n"
"                           are; what is left at the end is reset and counted\n"
"                           (connections_closed{drain_timeout})\n"
"  --forge-cache N          client identities cached per worker (default 10000);\n"
"                           with each, its forged certificate once an upstream\n"
"                           asked for one, and the upstream TLS sessions it\n"
"                           established (4 destinations), so a returning\n"
"                           client's upstream handshake is a resumption\n"
"  --upstream-keepalive N   idle upstream connections kept per worker (default\n"
"                           128; 0: none).  A client that closes between requests\n"
"                           leaves its upstream connection here, and the next\n"
"                           connection with the same client certificate to the\n"
"                           same destination and SNI reuses it: no upstream\n"
"                           connect or handshake.  Never shared between client\n"
"                           certificates.  Only after a response that kept the\n"
"                           connection alive (HTTP/1.1, no \"Connection: close\")\n"
"  --upstream-keepalive-timeout SEC\n"
"                           close a kept upstream connection idle this long\n"
"                           (default 30; keep it below the upstream's own\n"
"                           keep-alive timeout)\n"
"  --ktls auto|off          auto (default): when the kernel has kTLS, put each\n"
"                           connection's keys into it after both handshakes and\n"
"                           splice bodies between the sockets; connections whose\n"
"                           cipher the kernel cannot take stay in userspace.\n"
"                           off: always relay through OpenSSL in userspace\n"
"\n"
"Forging (the certificate the upstream sees; minted only when an upstream asks\n"
"for one with a CertificateRequest, so an upstream that does not costs no\n"
"signature):\n"
"  --delegation-chain FILE  send --delegation-ca and the PEM CA certificates in\n"
"                           FILE (its issuer first, upwards) after every forged\n"
"                           certificate: for upstreams that trust only a root\n"
"                           above the delegation CA.  FILE may start with\n"
"                           --delegation-ca itself, or be only that\n"
"  --forge-extensions LIST  the client certificate's extensions to copy, comma-\n"
"                           separated names or dotted OIDs (default\n"
"                           basicConstraints,keyUsage,extendedKeyUsage,\n"
"                           subjectAltName, as F5's C3D; none: copy nothing).\n"
"                           subjectAltName and further extensions keep their DER\n"
"                           and criticality.  basicConstraints is always\n"
"                           CA:FALSE; copied, it takes the client's criticality.\n"
"                           keyUsage and extendedKeyUsage, copied, take the\n"
"                           client's criticality and usages kept fit for TLS\n"
"                           client authentication: digitalSignature and clientAuth\n"
"                           always; never keyCertSign, cRLSign, a usage the forged\n"
"                           key type cannot have, serverAuth, codeSigning,\n"
"                           OCSPSigning, timeStamping, anyExtendedKeyUsage.  Not\n"
"                           copied, or absent from the client's certificate:\n"
"                           ktproxy's own (critical CA:FALSE, critical\n"
"                           digitalSignature, clientAuth).  SKI, AKI, AIA, CRL\n"
"                           distribution points and other extensions about the\n"
"                           client's CA are never copied\n"
"  --forge-copy-oid OID     copy this extension too (name or dotted OID);\n"
"                           repeatable, 16 at most\n"
"  --forge-lifetime TIME    validity of a forged certificate: seconds, or a number\n"
"                           with s, m, h or d (default 24h, 60s to 7d); never past\n"
"                           the client certificate's notAfter.  A cached one is\n"
"                           minted again after 90% of its life\n"
"  --forge-serial random|copy\n"
"                           random (default): 127 random bits; copy: the client\n"
"                           certificate's serial (random where RFC 5280 forbids\n"
"                           it: zero, negative, over 20 octets)\n"
"  --forge-key-type TYPE    the forged certificates' key: p256 (default), p384,\n"
"                           rsa2048, rsa3072 or ed25519\n"
"  --forge-key-reuse MODE   worker (default): one key per worker for everybody;\n"
"                           identity: a new key per identity, made when its\n"
"                           certificate is minted (an RSA key stalls the worker\n"
"                           0.1 to 1 s: use pool with RSA); pool[:N]: N keys per\n"
"                           worker (default 16) made at start, each new identity\n"
"                           taking the next one in turn\n"
"  --forge-origin-ext       add a non-critical extension naming the client's own\n"
"                           certificate, DER SEQUENCE { OCTET STRING sha256,\n"
"                           Name issuer, INTEGER serial }, under OID\n"
"                           1.3.6.1.4.1.32473.5.1 (IANA's documentation arc,\n"
"                           RFC 5612: a placeholder; see --forge-origin-oid)\n"
"  --forge-origin-oid OID   the same extension under a dotted OID of your own\n"
"\n"
"Interception (without --intercept the operator installs the TPROXY rules: see\n"
"the end of this text):\n"
"  --intercept PORTS        install the steering at start, through netlink, and\n"
"                           remove it on SIGTERM and SIGINT: TCP to these\n"
"                           destination ports (comma-separated, ranges LOW-HIGH,\n"
"                           e.g. 443,8443) goes to the --listen port.  nftables\n"
"                           table inet ktproxy (IPv4 and IPv6), chain prerouting:\n"
"                           socket transparent 1 -> mark, accept; tcp dport PORTS\n"
"                           -> tproxy to :LISTEN-PORT, mark, accept; tcp dport\n"
"                           PORTS -> counter, drop.  The last one fails closed:\n"
"                           while no ktproxy listens (killed, crashed) those\n"
"                           ports are dropped, never forwarded around the proxy\n"
"                           (nft list table inet ktproxy counts them).  And, for\n"
"                           IPv4 and IPv6: ip rule fwmark MARK lookup TABLE\n"
"                           priority 32700; ip route add local default dev lo\n"
"                           table TABLE.  32 ports or ranges at most.  A table\n"
"                           left by a killed ktproxy is replaced atomically.  With\n"
"                           --listen 0.0.0.0:PORT IPv6 connections are dropped:\n"
"                           listen on [::]:PORT to serve both.  These four\n"
"                           settings take a restart (a SIGHUP that changes them\n"
"                           says so and leaves the steering as it is), but\n"
"                           under --steer sk_lookup PORTS change in place\n"
"  --steer tproxy|sk_lookup how --intercept steers (default tproxy, above).\n"
"                           sk_lookup: a BPF sk_lookup program in ktproxy's\n"
"                           network namespace hands TCP connections whose\n"
"                           destination is in an --intercept-prefix and whose\n"
"                           port is in --intercept PORTS to ktproxy's listener,\n"
"                           on the worker pinned to the CPU the packet arrived\n"
"                           on; no nftables, no ip rule, no mark.  The program\n"
"                           sees only packets the kernel delivers locally, so\n"
"                           ktproxy adds each prefix as a local route (table\n"
"                           local, dev lo, proto 0x6b) and connects upstream\n"
"                           through the interface the prefix was routed to\n"
"                           before (SO_BINDTODEVICE; IPv4 sets accept_local on\n"
"                           it: the server's answers come from a local address).\n"
"                           Other ports of a prefix are local too: they reach\n"
"                           the gateway's own sockets (or a reset), not the\n"
"                           server.  Fails closed: after a kill -9 the program\n"
"                           goes with the process (nothing is pinned) and the\n"
"                           routes stay, so nothing is forwarded around ktproxy\n"
"                           until it starts again or --intercept-remove runs.\n"
"                           PORTS and prefixes change on SIGHUP without the\n"
"                           program being replaced; the mechanism takes a\n"
"                           restart.  Not with --spoof-source or\n"
"                           --intercept-iface; IPv6 prefixes need a [::]\n"
"                           listener.  Needs CAP_BPF and CAP_NET_ADMIN (root)\n"
"                           at start, Linux 5.9 or later\n"
"  --intercept-prefix CIDR  a destination prefix --steer sk_lookup steers,\n"
"                           e.g. 10.0.2.0/24 or fd00:2::/64 (a bare address is\n"
"                           one host); comma-separated or repeated, 64 at most\n"
"  --intercept-iface IFNAME only intercept what arrives on these interfaces\n"
"                           (comma-separated or repeated, 16 at most, and at\n"
"                           most 64 ports x interfaces; default: every\n"
"                           interface but lo)\n"
"  --intercept-mark MARK    the packet mark (default 0x6b74; decimal or 0x hex)\n"
"  --intercept-table TABLE  the routing table (default 27508)\n"
"  --spoof-source           connect upstream from the client's own address\n"
"                           (IP_TRANSPARENT), not the gateway's: the server sees\n"
"                           who is calling.  Its answers must route back through\n"
"                           this gateway (the server's route to the clients goes\n"
"                           through it), and the gateway must deliver them to\n"
"                           ktproxy: the \"socket transparent 1 ... mark\" rule\n"
"                           with the fwmark rule and local route (--intercept\n"
"                           installs them).  Kept upstream connections are\n"
"                           reused only for the same client address\n"
"  --intercept-remove       remove what an --intercept ktproxy that was killed\n"
"                           left (the table, the rules, the routes of this\n"
"                           --intercept-mark and --intercept-table), say what was\n"
"                           removed, exit 0 (1 when netlink refused).  Command\n"
"                           line only; needs no certificates\n"
"\n"
"Observability:\n"
"  --stats FILE             shared-memory stats segment read by ktproxy-stat\n"
"                           (default /run/ktproxy/stats); the live connections\n"
"                           go beside it, to FILE.conns (ktproxy-stat --conns)\n"
"  --log FILE|-             connection log, one line per connection (default -:\n"
"                           stderr)\n"
"  --log-format text|json   text (default): key=value pairs, values quoted when\n"
"                           they hold blanks or quotes; json: one JSON object per\n"
"                           line with the same keys, numbers as numbers, \"-\" for\n"
"                           a value not known\n"
"  --metrics ADDR:PORT      serve GET /metrics (Prometheus text format, the same\n"
"                           as ktproxy-stat --prometheus) over plain HTTP from a\n"
"                           thread of its own, e.g. 127.0.0.1:9464.  Loopback\n"
"                           addresses only (127.0.0.0/8, [::1]): the endpoint has\n"
"                           neither TLS nor authentication; scrape it from the\n"
"                           host, or through a proxy that adds them\n"
"\n"
"Config file:\n"
"  -c, --config FILE        read settings from FILE before the command line\n"
"                           (default /etc/ktproxy/ktproxy.conf when it exists;\n"
"                           -c /dev/null reads none).  One setting a line: a long\n"
"                           flag's name without --, blanks, its value:\n"
"                             server-cert /etc/ktproxy/proxy.crt\n"
"                             allow uri:spiffe://example.test/*  # a comment\n"
"                             forge-origin-ext yes\n"
"                           A '#' that starts a word begins a comment.  The value\n"
"                           is the rest of the line with its ends trimmed, or\n"
"                           \"quoted\" (\\\" and \\\\ inside) to keep blanks at its\n"
"                           ends or a ' #'.  A flag without a value takes yes, no\n"
"                           or nothing (yes).  Repeatable flags (crl, allow,\n"
"                           header-name, forge-copy-oid) repeat the key; any\n"
"                           other key given twice, and an unknown key, are\n"
"                           mistakes.  Flags on the command line override the\n"
"                           file: a value replaces the file's, a repeatable\n"
"                           flag's occurrences replace the file's whole list.\n"
"                           Every line must be valid, even one a flag overrides,\n"
"                           and a file a line names (certificates, keys, CRLs)\n"
"                           must be readable.  -c, --check, --help and --version\n"
"                           are for the command line only.  Every mistake is\n"
"                           named FILE:LINE, then ktproxy exits with status 2.\n"
"                           \"listener NAME {\" ... \"}\" holds one listener's\n"
"                           keys (listen, required, and those of client\n"
"                           verification, certificates and headers); outside,\n"
"                           they are every block's defaults.  Each listener is\n"
"                           served with its own; --intercept steers to the\n"
"                           first (see ktproxy.conf(5), LISTENERS)\n"
"\n"
"Other:\n"
"  --check                  load and validate everything, print \"configuration OK\"\n"
"                           and exit 0, or say what is wrong: exit 2 for a\n"
"                           mistake in the flags or the config file, 1 for a file\n"
"                           that cannot be used (a key that does not match its\n"
"                           certificate; a --server-cert that has expired, is\n"
"                           not valid yet or is a CA; a --client-ca,\n"
"                           --upstream-ca or --delegation-ca file holding a\n"
"                           certificate that is not a CA; ...), named FILE:LINE\n"
"                           when the config file set it\n"
"  --help, --version\n"
"\n"
"Signals: SIGTERM and SIGINT stop listening at once (no new connection reaches\n"
"ktproxy), let the open ones finish for --drain-timeout, reset what is left and\n"
"exit 0; a second SIGTERM or SIGINT resets them at once.\n"
"SIGUSR1 reopens --log FILE (after logrotate moved it; with --log - there is\n"
"nothing to reopen).\n"
"SIGHUP reads the config file and the command line again, and every file they\n"
"name (--delegation-key through a new signer); if all of it is good, new\n"
"connections use it and established ones keep what they began with.  A mistake:\n"
"the running configuration stays, stderr says why (FILE:LINE), reloads{failed}\n"
"counts it.  listen, workers, stats, log, log-format, metrics, signer-user, user,\n"
"ktls, upstream-keepalive[-timeout] and ocsp-cache take a restart; so do\n"
"listener blocks added, removed, renamed, reordered or moved (the reload is\n"
"refused).  The --intercept* steering is installed at start only: a reload\n"
"that changes it says so and leaves it as it is; with --steer sk_lookup,\n"
"--intercept and --intercept-prefix change in place.  The TPROXY rules ktproxy\n"
"needs without --intercept (gateway, IPv4, listener on port 8443):\n"
"  nft add table ip ktproxy\n"
"  nft add chain ip ktproxy pre '{ type filter hook prerouting priority mangle; }'\n"
"  nft add rule ip ktproxy pre meta l4proto tcp socket transparent 1 meta mark set 1 accept\n"
"  nft add rule ip ktproxy pre tcp dport 443 tproxy ip to :8443 meta mark set 1 accept\n"
"  ip rule add fwmark 1 lookup 100\n"
"  ip route add local 0.0.0.0/0 dev lo table 100\n";


/*
 * Every option, by the name it has on the command line (with --) and in
 * the config file (without).  The index is the option's id: one apply
 * function (config_apply) takes an id and a value from either place, so
 * the two can never read a setting differently.
 */
enum config_opt_id {
	OPT_LISTEN, OPT_SERVER_CERT, OPT_SERVER_KEY, OPT_CLIENT_CA, OPT_CRL,
	OPT_VERIFY_DEPTH, OPT_CLIENT_EKU, OPT_ALLOW, OPT_OCSP, OPT_OCSP_RESPONDER,
	OPT_OCSP_TIMEOUT, OPT_OCSP_CACHE, OPT_OCSP_CACHE_TTL,
	OPT_DELEGATION_CA, OPT_DELEGATION_KEY, OPT_UPSTREAM_CA, OPT_HEADERS,
	OPT_XFCC_MODE, OPT_XFCC_FIELDS, OPT_HEADER_NAME, OPT_STATS, OPT_LOG,
	OPT_LOG_FORMAT, OPT_METRICS,
	OPT_WORKERS, OPT_HS_TIMEOUT, OPT_IDLE_TIMEOUT, OPT_DRAIN_TIMEOUT, OPT_FORGE_CACHE,
	OPT_UP_KEEPALIVE, OPT_UP_KEEPALIVE_TIMEOUT, OPT_KTLS, OPT_SIGNER_USER,
	OPT_USER, OPT_DELEGATION_CHAIN, OPT_FORGE_EXTENSIONS, OPT_FORGE_COPY_OID,
	OPT_FORGE_LIFETIME, OPT_FORGE_SERIAL, OPT_FORGE_KEY_TYPE,
	OPT_FORGE_KEY_REUSE, OPT_FORGE_ORIGIN_EXT, OPT_FORGE_ORIGIN_OID,
	OPT_INTERCEPT, OPT_INTERCEPT_IFACE, OPT_INTERCEPT_MARK, OPT_INTERCEPT_TABLE,
	OPT_INTERCEPT_REMOVE, OPT_STEER, OPT_INTERCEPT_PREFIX, OPT_SPOOF_SOURCE, OPT_CONFIG, OPT_CHECK, OPT_VERSION, OPT_HELP,
	OPT__COUNT
};

_Static_assert(OPT__COUNT <= CONFIG_KEYS_MAX, "struct config's cf_key_line is too small");

#define CO_LIST		0x01	/* repeatable: each occurrence adds to a list */
#define CO_BOOL		0x02	/* no value on the command line; yes|no in the file */
#define CO_ARGV		0x04	/* command line only: an error in the file */
#define CO_PATH		0x08	/* names a file ktproxy reads: checked readable
				 * when the config file sets it */
#define CO_LISTENER	0x10	/* a listener's own: may be set in a listener
				 * block (outside: the default blocks inherit) */

#define CONFIG_GETOPT_BASE	256	/* getopt's value for an id: base + id */

static const struct config_opt {
	const char	*co_name;
	unsigned	 co_flags;
} config_opts[OPT__COUNT] = {
	[OPT_LISTEN] =			{ "listen", CO_LISTENER },
	[OPT_SERVER_CERT] =		{ "server-cert", CO_PATH | CO_LISTENER },
	[OPT_SERVER_KEY] =		{ "server-key", CO_PATH | CO_LISTENER },
	[OPT_CLIENT_CA] =		{ "client-ca", CO_PATH | CO_LISTENER },
	[OPT_CRL] =			{ "crl", CO_LIST | CO_PATH | CO_LISTENER },
	[OPT_VERIFY_DEPTH] =		{ "verify-depth", CO_LISTENER },
	[OPT_CLIENT_EKU] =		{ "require-client-eku", CO_LISTENER },
	[OPT_ALLOW] =			{ "allow", CO_LIST | CO_LISTENER },
	[OPT_OCSP] =			{ "ocsp", CO_LISTENER },
	[OPT_OCSP_RESPONDER] =		{ "ocsp-responder", CO_LISTENER },
	[OPT_OCSP_TIMEOUT] =		{ "ocsp-timeout", CO_LISTENER },
	[OPT_OCSP_CACHE] =		{ "ocsp-cache", 0 },
	[OPT_OCSP_CACHE_TTL] =		{ "ocsp-cache-ttl", 0 },
	[OPT_DELEGATION_CA] =		{ "delegation-ca", CO_PATH },
	[OPT_DELEGATION_KEY] =		{ "delegation-key", CO_PATH },
	[OPT_UPSTREAM_CA] =		{ "upstream-ca", CO_PATH },
	[OPT_HEADERS] =			{ "headers", CO_LISTENER },
	[OPT_XFCC_MODE] =		{ "xfcc-mode", CO_LISTENER },
	[OPT_XFCC_FIELDS] =		{ "xfcc-fields", CO_LISTENER },
	[OPT_HEADER_NAME] =		{ "header-name", CO_LIST | CO_LISTENER },
	[OPT_STATS] =			{ "stats", 0 },
	[OPT_LOG] =			{ "log", 0 },
	[OPT_LOG_FORMAT] =		{ "log-format", 0 },
	[OPT_METRICS] =			{ "metrics", 0 },
	[OPT_WORKERS] =			{ "workers", 0 },
	[OPT_HS_TIMEOUT] =		{ "handshake-timeout", 0 },
	[OPT_IDLE_TIMEOUT] =		{ "idle-timeout", 0 },
	[OPT_DRAIN_TIMEOUT] =		{ "drain-timeout", 0 },
	[OPT_FORGE_CACHE] =		{ "forge-cache", 0 },
	[OPT_UP_KEEPALIVE] =		{ "upstream-keepalive", 0 },
	[OPT_UP_KEEPALIVE_TIMEOUT] =	{ "upstream-keepalive-timeout", 0 },
	[OPT_KTLS] =			{ "ktls", 0 },
	[OPT_SIGNER_USER] =		{ "signer-user", 0 },
	[OPT_USER] =			{ "user", 0 },
	[OPT_DELEGATION_CHAIN] =	{ "delegation-chain", CO_PATH },
	[OPT_FORGE_EXTENSIONS] =	{ "forge-extensions", 0 },
	[OPT_FORGE_COPY_OID] =		{ "forge-copy-oid", CO_LIST },
	[OPT_FORGE_LIFETIME] =		{ "forge-lifetime", 0 },
	[OPT_FORGE_SERIAL] =		{ "forge-serial", 0 },
	[OPT_FORGE_KEY_TYPE] =		{ "forge-key-type", 0 },
	[OPT_FORGE_KEY_REUSE] =		{ "forge-key-reuse", 0 },
	[OPT_FORGE_ORIGIN_EXT] =	{ "forge-origin-ext", CO_BOOL },
	[OPT_FORGE_ORIGIN_OID] =	{ "forge-origin-oid", 0 },
	[OPT_INTERCEPT] =		{ "intercept", 0 },
	[OPT_INTERCEPT_IFACE] =		{ "intercept-iface", CO_LIST },
	[OPT_INTERCEPT_MARK] =		{ "intercept-mark", 0 },
	[OPT_INTERCEPT_TABLE] =		{ "intercept-table", 0 },
	[OPT_INTERCEPT_REMOVE] =	{ "intercept-remove", CO_ARGV | CO_BOOL },
	[OPT_STEER] =			{ "steer", 0 },
	[OPT_INTERCEPT_PREFIX] =	{ "intercept-prefix", CO_LIST },
	[OPT_SPOOF_SOURCE] =		{ "spoof-source", CO_BOOL },
	[OPT_CONFIG] =			{ "config", CO_ARGV },
	[OPT_CHECK] =			{ "check", CO_ARGV | CO_BOOL },
	[OPT_VERSION] =			{ "version", CO_ARGV | CO_BOOL },
	[OPT_HELP] =			{ "help", CO_ARGV | CO_BOOL },
};

static int	 config_uint(const char *, const char *, unsigned, unsigned, unsigned *);
static int	 config_yes_no(const char *, const char *, bool *);
static int	 config_apply(struct config *, enum config_opt_id, const char *);
static int	 config_lookup(const char *);
static int	 config_lookup_n(const char *, size_t);
static int	 config_path_readable(const char *, const char *);
struct config_parse;
static int	 config_apply_file(struct config *, const char *, const bool *,
		    struct config_parse *);
static int	 config_apply_blocks(struct config *, const char *, struct config_parse *);
static int	 config_argv(struct config *, int, char **, bool, bool *, const char **);
static int	 config_finish(struct config *);
static int	 config_require(const struct config *, const char *, const char *);

int
config_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *h = s;
	size_t hlen;
	char *end;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':')
			return -1;
		h = s + 1;
		hlen = rb - h;
		colon = rb + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -1;
		hlen = colon - s;
	}
	if (hlen >= sizeof(host))
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 1 || port > 65535)
		return -1;
	if (*s != '[') {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -1;
		*len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		*len = sizeof(*sin6);
	}
	return 0;
}

/* 127.0.0.0/8, ::1, or ::ffff:127.x.y.z. */
static bool
config_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

static int
config_uint(const char *opt, const char *arg, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || v < min || v > max || *arg == '-') {
		config_error("--%s: \"%s\" is not a number from %u to %u\n", opt, arg, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* A flag without a value: given on the command line (arg NULL), or
 * "forge-origin-ext", "... yes" or "... no" in the file. */
static int
config_yes_no(const char *opt, const char *arg, bool *out)
{
	if (arg == NULL || strcmp(arg, "yes") == 0)
		*out = true;
	else if (strcmp(arg, "no") == 0)
		*out = false;
	else {
		config_error("--%s: \"%s\" is not yes or no\n", opt, arg);
		return -1;
	}
	return 0;
}

void
config_init(struct config *cf)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	memset(cf, 0, sizeof(*cf));
	hdr_conf_init(&cf->cf_hdr);
	verify_conf_init(&cf->cf_verify);
	ocsp_conf_init(&cf->cf_ocsp);
	forge_policy_init(&cf->cf_forge);
	intercept_conf_init(&cf->cf_intercept);
	cf->cf_stats_path = "/run/ktproxy/stats";
	cf->cf_log_path = "-";
	cf->cf_workers = ncpu > 0 ? (unsigned)ncpu : 1;
	cf->cf_handshake_timeout = 10;
	cf->cf_idle_timeout = 120;
	cf->cf_drain_timeout = 30;
	cf->cf_forge_cache = 10000;
	cf->cf_up_keepalive = 128;
	cf->cf_up_keepalive_timeout = 30;
	cf->cf_ktls = true;
	cf->cf_signer_user = "nobody";
}

void
config_free(struct config *cf)
{
	if (cf->cf_lis_name != NULL)
		return;		/* a listener block's copy: its parent owns all */
	for (unsigned i = 0; i < cf->cf_nlis; i++)
		free(cf->cf_lis[i]);
	cf->cf_nlis = 0;
	hdr_conf_free(&cf->cf_hdr);
	forge_policy_free(&cf->cf_forge);
	free(cf->cf_text);
	cf->cf_text = NULL;
}

/*
 * Apply one option, from the command line or a file line.  arg must live
 * as long as cf (argv, or cf_text); NULL only for a CO_BOOL flag given
 * without a value.  0, or -1 after saying what is wrong.
 */
static int
config_apply(struct config *cf, enum config_opt_id id, const char *arg)
{
	switch (id) {
	case OPT_LISTEN:
		cf->cf_listen_str = arg;
		if (config_parse_addr(arg, &cf->cf_listen, &cf->cf_listen_len) == -1) {
			config_error("--listen: \"%s\" is not ADDR:PORT "
			    "(e.g. 0.0.0.0:8443 or [::]:8443)\n", arg);
			return -1;
		}
		return 0;
	case OPT_SERVER_CERT:	cf->cf_server_cert = arg; return 0;
	case OPT_SERVER_KEY:	cf->cf_server_key = arg; return 0;
	case OPT_CLIENT_CA:	cf->cf_client_ca = arg; return 0;
	case OPT_CRL:
		return verify_add_crl(&cf->cf_verify, arg);
	case OPT_VERIFY_DEPTH:
		return config_uint("verify-depth", arg, 0, VERIFY_DEPTH_MAX,
		    &cf->cf_verify.vc_depth);
	case OPT_CLIENT_EKU:
		if (arg == NULL || (strcmp(arg, "yes") != 0 && strcmp(arg, "no") != 0)) {
			config_error("--require-client-eku: \"%s\" is not yes or no\n",
			    arg != NULL ? arg : "");
			return -1;
		}
		cf->cf_verify.vc_client_eku = strcmp(arg, "yes") == 0;
		return 0;
	case OPT_ALLOW:
		return allow_add(&cf->cf_allow, arg);
	case OPT_OCSP:
		return ocsp_parse_mode(&cf->cf_ocsp, arg);
	case OPT_OCSP_RESPONDER:
		return ocsp_parse_responder(&cf->cf_ocsp, arg);
	case OPT_OCSP_TIMEOUT:
		return config_uint("ocsp-timeout", arg, 1, 60, &cf->cf_ocsp.oc_timeout);
	case OPT_OCSP_CACHE:
		return config_uint("ocsp-cache", arg, 0, 10000000, &cf->cf_ocsp.oc_cache);
	case OPT_OCSP_CACHE_TTL:
		return config_uint("ocsp-cache-ttl", arg, 1, 7 * 86400, &cf->cf_ocsp.oc_ttl);
	case OPT_DELEGATION_CA:	cf->cf_delegation_ca = arg; return 0;
	case OPT_DELEGATION_KEY: cf->cf_delegation_key = arg; return 0;
	case OPT_UPSTREAM_CA:	cf->cf_upstream_ca = arg; return 0;
	case OPT_HEADERS:
		return hdr_parse_format(&cf->cf_hdr, arg);
	case OPT_XFCC_MODE:
		return hdr_parse_xfcc_mode(&cf->cf_hdr, arg);
	case OPT_XFCC_FIELDS:
		return hdr_parse_xfcc_fields(&cf->cf_hdr, arg);
	case OPT_HEADER_NAME:
		return hdr_parse_name(&cf->cf_hdr, arg);
	case OPT_STATS:		cf->cf_stats_path = arg; return 0;
	case OPT_LOG:		cf->cf_log_path = arg; return 0;
	case OPT_LOG_FORMAT:
		if (strcmp(arg, "text") == 0)
			cf->cf_log_json = false;
		else if (strcmp(arg, "json") == 0)
			cf->cf_log_json = true;
		else {
			config_error("--log-format: \"%s\" is not text or json\n", arg);
			return -1;
		}
		return 0;
	case OPT_METRICS:
		cf->cf_metrics_str = arg;
		if (config_parse_addr(arg, &cf->cf_metrics, &cf->cf_metrics_len) == -1) {
			config_error("--metrics: \"%s\" is not ADDR:PORT "
			    "(e.g. 127.0.0.1:9464 or [::1]:9464)\n", arg);
			return -1;
		}
		if (!config_is_loopback(&cf->cf_metrics)) {
			config_error("--metrics: %s is not a loopback address: the endpoint has "
			    "neither TLS nor authentication (use 127.0.0.1:PORT or [::1]:PORT)\n", arg);
			return -1;
		}
		return 0;
	case OPT_WORKERS:
		return config_uint("workers", arg, 1, 256, &cf->cf_workers);
	case OPT_HS_TIMEOUT:
		return config_uint("handshake-timeout", arg, 1, 3600, &cf->cf_handshake_timeout);
	case OPT_IDLE_TIMEOUT:
		return config_uint("idle-timeout", arg, 1, 86400, &cf->cf_idle_timeout);
	case OPT_DRAIN_TIMEOUT:
		return config_uint("drain-timeout", arg, 0, 86400, &cf->cf_drain_timeout);
	case OPT_FORGE_CACHE:
		return config_uint("forge-cache", arg, 1, 10000000, &cf->cf_forge_cache);
	case OPT_UP_KEEPALIVE:
		return config_uint("upstream-keepalive", arg, 0, 1000000, &cf->cf_up_keepalive);
	case OPT_UP_KEEPALIVE_TIMEOUT:
		return config_uint("upstream-keepalive-timeout", arg, 1, 86400,
		    &cf->cf_up_keepalive_timeout);
	case OPT_KTLS:
		if (strcmp(arg, "auto") == 0)
			cf->cf_ktls = true;
		else if (strcmp(arg, "off") == 0)
			cf->cf_ktls = false;
		else {
			config_error("--ktls: \"%s\" is not auto or off\n", arg);
			return -1;
		}
		return 0;
	case OPT_SIGNER_USER:
		cf->cf_signer_user = arg;
		if (*arg == '\0') {
			config_error("--signer-user: empty user name\n");
			return -1;
		}
		return 0;
	case OPT_USER:
		cf->cf_user = arg;
		if (*arg == '\0') {
			config_error("--user: empty user name\n");
			return -1;
		}
		return 0;
	case OPT_DELEGATION_CHAIN: cf->cf_delegation_chain = arg; return 0;
	case OPT_FORGE_EXTENSIONS:
		return forge_policy_set_extensions(&cf->cf_forge, arg);
	case OPT_FORGE_COPY_OID:
		return forge_policy_add_oid(&cf->cf_forge, arg);
	case OPT_FORGE_LIFETIME:
		return forge_policy_set_lifetime(&cf->cf_forge, arg);
	case OPT_FORGE_SERIAL:
		return forge_policy_set_serial(&cf->cf_forge, arg);
	case OPT_FORGE_KEY_TYPE:
		return forge_policy_set_key_type(&cf->cf_forge, arg);
	case OPT_FORGE_KEY_REUSE:
		return forge_policy_set_key_reuse(&cf->cf_forge, arg);
	case OPT_FORGE_ORIGIN_EXT:
		return config_yes_no("forge-origin-ext", arg, &cf->cf_forge.fp_origin);
	case OPT_FORGE_ORIGIN_OID:
		return forge_policy_set_origin_oid(&cf->cf_forge, arg);
	case OPT_INTERCEPT:
		return intercept_parse_ports(&cf->cf_intercept, arg);
	case OPT_INTERCEPT_IFACE:
		return intercept_add_ifaces(&cf->cf_intercept, arg);
	case OPT_INTERCEPT_MARK:
		return intercept_parse_mark(&cf->cf_intercept, arg);
	case OPT_INTERCEPT_TABLE:
		return intercept_parse_table(&cf->cf_intercept, arg);
	case OPT_STEER:
		return intercept_parse_steer(&cf->cf_intercept, arg);
	case OPT_INTERCEPT_PREFIX:
		return intercept_add_prefixes(&cf->cf_intercept, arg);
	case OPT_SPOOF_SOURCE:
		return config_yes_no("spoof-source", arg, &cf->cf_spoof_source);
	case OPT_INTERCEPT_REMOVE:
	case OPT_CONFIG:
	case OPT_CHECK:
	case OPT_VERSION:
	case OPT_HELP:
	case OPT__COUNT:
		break;
	}
	return 0;	/* the command line's own, taken by config_argv */
}

/* A file the config file names: there, readable, and not a directory
 * (which open() and access() accept, and OpenSSL then calls "no start
 * line"). */
static int
config_path_readable(const char *key, const char *path)
{
	struct stat st;

	if (access(path, R_OK) == -1 || stat(path, &st) == -1) {
		config_error("%s: cannot read %s: %s\n", key, path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		config_error("%s: cannot read %s: it is a directory, not a file\n", key, path);
		return -1;
	}
	return 0;
}

void
config_msg_key(const struct config *cf, const char *key)
{
	int id = config_lookup(key);

	if (id != -1 && cf->cf_file != NULL && cf->cf_key_line[id] != 0)
		config_msg_at(cf->cf_file, cf->cf_key_line[id]);
	else
		config_msg_at(NULL, 0);
}

const char *
config_key(unsigned i)
{
	return i < OPT__COUNT ? config_opts[i].co_name : NULL;
}

static int
config_lookup_n(const char *name, size_t len)
{
	for (int i = 0; i < OPT__COUNT; i++)
		if (strlen(config_opts[i].co_name) == len &&
		    strncmp(config_opts[i].co_name, name, len) == 0)
			return i;
	return -1;
}

static int
config_lookup(const char *name)
{
	return config_lookup_n(name, strlen(name));
}

/* The listener blocks of a file, found by config_apply_file and applied
 * after the command line (config_apply_blocks): a block inherits what the
 * top level and the flags set. */
struct config_block {
	const char	*cb_name;
	unsigned	 cb_line;	/* of "listener NAME {" */
	size_t		 cb_first;	/* its lines: [cb_first, cb_end) */
	size_t		 cb_end;
};

struct config_parse {
	struct config_line	*cp_lines;
	size_t			 cp_nlines;
	struct config_block	 cp_block[CONFIG_LISTENERS_MAX];
	unsigned		 cp_nblocks;
};

/*
 * A line's key, looked up: its id, or -1 after saying what is wrong with
 * the line (its syntax, an unknown key, a command-line-only key, a missing
 * value).
 */
static int
config_line_id(const struct config_line *cl)
{
	const char *key = cl->cl_key;
	int id;

	if (cl->cl_error[0] != '\0') {
		if (key != NULL)
			config_error("%s: %s\n", key, cl->cl_error);
		else
			config_error("%s\n", cl->cl_error);
		return -1;
	}
	if ((id = config_lookup(key)) == -1) {
		const char *eq = strchr(key, '=');

		if (strncmp(key, "--", 2) == 0 && config_lookup(key + 2) != -1)
			config_error("unknown key \"%s\" (write it without the --)\n", key);
		else if (eq != NULL && config_lookup_n(key, eq - key) != -1)
			config_error("unknown key \"%s\" (write \"%.*s VALUE\", no =)\n",
			    key, (int)(eq - key), key);
		else
			config_error("unknown key \"%s\"\n", key);
		return -1;
	}
	if (config_opts[id].co_flags & CO_ARGV) {
		config_error("%s: only on the command line (--%s), not in a file\n", key, key);
		return -1;
	}
	if (cl->cl_value == NULL && !(config_opts[id].co_flags & CO_BOOL)) {
		config_error("%s: missing value\n", key);
		return -1;
	}
	return id;
}

/* "listener NAME {": the block's name, or NULL after saying what is wrong. */
static const char *
config_block_name(const struct config_line *cl)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_.";
	char *v = cl->cl_value, *sp;
	size_t n;

	if (v == NULL || (sp = strpbrk(v, " \t")) == NULL ||
	    strcmp(sp + strspn(sp, " \t"), "{") != 0) {
		config_error("listener: \"%s\" is not NAME { (the block opens on the "
		    "listener's line)\n", v != NULL ? v : "");
		return NULL;
	}
	n = sp - v;
	if (n > 32 || strspn(v, ok) < n) {
		config_error("listener: \"%.*s\" is not a name (at most 32 letters, digits, "
		    "- _ .)\n", (int)n, v);
		return NULL;
	}
	*sp = '\0';		/* the line is ours: cf_text */
	return v;
}

/*
 * Apply the top-level lines of cf_text (the file name), except that a
 * line whose option the command line gives (on_argv[id]) goes to a scratch
 * config: it is checked all the same, and dropped.  Listener blocks are
 * found, their syntax checked, and left in cp for config_apply_blocks.
 * Returns the number of mistakes, each reported as name:LINE; -1 when out
 * of memory.
 */
static int
config_apply_file(struct config *cf, const char *name, const bool *on_argv,
    struct config_parse *cp)
{
	struct config_line *lines;
	struct config *scratch = NULL, *to;
	struct config_block *open = NULL;
	unsigned first[OPT__COUNT] = { 0 };
	size_t nlines;
	int errors, id;

	if (config_file_split(cf->cf_text, cf->cf_text_len, &lines, &nlines) == -1)
		return -1;
	cp->cp_lines = lines;
	cp->cp_nlines = nlines;
	errors = 0;
	for (size_t i = 0; i < nlines; i++) {
		const struct config_line *cl = &lines[i];
		const char *key = cl->cl_key, *bname;

		config_msg_at(name, cl->cl_line);
		if (key != NULL && cl->cl_error[0] == '\0' && strcmp(key, "listener") == 0) {
			if (open != NULL) {
				config_error("listener: inside listener \"%s\" (line %u): close "
				    "that one with } first\n", open->cb_name, open->cb_line);
				errors++;
			} else if ((bname = config_block_name(cl)) == NULL) {
				errors++;
			} else if (cp->cp_nblocks == CONFIG_LISTENERS_MAX) {
				config_error("listener: more than %d listener blocks\n",
				    CONFIG_LISTENERS_MAX);
				errors++;
			} else {
				open = &cp->cp_block[cp->cp_nblocks++];
				open->cb_name = bname;
				open->cb_line = cl->cl_line;
				open->cb_first = i + 1;
			}
			continue;
		}
		if (key != NULL && cl->cl_error[0] == '\0' && strcmp(key, "}") == 0) {
			if (open == NULL) {
				config_error("} without a listener block to close\n");
				errors++;
			} else if (cl->cl_value != NULL) {
				config_error("}: text after the }\n");
				errors++;
			} else {
				open->cb_end = i;
				open = NULL;
			}
			continue;
		}
		if (open != NULL)
			continue;	/* the block's: config_apply_blocks */
		if ((id = config_line_id(cl)) == -1) {
			errors++;
			continue;
		}
		if (first[id] != 0 && !(config_opts[id].co_flags & CO_LIST)) {
			config_error("%s: given twice (first on line %u)\n", key, first[id]);
			errors++;
			continue;
		}
		if (first[id] == 0)
			first[id] = cl->cl_line;
		to = cf;
		if (on_argv[id]) {
			if (scratch == NULL) {
				if ((scratch = malloc(sizeof(*scratch))) == NULL) {
					errors = -1;
					break;
				}
				config_init(scratch);
			}
			to = scratch;
		} else if (cf->cf_key_line[id] == 0)
			cf->cf_key_line[id] = cl->cl_line;
		if (config_apply(to, id, cl->cl_value) == -1)
			errors++;
		else if ((config_opts[id].co_flags & CO_PATH) &&
		    config_path_readable(key, cl->cl_value) == -1)
			errors++;
	}
	if (open != NULL && errors != -1) {
		config_msg_at(name, open->cb_line);
		config_error("listener \"%s\": no } closes the block (it runs to the end "
		    "of the file)\n", open->cb_name);
		open->cb_end = nlines;	/* checked all the same, for what else is wrong */
		errors++;
	}
	config_msg_at(NULL, 0);
	if (scratch != NULL) {
		config_free(scratch);
		free(scratch);
	}
	return errors;
}

/* A list key's first line in a block: the block's list replaces the one it
 * inherited, it does not add to it. */
static void
config_list_reset(struct config *cf, int id)
{
	struct hdr_conf keep;

	switch (id) {
	case OPT_CRL:
		cf->cf_verify.vc_ncrl = 0;
		break;
	case OPT_ALLOW:
		cf->cf_allow.al_n = 0;
		break;
	case OPT_HEADER_NAME:
		keep = cf->cf_hdr;
		hdr_conf_init(&cf->cf_hdr);
		cf->cf_hdr.hc_format = keep.hc_format;
		cf->cf_hdr.hc_xfcc_mode = keep.hc_xfcc_mode;
		cf->cf_hdr.hc_xfcc_fields = keep.hc_xfcc_fields;
		break;
	}
}

/* Two listen addresses that are the same socket address. */
static bool
config_same_addr(const struct config *a, const struct config *b)
{
	return a->cf_listen_len == b->cf_listen_len &&
	    memcmp(&a->cf_listen, &b->cf_listen, a->cf_listen_len) == 0;
}

/*
 * Each listener block: a copy of cf as the top level and the flags left
 * it, with the block's own lines applied (only per-listener keys; a list
 * key replaces the inherited list).  The copies go to cf_lis.  Returns the
 * number of mistakes; -1 when out of memory.
 */
static int
config_apply_blocks(struct config *cf, const char *name, struct config_parse *cp)
{
	int errors = 0, id;

	if (cp->cp_nblocks > 0 && cf->cf_listen_str != NULL) {
		config_msg_key(cf, "listen");
		config_error("--listen: the file has listener blocks, and each names its own "
		    "listen address: none outside them\n");
		errors++;
	}
	for (unsigned b = 0; b < cp->cp_nblocks; b++) {
		const struct config_block *cb = &cp->cp_block[b];
		unsigned first[OPT__COUNT] = { 0 };
		struct config *lc;

		config_msg_at(name, cb->cb_line);
		for (unsigned o = 0; o < b; o++)
			if (strcmp(cp->cp_block[o].cb_name, cb->cb_name) == 0) {
				config_error("listener \"%s\": a second block of that name (the "
				    "first on line %u)\n", cb->cb_name, cp->cp_block[o].cb_line);
				errors++;
			}
		if ((lc = malloc(sizeof(*lc))) == NULL)
			return -1;
		*lc = *cf;
		memset(lc->cf_lis, 0, sizeof(lc->cf_lis));
		lc->cf_nlis = 0;
		lc->cf_text = NULL;
		lc->cf_lis_name = cb->cb_name;
		lc->cf_lis_line = cb->cb_line;
		cf->cf_lis[cf->cf_nlis++] = lc;
		for (size_t i = cb->cb_first; i < cb->cb_end; i++) {
			const struct config_line *cl = &cp->cp_lines[i];

			config_msg_at(name, cl->cl_line);
			if ((id = config_line_id(cl)) == -1) {
				errors++;
				continue;
			}
			if (!(config_opts[id].co_flags & CO_LISTENER)) {
				config_error("%s: not a listener's own key: set it outside the "
				    "listener blocks (it is the same for all of them)\n", cl->cl_key);
				errors++;
				continue;
			}
			if (first[id] != 0 && !(config_opts[id].co_flags & CO_LIST)) {
				config_error("%s: given twice in listener \"%s\" (first on line "
				    "%u)\n", cl->cl_key, cb->cb_name, first[id]);
				errors++;
				continue;
			}
			if (first[id] == 0) {
				first[id] = cl->cl_line;
				lc->cf_key_line[id] = cl->cl_line;
				if (config_opts[id].co_flags & CO_LIST)
					config_list_reset(lc, id);
			}
			if (config_apply(lc, id, cl->cl_value) == -1)
				errors++;
			else if ((config_opts[id].co_flags & CO_PATH) &&
			    config_path_readable(cl->cl_key, cl->cl_value) == -1)
				errors++;
		}
		config_msg_at(name, cb->cb_line);
		if (first[OPT_LISTEN] == 0) {
			config_error("listener \"%s\": no listen line in the block (each listener "
			    "names its own address)\n", cb->cb_name);
			errors++;
			continue;
		}
		for (unsigned o = 0; o + 1 < cf->cf_nlis; o++)
			if (cf->cf_lis[o]->cf_listen_str != NULL && config_same_addr(cf->cf_lis[o], lc)) {
				config_msg_at(name, lc->cf_key_line[OPT_LISTEN]);
				config_error("listen: %s is listener \"%s\"'s address too (line "
				    "%u)\n", lc->cf_listen_str, cf->cf_lis[o]->cf_lis_name,
				    cf->cf_lis[o]->cf_key_line[OPT_LISTEN]);
				errors++;
			}
	}
	config_msg_at(NULL, 0);
	return errors;
}

int
config_load_text(struct config *cf, const char *name, const char *text, size_t len)
{
	bool on_argv[OPT__COUNT] = { false };
	struct config_parse cp;
	int errors, rc;

	free(cf->cf_text);
	if ((cf->cf_text = malloc(len + 1)) == NULL) {
		config_error("%s: out of memory\n", name);
		return -1;
	}
	memcpy(cf->cf_text, text, len);
	cf->cf_text[len] = '\0';
	cf->cf_text_len = len;
	cf->cf_file = name;
	memset(&cp, 0, sizeof(cp));
	errors = config_apply_file(cf, name, on_argv, &cp);
	if (errors != -1 && (rc = config_apply_blocks(cf, name, &cp)) != 0)
		errors = rc == -1 ? -1 : errors + rc;
	free(cp.cp_lines);
	if (errors == -1)
		config_error("%s: out of memory\n", name);
	return errors == 0 ? 0 : -1;
}

/*
 * One pass over argv.  The first (apply false) takes only what is the
 * command line's own (-c, --check, --help, --version), notes which options
 * are there (on_argv) and says what is wrong with the syntax; the second
 * applies the rest, after the file.  Returns the number of mistakes.
 */
static int
config_argv(struct config *cf, int argc, char **argv, bool apply, bool *on_argv,
    const char **path)
{
	struct option longopts[OPT__COUNT + 1];
	int c, id, errors = 0;

	for (int i = 0; i < OPT__COUNT; i++) {
		longopts[i].name = config_opts[i].co_name;
		longopts[i].has_arg = config_opts[i].co_flags & CO_BOOL ? no_argument :
		    required_argument;
		longopts[i].flag = NULL;
		longopts[i].val = CONFIG_GETOPT_BASE + i;
	}
	memset(&longopts[OPT__COUNT], 0, sizeof(longopts[OPT__COUNT]));
	optind = 0;		/* glibc: start over, a reload parses argv again */
	opterr = !apply;	/* the first pass has said it */
	while ((c = getopt_long(argc, argv, "hc:", longopts, NULL)) != -1) {
		if (c == 'h')
			id = OPT_HELP;
		else if (c == 'c')
			id = OPT_CONFIG;
		else if (c >= CONFIG_GETOPT_BASE && c < CONFIG_GETOPT_BASE + OPT__COUNT)
			id = c - CONFIG_GETOPT_BASE;
		else {
			config_error("see ktproxy --help\n");
			return errors + 1;
		}
		if (apply) {
			if (!(config_opts[id].co_flags & CO_ARGV) &&
			    config_apply(cf, id, optarg) == -1)
				errors++;
			continue;
		}
		on_argv[id] = true;
		switch (id) {
		case OPT_CONFIG:
			*path = optarg;
			break;
		case OPT_CHECK:
			cf->cf_check = true;
			break;
		case OPT_INTERCEPT_REMOVE:
			cf->cf_intercept.ic_remove = true;
			break;
		case OPT_VERSION:
			printf("ktproxy %s\n", KTPROXY_VERSION);
			exit(0);
		case OPT_HELP:
			fputs(usage_text, stdout);
			exit(0);
		}
	}
	if (optind < argc) {
		config_error("unexpected argument \"%s\" (see ktproxy --help)\n", argv[optind]);
		errors++;
	}
	return errors;
}

static int
config_require(const struct config *cf, const char *value, const char *opt)
{
	if (value != NULL)
		return 0;
	if (cf->cf_file != NULL && cf->cf_text_len > 0)
		config_error("--%s is required (on the command line, or \"%s\" in %s)\n",
		    opt, opt, cf->cf_file);
	else
		config_error("--%s is required (see ktproxy --help)\n", opt);
	return 1;
}

/* A listener's settings that must agree with each other, and its files. */
static int
config_finish_listener(const struct config *cf)
{
	int errors = 0;

	errors += hdr_conf_check(&cf->cf_hdr) == -1;
	if (cf->cf_ocsp.oc_responder != NULL && cf->cf_ocsp.oc_mode == OCSP_OFF) {
		config_error("--ocsp-responder needs --ocsp soft or hard\n");
		errors++;
	}
	if (cf->cf_lis_name == NULL) {
		errors += config_require(cf, cf->cf_listen_str, "listen");
		errors += config_require(cf, cf->cf_server_cert, "server-cert");
		errors += config_require(cf, cf->cf_server_key, "server-key");
		errors += config_require(cf, cf->cf_client_ca, "client-ca");
		return errors;
	}
	for (unsigned i = 0; i < 3; i++) {
		static const char *const key[] = { "server-cert", "server-key", "client-ca" };
		const char *v = i == 0 ? cf->cf_server_cert : i == 1 ? cf->cf_server_key :
		    cf->cf_client_ca;

		if (v == NULL) {
			config_error("%s is required: in the block, or outside the blocks for "
			    "every listener\n", key[i]);
			errors++;
		}
	}
	return errors;
}

/* One listener block: its settings become the daemon's, as if the file
 * had no block (the listener's name stays in cf_lis[0]). */
static void
config_adopt_listener(struct config *cf, const struct config *lc)
{
	cf->cf_listen = lc->cf_listen;
	cf->cf_listen_len = lc->cf_listen_len;
	cf->cf_listen_str = lc->cf_listen_str;
	cf->cf_server_cert = lc->cf_server_cert;
	cf->cf_server_key = lc->cf_server_key;
	cf->cf_client_ca = lc->cf_client_ca;
	cf->cf_verify = lc->cf_verify;
	cf->cf_allow = lc->cf_allow;
	cf->cf_ocsp = lc->cf_ocsp;
	cf->cf_hdr = lc->cf_hdr;	/* owns nothing yet: hc_by comes with tls_load */
	for (int id = 0; id < OPT__COUNT; id++)
		if (config_opts[id].co_flags & CO_LISTENER)
			cf->cf_key_line[id] = lc->cf_key_line[id];
}

/* sk_lookup hands connections to the first listener's sockets; the kernel
 * gives an IPv6 connection only to an IPv6 socket (an IPv4 one to either,
 * unless the IPv6 socket is IPv6-only). */
static int
config_finish_steer(const struct config *cf)
{
	const struct intercept_conf *ic = &cf->cf_intercept;
	const struct config *lc = cf->cf_nlis > 0 ? cf->cf_lis[0] : cf;
	int errors = 0;

	if (ic->ic_steer != STEER_SK_LOOKUP)
		return 0;
	if (cf->cf_spoof_source) {
		config_error("--spoof-source needs --steer tproxy: with sk_lookup the "
		    "server's answers to a client's address would not come back to ktproxy\n");
		errors++;
	}
	for (unsigned i = 0; i < ic->ic_nprefixes; i++)
		if (ic->ic_prefix[i].ip_family == AF_INET6 &&
		    lc->cf_listen.ss_family != AF_INET6) {
			config_error("--intercept-prefix %s: IPv6 connections need an IPv6 "
			    "listener: --listen [::]:PORT (it takes IPv4 too)\n",
			    ic->ic_prefix[i].ip_str);
			errors++;
			break;
		}
	return errors;
}

/* What no single option can say: combinations, and what must be given. */
static int
config_finish(struct config *cf)
{
	int errors = 0;

	errors += intercept_conf_check(&cf->cf_intercept);
	/* --intercept-remove needs only the mark and the table */
	if (cf->cf_intercept.ic_remove)
		return errors;
	if (cf->cf_nlis == 0)
		errors += config_finish_listener(cf);
	for (unsigned i = 0; i < cf->cf_nlis; i++) {
		config_msg_at(cf->cf_file, cf->cf_lis[i]->cf_lis_line);
		errors += config_finish_listener(cf->cf_lis[i]);
		config_msg_at(NULL, 0);
	}
	errors += config_require(cf, cf->cf_delegation_ca, "delegation-ca");
	errors += config_require(cf, cf->cf_delegation_key, "delegation-key");
	errors += config_require(cf, cf->cf_upstream_ca, "upstream-ca");
	if (errors == 0 && cf->cf_nlis == 1)
		config_adopt_listener(cf, cf->cf_lis[0]);
	errors += config_finish_steer(cf);
	return errors;
}

int
config_load(struct config *cf, const char *default_path, int argc, char **argv)
{
	bool on_argv[OPT__COUNT] = { false };
	struct config_parse cp;
	const char *path = NULL;
	int errors, rc;

	config_init(cf);
	memset(&cp, 0, sizeof(cp));
	/* A mistake in the flags' syntax stops here, before any file is read. */
	if (config_argv(cf, argc, argv, false, on_argv, &path) != 0)
		return -1;
	errors = 0;
	if (path != NULL || default_path != NULL) {
		rc = config_file_read(path != NULL ? path : default_path, path == NULL,
		    &cf->cf_text, &cf->cf_text_len);
		if (rc == -1)
			return -1;
		if (rc == 1) {
			cf->cf_file = path != NULL ? path : default_path;
			if (path == NULL)
				fprintf(stderr, "ktproxy: reading %s\n", cf->cf_file);
			if ((rc = config_apply_file(cf, cf->cf_file, on_argv, &cp)) == -1) {
				free(cp.cp_lines);
				config_error("%s: out of memory\n", cf->cf_file);
				return -1;
			}
			errors += rc;
		}
	}
	errors += config_argv(cf, argc, argv, true, NULL, NULL);
	/* Blocks inherit what the top level and the flags set. */
	if (cf->cf_file != NULL && (rc = config_apply_blocks(cf, cf->cf_file, &cp)) != 0) {
		if (rc == -1) {
			free(cp.cp_lines);
			config_error("%s: out of memory\n", cf->cf_file);
			return -1;
		}
		errors += rc;
	}
	free(cp.cp_lines);
	errors += config_finish(cf);
	return errors == 0 ? 0 : -1;
}
