/*
 * clock.h - the one clock ktproxy measures time spans and deadlines with:
 * CLOCK_MONOTONIC in milliseconds (never steps with the wall clock).
 */
#ifndef KTPROXY_CLOCK_H
#define KTPROXY_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t
clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
