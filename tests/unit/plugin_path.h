/*
 * plugin_path.h - where the unit tests find uninstalled plugins.
 *
 * libtool leaves a just-built (uninstalled) module in <subdir>/.libs/ of
 * the build tree; the build tree is $LAGOON_BUILD_DIR (set by make check)
 * or the current directory.  Keep that knowledge here only.
 */
#ifndef LAGOON_TEST_PLUGIN_PATH_H
#define LAGOON_TEST_PLUGIN_PATH_H

#include <stdio.h>
#include <stdlib.h>

/* "<build dir>/<subdir>/.libs", in a static buffer per call site's use:
 * copy it if you need two at once. */
static inline const char *plugin_build_dir(const char *subdir)
{
	static char buf[4096];
	const char *build = getenv("LAGOON_BUILD_DIR");

	snprintf(buf, sizeof(buf), "%s/%s/.libs", build && *build ? build : ".", subdir);
	return buf;
}

#endif
