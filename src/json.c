/*
 * json.c - JSON string escaping (json.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 if it is not one:
 * no overlong forms, no surrogates, nothing past U+10FFFF. */
static size_t
json_utf8_len(const unsigned char *p)
{
	uint32_t cp;
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)	/* also stops at the NUL */
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

size_t
json_escape(char *out, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t len = 0, pos = 0;	/* needed; written into out */
	int full = 0;

	while (*p) {
		char esc[8];
		const char *piece = esc;
		size_t n = 2, step = 1;

		if (*p == '"' || *p == '\\') {
			esc[0] = '\\', esc[1] = (char)*p;
		} else if (*p == '\n') {
			memcpy(esc, "\\n", 2);
		} else if (*p == '\r') {
			memcpy(esc, "\\r", 2);
		} else if (*p == '\t') {
			memcpy(esc, "\\t", 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[*p >> 4], esc[5] = hex[*p & 15];
			n = 6;
		} else if ((step = json_utf8_len(p)) == 0) {
			memcpy(esc, "\\ufffd", 6);
			n = 6, step = 1;
		} else {
			piece = (const char *)p, n = step;
		}
		/* Whole pieces only: a cut never splits an escape or a
		 * character. */
		if (!full && pos + n < cap) {
			memcpy(out + pos, piece, n);
			pos += n;
		} else {
			full = 1;
		}
		len += n;
		p += step;
	}
	if (cap > 0)
		out[pos] = '\0';
	return len;
}

void
json_put_string(FILE *f, const char *s)
{
	char buf[1024];
	size_t n = json_escape(buf, sizeof(buf), s);

	fputc('"', f);
	if (n < sizeof(buf)) {
		fputs(buf, f);
	} else {
		/* Long: escape it whole into a buffer of its own. */
		char *big = malloc(n + 1);

		if (big != NULL) {
			json_escape(big, n + 1, s);
			fputs(big, f);
			free(big);
		}
	}
	fputc('"', f);
}
