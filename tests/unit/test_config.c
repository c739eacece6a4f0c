/*
 * test_config.c - the config file and the command line (config.c,
 * config_file.c, config_msg.c): every syntax case of a line, every class of
 * mistake with its FILE:LINE, precedence of the command line over the file,
 * and that a file with every key gives the same settings as the same flags.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/objects.h>

#include "check.h"
#include "config.h"
#include "config_file.h"
#include "config_msg.h"

static char	 tmpdir[] = "/tmp/test_config.XXXXXX";
static char	 crl1[64], crl2[64], certf[64];	/* readable files for path keys */

/* What config_error() printed since capture(). */
static FILE	*msg_f;
static char	*msg_buf;
static size_t	 msg_len;

static void
capture(void)
{
	if ((msg_f = open_memstream(&msg_buf, &msg_len)) == NULL)
		abort();
	config_msg_to(msg_f);
}

static const char *
captured(void)
{
	fflush(msg_f);
	return msg_buf != NULL ? msg_buf : "";
}

static void
release(void)
{
	config_msg_to(NULL);
	fclose(msg_f);
	free(msg_buf);
	msg_buf = NULL;
	msg_len = 0;
}

/* How many lines were printed. */
static int
nlines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static void
write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd == -1 || write(fd, text, len) != (ssize_t)len)
		abort();
	close(fd);
}

/* Load text as file "t.conf"; messages into *out (caller frees). */
static int
load_text(struct config *cf, const char *text, char **out)
{
	int rc;

	config_init(cf);
	capture();
	rc = config_load_text(cf, "t.conf", text, strlen(text));
	*out = strdup(captured());
	release();
	return rc;
}

static int
argc_of(char **argv)
{
	int n = 0;

	while (argv[n] != NULL)
		n++;
	return n;
}

/* config_load with argv (NULL-terminated; copied, getopt permutes it). */
static int
load_argv(struct config *cf, const char *default_path, char **argv, char **out)
{
	static char *copy[128];
	int argc = argc_of(argv), rc;

	memcpy(copy, argv, (argc + 1) * sizeof(*argv));
	capture();
	rc = config_load(cf, default_path, argc, copy);
	*out = strdup(captured());
	release();
	return rc;
}

static bool
streq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* ------------------------------------------------------------ syntax */

static void
test_syntax(void)
{
	struct config cf;
	char *out, text[1024];

	snprintf(text, sizeof(text),
	    "# a comment\n"
	    "\n"
	    "   \t\n"
	    "   # an indented comment\n"
	    "listen 127.0.0.1:8443\n"
	    "  server-cert\t\t%s   \n"		/* indented, tabs, trailing blanks */
	    "log /var/log/k.log # a comment after a blank\n"
	    "stats /run/k#1\n"				/* '#' inside a word stays */
	    "allow subject:CN=#0403616263\n"
	    "allow \"dns: x # y \"\n"			/* quoted: blanks and '#' kept */
	    "allow \"uri:a\\\"b\\\\c\"   # escapes, then a comment\n"
	    "signer-user a\"b\n"			/* a quote inside: literal */
	    "xfcc-fields By,Hash\r\n"			/* CRLF */
	    "forge-origin-ext\n"			/* a flag without a value */
	    "idle-timeout 77",				/* no final newline */
	    certf);
	CHECK(load_text(&cf, text, &out) == 0);
	CHECK_STREQ(out, "");
	CHECK_STREQ(cf.cf_listen_str, "127.0.0.1:8443");
	CHECK_STREQ(cf.cf_server_cert, certf);
	CHECK_STREQ(cf.cf_log_path, "/var/log/k.log");
	CHECK_STREQ(cf.cf_stats_path, "/run/k#1");
	CHECK(cf.cf_allow.al_n == 3);
	CHECK_STREQ(cf.cf_allow.al_pat[0].ap_glob, "CN=#0403616263");
	CHECK_STREQ(cf.cf_allow.al_pat[1].ap_glob, " x # y ");
	CHECK_STREQ(cf.cf_allow.al_pat[2].ap_glob, "a\"b\\c");
	CHECK_STREQ(cf.cf_signer_user, "a\"b");
	CHECK(cf.cf_hdr.hc_xfcc_fields != 0);
	CHECK(cf.cf_forge.fp_origin);
	CHECK(cf.cf_idle_timeout == 77);
	CHECK_STREQ(cf.cf_file, "t.conf");
	free(out);
	config_free(&cf);

	/* yes and no for a flag without a value */
	CHECK(load_text(&cf, "forge-origin-ext yes\n", &out) == 0 && cf.cf_forge.fp_origin);
	free(out);
	config_free(&cf);
	CHECK(load_text(&cf, "forge-origin-ext no\n", &out) == 0 && !cf.cf_forge.fp_origin);
	free(out);
	config_free(&cf);

	/* Repeatable keys add up, in order. */
	snprintf(text, sizeof(text), "crl %s\ncrl %s\nheader-name Client-Cert=X-A\n"
	    "header-name Client-Cert-Chain=X-B\nforge-copy-oid certificatePolicies\n"
	    "forge-copy-oid 1.2.3.4.5\n", crl1, crl2);
	CHECK(load_text(&cf, text, &out) == 0);
	CHECK_STREQ(out, "");
	CHECK(cf.cf_verify.vc_ncrl == 2);
	CHECK_STREQ(cf.cf_verify.vc_crl[0], crl1);
	CHECK_STREQ(cf.cf_verify.vc_crl[1], crl2);
	CHECK(cf.cf_hdr.hc_nstrip == 2);
	CHECK(cf.cf_forge.fp_noids == 2);
	free(out);
	config_free(&cf);

	/* An empty file, and one of comments only, set nothing. */
	CHECK(load_text(&cf, "", &out) == 0 && cf.cf_listen_str == NULL);
	free(out);
	config_free(&cf);
	CHECK(load_text(&cf, "#\n# x\n\n", &out) == 0 && cf.cf_workers >= 1);
	free(out);
	config_free(&cf);
}

/* The lines, as the splitter sees them. */
static void
test_split(void)
{
	char text[] = "a 1\n\n b\t 2 3 \n#c\nd \"x\" # y\ne \"x\" y\nf \"open\ng \"\"\nh";
	struct config_line *l;
	size_t n;

	CHECK(config_file_split(text, strlen(text), &l, &n) == 0);
	CHECK(n == 7);
	if (n != 7)
		return;
	CHECK_STREQ(l[0].cl_key, "a");
	CHECK_STREQ(l[0].cl_value, "1");
	CHECK(l[0].cl_line == 1);
	CHECK_STREQ(l[1].cl_key, "b");
	CHECK_STREQ(l[1].cl_value, "2 3");
	CHECK(l[1].cl_line == 3);
	CHECK_STREQ(l[2].cl_key, "d");
	CHECK_STREQ(l[2].cl_value, "x");
	CHECK(l[2].cl_line == 5 && l[2].cl_error[0] == '\0');
	CHECK(l[3].cl_line == 6 && strstr(l[3].cl_error, "after the value's closing") != NULL);
	CHECK(l[4].cl_line == 7 && strstr(l[4].cl_error, "closing '\"' is missing") != NULL);
	CHECK_STREQ(l[5].cl_key, "g");
	CHECK_STREQ(l[5].cl_value, "");			/* empty, quoted */
	CHECK(l[5].cl_error[0] == '\0');
	CHECK_STREQ(l[6].cl_key, "h");
	CHECK(l[6].cl_value == NULL && l[6].cl_line == 9);	/* no value, no newline */
	free(l);
}

/* ------------------------------------------------------------ mistakes */

struct mistake {
	const char	*text;
	const char	*want;		/* the whole message */
};

static void
test_mistakes(void)
{
	static const struct mistake m[] = {
		{ "workers 2\nfoo bar\n", "ktproxy: t.conf:2: unknown key \"foo\"\n" },
		{ "--listen 1.2.3.4:1\n",
		  "ktproxy: t.conf:1: unknown key \"--listen\" (write it without the --)\n" },
		{ "listen=1.2.3.4:1\n", "ktproxy: t.conf:1: unknown key \"listen=1.2.3.4:1\" "
		  "(write \"listen VALUE\", no =)\n" },
		{ "lis=1\n", "ktproxy: t.conf:1: unknown key \"lis=1\"\n" },
		{ "listener web {\n", "ktproxy: t.conf:1: listener \"web\": no } closes the block "
		  "(it runs to the end of the file)\nktproxy: t.conf:1: listener \"web\": no "
		  "listen line in the block (each listener names its own address)\n" },
		{ "listener web {\nlisten 0.0.0.0:1\nworkers 2\n}\n", "ktproxy: t.conf:3: workers: "
		  "not a listener's own key: set it outside the listener blocks (it is the same "
		  "for all of them)\n" },
		{ "}\n", "ktproxy: t.conf:1: } without a listener block to close\n" },
		{ "listener a/b {\n}\n", "ktproxy: t.conf:1: listener: \"a/b\" is not a name (at "
		  "most 32 letters, digits, - _ .)\nktproxy: t.conf:2: } without a listener block "
		  "to close\n" },
		{ "listener a {\nlisten 0.0.0.0:1\n}\nlistener a {\nlisten 0.0.0.0:2\n}\n",
		  "ktproxy: t.conf:4: listener \"a\": a second block of that name (the first on "
		  "line 1)\n" },
		{ "listener a {\nlisten 0.0.0.0:1\n}\nlistener b {\nlisten 0.0.0.0:1\n}\n",
		  "ktproxy: t.conf:5: listen: 0.0.0.0:1 is listener \"a\"'s address too (line 2)\n" },
		{ "listener a {\nlisten 0.0.0.0:1\nlisten 0.0.0.0:2\n}\n", "ktproxy: t.conf:3: listen: "
		  "given twice in listener \"a\" (first on line 2)\n" },
		{ "\n\ncheck\n",
		  "ktproxy: t.conf:3: check: only on the command line (--check), not in a file\n" },
		{ "config /x\n",
		  "ktproxy: t.conf:1: config: only on the command line (--config), not in a file\n" },
		{ "help\n", "ktproxy: t.conf:1: help: only on the command line (--help), not in a file\n" },
		{ "version\n",
		  "ktproxy: t.conf:1: version: only on the command line (--version), not in a file\n" },
		{ "listen\n", "ktproxy: t.conf:1: listen: missing value\n" },
		{ "listen   # a comment\n", "ktproxy: t.conf:1: listen: missing value\n" },
		{ "ocsp sof\n", "ktproxy: t.conf:1: ocsp: \"sof\" is not off, soft or hard\n" },
		{ "workers 0\n", "ktproxy: t.conf:1: workers: \"0\" is not a number from 1 to 256\n" },
		{ "listen 1.2.3.4\n", "ktproxy: t.conf:1: listen: \"1.2.3.4\" is not ADDR:PORT "
		  "(e.g. 0.0.0.0:8443 or [::]:8443)\n" },
		{ "forge-origin-ext maybe\n",
		  "ktproxy: t.conf:1: forge-origin-ext: \"maybe\" is not yes or no\n" },
		{ "signer-user \"\"\n", "ktproxy: t.conf:1: signer-user: empty user name\n" },
		{ "user \"\"\n", "ktproxy: t.conf:1: user: empty user name\n" },
		{ "forge-lifetime 30d\n", "ktproxy: t.conf:1: forge-lifetime: \"30d\" is not a "
		  "lifetime from 60s to 7d (SEC, or a number with s, m, h or d)\n" },
		{ "allow alice\n", "ktproxy: t.conf:1: allow: \"alice\" is not KIND:PATTERN with "
		  "KIND one of uri, dns, email, subject (e.g. uri:spiffe://example.test/*)\n" },
		{ "header-name X-Foo=X-Bar\n", NULL },	/* the flag's own words, prefixed */
		{ "workers 2\nworkers 3\n",
		  "ktproxy: t.conf:2: workers: given twice (first on line 1)\n" },
		{ "forge-origin-ext\nforge-origin-ext no\n",
		  "ktproxy: t.conf:2: forge-origin-ext: given twice (first on line 1)\n" },
		{ "x\"y \"a\" b\n",
		  "ktproxy: t.conf:1: x\"y: text after the value's closing '\"'\n" },
		{ "log \"/tmp/a\n", "ktproxy: t.conf:1: log: the value's closing '\"' is missing\n" },
		{ "workers 2\nlog a\001b\n", "ktproxy: t.conf:2: control character 0x01 at column 6\n" },
		{ "server-cert /nonexistent/ktproxy.crt\n", "ktproxy: t.conf:1: server-cert: cannot "
		  "read /nonexistent/ktproxy.crt: No such file or directory\n" },
		{ "crl /nonexistent/c.pem\n", "ktproxy: t.conf:1: crl: cannot read "
		  "/nonexistent/c.pem: No such file or directory\n" },
		{ "intercept 443,\n", "ktproxy: t.conf:1: intercept: \"443,\" is not a "
		  "comma-separated list of ports (1-65535) or ranges LOW-HIGH, e.g. 443,8443 or "
		  "8000-8099\n" },
		{ "intercept 9000-8000\n", "ktproxy: t.conf:1: intercept: \"9000-8000\" is not a "
		  "comma-separated list of ports (1-65535) or ranges LOW-HIGH, e.g. 443,8443 or "
		  "8000-8099\n" },
		{ "intercept-iface eth0,,eth1\n", "ktproxy: t.conf:1: intercept-iface: "
		  "\"eth0,,eth1\": an interface name is 1 to 15 characters, names separated by "
		  "commas\n" },
		{ "intercept-mark 0\n", "ktproxy: t.conf:1: intercept-mark: \"0\" is not a number "
		  "from 1 to 4294967295 (decimal or 0x hexadecimal)\n" },
		{ "intercept-table 254\n", "ktproxy: t.conf:1: intercept-table: 254 is one of the "
		  "kernel's own tables (default, main, local); choose another\n" },
		{ "intercept-remove\n", "ktproxy: t.conf:1: intercept-remove: only on the command "
		  "line (--intercept-remove), not in a file\n" },
		{ "steer bpf\n", "ktproxy: t.conf:1: steer: \"bpf\": say tproxy or sk_lookup\n" },
		{ "intercept-prefix 10.0.2.1/24\n", "ktproxy: t.conf:1: intercept-prefix: "
		  "\"10.0.2.1/24\": the address has bits set past the prefix length (write the "
		  "network address, e.g. 10.0.2.0/24)\n" },
		{ "intercept-prefix fd00::/129\n", "ktproxy: t.conf:1: intercept-prefix: "
		  "\"fd00::/129\" is not an IPv4 or IPv6 address with an optional /LENGTH, e.g. "
		  "10.0.2.0/24 or fd00:2::/64\n" },
		{ "intercept-prefix 10.0.2.0/,10.0.3.0/24\n", "ktproxy: t.conf:1: intercept-prefix: "
		  "\"10.0.2.0/\" is not an IPv4 or IPv6 address with an optional /LENGTH, e.g. "
		  "10.0.2.0/24 or fd00:2::/64\n" },
	};
	struct config cf;
	char *out;

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		CHECK(load_text(&cf, m[i].text, &out) == -1);
		if (m[i].want != NULL)
			CHECK_STREQ(out, m[i].want);
		else
			CHECK(strncmp(out, "ktproxy: t.conf:1: header-name: \"X-Foo\" is not a header "
			    "ktproxy sends", 58) == 0 && nlines(out) == 1);
		free(out);
		config_free(&cf);
	}
}

/* NULs and long lines cannot be written as C strings. */
static void
test_mistakes_bytes(void)
{
	struct config cf;
	char *text, *p;
	size_t len;

	config_init(&cf);
	capture();
	CHECK(config_load_text(&cf, "t.conf", "workers 2\nlog a\0b\nidle-timeout 5\n", 33) == -1);
	CHECK_STREQ(captured(), "ktproxy: t.conf:2: a NUL byte at column 6\n");
	CHECK(cf.cf_workers == 2 && cf.cf_idle_timeout == 5);	/* the rest applied */
	release();
	config_free(&cf);

	len = 2 * CONFIG_LINE_MAX + 64;
	if ((text = malloc(len)) == NULL)
		abort();
	p = text;
	p += sprintf(p, "workers 2\nlog ");
	memset(p, 'a', CONFIG_LINE_MAX);	/* "log " + 4096: 4100 bytes */
	p += CONFIG_LINE_MAX;
	p += sprintf(p, "\nlog ");
	memset(p, 'b', CONFIG_LINE_MAX - 4);	/* exactly the limit: fine */
	p += CONFIG_LINE_MAX - 4;
	*p++ = '\n';
	config_init(&cf);
	capture();
	CHECK(config_load_text(&cf, "t.conf", text, p - text) == -1);
	CHECK_STREQ(captured(), "ktproxy: t.conf:2: line too long (more than 4096 bytes)\n");
	CHECK(cf.cf_log_path != NULL && strlen(cf.cf_log_path) == CONFIG_LINE_MAX - 4);
	release();
	config_free(&cf);
	free(text);
}

/* --metrics takes loopback addresses only; --log-format text or json. */
static void
test_observe_options(void)
{
	static const char *const good[] = { "127.0.0.1:9464", "127.3.4.5:1", "[::1]:9464",
	    "[::ffff:127.0.0.1]:9464" };
	static const char *const remote[] = { "0.0.0.0:9464", "10.0.0.1:9464", "[::]:9464",
	    "[2001:db8::1]:9464", "[::ffff:10.0.0.1]:9464" };
	struct config cf;
	char line[128];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		config_init(&cf);
		snprintf(line, sizeof(line), "metrics %s\nlog-format text\n", good[i]);
		CHECK(config_load_text(&cf, "t.conf", line, strlen(line)) == 0);
		CHECK_STREQ(cf.cf_metrics_str, good[i]);
		CHECK(!cf.cf_log_json);
		config_free(&cf);
	}
	for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++) {
		config_init(&cf);
		capture();
		snprintf(line, sizeof(line), "metrics %s\n", remote[i]);
		CHECK(config_load_text(&cf, "t.conf", line, strlen(line)) == -1);
		CHECK(strstr(captured(), "is not a loopback address") != NULL);
		release();
		config_free(&cf);
	}
	config_init(&cf);
	capture();
	snprintf(line, sizeof(line), "metrics 9464\nlog-format xml\n");
	CHECK(config_load_text(&cf, "t.conf", line, strlen(line)) == -1);
	CHECK_STREQ(captured(), "ktproxy: t.conf:1: metrics: \"9464\" is not ADDR:PORT "
	    "(e.g. 127.0.0.1:9464 or [::1]:9464)\n"
	    "ktproxy: t.conf:2: log-format: \"xml\" is not text or json\n");
	release();
	config_free(&cf);
}

/* Every mistake is reported, each at its own line, in the file's order. */
static void
test_all_reported(void)
{
	struct config cf;
	char *out;

	CHECK(load_text(&cf, "foo 1\nworkers\nworkers 1\nworkers 2\nocsp on\n"
	    "log \"x\nverify-depth 99\ncheck\n", &out) == -1);
	CHECK_STREQ(out,
	    "ktproxy: t.conf:1: unknown key \"foo\"\n"
	    "ktproxy: t.conf:2: workers: missing value\n"
	    "ktproxy: t.conf:4: workers: given twice (first on line 3)\n"
	    "ktproxy: t.conf:5: ocsp: \"on\" is not off, soft or hard\n"
	    "ktproxy: t.conf:6: log: the value's closing '\"' is missing\n"
	    "ktproxy: t.conf:7: verify-depth: \"99\" is not a number from 0 to 32\n"
	    "ktproxy: t.conf:8: check: only on the command line (--check), not in a file\n");
	free(out);
	config_free(&cf);
}

/* ------------------------------------------------------------ files and argv */

static char base_conf[64];	/* every required key, valid */

static void
make_base(void)
{
	char text[1024];

	snprintf(base_conf, sizeof(base_conf), "%s/base.conf", tmpdir);
	snprintf(text, sizeof(text),
	    "listen 127.0.0.1:18443\nserver-cert %s\nserver-key %s\nclient-ca %s\n"
	    "delegation-ca %s\ndelegation-key %s\nupstream-ca %s\n"
	    "workers 3\nallow uri:a\nallow uri:b\ncrl %s\nforge-copy-oid 1.2.3.4.5\n",
	    certf, certf, certf, certf, certf, certf, crl1);
	write_file(base_conf, text, strlen(text));
}

static void
test_precedence(void)
{
	struct config cf;
	char *out;

	/* The file alone. */
	CHECK(load_argv(&cf, NULL, (char *[]){ "ktproxy", "-c", base_conf, NULL }, &out) == 0);
	CHECK_STREQ(out, "");
	CHECK(cf.cf_workers == 3 && cf.cf_allow.al_n == 2 && cf.cf_verify.vc_ncrl == 1);
	CHECK_STREQ(cf.cf_file, base_conf);
	CHECK(!cf.cf_check);
	free(out);
	config_free(&cf);

	/* A flag overrides a single value; a repeatable flag replaces the list;
	 * what the command line does not name stays as the file says. */
	CHECK(load_argv(&cf, NULL, (char *[]){ "ktproxy", "--workers", "5", "--config",
	    base_conf, "--allow", "dns:c", "--check", "--crl", crl2, "--crl", crl1, NULL },
	    &out) == 0);
	CHECK_STREQ(out, "");
	CHECK(cf.cf_workers == 5);
	CHECK(cf.cf_allow.al_n == 1 && strcmp(cf.cf_allow.al_pat[0].ap_glob, "c") == 0);
	CHECK(cf.cf_verify.vc_ncrl == 2);
	CHECK_STREQ(cf.cf_verify.vc_crl[0], crl2);
	CHECK(cf.cf_forge.fp_noids == 1);
	CHECK(cf.cf_check);
	CHECK_STREQ(cf.cf_listen_str, "127.0.0.1:18443");
	free(out);
	config_free(&cf);

	/* On the command line the last of a single value wins, as before. */
	CHECK(load_argv(&cf, NULL, (char *[]){ "ktproxy", "-c", base_conf, "--workers", "5",
	    "--workers", "6", NULL }, &out) == 0 && cf.cf_workers == 6);
	free(out);
	config_free(&cf);

	/* -c twice: the last file. */
	CHECK(load_argv(&cf, NULL, (char *[]){ "ktproxy", "-c", "/nonexistent/x.conf", "-c",
	    base_conf, NULL }, &out) == 0 && cf.cf_workers == 3);
	free(out);
	config_free(&cf);
}

/* A line the command line overrides is checked all the same. */
static void
test_overridden_checked(void)
{
	char path[80], text[1200];
	struct config cf;
	char *out, *want;

	snprintf(path, sizeof(path), "%s/over.conf", tmpdir);
	snprintf(text, sizeof(text), "%s\nocsp sof\nallow nope\n",
	    "# base keys follow on the command line");
	write_file(path, text, strlen(text));
	CHECK(load_argv(&cf, NULL, (char *[]){ "ktproxy", "-c", path, "--ocsp", "soft",
	    "--allow", "uri:x", "--listen", "1.2.3.4:5", "--server-cert", certf,
	    "--server-key", certf, "--client-ca", certf, "--delegation-ca", certf,
	    "--delegation-key", certf, "--upstream-ca", certf, NULL }, &out) == -1);
	if (asprintf(&want, "ktproxy: %s:2: ocsp: \"sof\" is not off, soft or hard\n"
	    "ktproxy: %s:3: allow: \"nope\" is not KIND:PATTERN with KIND one of uri, dns, "
	    "email, subject (e.g. uri:spiffe://example.test/*)\n", path, path) == -1)
		abort();
	CHECK_STREQ(out, want);
	CHECK(cf.cf_ocsp.oc_mode == OCSP_SOFT && cf.cf_allow.al_n == 1);
	free(want);
	free(out);
	config_free(&cf);
}

static void
test_files(void)
{
	char path[80], dir[80];
	struct config cf;
	char *out, *want;
	int fd;

	/* -c of a file that is not there; of a directory. */
	CHECK(load_argv(&cf, NULL, (char *[]){ "ktproxy", "-c", "/nonexistent/k.conf", NULL },
	    &out) == -1);
	CHECK_STREQ(out, "ktproxy: cannot read config file /nonexistent/k.conf: "
	    "No such file or directory\n");
	free(out);
	config_free(&cf);
	snprintf(dir, sizeof(dir), "%s", tmpdir);
	CHECK(load_argv(&cf, NULL, (char *[]){ "ktproxy", "-c", dir, NULL }, &out) == -1);
	CHECK(strstr(out, "it is a directory") != NULL);
	free(out);
	config_free(&cf);

	/* The default: absent is fine, present is read, -c replaces it. */
	CHECK(load_argv(&cf, "/nonexistent/k.conf", (char *[]){ "ktproxy", NULL }, &out) == -1);
	CHECK(strstr(out, "cannot read config file") == NULL);
	CHECK(strstr(out, "--listen is required (see ktproxy --help)") != NULL);
	CHECK(cf.cf_file == NULL);
	free(out);
	config_free(&cf);
	CHECK(load_argv(&cf, base_conf, (char *[]){ "ktproxy", NULL }, &out) == 0);
	CHECK_STREQ(cf.cf_file, base_conf);
	free(out);
	config_free(&cf);
	CHECK(load_argv(&cf, base_conf, (char *[]){ "ktproxy", "-c", "/dev/null", NULL },
	    &out) == -1);
	CHECK(cf.cf_workers != 3 && cf.cf_listen_str == NULL);
	CHECK(strstr(out, "--listen is required (see ktproxy --help)") != NULL);
	CHECK(nlines(out) == 7);	/* every required flag */
	free(out);
	config_free(&cf);

	/* A file anyone may write is read, with a warning. */
	snprintf(path, sizeof(path), "%s/open.conf", tmpdir);
	write_file(path, "workers 2\n", 10);
	chmod(path, 0666);
	CHECK(load_argv(&cf, NULL, (char *[]){ "ktproxy", "-c", path, NULL }, &out) == -1);
	if (asprintf(&want, "ktproxy: warning: config file %s is writable by every user "
	    "(chmod o-w %s)\n", path, path) == -1)
		abort();
	CHECK(strncmp(out, want, strlen(want)) == 0);
	CHECK(cf.cf_workers == 2);
	free(want);
	free(out);
	config_free(&cf);

	/* Too large. */
	snprintf(path, sizeof(path), "%s/big.conf", tmpdir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    ftruncate(fd, CONFIG_FILE_MAX + 1) == -1)
		abort();
	close(fd);
	CHECK(load_argv(&cf, NULL, (char *[]){ "ktproxy", "-c", path, NULL }, &out) == -1);
	CHECK(strstr(out, "is larger than 1048576 bytes") != NULL && nlines(out) == 1);
	free(out);
	config_free(&cf);

	/* Mistakes on the command line stop before the file is read. */
	CHECK(load_argv(&cf, NULL, (char *[]){ "ktproxy", "-c", "/nonexistent/k.conf",
	    "extra", NULL }, &out) == -1);
	CHECK_STREQ(out, "ktproxy: unexpected argument \"extra\" (see ktproxy --help)\n");
	free(out);
	config_free(&cf);
}

/* ------------------------------------------------------------ round trip */

/* Every option but -c/--check/--help/--version, with a value that is not
 * its default. */
static const char *const every[][2] = {
	{ "listen", "[::1]:8443" },
	{ "server-cert", certf },
	{ "server-key", certf },
	{ "client-ca", certf },
	{ "crl", crl1 },
	{ "crl", crl2 },
	{ "verify-depth", "3" },
	{ "require-client-eku", "no" },
	{ "allow", "uri:spiffe://example.test/*" },
	{ "allow", "subject:CN=alice,*" },
	{ "ocsp", "hard" },
	{ "ocsp-responder", "http://10.77.2.2:8889/" },
	{ "ocsp-timeout", "7" },
	{ "ocsp-cache", "11" },
	{ "ocsp-cache-ttl", "601" },
	{ "delegation-ca", certf },
	{ "delegation-key", certf },
	{ "upstream-ca", certf },
	{ "headers", "xfcc" },
	{ "xfcc-mode", "append-forward" },
	{ "xfcc-fields", "By,Hash,Chain" },
	{ "header-name", "X-Forwarded-Client-Cert=X-Client-Identity" },
	{ "header-name", "Client-Cert=X-Cc" },
	{ "stats", "/run/k/stats" },
	{ "log", "/var/log/k.log" },
	{ "log-format", "json" },
	{ "metrics", "[::1]:9464" },
	{ "workers", "7" },
	{ "handshake-timeout", "9" },
	{ "idle-timeout", "99" },
	{ "drain-timeout", "0" },
	{ "forge-cache", "1234" },
	{ "upstream-keepalive", "0" },
	{ "upstream-keepalive-timeout", "12" },
	{ "ktls", "off" },
	{ "signer-user", "daemon" },
	{ "user", "ktproxy" },
	{ "delegation-chain", crl2 },
	{ "forge-extensions", "subjectAltName,keyUsage" },
	{ "forge-copy-oid", "certificatePolicies" },
	{ "forge-copy-oid", "1.2.3.4.5" },
	{ "forge-lifetime", "12h" },
	{ "forge-serial", "copy" },
	{ "forge-key-type", "rsa2048" },
	{ "forge-key-reuse", "pool:3" },
	{ "forge-origin-ext", NULL },
	{ "forge-origin-oid", "1.3.6.1.4.1.99999.42" },
	{ "intercept", "443,8000-8099" },
	{ "intercept-iface", "eth0" },
	{ "intercept-iface", "eth1,eth2" },
	{ "intercept-mark", "0x10" },
	{ "intercept-table", "100" },
	{ "steer", "tproxy" },
	{ "spoof-source", NULL },
};

/* --intercept-prefix: parsing, and which prefix holds a destination (the
 * most specific; an IPv4 destination seen through an IPv6 socket too). */
static void
test_prefixes(void)
{
	struct intercept_conf ic;
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	const struct intercept_prefix *p;

	intercept_conf_init(&ic);
	CHECK(intercept_add_prefixes(&ic, "10.0.0.0/8,10.0.2.0/24") == 0);
	CHECK(intercept_add_prefixes(&ic, "fd00:2::/64") == 0);
	CHECK(intercept_add_prefixes(&ic, "192.0.2.7") == 0);
	CHECK(ic.ic_nprefixes == 4);
	CHECK_STREQ(ic.ic_prefix[3].ip_str, "192.0.2.7/32");
	CHECK(ic.ic_prefix[2].ip_family == AF_INET6 && ic.ic_prefix[2].ip_len == 64);

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_INET;
	inet_pton(AF_INET, "10.0.2.9", &sin->sin_addr);
	CHECK((p = intercept_prefix_of(&ic, (struct sockaddr *)&ss)) != NULL && strcmp(p->ip_str, "10.0.2.0/24") == 0);
	inet_pton(AF_INET, "10.9.9.9", &sin->sin_addr);
	CHECK((p = intercept_prefix_of(&ic, (struct sockaddr *)&ss)) != NULL && strcmp(p->ip_str, "10.0.0.0/8") == 0);
	inet_pton(AF_INET, "192.0.2.8", &sin->sin_addr);
	CHECK(intercept_prefix_of(&ic, (struct sockaddr *)&ss) == NULL);
	inet_pton(AF_INET, "11.0.2.9", &sin->sin_addr);
	CHECK(intercept_prefix_of(&ic, (struct sockaddr *)&ss) == NULL);

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_INET6;
	inet_pton(AF_INET6, "fd00:2::1234", &sin6->sin6_addr);
	CHECK((p = intercept_prefix_of(&ic, (struct sockaddr *)&ss)) != NULL && strcmp(p->ip_str, "fd00:2::/64") == 0);
	inet_pton(AF_INET6, "fd00:3::1", &sin6->sin6_addr);
	CHECK(intercept_prefix_of(&ic, (struct sockaddr *)&ss) == NULL);
	inet_pton(AF_INET6, "::ffff:192.0.2.7", &sin6->sin6_addr);
	CHECK((p = intercept_prefix_of(&ic, (struct sockaddr *)&ss)) != NULL && strcmp(p->ip_str, "192.0.2.7/32") == 0);

	/* /0 holds everything of its family; order does not matter to _same */
	struct intercept_conf a, b;
	intercept_conf_init(&a);
	intercept_conf_init(&b);
	CHECK(intercept_add_prefixes(&a, "0.0.0.0/0,fd00::/8") == 0);
	CHECK(intercept_add_prefixes(&b, "fd00::/8,0.0.0.0/0") == 0);
	CHECK(intercept_prefixes_same(&a, &b));
	CHECK(intercept_add_prefixes(&b, "10.0.0.0/8") == 0);
	CHECK(!intercept_prefixes_same(&a, &b));
	ss.ss_family = AF_INET;
	inet_pton(AF_INET, "203.0.113.1", &sin->sin_addr);
	CHECK(intercept_prefix_of(&a, (struct sockaddr *)&ss) != NULL);

	/* Bit comparison at lengths that end inside a byte. */
	static const uint8_t x[4] = { 10, 0, 2, 0x80 }, y[4] = { 10, 0, 2, 0xbf };
	CHECK(intercept_bits_equal(x, y, 25) && intercept_bits_equal(x, y, 26));
	CHECK(!intercept_bits_equal(x, y, 27) && intercept_bits_equal(x, y, 0));
	CHECK(intercept_has_prefix(&ic, AF_INET, (const uint8_t[]){ 10, 0, 2, 0 }, 24));
	CHECK(!intercept_has_prefix(&ic, AF_INET, (const uint8_t[]){ 10, 0, 2, 0 }, 25));
	CHECK(!intercept_has_prefix(&ic, AF_INET6, (const uint8_t[16]){ 10, 0, 2, 0 }, 24));

	/* In a file: each line adds, as a repeated flag does. */
	struct config cf;
	static const char text[] = "steer sk_lookup\nintercept 443\n"
	    "intercept-prefix 10.0.2.0/24\nintercept-prefix fd00:2::/64,192.0.2.7\n";
	config_init(&cf);
	CHECK(config_load_text(&cf, "t.conf", text, sizeof(text) - 1) == 0);
	CHECK(cf.cf_intercept.ic_steer == STEER_SK_LOOKUP && cf.cf_intercept.ic_nprefixes == 3);
	CHECK_STREQ(cf.cf_intercept.ic_prefix[2].ip_str, "192.0.2.7/32");
	config_free(&cf);
}

static void
compare(const struct config *a, const struct config *b)
{
	const struct forge_policy *fa = &a->cf_forge, *fb = &b->cf_forge;

	CHECK(a->cf_listen_len == b->cf_listen_len &&
	    memcmp(&a->cf_listen, &b->cf_listen, a->cf_listen_len) == 0);
	CHECK(streq(a->cf_listen_str, b->cf_listen_str));
	CHECK(streq(a->cf_server_cert, b->cf_server_cert));
	CHECK(streq(a->cf_server_key, b->cf_server_key));
	CHECK(streq(a->cf_client_ca, b->cf_client_ca));
	CHECK(a->cf_verify.vc_ncrl == b->cf_verify.vc_ncrl);
	for (unsigned i = 0; i < a->cf_verify.vc_ncrl; i++)
		CHECK(streq(a->cf_verify.vc_crl[i], b->cf_verify.vc_crl[i]));
	CHECK(a->cf_verify.vc_depth == b->cf_verify.vc_depth);
	CHECK(a->cf_verify.vc_client_eku == b->cf_verify.vc_client_eku);
	CHECK(a->cf_allow.al_n == b->cf_allow.al_n);
	for (unsigned i = 0; i < a->cf_allow.al_n; i++)
		CHECK(a->cf_allow.al_pat[i].ap_kind == b->cf_allow.al_pat[i].ap_kind &&
		    streq(a->cf_allow.al_pat[i].ap_glob, b->cf_allow.al_pat[i].ap_glob));
	CHECK(a->cf_ocsp.oc_mode == b->cf_ocsp.oc_mode);
	CHECK(streq(a->cf_ocsp.oc_responder, b->cf_ocsp.oc_responder));
	CHECK(a->cf_ocsp.oc_timeout == b->cf_ocsp.oc_timeout);
	CHECK(a->cf_ocsp.oc_cache == b->cf_ocsp.oc_cache);
	CHECK(a->cf_ocsp.oc_ttl == b->cf_ocsp.oc_ttl);
	CHECK(streq(a->cf_delegation_ca, b->cf_delegation_ca));
	CHECK(streq(a->cf_delegation_key, b->cf_delegation_key));
	CHECK(streq(a->cf_delegation_chain, b->cf_delegation_chain));
	CHECK(streq(a->cf_signer_user, b->cf_signer_user));
	CHECK(streq(a->cf_user, b->cf_user));
	CHECK(streq(a->cf_upstream_ca, b->cf_upstream_ca));
	CHECK(a->cf_hdr.hc_format == b->cf_hdr.hc_format);
	CHECK(a->cf_hdr.hc_xfcc_mode == b->cf_hdr.hc_xfcc_mode);
	CHECK(a->cf_hdr.hc_xfcc_fields == b->cf_hdr.hc_xfcc_fields);
	for (int i = 0; i < HDR__COUNT; i++)
		CHECK(streq(a->cf_hdr.hc_name[i], b->cf_hdr.hc_name[i]));
	CHECK(a->cf_hdr.hc_nstrip == b->cf_hdr.hc_nstrip);
	for (size_t i = 0; i < a->cf_hdr.hc_nstrip; i++)
		CHECK(streq(a->cf_hdr.hc_strip[i], b->cf_hdr.hc_strip[i]));
	CHECK(streq(a->cf_stats_path, b->cf_stats_path));
	CHECK(streq(a->cf_log_path, b->cf_log_path));
	CHECK(a->cf_log_json == b->cf_log_json);
	CHECK(streq(a->cf_metrics_str, b->cf_metrics_str));
	CHECK(a->cf_metrics_len == b->cf_metrics_len &&
	    memcmp(&a->cf_metrics, &b->cf_metrics, a->cf_metrics_len) == 0);
	CHECK(a->cf_workers == b->cf_workers);
	CHECK(a->cf_handshake_timeout == b->cf_handshake_timeout);
	CHECK(a->cf_idle_timeout == b->cf_idle_timeout);
	CHECK(a->cf_drain_timeout == b->cf_drain_timeout);
	CHECK(a->cf_forge_cache == b->cf_forge_cache);
	CHECK(a->cf_up_keepalive == b->cf_up_keepalive);
	CHECK(a->cf_up_keepalive_timeout == b->cf_up_keepalive_timeout);
	CHECK(a->cf_ktls == b->cf_ktls);
	CHECK(a->cf_check == b->cf_check);
	CHECK(fa->fp_copy == fb->fp_copy && fa->fp_noids == fb->fp_noids);
	for (unsigned i = 0; i < fa->fp_noids; i++)
		CHECK(OBJ_cmp(fa->fp_oids[i], fb->fp_oids[i]) == 0);
	CHECK(fa->fp_lifetime == fb->fp_lifetime && fa->fp_serial == fb->fp_serial);
	CHECK(fa->fp_key_type == fb->fp_key_type && fa->fp_key_reuse == fb->fp_key_reuse);
	CHECK(fa->fp_pool_size == fb->fp_pool_size && fa->fp_origin == fb->fp_origin);
	CHECK(a->cf_intercept.ic_nports == b->cf_intercept.ic_nports &&
	    memcmp(a->cf_intercept.ic_port_lo, b->cf_intercept.ic_port_lo,
	    sizeof(a->cf_intercept.ic_port_lo)) == 0 &&
	    memcmp(a->cf_intercept.ic_port_hi, b->cf_intercept.ic_port_hi,
	    sizeof(a->cf_intercept.ic_port_hi)) == 0);
	CHECK(a->cf_intercept.ic_nifaces == b->cf_intercept.ic_nifaces &&
	    memcmp(a->cf_intercept.ic_iface, b->cf_intercept.ic_iface,
	    sizeof(a->cf_intercept.ic_iface)) == 0);
	CHECK(a->cf_intercept.ic_mark == b->cf_intercept.ic_mark &&
	    a->cf_intercept.ic_table == b->cf_intercept.ic_table &&
	    a->cf_intercept.ic_remove == b->cf_intercept.ic_remove);
	CHECK(a->cf_intercept.ic_steer == b->cf_intercept.ic_steer &&
	    a->cf_intercept.ic_nprefixes == b->cf_intercept.ic_nprefixes &&
	    memcmp(a->cf_intercept.ic_prefix, b->cf_intercept.ic_prefix,
	    sizeof(a->cf_intercept.ic_prefix)) == 0);
	CHECK(a->cf_spoof_source == b->cf_spoof_source);
	CHECK((fa->fp_origin_oid == NULL) == (fb->fp_origin_oid == NULL));
	if (fa->fp_origin_oid != NULL && fb->fp_origin_oid != NULL)
		CHECK(OBJ_cmp(fa->fp_origin_oid, fb->fp_origin_oid) == 0);
}

/* Blocks inherit the top level, wherever in the file it is; a list key in
 * a block replaces the inherited list. */
static void
test_listener_blocks(void)
{
	static const char text[] =
	    "allow dns:a.test\n"
	    "allow dns:b.test\n"
	    "listener inner {\n"
	    "	listen 127.0.0.1:8443\n"
	    "	headers rfc9440\n"
	    "}\n"
	    "listener outer-1 {   # a comment\n"
	    "	listen [::1]:8444\n"
	    "	allow uri:spiffe://x/*\n"
	    "	verify-depth 2\n"
	    "}\n"
	    "verify-depth 3\n";
	struct config cf;
	char *out;

	CHECK(load_text(&cf, text, &out) == 0);
	CHECK_STREQ(out, "");
	CHECK(cf.cf_nlis == 2);
	if (cf.cf_nlis == 2) {
		const struct config *a = cf.cf_lis[0], *b = cf.cf_lis[1];

		CHECK_STREQ(a->cf_lis_name, "inner");
		CHECK(a->cf_lis_line == 3 && b->cf_lis_line == 7);
		CHECK_STREQ(a->cf_listen_str, "127.0.0.1:8443");
		CHECK(a->cf_hdr.hc_format == HEADERS_RFC9440 && b->cf_hdr.hc_format == HEADERS_XFCC);
		CHECK(a->cf_allow.al_n == 2 && b->cf_allow.al_n == 1);
		CHECK(a->cf_verify.vc_depth == 3 && b->cf_verify.vc_depth == 2);
		CHECK_STREQ(b->cf_listen_str, "[::1]:8444");
		CHECK(b->cf_key_line[0] == 8);
	}
	free(out);
	config_free(&cf);
}

static void
test_round_trip(void)
{
	size_t n = sizeof(every) / sizeof(every[0]);
	char *argv[2 * sizeof(every) / sizeof(every[0]) + 8], path[80], text[4096];
	char *out, flags[sizeof(every) / sizeof(every[0])][48];
	struct config fromfile, fromargv, defaults;
	int argc = 0, len = 0;
	unsigned nkeys = 0;

	snprintf(path, sizeof(path), "%s/every.conf", tmpdir);
	argv[argc++] = "ktproxy";
	argv[argc++] = "-c";
	argv[argc++] = "/dev/null";
	for (size_t i = 0; i < n; i++) {
		snprintf(flags[i], sizeof(flags[i]), "--%s", every[i][0]);
		argv[argc++] = flags[i];
		if (every[i][1] != NULL)
			argv[argc++] = (char *)every[i][1];
		len += snprintf(text + len, sizeof(text) - len, "%s%s%s\n", every[i][0],
		    every[i][1] != NULL ? " " : "", every[i][1] != NULL ? every[i][1] : "");
	}
	argv[argc] = NULL;
	write_file(path, text, len);

	CHECK(load_argv(&fromargv, NULL, argv, &out) == 0);
	CHECK_STREQ(out, "");
	free(out);
	CHECK(load_argv(&fromfile, NULL, (char *[]){ "ktproxy", "-c", path, NULL }, &out) == 0);
	CHECK_STREQ(out, "");
	free(out);
	compare(&fromfile, &fromargv);

	/* Every option is in the list, and every one moved off its default
	 * (else the comparison would prove little). */
	config_init(&defaults);
	CHECK(fromfile.cf_verify.vc_depth != defaults.cf_verify.vc_depth);
	CHECK(fromfile.cf_ocsp.oc_ttl != defaults.cf_ocsp.oc_ttl);
	CHECK(fromfile.cf_forge.fp_origin && fromfile.cf_forge.fp_origin_oid != NULL);
	CHECK(fromfile.cf_hdr.hc_xfcc_mode != defaults.cf_hdr.hc_xfcc_mode);
	CHECK(!fromfile.cf_ktls && fromfile.cf_up_keepalive == 0);
	CHECK(fromfile.cf_drain_timeout == 0 && defaults.cf_drain_timeout == 30);
	CHECK(fromfile.cf_intercept.ic_nports == 2 && fromfile.cf_intercept.ic_nifaces == 3);
	CHECK(fromfile.cf_intercept.ic_port_lo[1] == 8000 &&
	    fromfile.cf_intercept.ic_port_hi[1] == 8099);
	CHECK(strcmp(fromfile.cf_intercept.ic_iface[2], "eth2") == 0);
	CHECK(fromfile.cf_intercept.ic_mark == 0x10 && fromfile.cf_intercept.ic_table == 100);
	CHECK(fromfile.cf_spoof_source && !defaults.cf_spoof_source);
	CHECK(fromfile.cf_log_json && fromfile.cf_metrics_str != NULL);
	config_free(&defaults);
	for (unsigned k = 0; config_key(k) != NULL; k++) {
		const char *key = config_key(k);
		bool found = false;

		for (size_t i = 0; i < n; i++)
			found |= strcmp(every[i][0], key) == 0;
		if (!found && strcmp(key, "config") != 0 && strcmp(key, "check") != 0 &&
		    strcmp(key, "help") != 0 && strcmp(key, "version") != 0 &&
		    strcmp(key, "intercept-remove") != 0 &&
		    strcmp(key, "intercept-prefix") != 0) {	/* test_prefixes */
			fprintf(stderr, "key %s is not in every[]\n", key);
			CHECK(found);
		}
		nkeys++;
	}
	CHECK(nkeys == n - 5 + 6);	/* 5 repeats; 5 for the command line only,
					 * and intercept-prefix (test_prefixes) */

	/* Parsing the same argv again (what a reload does) gives the same. */
	config_free(&fromargv);
	CHECK(load_argv(&fromargv, NULL, argv, &out) == 0);
	free(out);
	compare(&fromfile, &fromargv);
	config_free(&fromargv);
	config_free(&fromfile);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		abort();
	snprintf(crl1, sizeof(crl1), "%s/a.crl", tmpdir);
	snprintf(crl2, sizeof(crl2), "%s/b.crl", tmpdir);
	snprintf(certf, sizeof(certf), "%s/c.pem", tmpdir);
	write_file(crl1, "x", 1);
	write_file(crl2, "x", 1);
	write_file(certf, "x", 1);
	make_base();

	test_syntax();
	test_prefixes();
	test_split();
	test_mistakes();
	test_mistakes_bytes();
	test_all_reported();
	test_precedence();
	test_observe_options();
	test_overridden_checked();
	test_listener_blocks();
	test_files();
	test_round_trip();

	unlink(crl1);
	unlink(crl2);
	unlink(certf);
	unlink(base_conf);
	for (size_t i = 0; i < 5; i++) {
		static const char *const left[] = { "over", "every", "open", "big", "none" };
		char path[96];

		snprintf(path, sizeof(path), "%s/%s.conf", tmpdir, left[i]);
		unlink(path);
	}
	rmdir(tmpdir);
	return CHECK_DONE();
}
