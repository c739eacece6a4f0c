/*
 * check.h - the smallest test harness that tells a reader what ran.
 *
 * Each unit test is one program: CHECK() records a pass or a failure with
 * its location, CHECK_DONE() prints "N passed, N failed" and returns the
 * exit status (0 pass, 1 fail).
 */
#ifndef KTPROXY_CHECK_H
#define KTPROXY_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond) do { \
	if (cond) check_passed++; \
	else { check_failed++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_STREQ(a, b) do { \
	const char *check_a_ = (a), *check_b_ = (b); \
	if (check_a_ && check_b_ && strcmp(check_a_, check_b_) == 0) check_passed++; \
	else { check_failed++; fprintf(stderr, "FAIL %s:%d: %s == %s\n  got:      \"%s\"\n  expected: \"%s\"\n", \
	    __FILE__, __LINE__, #a, #b, check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)"); } \
} while (0)

#define CHECK_DONE() (printf("%s: %d passed, %d failed\n", __FILE__, check_passed, check_failed), \
	check_failed ? 1 : 0)

#endif
