/*
 * fuzz_classify.c - libFuzzer target for the SQL classifier
 * (core/classify.c).
 *
 * The input is classified as is (not NUL-terminated: ASan catches a read
 * past `len`), and the result checked: the keyword holds only a-z and is
 * terminated, the kind is READ or WRITE, the reason is never NULL, and a
 * second call gives the same answer.  A NUL-terminated copy must classify
 * the same way too (the classifier must not stop at a NUL or read on).
 */
#include "classify.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(const ClassifyResult *r)
{
	size_t n = strnlen(r->keyword, CLASSIFY_KEYWORD_MAX);

	if (n >= CLASSIFY_KEYWORD_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if (r->keyword[i] < 'a' || r->keyword[i] > 'z')
			abort();
	if (r->kind != CLS_READ && r->kind != CLS_WRITE)
		abort();
	if (r->reason == NULL || r->nstatements < 0)
		abort();
	if (r->flags & ~0x3fu)
		abort();
	if (r->kind == CLS_READ && strcmp(r->reason, "read-only") != 0)
		abort();
	if (r->nstatements == 0 && r->kind != CLS_READ && !(r->flags & CLS_F_HINT_PRIMARY))
		abort();
	if ((r->flags & CLS_F_HINT_PRIMARY) && r->kind != CLS_WRITE)
		abort();
	(void)strlen(r->reason);
}

static bool same(const ClassifyResult *a, const ClassifyResult *b)
{
	return a->flags == b->flags && a->kind == b->kind && a->nstatements == b->nstatements &&
		strcmp(a->keyword, b->keyword) == 0 && strcmp(a->reason, b->reason) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ClassifyResult a, b, c;
	char *copy;

	memset(&a, 0x5a, sizeof(a));
	memset(&b, 0xa5, sizeof(b));
	classify_sql((const char *)data, size, &a);
	check(&a);
	classify_sql((const char *)data, size, &b);
	check(&b);
	if (!same(&a, &b))
		abort();

	copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	classify_sql(copy, size, &c);
	free(copy);
	if (!same(&a, &c))
		abort();
	return 0;
}
