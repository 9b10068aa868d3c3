/*
 * small_descriptor.c - broken test plugin: an "old" descriptor that stops
 * after its identity fields (24 bytes on LP64).  The loader must refuse it
 * as "descriptor too small" without reading past its end (ASan checks).
 */
#include "pooler_plugin.h"

typedef struct old_descriptor {
	uint32_t    magic, abi_major, abi_minor, struct_size;
	const char *name;
} old_descriptor;

static const old_descriptor desc = {
	.magic = POOLER_ABI_MAGIC,
	.abi_major = POOLER_ABI_MAJOR,
	.abi_minor = 0,
	.struct_size = sizeof(old_descriptor),
	.name = "small_descriptor",
};

POOLER_PLUGIN_ENTRY
{
	(void)host_major; (void)host_minor;
	/* only the identity fields are ever read through this pointer */
	return (const pooler_plugin *)(const void *)&desc;
}
