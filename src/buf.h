/*
 * buf.h - a byte buffer with a read and a write end.
 *
 * Storage is allocated on first use and kept while the connection is busy;
 * conn_trim() hands it back with buf_release() once the connection idles,
 * so an idle connection holds no relay memory.
 */
#ifndef KTPROXY_BUF_H
#define KTPROXY_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t	*b_data;
	size_t	 b_cap;		/* size of b_data once allocated */
	size_t	 b_off;		/* first unread byte */
	size_t	 b_len;		/* unread bytes from b_off */
};

/* Make room for at least `want` contiguous bytes at the write end; compacts
 * and allocates `cap` bytes on first use.  Returns the free bytes at the
 * write end, 0 if the buffer is full (or allocation failed). */
size_t	 buf_make_room(struct buf *b, size_t cap);
static inline uint8_t *buf_wptr(struct buf *b) { return b->b_data + b->b_off + b->b_len; }
static inline size_t buf_wroom(const struct buf *b) { return b->b_data ? b->b_cap - b->b_off - b->b_len : 0; }
static inline uint8_t *buf_rptr(struct buf *b) { return b->b_data + b->b_off; }
static inline void buf_produce(struct buf *b, size_t n) { b->b_len += n; }
void	 buf_consume(struct buf *b, size_t n);
int	 buf_append(struct buf *b, size_t cap, const void *p, size_t n);
void	 buf_release(struct buf *b);

#endif
