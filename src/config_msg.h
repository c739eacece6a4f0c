/*
 * config_msg.h - where a configuration mistake is reported.
 *
 * Every option parser (config.c and the modules whose flags it hands on:
 * headers.c, verify.c, ocsp.c, forge_policy.c) says what is wrong through
 * config_error(), written as for the command line: "--ocsp: \"on\" is not
 * off, soft or hard\n".  While the config file reader applies a line it
 * sets the place, and the same message comes out as
 * "ktproxy: FILE:LINE: ocsp: ...": the flag's own words, named the way the
 * file spells the key.
 *
 * The place and the destination are per thread, so a reload that parses a
 * new configuration in the main thread never changes what a worker
 * prints.
 */
#ifndef KTPROXY_CONFIG_MSG_H
#define KTPROXY_CONFIG_MSG_H

#include <stdio.h>

/* "ktproxy: " [FILE:LINE: ] fmt; a leading "--" is dropped at a place. */
void	 config_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The file line being applied (file NULL: the command line). */
void	 config_msg_at(const char *file, unsigned line);
/* Where messages go (NULL: stderr); for tests and fuzzers. */
void	 config_msg_to(FILE *f);

#endif
