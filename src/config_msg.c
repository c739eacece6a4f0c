/*
 * config_msg.c - configuration mistakes, named by where they were made.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config_msg.h"

static __thread const char	*config_msg_file;
static __thread unsigned	 config_msg_line;
static __thread FILE		*config_msg_out;

void
config_msg_at(const char *file, unsigned line)
{
	config_msg_file = file;
	config_msg_line = line;
}

void
config_msg_to(FILE *f)
{
	config_msg_out = f;
}

void
config_error(const char *fmt, ...)
{
	FILE *out = config_msg_out != NULL ? config_msg_out : stderr;
	va_list ap;

	if (config_msg_file != NULL) {
		/* In the file the key is written without its dashes. */
		if (strncmp(fmt, "--", 2) == 0)
			fmt += 2;
		fprintf(out, "ktproxy: %s:%u: ", config_msg_file, config_msg_line);
	} else
		fputs("ktproxy: ", out);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
}
