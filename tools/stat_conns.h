/*
 * stat_conns.h - ktproxy-stat --conns: the live connections of a running
 * ktproxy (its connection table, conntab.h), joined with the kernel's view
 * of their sockets (sockdiag.h).
 */
#ifndef KTPROXY_STAT_CONNS_H
#define KTPROXY_STAT_CONNS_H

/* Print them, as a table or (json) one JSON array.  Exit status: 0, or 1
 * when the table cannot be read. */
int	 stat_conns(const char *stats_path, int json);

#endif
