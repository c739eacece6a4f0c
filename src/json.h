/*
 * json.h - JSON string escaping (RFC 8259), for the connection log's JSON
 * lines and ktproxy-stat's JSON output.
 *
 * Quote, backslash and control bytes are escaped (\n, \t, \uXXXX ...), and
 * DEL as \u007f so a terminal never sees it.  Bytes that are not valid
 * UTF-8 (a certificate may carry anything) become \ufffd, so the output is
 * always valid JSON.
 */
#ifndef KTPROXY_JSON_H
#define KTPROXY_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Escape s (NUL-terminated) into out, which holds cap bytes, NUL-terminated;
 * no surrounding quotes.  Returns the length the whole escape needs, as
 * snprintf does: a result >= cap means it was cut (at a character's
 * boundary). */
size_t	 json_escape(char *out, size_t cap, const char *s);
/* "s" with its quotes, to f. */
void	 json_put_string(FILE *f, const char *s);

#endif
