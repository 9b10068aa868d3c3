/*
 * no_entry.c - broken test plugin: a shared object without the entry
 * function.  The loader must refuse it as "not a lagoon plugin".
 */
#include "pooler_plugin.h"

int not_a_plugin(void);
int not_a_plugin(void)
{
	return 42;
}
