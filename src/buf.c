/*
 * buf.c - byte buffers for the userspace relay.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"

size_t
buf_make_room(struct buf *b, size_t cap)
{
	if (b->b_data == NULL) {
		if ((b->b_data = malloc(cap)) == NULL)
			return 0;
		b->b_cap = cap;
		b->b_off = b->b_len = 0;
	}
	/* Slide unread bytes to the front only when the tail is full: most
	 * reads then land without a copy. */
	if (b->b_off + b->b_len == b->b_cap && b->b_off > 0) {
		memmove(b->b_data, b->b_data + b->b_off, b->b_len);
		b->b_off = 0;
	}
	return buf_wroom(b);
}

void
buf_consume(struct buf *b, size_t n)
{
	b->b_off += n;
	b->b_len -= n;
	if (b->b_len == 0)
		b->b_off = 0;
}

int
buf_append(struct buf *b, size_t cap, const void *p, size_t n)
{
	if (buf_make_room(b, cap) < n) {
		/* The room may be split between front and tail. */
		if (b->b_data == NULL || b->b_cap - b->b_len < n)
			return -1;
		memmove(b->b_data, b->b_data + b->b_off, b->b_len);
		b->b_off = 0;
	}
	memcpy(buf_wptr(b), p, n);
	b->b_len += n;
	return 0;
}

void
buf_release(struct buf *b)
{
	free(b->b_data);
	b->b_data = NULL;
	b->b_cap = b->b_off = b->b_len = 0;
}
