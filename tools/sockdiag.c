/*
 * sockdiag.c - dump TCP sockets with tcp_info and the TLS ULP (sockdiag.h).
 *
 * The request is an inet_diag_req_v2 (linux/inet_diag.h) asking for
 * INET_DIAG_INFO; with it the kernel also sends INET_DIAG_ULP_INFO for a
 * socket with a ULP (tcp_diag_get_aux): a nest holding INET_ULP_INFO_NAME
 * ("tls") and INET_ULP_INFO_TLS, itself a nest of TLS_INFO_VERSION,
 * TLS_INFO_CIPHER, TLS_INFO_TXCONF and TLS_INFO_RXCONF (linux/tls.h,
 * tls_get_info).  Older kernels send no ULP attribute: "-".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "sockdiag.h"

static struct sockdiag_sock *
sockdiag_add(struct sockdiag_list *l)
{
	if (l->sl_n == l->sl_cap) {
		size_t cap = l->sl_cap ? l->sl_cap * 2 : 256;
		struct sockdiag_sock *n = realloc(l->sl_socks, cap * sizeof(*n));

		if (n == NULL)
			return NULL;
		l->sl_socks = n;
		l->sl_cap = cap;
	}
	memset(&l->sl_socks[l->sl_n], 0, sizeof(l->sl_socks[0]));
	return &l->sl_socks[l->sl_n++];
}

/* TLS_INFO_* inside INET_ULP_INFO_TLS. */
static int
sockdiag_tls_attr(const struct nlattr *a, void *data)
{
	struct sockdiag_sock *s = data;
	uint16_t *dst = NULL;

	switch (mnl_attr_get_type(a)) {
	case TLS_INFO_VERSION: dst = &s->sd_tls_version; break;
	case TLS_INFO_CIPHER: dst = &s->sd_tls_cipher; break;
	case TLS_INFO_TXCONF: dst = &s->sd_tls_txconf; break;
	case TLS_INFO_RXCONF: dst = &s->sd_tls_rxconf; break;
	default: return MNL_CB_OK;	/* ZC_RO_TX, RX_NO_PAD: flags we do not show */
	}
	if (mnl_attr_validate(a, MNL_TYPE_U16) < 0)
		return MNL_CB_OK;
	*dst = mnl_attr_get_u16(a);
	s->sd_has_tls = 1;
	return MNL_CB_OK;
}

/* INET_ULP_INFO_* inside INET_DIAG_ULP_INFO. */
static int
sockdiag_ulp_attr(const struct nlattr *a, void *data)
{
	struct sockdiag_sock *s = data;

	switch (mnl_attr_get_type(a)) {
	case INET_ULP_INFO_NAME:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			snprintf(s->sd_ulp, sizeof(s->sd_ulp), "%s", mnl_attr_get_str(a));
		break;
	case INET_ULP_INFO_TLS:
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) == 0)
			mnl_attr_parse_nested(a, sockdiag_tls_attr, s);
		break;
	}
	return MNL_CB_OK;
}

static int
sockdiag_msg_attr(const struct nlattr *a, void *data)
{
	struct sockdiag_sock *s = data;

	switch (mnl_attr_get_type(a)) {
	case INET_DIAG_INFO: {
		struct tcp_info ti;
		size_t n = mnl_attr_get_payload_len(a);

		/* Older kernels send a shorter tcp_info: take what came. */
		memset(&ti, 0, sizeof(ti));
		memcpy(&ti, mnl_attr_get_payload(a), n < sizeof(ti) ? n : sizeof(ti));
		s->sd_has_info = 1;
		s->sd_rtt_us = ti.tcpi_rtt;
		if (n >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received)) {
			s->sd_bytes_acked = ti.tcpi_bytes_acked;
			s->sd_bytes_received = ti.tcpi_bytes_received;
		}
		break;
	}
	case INET_DIAG_ULP_INFO:
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) == 0)
			mnl_attr_parse_nested(a, sockdiag_ulp_attr, s);
		break;
	}
	return MNL_CB_OK;
}

static int
sockdiag_msg(const struct nlmsghdr *nlh, void *data)
{
	struct sockdiag_list *l = data;
	const struct inet_diag_msg *m = mnl_nlmsg_get_payload(nlh);
	struct sockdiag_sock *s;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*m))
		return MNL_CB_ERROR;
	if ((s = sockdiag_add(l)) == NULL)
		return MNL_CB_ERROR;
	s->sd_family = m->idiag_family;
	s->sd_state = m->idiag_state;
	memcpy(s->sd_local, m->id.idiag_src, 16);
	memcpy(s->sd_remote, m->id.idiag_dst, 16);
	s->sd_lport = ntohs(m->id.idiag_sport);
	s->sd_rport = ntohs(m->id.idiag_dport);
	mnl_attr_parse(nlh, sizeof(*m), sockdiag_msg_attr, s);
	return MNL_CB_OK;
}

static int
sockdiag_dump_family(struct mnl_socket *nl, uint8_t family, struct sockdiag_list *l,
    char *err, size_t errlen)
{
	char buf[32768];	/* a dump batch; MNL_SOCKET_BUFFER_SIZE can be too small */
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct inet_diag_req_v2 *req;
	unsigned seq = (unsigned)time(NULL) + family, portid = mnl_socket_get_portid(nl);
	ssize_t n;
	int r;

	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = family;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = ~0u;	/* every state: a closing leg is still ours */
	req->idiag_ext = 1 << (INET_DIAG_INFO - 1);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		snprintf(err, errlen, "sock_diag: send: %s", strerror(errno));
		return -1;
	}
	while ((n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0) {
		r = mnl_cb_run(buf, n, seq, portid, sockdiag_msg, l);
		if (r == MNL_CB_STOP)
			return 0;
		if (r == MNL_CB_ERROR) {
			snprintf(err, errlen, "sock_diag: %s", errno ? strerror(errno) : "bad answer");
			return -1;
		}
	}
	snprintf(err, errlen, "sock_diag: receive: %s", n < 0 ? strerror(errno) : "closed");
	return -1;
}

int
sockdiag_dump(struct sockdiag_list *l, char *err, size_t errlen)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_SOCK_DIAG);
	int rc = -1;

	if (nl == NULL) {
		snprintf(err, errlen, "sock_diag: socket: %s", strerror(errno));
		return -1;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "sock_diag: bind: %s", strerror(errno));
		goto out;
	}
	if (sockdiag_dump_family(nl, AF_INET, l, err, errlen) == -1 ||
	    sockdiag_dump_family(nl, AF_INET6, l, err, errlen) == -1)
		goto out;
	rc = 0;
out:
	mnl_socket_close(nl);
	return rc;
}

void
sockdiag_free(struct sockdiag_list *l)
{
	free(l->sl_socks);
	memset(l, 0, sizeof(*l));
}

const struct sockdiag_sock *
sockdiag_find(const struct sockdiag_list *l, uint8_t family, const uint8_t *local,
    uint16_t lport, const uint8_t *remote, uint16_t rport)
{
	size_t alen = family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < l->sl_n; i++) {
		const struct sockdiag_sock *s = &l->sl_socks[i];

		if (s->sd_family == family && s->sd_lport == lport && s->sd_rport == rport &&
		    memcmp(s->sd_local, local, alen) == 0 && memcmp(s->sd_remote, remote, alen) == 0)
			return s;
	}
	return NULL;
}

static const char *
sockdiag_cipher_name(uint16_t c)
{
	switch (c) {
	case TLS_CIPHER_AES_GCM_128: return "aes-gcm-128";
	case TLS_CIPHER_AES_GCM_256: return "aes-gcm-256";
	case TLS_CIPHER_AES_CCM_128: return "aes-ccm-128";
	case TLS_CIPHER_CHACHA20_POLY1305: return "chacha20-poly1305";
	case TLS_CIPHER_SM4_GCM: return "sm4-gcm";
	case TLS_CIPHER_SM4_CCM: return "sm4-ccm";
	default: return NULL;
	}
}

static const char *
sockdiag_conf_name(uint16_t c)
{
	switch (c) {
	case TLS_CONF_BASE: return "none";	/* the ULP is there, no key yet */
	case TLS_CONF_SW: return "sw";
	case TLS_CONF_HW: return "hw";
	case TLS_CONF_HW_RECORD: return "hw-record";
	default: return "?";
	}
}

void
sockdiag_tls_str(const struct sockdiag_sock *s, char *buf, size_t len)
{
	const char *cipher;
	char cbuf[16];

	if (s == NULL || strcmp(s->sd_ulp, "tls") != 0 || !s->sd_has_tls) {
		snprintf(buf, len, "-");
		return;
	}
	if ((cipher = sockdiag_cipher_name(s->sd_tls_cipher)) == NULL) {
		snprintf(cbuf, sizeof(cbuf), "cipher-%u", s->sd_tls_cipher);
		cipher = cbuf;
	}
	snprintf(buf, len, "tls%s %s tx=%s rx=%s",
	    s->sd_tls_version == TLS_1_3_VERSION ? "1.3" :
	    s->sd_tls_version == TLS_1_2_VERSION ? "1.2" : "?",
	    cipher, sockdiag_conf_name(s->sd_tls_txconf), sockdiag_conf_name(s->sd_tls_rxconf));
}
