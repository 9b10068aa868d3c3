/*
 * fuzz_error.c - libFuzzer target for proto_parse_error() and the
 * PktReader getters (core/proto.c).
 *
 * The input is parsed as an ErrorResponse body; the returned fields must
 * be "" or strings inside the body.  Then the same bytes drive a PktReader
 * through a sequence of getters chosen by the input itself; the reader
 * must never return data outside the buffer, and once `bad` it stays bad.
 */
#include "proto.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_field(const char *s, const uint8_t *data, size_t size)
{
	const uint8_t *p = (const uint8_t *)s;

	if (!s)
		abort();
	if (s[0] == '\0' && (p < data || p >= data + size))
		return;            /* the static "" */
	if (p < data || p >= data + size || !memchr(p, '\0', (size_t)(data + size - p)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ErrorFields ef;
	PktReader r;
	size_t i = 0;

	if (proto_parse_error(data, size, &ef)) {
		check_field(ef.severity, data, size);
		check_field(ef.sqlstate, data, size);
		check_field(ef.message, data, size);
		check_field(ef.detail, data, size);
	}

	/* getters driven by the input: op byte from the front, reading
	 * the whole buffer */
	pkt_reader_init(&r, data, size);
	for (i = 0; i < size && i < 256; i++) {
		bool was_bad = r.bad;
		size_t before = r.pos;
		const uint8_t *b;
		const char *s;

		switch (data[i] % 6) {
		case 0: (void)pkt_get_u8(&r); break;
		case 1: (void)pkt_get_u16(&r); break;
		case 2: (void)pkt_get_u32(&r); break;
		case 3:
			s = pkt_get_str(&r);
			if (s && ((const uint8_t *)s < data || (const uint8_t *)s + strlen(s) >= data + size))
				abort();
			break;
		case 4:
			b = pkt_get_bytes(&r, data[i] / 6);
			if (b && (b < data || b + data[i] / 6 > data + size))
				abort();
			break;
		default:
			b = pkt_get_bytes(&r, (size_t)data[i] << 8);
			if (b && (b < data || b + ((size_t)data[i] << 8) > data + size))
				abort();
			break;
		}
		if (r.pos > r.len || r.pos < before || (was_bad && !r.bad))
			abort();
	}
	return 0;
}
