/*
 * test_ktls.c - the TLS 1.3 RX key ktproxy hands the kernel, checked on any
 * host (no kTLS needed): a real in-memory handshake between two OpenSSL
 * objects, the client traffic secret captured by ktproxy's own keylog
 * callback, key and IV derived by ktls_tls13_keys(), and the client's first
 * application record decrypted by hand with them.  A wrong label, hash,
 * length or IV split cannot decrypt it.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "check.h"
#include "conn.h"
#include "ktls.h"

static EVP_PKEY *test_key;
static X509 *test_cert;

static void
test_make_cert(void)
{
	X509_NAME *n;

	test_key = EVP_EC_gen("P-256");
	test_cert = X509_new();
	X509_set_version(test_cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(test_cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(test_cert), -60);
	X509_gmtime_adj(X509_getm_notAfter(test_cert), 3600);
	n = X509_get_subject_name(test_cert);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"test", -1, -1, 0);
	X509_set_issuer_name(test_cert, n);
	X509_set_pubkey(test_cert, test_key);
	X509_sign(test_cert, test_key, EVP_sha256());
}

/* Move bytes between the two memory BIO pairs until both handshakes end. */
static int
test_handshake(SSL *cli, SSL *srv)
{
	for (int i = 0; i < 100; i++) {
		int a = SSL_do_handshake(cli), b = SSL_do_handshake(srv);

		if (a == 1 && b == 1)
			return 0;
		if ((a != 1 && SSL_get_error(cli, a) != SSL_ERROR_WANT_READ) ||
		    (b != 1 && SSL_get_error(srv, b) != SSL_ERROR_WANT_READ))
			return -1;
	}
	return -1;
}

/* Decrypt one TLS 1.3 record (seq 0) with key/iv; returns plaintext length
 * (inner content type included) or -1. */
static int
test_open_record(const EVP_CIPHER *aead, const uint8_t *key, const uint8_t iv[12],
    const uint8_t *rec, size_t reclen, uint8_t *out)
{
	size_t len = (size_t)rec[3] << 8 | rec[4];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = -1, m, ok;

	/* nonce = iv XOR 64-bit sequence number 0: the iv itself */
	if (reclen < 5 + len || len < 17)
		goto out;
	ok = EVP_DecryptInit_ex(ctx, aead, NULL, NULL, NULL) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) == 1 &&
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, iv) == 1 &&
	    EVP_DecryptUpdate(ctx, NULL, &m, rec, 5) == 1 &&
	    EVP_DecryptUpdate(ctx, out, &n, rec + 5, len - 16) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(rec + 5 + len - 16)) == 1 &&
	    EVP_DecryptFinal_ex(ctx, out + n, &m) == 1;
	if (!ok)
		n = -1;
out:
	EVP_CIPHER_CTX_free(ctx);
	return n;
}

static void
test_suite(const char *suite, const EVP_CIPHER *aead, size_t want_keylen)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method()), *sctx = SSL_CTX_new(TLS_server_method());
	struct conn c;
	SSL *cli, *srv;
	BIO *cbio, *sbio;
	uint8_t key[32], iv[12], rec[512], plain[512];
	size_t keylen = 0;
	int n;

	memset(&c, 0, sizeof(c));
	SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
	SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION);
	CHECK(SSL_CTX_set_ciphersuites(cctx, suite) == 1);
	CHECK(SSL_CTX_set_ciphersuites(sctx, suite) == 1);
	SSL_CTX_use_certificate(sctx, test_cert);
	SSL_CTX_use_PrivateKey(sctx, test_key);
	SSL_CTX_set_num_tickets(sctx, 0);
	/* The server is ktproxy's client leg: its RX key is the client's
	 * traffic secret, captured as the daemon captures it. */
	SSL_CTX_set_keylog_callback(sctx, ktls_keylog);

	cli = SSL_new(cctx);
	srv = SSL_new(sctx);
	c.c_client.l_ssl = srv;
	SSL_set_app_data(srv, &c);
	BIO_new_bio_pair(&cbio, 0, &sbio, 0);
	SSL_set_bio(cli, cbio, cbio);
	SSL_set_bio(srv, sbio, sbio);
	SSL_set_connect_state(cli);
	SSL_set_accept_state(srv);
	CHECK(test_handshake(cli, srv) == 0);
	CHECK(strcmp(SSL_get_cipher_name(srv), suite) == 0);
	CHECK(c.c_client.l_rx_secret_len == (want_keylen == 16 || aead == EVP_chacha20_poly1305() ? 32 : 48));

	CHECK(ktls_tls13_keys(srv, c.c_client.l_rx_secret, c.c_client.l_rx_secret_len,
	    key, &keylen, iv) == 0);
	CHECK(keylen == want_keylen);

	/* The client's first application record, taken off the wire. */
	CHECK(SSL_write(cli, "GET / HTTP/1.1\r\n\r\n", 18) == 18);
	n = BIO_read(sbio, rec, sizeof(rec));
	CHECK(n > 5 && rec[0] == 23 && rec[1] == 3 && rec[2] == 3);
	n = test_open_record(aead, key, iv, rec, n, plain);
	CHECK(n == 19);
	CHECK(n == 19 && memcmp(plain, "GET / HTTP/1.1\r\n\r\n", 18) == 0 && plain[18] == 23);

	/* A secret one bit off must not open it: the check has teeth. */
	c.c_client.l_rx_secret[0] ^= 1;
	CHECK(ktls_tls13_keys(srv, c.c_client.l_rx_secret, c.c_client.l_rx_secret_len,
	    key, &keylen, iv) == 0);
	CHECK(test_open_record(aead, key, iv, rec, 5 + ((size_t)rec[3] << 8 | rec[4]), plain) == -1);

	/* A secret of the wrong length is refused. */
	CHECK(ktls_tls13_keys(srv, c.c_client.l_rx_secret, 20, key, &keylen, iv) == -1);

	SSL_free(cli);
	SSL_free(srv);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	ERR_clear_error();
}

int
main(void)
{
	test_make_cert();
	test_suite("TLS_AES_128_GCM_SHA256", EVP_aes_128_gcm(), 16);
	test_suite("TLS_AES_256_GCM_SHA384", EVP_aes_256_gcm(), 32);
	test_suite("TLS_CHACHA20_POLY1305_SHA256", EVP_chacha20_poly1305(), 32);
	X509_free(test_cert);
	EVP_PKEY_free(test_key);
	return CHECK_DONE();
}
