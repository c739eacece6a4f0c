/*
 * config_file.c - reading ktproxy.conf and cutting it into key/value lines.
 *
 * The syntax is deliberately small, so that a line means the same thing
 * to ktproxy and to whoever reads it:
 *
 *	# a comment
 *	server-cert /etc/ktproxy/proxy.crt
 *	allow       dns:*.example.test	# comment after a space
 *	header-name "X-Forwarded-Client-Cert=X-Id"
 *	forge-origin-ext
 *
 * A value runs from the first non-blank after the key to the end of the
 * line, blanks (space, tab) at its end trimmed; a '#' that starts a word
 * (after a blank) begins a comment, one inside a word (subject:CN=#04...,
 * a URL's fragment) does not.  A value that starts with '"' runs to the
 * next unescaped '"' (\" and \\ are the only escapes) and is taken as it
 * is, blanks and '#' included.  CRLF line ends are accepted.
 *
 * Listener blocks, "listener NAME {" ... "}", are lines like any other
 * here (key "listener", value "NAME {"; key "}"): config.c gives them
 * their meaning.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_file.h"
#include "config_msg.h"

static int	 config_file_line(char *, struct config_line *);
static bool	 config_file_blank(char);

int
config_file_read(const char *path, bool optional, char **text, size_t *len)
{
	struct stat st;
	char *buf = NULL, *nbuf;
	size_t cap = 0, n = 0;
	ssize_t got;
	int fd;

	*text = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (optional && errno == ENOENT)
			return 0;
		config_error("cannot read config file %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		config_error("cannot read config file %s: %s\n", path, strerror(errno));
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		config_error("cannot read config file %s: it is a directory\n", path);
		goto fail;
	}
	/* A file anyone may write decides what ktproxy trusts: say so. */
	if (S_ISREG(st.st_mode) && (st.st_mode & S_IWOTH))
		config_error("warning: config file %s is writable by every user "
		    "(chmod o-w %s)\n", path, path);
	for (;;) {
		if (cap - n < 4096) {
			/* one byte over the limit, to tell "too large" from "full" */
			cap = cap == 0 ? 8192 : cap * 2;
			if (cap > CONFIG_FILE_MAX + 2)
				cap = CONFIG_FILE_MAX + 2;
			if ((nbuf = realloc(buf, cap)) == NULL) {
				config_error("config file %s: out of memory\n", path);
				goto fail;
			}
			buf = nbuf;
		}
		if ((got = read(fd, buf + n, cap - 1 - n)) == -1) {
			if (errno == EINTR)
				continue;
			config_error("cannot read config file %s: %s\n", path, strerror(errno));
			goto fail;
		}
		if (got == 0)
			break;
		n += got;
		if (n > CONFIG_FILE_MAX) {
			config_error("config file %s is larger than %d bytes\n", path,
			    CONFIG_FILE_MAX);
			goto fail;
		}
	}
	close(fd);
	if (buf == NULL && (buf = malloc(1)) == NULL) {
		config_error("config file %s: out of memory\n", path);
		return -1;
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 1;
fail:
	free(buf);
	close(fd);
	return -1;
}

static bool
config_file_blank(char c)
{
	return c == ' ' || c == '\t';
}

int
config_file_split(char *text, size_t len, struct config_line **lines, size_t *nlines)
{
	struct config_line *out = NULL, *nout, cl;
	char *p = text, *end = text + len, *nl, *le, *bad;
	size_t n = 0, cap = 0;
	unsigned lineno = 0;

	*lines = NULL;
	*nlines = 0;
	for (; p < end; p = nl != NULL ? nl + 1 : end) {
		lineno++;
		nl = memchr(p, '\n', end - p);
		le = nl != NULL ? nl : end;
		if (le > p && le[-1] == '\r')
			le--;
		memset(&cl, 0, sizeof(cl));
		cl.cl_line = lineno;
		if ((size_t)(le - p) > CONFIG_LINE_MAX) {
			snprintf(cl.cl_error, sizeof(cl.cl_error),
			    "line too long (more than %d bytes)", CONFIG_LINE_MAX);
		} else if ((bad = memchr(p, '\0', le - p)) != NULL) {
			snprintf(cl.cl_error, sizeof(cl.cl_error), "a NUL byte at column %zu",
			    (size_t)(bad - p) + 1);
		} else {
			for (bad = p; bad < le; bad++)
				if (((unsigned char)*bad < 0x20 && *bad != '\t') || *bad == 0x7f)
					break;
			if (bad < le)
				snprintf(cl.cl_error, sizeof(cl.cl_error),
				    "control character 0x%02x at column %zu",
				    (unsigned char)*bad, (size_t)(bad - p) + 1);
			else {
				*le = '\0';
				if (config_file_line(p, &cl) == 0)
					continue;
			}
		}
		if (n == cap) {
			cap = cap == 0 ? 32 : cap * 2;
			if ((nout = reallocarray(out, cap, sizeof(*out))) == NULL) {
				free(out);
				return -1;
			}
			out = nout;
		}
		out[n++] = cl;
	}
	*lines = out;
	*nlines = n;
	return 0;
}

/* One line, NUL-terminated, without control characters: 1 and *cl when it
 * has a key (or cl_error), 0 when it is blank or a comment. */
static int
config_file_line(char *s, struct config_line *cl)
{
	char *w, *e;

	while (config_file_blank(*s))
		s++;
	if (*s == '\0' || *s == '#')
		return 0;
	cl->cl_key = s;
	while (*s != '\0' && !config_file_blank(*s))
		s++;
	if (*s != '\0')
		*s++ = '\0';
	while (config_file_blank(*s))
		s++;
	cl->cl_value = NULL;
	if (*s == '\0' || *s == '#')
		return 1;
	if (*s != '"') {
		cl->cl_value = s;
		for (e = s + 1; *e != '\0'; e++)
			if (*e == '#' && config_file_blank(e[-1])) {
				*e = '\0';
				break;
			}
		while (e > s && config_file_blank(e[-1]))
			*--e = '\0';
		return 1;
	}
	/* Quoted: unescape in place, the value starting where the quote was. */
	cl->cl_value = w = s;
	for (s++; *s != '"'; s++) {
		if (*s == '\0') {
			snprintf(cl->cl_error, sizeof(cl->cl_error),
			    "the value's closing '\"' is missing");
			return 1;
		}
		if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
			s++;
		*w++ = *s;
	}
	*w = '\0';
	for (s++; config_file_blank(*s); s++)
		;
	if (*s != '\0' && *s != '#')
		snprintf(cl->cl_error, sizeof(cl->cl_error),
		    "text after the value's closing '\"'");
	return 1;
}
