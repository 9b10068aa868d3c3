/*
 * pooler_plugin.h - lagoon's routing plugin ABI.
 *
 * Placeholder: the routing plugin interface (descriptor, magic and ABI
 * versions, route/observe callbacks) lands with the routing issue.  Until
 * then lagoon sends every transaction to the database's one server, and
 * this header only fixes the ABI identity constants.
 */
#ifndef POOLER_PLUGIN_H
#define POOLER_PLUGIN_H

#include <stdint.h>

#define POOLER_ABI_MAGIC 0x504f4f4cU  /* "POOL" */
#define POOLER_ABI_MAJOR 0U           /* 0 = no plugin interface yet */
#define POOLER_ABI_MINOR 0U

#endif
