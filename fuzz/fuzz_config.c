/*
 * fuzz_config - the config file parser: any bytes, as the text of a config
 * file, cut into lines (config_file_split) and applied to a struct config
 * (config_load_text: every key's own parser), then freed.  Files the keys
 * name are only checked for readability, never loaded.
 *
 * Nothing may crash or leak, and the lines must be what config_file.h
 * promises: numbered upwards from 1, each with a syntax error or a key
 * that is non-empty, has no blank, does not start a comment, and with the
 * value holding no control character.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "config.h"
#include "config_file.h"
#include "config_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* verify.c prints OpenSSL's errors through tls.c, which would pull in the
 * whole daemon; only its CRL loading uses it, which is not fuzzed here. */
void	tls_print_errors(const char *prefix);

void
tls_print_errors(const char *prefix)
{
	ERR_clear_error();
}

static void
fz_check_str(const char *s)
{
	for (; *s != '\0'; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			abort();
}

static void
fz_split(const uint8_t *data, size_t size)
{
	struct config_line *lines;
	unsigned last = 0;
	size_t n;
	char *text;

	if ((text = malloc(size + 1)) == NULL)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	if (config_file_split(text, size, &lines, &n) == -1) {
		free(text);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct config_line *cl = &lines[i];

		if (cl->cl_line <= last)
			abort();
		last = cl->cl_line;
		if (cl->cl_error[0] != '\0')
			continue;
		if (cl->cl_key == NULL || cl->cl_key[0] == '\0' || cl->cl_key[0] == '#' ||
		    strpbrk(cl->cl_key, " \t") != NULL)
			abort();
		fz_check_str(cl->cl_key);
		if (cl->cl_value != NULL)
			fz_check_str(cl->cl_value);
	}
	free(lines);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct config cf;

	if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	config_msg_to(devnull);
	if (size > CONFIG_FILE_MAX)
		return 0;
	fz_split(data, size);
	config_init(&cf);
	(void)config_load_text(&cf, "fuzz.conf", (const char *)data, size);
	config_free(&cf);
	ERR_clear_error();
	return 0;
}
