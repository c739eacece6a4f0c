/*
 * shmfile.h - the shared files ktproxy publishes and ktproxy-stat maps:
 * the stats segment (stats.c) and the table of live connections
 * (conntab.c).  Only the making and the mapping are here; each file's
 * layout and checks stay with its owner.
 */
#ifndef KTPROXY_SHMFILE_H
#define KTPROXY_SHMFILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Create PATH as a shared, read-write mapping of SIZE zeroed bytes.  It is
 * built under PATH.PID, INIT(map, arg) writes its header, and only then is
 * it renamed into place, so a reader never maps a half-initialised file.
 * Returns the mapping, or NULL with errno set (nothing left behind).
 */
void	*shmfile_create(const char *path, size_t size, mode_t mode,
	    void (*init)(void *map, void *arg), void *arg);

/*
 * Map PATH read-only.  *SIZEP gets its size, at least MIN.  On failure
 * returns NULL with ERR saying why: "PATH: <errno> (OPEN_HINT)" when it
 * cannot be opened, "PATH: not a WHAT (too small)" when it is smaller.
 */
void	*shmfile_map(const char *path, size_t min, size_t *sizep, const char *what,
	    const char *open_hint, char *err, size_t errlen);

#endif
