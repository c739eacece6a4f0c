/*
 * test_json.c - JSON string escaping: valid JSON whatever the bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "json.h"

static const char *
esc(const char *s)
{
	static char buf[256];

	json_escape(buf, sizeof(buf), s);
	return buf;
}

static void
test_escapes(void)
{
	CHECK_STREQ(esc("CN=alice,O=Example"), "CN=alice,O=Example");
	CHECK_STREQ(esc("CN=\"quoted\\\""), "CN=\\\"quoted\\\\\\\"");
	CHECK_STREQ(esc("a\nb\rc\td"), "a\\nb\\rc\\td");
	CHECK_STREQ(esc("\x01\x1f\x7f"), "\\u0001\\u001f\\u007f");
	/* UTF-8 passes as it is */
	CHECK_STREQ(esc("CN=J\xc3\xbcrgen \xe2\x82\xac \xf0\x9f\x94\x92"), "CN=J\xc3\xbcrgen \xe2\x82\xac \xf0\x9f\x94\x92");
	/* not UTF-8: a lone continuation byte, a Latin-1 byte, an overlong
	 * '/', a surrogate, a truncated sequence */
	CHECK_STREQ(esc("\x80"), "\\ufffd");
	CHECK_STREQ(esc("caf\xe9!"), "caf\\ufffd!");
	CHECK_STREQ(esc("\xc0\xaf"), "\\ufffd\\ufffd");
	CHECK_STREQ(esc("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");
	CHECK_STREQ(esc("\xe2\x82"), "\\ufffd\\ufffd");
	CHECK_STREQ(esc(""), "");
}

/* Cut like snprintf, never inside an escape or a character. */
static void
test_cut(void)
{
	char buf[8];
	size_t n;

	n = json_escape(buf, sizeof(buf), "abcdef\"g");
	CHECK(n == 9);
	CHECK_STREQ(buf, "abcdef");		/* \" does not fit after it */
	n = json_escape(buf, 5, "ab\xe2\x82\xac");
	CHECK(n == 5);
	CHECK_STREQ(buf, "ab");			/* the euro sign whole or not at all */
	CHECK(json_escape(NULL, 0, "x\n") == 3);
}

static void
test_put_string(void)
{
	char *text = NULL, *big = malloc(3001);
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	memset(big, '"', 3000);
	big[3000] = '\0';
	json_put_string(f, "a\\b");
	json_put_string(f, big);
	fclose(f);
	CHECK(len == 6 + 2 + 6000);
	CHECK(strncmp(text, "\"a\\\\b\"\"\\\"", 9) == 0);
	CHECK(text[len - 1] == '"');
	free(text);
	free(big);
}

int
main(void)
{
	test_escapes();
	test_cut();
	test_put_string();
	return CHECK_DONE();
}
