/*
 * config.c - command-line parsing and validation.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

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
"               [--workers N] [--handshake-timeout SEC] [--idle-timeout SEC]\n"
"               [--forge-cache N] [--upstream-keepalive N]\n"
"               [--upstream-keepalive-timeout SEC] [--ktls auto|off]\n"
"               [--signer-user NAME] [--delegation-chain FILE]\n"
"               [--forge-extensions LIST] [--forge-copy-oid OID]...\n"
"               [--forge-lifetime TIME] [--forge-serial random|copy]\n"
"               [--forge-key-type TYPE] [--forge-key-reuse MODE]\n"
"               [--forge-origin-ext] [--forge-origin-oid OID] [--check]\n"
"               [--help] [--version]\n"
"\n"
"Transparent mTLS delegation proxy.  Connections that nftables TPROXY steers to\n"
"the listener are terminated with mutual TLS; the client certificate is verified,\n"
"a certificate for the same identity is minted by the delegation CA, and TLS is\n"
"re-originated to the connection's original destination presenting it.  Verified\n"
"identity headers are injected into every HTTP/1.1 request head.\n"
"\n"
"Listener and certificates:\n"
"  --listen ADDR:PORT       transparent listener (IP_TRANSPARENT, one SO_REUSEPORT\n"
"                           socket per worker), e.g. 0.0.0.0:8443 or [::]:8443\n"
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
"Observability:\n"
"  --stats FILE             shared-memory stats segment read by ktproxy-stat\n"
"                           (default /run/ktproxy/stats)\n"
"  --log FILE|-             connection log, one line per connection (default -:\n"
"                           stderr)\n"
"\n"
"Other:\n"
"  --check                  load and validate everything, print \"configuration OK\"\n"
"                           and exit 0, or say what is wrong and exit 1\n"
"  --help, --version\n"
"\n"
"Signals: SIGTERM and SIGINT stop accepting and close connections.\n"
"SIGHUP reads every file again (server certificate and key, --client-ca, --crl,\n"
"--upstream-ca, --delegation-ca, --delegation-chain; --delegation-key through a\n"
"new signer) and, if all of it is good, new connections use it; established ones\n"
"keep what they began with.  A bad file: the running files stay, stderr says why,\n"
"reloads{failed} counts it.  Flags are not re-read.\n"
"The TPROXY rules ktproxy needs (gateway, IPv4, listener on port 8443):\n"
"  nft add table ip ktproxy\n"
"  nft add chain ip ktproxy pre '{ type filter hook prerouting priority mangle; }'\n"
"  nft add rule ip ktproxy pre meta l4proto tcp socket transparent 1 meta mark set 1 accept\n"
"  nft add rule ip ktproxy pre tcp dport 443 tproxy ip to :8443 meta mark set 1 accept\n"
"  ip rule add fwmark 1 lookup 100\n"
"  ip route add local 0.0.0.0/0 dev lo table 100\n";

enum {
	OPT_LISTEN = 256, OPT_SERVER_CERT, OPT_SERVER_KEY, OPT_CLIENT_CA, OPT_CRL,
	OPT_DELEGATION_CA, OPT_DELEGATION_KEY, OPT_UPSTREAM_CA, OPT_HEADERS,
	OPT_STATS, OPT_LOG, OPT_WORKERS, OPT_HS_TIMEOUT, OPT_IDLE_TIMEOUT,
	OPT_FORGE_CACHE, OPT_UP_KEEPALIVE, OPT_UP_KEEPALIVE_TIMEOUT, OPT_KTLS, OPT_CHECK, OPT_VERSION,
	OPT_SIGNER_USER, OPT_XFCC_MODE, OPT_XFCC_FIELDS, OPT_HEADER_NAME,
	OPT_VERIFY_DEPTH, OPT_CLIENT_EKU, OPT_ALLOW, OPT_OCSP, OPT_OCSP_RESPONDER,
	OPT_OCSP_TIMEOUT, OPT_OCSP_CACHE, OPT_OCSP_CACHE_TTL,
	OPT_DELEGATION_CHAIN, OPT_FORGE_EXTENSIONS, OPT_FORGE_COPY_OID, OPT_FORGE_LIFETIME,
	OPT_FORGE_SERIAL, OPT_FORGE_KEY_TYPE, OPT_FORGE_KEY_REUSE, OPT_FORGE_ORIGIN_EXT,
	OPT_FORGE_ORIGIN_OID,
};

static const struct option config_options[] = {
	{ "listen",		required_argument, NULL, OPT_LISTEN },
	{ "server-cert",	required_argument, NULL, OPT_SERVER_CERT },
	{ "server-key",		required_argument, NULL, OPT_SERVER_KEY },
	{ "client-ca",		required_argument, NULL, OPT_CLIENT_CA },
	{ "crl",		required_argument, NULL, OPT_CRL },
	{ "verify-depth",	required_argument, NULL, OPT_VERIFY_DEPTH },
	{ "require-client-eku",	required_argument, NULL, OPT_CLIENT_EKU },
	{ "allow",		required_argument, NULL, OPT_ALLOW },
	{ "ocsp",		required_argument, NULL, OPT_OCSP },
	{ "ocsp-responder",	required_argument, NULL, OPT_OCSP_RESPONDER },
	{ "ocsp-timeout",	required_argument, NULL, OPT_OCSP_TIMEOUT },
	{ "ocsp-cache",		required_argument, NULL, OPT_OCSP_CACHE },
	{ "ocsp-cache-ttl",	required_argument, NULL, OPT_OCSP_CACHE_TTL },
	{ "delegation-ca",	required_argument, NULL, OPT_DELEGATION_CA },
	{ "delegation-key",	required_argument, NULL, OPT_DELEGATION_KEY },
	{ "upstream-ca",	required_argument, NULL, OPT_UPSTREAM_CA },
	{ "headers",		required_argument, NULL, OPT_HEADERS },
	{ "xfcc-mode",		required_argument, NULL, OPT_XFCC_MODE },
	{ "xfcc-fields",	required_argument, NULL, OPT_XFCC_FIELDS },
	{ "header-name",	required_argument, NULL, OPT_HEADER_NAME },
	{ "stats",		required_argument, NULL, OPT_STATS },
	{ "log",		required_argument, NULL, OPT_LOG },
	{ "workers",		required_argument, NULL, OPT_WORKERS },
	{ "handshake-timeout",	required_argument, NULL, OPT_HS_TIMEOUT },
	{ "idle-timeout",	required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "forge-cache",	required_argument, NULL, OPT_FORGE_CACHE },
	{ "upstream-keepalive",	required_argument, NULL, OPT_UP_KEEPALIVE },
	{ "upstream-keepalive-timeout", required_argument, NULL, OPT_UP_KEEPALIVE_TIMEOUT },
	{ "ktls",		required_argument, NULL, OPT_KTLS },
	{ "signer-user",	required_argument, NULL, OPT_SIGNER_USER },
	{ "delegation-chain",	required_argument, NULL, OPT_DELEGATION_CHAIN },
	{ "forge-extensions",	required_argument, NULL, OPT_FORGE_EXTENSIONS },
	{ "forge-copy-oid",	required_argument, NULL, OPT_FORGE_COPY_OID },
	{ "forge-lifetime",	required_argument, NULL, OPT_FORGE_LIFETIME },
	{ "forge-serial",	required_argument, NULL, OPT_FORGE_SERIAL },
	{ "forge-key-type",	required_argument, NULL, OPT_FORGE_KEY_TYPE },
	{ "forge-key-reuse",	required_argument, NULL, OPT_FORGE_KEY_REUSE },
	{ "forge-origin-ext",	no_argument,	   NULL, OPT_FORGE_ORIGIN_EXT },
	{ "forge-origin-oid",	required_argument, NULL, OPT_FORGE_ORIGIN_OID },
	{ "check",		no_argument,	   NULL, OPT_CHECK },
	{ "version",		no_argument,	   NULL, OPT_VERSION },
	{ "help",		no_argument,	   NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

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

static int
config_uint(const char *opt, const char *arg, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || v < min || v > max || *arg == '-') {
		fprintf(stderr, "ktproxy: --%s: \"%s\" is not a number from %u to %u\n",
		    opt, arg, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int
config_require(const char *value, const char *opt)
{
	if (value != NULL)
		return 0;
	fprintf(stderr, "ktproxy: --%s is required (see ktproxy --help)\n", opt);
	return -1;
}

int
config_parse(struct config *cf, int argc, char **argv)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int c, bad = 0;

	memset(cf, 0, sizeof(*cf));
	hdr_conf_init(&cf->cf_hdr);
	verify_conf_init(&cf->cf_verify);
	ocsp_conf_init(&cf->cf_ocsp);
	forge_policy_init(&cf->cf_forge);
	cf->cf_stats_path = "/run/ktproxy/stats";
	cf->cf_log_path = "-";
	cf->cf_workers = ncpu > 0 ? (unsigned)ncpu : 1;
	cf->cf_handshake_timeout = 10;
	cf->cf_idle_timeout = 120;
	cf->cf_forge_cache = 10000;
	cf->cf_up_keepalive = 128;
	cf->cf_up_keepalive_timeout = 30;
	cf->cf_ktls = true;
	cf->cf_signer_user = "nobody";

	while ((c = getopt_long(argc, argv, "h", config_options, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			cf->cf_listen_str = optarg;
			if (config_parse_addr(optarg, &cf->cf_listen, &cf->cf_listen_len) == -1) {
				fprintf(stderr, "ktproxy: --listen: \"%s\" is not ADDR:PORT "
				    "(e.g. 0.0.0.0:8443 or [::]:8443)\n", optarg);
				bad = 1;
			}
			break;
		case OPT_SERVER_CERT:	cf->cf_server_cert = optarg; break;
		case OPT_SERVER_KEY:	cf->cf_server_key = optarg; break;
		case OPT_CLIENT_CA:	cf->cf_client_ca = optarg; break;
		case OPT_CRL:
			bad |= verify_add_crl(&cf->cf_verify, optarg) == -1;
			break;
		case OPT_VERIFY_DEPTH:
			bad |= config_uint("verify-depth", optarg, 0, VERIFY_DEPTH_MAX,
			    &cf->cf_verify.vc_depth) == -1;
			break;
		case OPT_CLIENT_EKU:
			if (strcmp(optarg, "yes") == 0)
				cf->cf_verify.vc_client_eku = true;
			else if (strcmp(optarg, "no") == 0)
				cf->cf_verify.vc_client_eku = false;
			else {
				fprintf(stderr, "ktproxy: --require-client-eku: \"%s\" is not yes "
				    "or no\n", optarg);
				bad = 1;
			}
			break;
		case OPT_ALLOW:
			bad |= allow_add(&cf->cf_allow, optarg) == -1;
			break;
		case OPT_OCSP:
			bad |= ocsp_parse_mode(&cf->cf_ocsp, optarg) == -1;
			break;
		case OPT_OCSP_RESPONDER:
			bad |= ocsp_parse_responder(&cf->cf_ocsp, optarg) == -1;
			break;
		case OPT_OCSP_TIMEOUT:
			bad |= config_uint("ocsp-timeout", optarg, 1, 60,
			    &cf->cf_ocsp.oc_timeout) == -1;
			break;
		case OPT_OCSP_CACHE:
			bad |= config_uint("ocsp-cache", optarg, 0, 10000000,
			    &cf->cf_ocsp.oc_cache) == -1;
			break;
		case OPT_OCSP_CACHE_TTL:
			bad |= config_uint("ocsp-cache-ttl", optarg, 1, 7 * 86400,
			    &cf->cf_ocsp.oc_ttl) == -1;
			break;
		case OPT_DELEGATION_CA:	cf->cf_delegation_ca = optarg; break;
		case OPT_DELEGATION_KEY: cf->cf_delegation_key = optarg; break;
		case OPT_UPSTREAM_CA:	cf->cf_upstream_ca = optarg; break;
		case OPT_HEADERS:
			bad |= hdr_parse_format(&cf->cf_hdr, optarg) == -1;
			break;
		case OPT_XFCC_MODE:
			bad |= hdr_parse_xfcc_mode(&cf->cf_hdr, optarg) == -1;
			break;
		case OPT_XFCC_FIELDS:
			bad |= hdr_parse_xfcc_fields(&cf->cf_hdr, optarg) == -1;
			break;
		case OPT_HEADER_NAME:
			bad |= hdr_parse_name(&cf->cf_hdr, optarg) == -1;
			break;
		case OPT_STATS:		cf->cf_stats_path = optarg; break;
		case OPT_LOG:		cf->cf_log_path = optarg; break;
		case OPT_WORKERS:
			bad |= config_uint("workers", optarg, 1, 256, &cf->cf_workers) == -1;
			break;
		case OPT_HS_TIMEOUT:
			bad |= config_uint("handshake-timeout", optarg, 1, 3600,
			    &cf->cf_handshake_timeout) == -1;
			break;
		case OPT_IDLE_TIMEOUT:
			bad |= config_uint("idle-timeout", optarg, 1, 86400,
			    &cf->cf_idle_timeout) == -1;
			break;
		case OPT_FORGE_CACHE:
			bad |= config_uint("forge-cache", optarg, 1, 10000000,
			    &cf->cf_forge_cache) == -1;
			break;
		case OPT_UP_KEEPALIVE:
			bad |= config_uint("upstream-keepalive", optarg, 0, 1000000,
			    &cf->cf_up_keepalive) == -1;
			break;
		case OPT_UP_KEEPALIVE_TIMEOUT:
			bad |= config_uint("upstream-keepalive-timeout", optarg, 1, 86400,
			    &cf->cf_up_keepalive_timeout) == -1;
			break;
		case OPT_KTLS:
			if (strcmp(optarg, "auto") == 0)
				cf->cf_ktls = true;
			else if (strcmp(optarg, "off") == 0)
				cf->cf_ktls = false;
			else {
				fprintf(stderr, "ktproxy: --ktls: \"%s\" is not auto or off\n", optarg);
				bad = 1;
			}
			break;
		case OPT_SIGNER_USER:
			if (*optarg == '\0') {
				fprintf(stderr, "ktproxy: --signer-user: empty user name\n");
				bad = 1;
			}
			cf->cf_signer_user = optarg;
			break;
		case OPT_DELEGATION_CHAIN: cf->cf_delegation_chain = optarg; break;
		case OPT_FORGE_EXTENSIONS:
			bad |= forge_policy_set_extensions(&cf->cf_forge, optarg) == -1;
			break;
		case OPT_FORGE_COPY_OID:
			bad |= forge_policy_add_oid(&cf->cf_forge, optarg) == -1;
			break;
		case OPT_FORGE_LIFETIME:
			bad |= forge_policy_set_lifetime(&cf->cf_forge, optarg) == -1;
			break;
		case OPT_FORGE_SERIAL:
			bad |= forge_policy_set_serial(&cf->cf_forge, optarg) == -1;
			break;
		case OPT_FORGE_KEY_TYPE:
			bad |= forge_policy_set_key_type(&cf->cf_forge, optarg) == -1;
			break;
		case OPT_FORGE_KEY_REUSE:
			bad |= forge_policy_set_key_reuse(&cf->cf_forge, optarg) == -1;
			break;
		case OPT_FORGE_ORIGIN_EXT: cf->cf_forge.fp_origin = true; break;
		case OPT_FORGE_ORIGIN_OID:
			bad |= forge_policy_set_origin_oid(&cf->cf_forge, optarg) == -1;
			break;
		case OPT_CHECK:		cf->cf_check = true; break;
		case OPT_VERSION:
			printf("ktproxy %s\n", KTPROXY_VERSION);
			exit(0);
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		default:
			fprintf(stderr, "ktproxy: see ktproxy --help\n");
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ktproxy: unexpected argument \"%s\" (see ktproxy --help)\n",
		    argv[optind]);
		return -1;
	}
	if (bad || hdr_conf_check(&cf->cf_hdr) == -1)
		return -1;
	if (cf->cf_ocsp.oc_responder != NULL && cf->cf_ocsp.oc_mode == OCSP_OFF) {
		fprintf(stderr, "ktproxy: --ocsp-responder needs --ocsp soft or hard\n");
		return -1;
	}
	bad |= config_require(cf->cf_listen_str, "listen");
	bad |= config_require(cf->cf_server_cert, "server-cert");
	bad |= config_require(cf->cf_server_key, "server-key");
	bad |= config_require(cf->cf_client_ca, "client-ca");
	bad |= config_require(cf->cf_delegation_ca, "delegation-ca");
	bad |= config_require(cf->cf_delegation_key, "delegation-key");
	bad |= config_require(cf->cf_upstream_ca, "upstream-ca");
	return bad ? -1 : 0;
}
