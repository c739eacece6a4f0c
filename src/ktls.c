/*
 * ktls.c - kernel TLS capability, key installation and record I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/tls.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "conn.h"
#include "ktls.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

static bool
ktls_ulp_listed(void)
{
	char buf[256];
	ssize_t n;
	int fd;

	if ((fd = open("/proc/sys/net/ipv4/tcp_available_ulp", O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (char *tok = strtok(buf, " \n"); tok != NULL; tok = strtok(NULL, " \n"))
		if (strcmp(tok, "tls") == 0)
			return true;
	return false;
}

/*
 * The ULP can only be attached to an established TCP socket, so the probe
 * makes one over loopback; attaching it also loads the tls module.
 */
bool
ktls_probe(char *why, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int l = -1, c = -1, s = -1;
	bool ok = false;

	if (ktls_ulp_listed())
		return true;
	if ((l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(l, (struct sockaddr *)&a, sizeof(a)) == -1 || listen(l, 1) == -1 ||
	    getsockname(l, (struct sockaddr *)&a, &alen) == -1 ||
	    (c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(c, (struct sockaddr *)&a, sizeof(a)) == -1 ||
	    (s = accept4(l, NULL, NULL, SOCK_CLOEXEC)) == -1) {
		snprintf(why, len, "probe socket over loopback: %s", strerror(errno));
		goto out;
	}
	if (setsockopt(c, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) == -1) {
		snprintf(why, len, "the kernel has no TLS ULP (%s)%s", strerror(errno),
		    errno == ENOENT ? ": CONFIG_TLS is off or the tls module is missing" : "");
		goto out;
	}
	ok = true;
out:
	if (s != -1) close(s);
	if (c != -1) close(c);
	if (l != -1) close(l);
	return ok || ktls_ulp_listed();
}

static int
ktls_hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch |= 0x20;
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

void
ktls_keylog(const SSL *ssl, const char *line)
{
	struct conn *c = SSL_get_app_data(ssl);
	const char *want, *sp;
	struct leg *l;
	size_t n = 0;

	if (c == NULL)
		return;
	/* A leg's RX key is the peer's traffic secret. */
	if (ssl == c->c_client.l_ssl) {
		l = &c->c_client;
		want = "CLIENT_TRAFFIC_SECRET_0 ";
	} else if (ssl == c->c_up.l_ssl) {
		l = &c->c_up;
		want = "SERVER_TRAFFIC_SECRET_0 ";
	} else {
		return;
	}
	if (strncmp(line, want, strlen(want)) != 0 ||
	    (sp = strchr(line + strlen(want), ' ')) == NULL)
		return;
	for (sp++; sp[0] && sp[1] && n < KTLS_SECRET_MAX; sp += 2) {
		int hi = ktls_hexval(sp[0]), lo = ktls_hexval(sp[1]);
		if (hi < 0 || lo < 0)
			return;
		l->l_rx_secret[n++] = hi << 4 | lo;
	}
	l->l_rx_secret_len = n;
}

/* HKDF-Expand-Label(secret, label, "", outlen) of RFC 8446 7.1. */
static int
ktls_expand_label(const EVP_MD *md, const uint8_t *secret, size_t slen,
    const char *label, uint8_t *out, size_t outlen)
{
	uint8_t info[2 + 1 + 6 + 32 + 1];
	size_t n = 0, ll = strlen(label);
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, ok;
	EVP_KDF *kdf;
	EVP_KDF_CTX *kctx;
	OSSL_PARAM params[5];

	info[n++] = outlen >> 8;
	info[n++] = outlen & 0xff;
	info[n++] = 6 + ll;
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, ll);
	n += ll;
	info[n++] = 0;		/* empty context */
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)EVP_MD_get0_name(md), 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, slen);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
	params[3] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	params[4] = OSSL_PARAM_construct_end();
	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL)
		return -1;
	kctx = EVP_KDF_CTX_new(kdf);
	ok = kctx != NULL && EVP_KDF_derive(kctx, out, outlen, params) == 1;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ok ? 0 : -1;
}

union ktls_crypto_info {
	struct tls12_crypto_info_aes_gcm_128	 gcm128;
	struct tls12_crypto_info_aes_gcm_256	 gcm256;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

int
ktls_tls13_keys(const SSL *ssl, const uint8_t *secret, size_t slen, uint8_t key[32],
    size_t *keylen, uint8_t iv[12])
{
	const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
	const EVP_MD *md = cipher ? SSL_CIPHER_get_handshake_digest(cipher) : NULL;

	if (md == NULL || slen != (size_t)EVP_MD_get_size(md))
		return -1;
	switch (SSL_CIPHER_get_cipher_nid(cipher)) {
	case NID_aes_128_gcm:
		*keylen = 16;
		break;
	case NID_aes_256_gcm:
	case NID_chacha20_poly1305:
		*keylen = 32;
		break;
	default:
		return -1;
	}
	if (ktls_expand_label(md, secret, slen, "key", key, *keylen) == -1 ||
	    ktls_expand_label(md, secret, slen, "iv", iv, 12) == -1)
		return -1;
	return 0;
}

/*
 * Build the TLS 1.3 RX crypto info for a leg from its captured secret.
 * `seq` is the number of records already read under that key: 0 right
 * after the handshake (the relay does not read ahead on connections that
 * may go to the kernel, and OpenSSL does not read ahead by default), or
 * what OpenSSL read before a late install.
 */
static int
ktls_rx13_info(struct leg *l, uint64_t seq, union ktls_crypto_info *ci, size_t *cilen,
    const char **reason)
{
	unsigned char rec_seq[8];
	const SSL_CIPHER *cipher = SSL_get_current_cipher(l->l_ssl);
	uint8_t key[32], iv[12];
	size_t keylen;

	memset(ci, 0, sizeof(*ci));
	if (l->l_rx_secret_len == 0) {
		*reason = "no_traffic_secret";
		return -1;
	}
	if (ktls_tls13_keys(l->l_ssl, l->l_rx_secret, l->l_rx_secret_len, key, &keylen, iv) == -1) {
		*reason = "cipher_not_offloadable";
		return -1;
	}
	for (int i = 7; i >= 0; i--, seq >>= 8)
		rec_seq[i] = seq & 0xff;		/* big-endian, as on the wire */
	switch (SSL_CIPHER_get_cipher_nid(cipher)) {
	case NID_aes_128_gcm:
		ci->gcm128.info.version = TLS_1_3_VERSION;
		ci->gcm128.info.cipher_type = TLS_CIPHER_AES_GCM_128;
		memcpy(ci->gcm128.key, key, 16);
		memcpy(ci->gcm128.salt, iv, 4);
		memcpy(ci->gcm128.iv, iv + 4, 8);
		memcpy(ci->gcm128.rec_seq, rec_seq, 8);
		*cilen = sizeof(ci->gcm128);
		break;
	case NID_aes_256_gcm:
		ci->gcm256.info.version = TLS_1_3_VERSION;
		ci->gcm256.info.cipher_type = TLS_CIPHER_AES_GCM_256;
		memcpy(ci->gcm256.key, key, 32);
		memcpy(ci->gcm256.salt, iv, 4);
		memcpy(ci->gcm256.iv, iv + 4, 8);
		memcpy(ci->gcm256.rec_seq, rec_seq, 8);
		*cilen = sizeof(ci->gcm256);
		break;
	default:
		ci->chacha.info.version = TLS_1_3_VERSION;
		ci->chacha.info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
		memcpy(ci->chacha.key, key, 32);
		memcpy(ci->chacha.iv, iv, 12);
		memcpy(ci->chacha.rec_seq, rec_seq, 8);
		*cilen = sizeof(ci->chacha);
		break;
	}
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	return 0;
}

/* Which directions of a leg are already in the kernel, and what is left. */
static int
ktls_check_leg(struct leg *l, bool *need_rx, const char **reason)
{
	if (!BIO_get_ktls_send(SSL_get_wbio(l->l_ssl))) {
		/* OpenSSL declined: a cipher the kernel cannot do, or the
		 * ULP would not attach. */
		*reason = "tx_not_offloaded";
		return -1;
	}
	if (SSL_has_pending(l->l_ssl)) {
		/* Bytes OpenSSL holds would be lost to the kernel's reader. */
		*reason = "openssl_has_pending_bytes";
		return -1;
	}
	*need_rx = !BIO_get_ktls_recv(SSL_get_rbio(l->l_ssl));
	if (*need_rx && SSL_version(l->l_ssl) != TLS1_3_VERSION) {
		*reason = "rx_not_offloaded";
		return -1;
	}
	return 0;
}

int
ktls_install(struct conn *c, const char **reason)
{
	union ktls_crypto_info ci[2];
	size_t cilen[2] = { 0, 0 };
	struct leg *legs[2] = { &c->c_client, &c->c_up };
	bool need_rx[2];
	int installed = 0;

	/* Everything that can fail without side effects first: only then
	 * touch the sockets, so a refusal leaves OpenSSL in charge.  A leg
	 * without an SSL is in the kernel already (a kept upstream). */
	for (int i = 0; i < 2; i++) {
		need_rx[i] = false;
		if (legs[i]->l_ssl == NULL)
			continue;
		if (ktls_check_leg(legs[i], &need_rx[i], reason) == -1)
			return -1;
		if (need_rx[i] && ktls_rx13_info(legs[i], 0, &ci[i], &cilen[i], reason) == -1)
			return -1;
	}
	/* The upstream's TLS 1.3 tickets come after the handshake, under the
	 * application key: OpenSSL reads them first (ktls_install_rx_late). */
	if (need_rx[1]) {
		c->c_up.l_rx_user = true;
		need_rx[1] = false;
	}
	for (int i = 0; i < 2; i++) {
		if (!need_rx[i])
			continue;
		if (setsockopt(legs[i]->l_fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) == -1 &&
		    errno != EEXIST) {
			*reason = "ulp_attach_failed";
			goto fail;
		}
		if (setsockopt(legs[i]->l_fd, SOL_TLS, TLS_RX, &ci[i], cilen[i]) == -1) {
			*reason = "rx_install_failed";
			goto fail;
		}
		installed++;
	}
	OPENSSL_cleanse(ci, sizeof(ci));
	return 0;
fail:
	OPENSSL_cleanse(ci, sizeof(ci));
	/* A hand-installed RX key is invisible to OpenSSL: once one is in,
	 * that leg can no longer be read through SSL_read. */
	return installed > 0 ? -2 : -1;
}

int
ktls_install_rx_late(struct leg *l, const char **reason)
{
	union ktls_crypto_info ci;
	size_t cilen;
	int r = -1;

	if (l->l_rx_rekeyed) {
		*reason = "rekeyed";
		return -1;
	}
	if (SSL_has_pending(l->l_ssl)) {
		*reason = "openssl_has_pending_bytes";
		return -1;
	}
	if (ktls_rx13_info(l, l->l_rx_records, &ci, &cilen, reason) == 0) {
		if (setsockopt(l->l_fd, SOL_TLS, TLS_RX, &ci, cilen) == 0)
			r = 0;
		else
			*reason = "rx_install_failed";
	}
	OPENSSL_cleanse(&ci, sizeof(ci));
	return r;
}

void
ktls_msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
    SSL *ssl, void *arg)
{
	struct conn *c = SSL_get_app_data(ssl);
	struct leg *l;

	(void)version;
	(void)arg;
	if (c == NULL || write_p)
		return;
	l = ssl == c->c_up.l_ssl ? &c->c_up : &c->c_client;
	if (content_type == SSL3_RT_HEADER)
		l->l_rx_records++;
	/* A KeyUpdate moves OpenSSL to a key derived from the next secret:
	 * the one captured would be wrong.  Such a leg stays with OpenSSL. */
	else if (content_type == SSL3_RT_HANDSHAKE && len > 0 &&
	    *(const uint8_t *)buf == SSL3_MT_KEY_UPDATE)
		l->l_rx_rekeyed = true;
}

ssize_t
ktls_recv(int fd, void *buf, size_t len, uint8_t *type)
{
	char cbuf[CMSG_SPACE(sizeof(uint8_t))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	ssize_t n;

	if ((n = recvmsg(fd, &mh, MSG_DONTWAIT)) < 0)
		return -1;
	*type = KTLS_REC_DATA;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
			*type = *CMSG_DATA(cm);
	return n;
}

int
ktls_send_alert(int fd, uint8_t level, uint8_t desc)
{
	uint8_t alert[2] = { level, desc };
	char cbuf[CMSG_SPACE(sizeof(uint8_t))];
	struct iovec iov = { .iov_base = alert, .iov_len = sizeof(alert) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(uint8_t));
	*CMSG_DATA(cm) = KTLS_REC_ALERT;
	return sendmsg(fd, &mh, MSG_DONTWAIT) == sizeof(alert) ? 0 : -1;
}
