/*
 * config_file.h - the lines of ktproxy.conf, before anyone knows what the
 * keys mean.
 *
 * One "key value" a line, key first; '#' comments; the value is the rest of
 * the line trimmed, or a double-quoted string (\" and \\ inside) for one
 * with spaces at its ends or a '#' after a space.  What the keys are and
 * what their values must look like is config.c's business.
 */
#ifndef KTPROXY_CONFIG_FILE_H
#define KTPROXY_CONFIG_FILE_H

#include <stdbool.h>
#include <stddef.h>

#define CONFIG_LINE_MAX		4096		/* bytes in a line, without '\n' */
#define CONFIG_FILE_MAX		(1024 * 1024)	/* bytes in the whole file */

struct config_line {
	char		*cl_key;	/* NULL when cl_error says why not */
	char		*cl_value;	/* NULL: none given (not even "") */
	unsigned	 cl_line;	/* 1 for the first */
	char		 cl_error[80];	/* what is wrong with the line's syntax */
};

/*
 * Read path whole into *text (NUL-terminated, the caller frees it; the
 * file may hold NULs, *len counts them).  1: read; 0: optional and there
 * is no such file; -1: not readable, after saying why.  A regular file
 * that every user may write is read, with a warning.
 */
int	 config_file_read(const char *path, bool optional, char **text, size_t *len);

/*
 * Cut text, len bytes with a NUL after them, into its lines that are not
 * blank or comments; text is modified in place and the lines point into
 * it.  *lines (the caller frees it; NULL when there are none), *nlines.  A
 * line that is too long, holds a NUL or another control character, or has
 * a broken quote comes with cl_error set, so that the caller can report
 * every mistake in the order of the file.  0, or -1 when out of memory.
 */
int	 config_file_split(char *text, size_t len, struct config_line **lines,
	    size_t *nlines);

#endif
