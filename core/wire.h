/*
 * wire.h - reading the PostgreSQL wire format's big-endian integers.
 * Header-only: used by the framing (sbuf.c), the parsers (proto.c) and
 * the server side when it walks buffered messages (server.c).
 */
#ifndef LAGOON_WIRE_H
#define LAGOON_WIRE_H

#include <stdint.h>

static inline uint32_t wire_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

#endif
