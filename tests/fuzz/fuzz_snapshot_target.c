/* fuzz_snapshot_target.c - a path below WATCH_ROOT, as students name their
 * files and directories, into a snapshot target. */
#include "fuzz.h"
#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *rel = fuzz_str(data, size);
	static struct snapshot_target t;

	if (snapshot_target_parse(rel, 20, &t) == 0) {
		/* A snapshot file name must be one directory entry. */
		FUZZ_ASSERT(strlen(t.filename) > 0 && strlen(t.filename) <= 255);
		FUZZ_ASSERT(strchr(t.filename, '/') == NULL);
		FUZZ_ASSERT(strcmp(t.filename, ".") != 0 && strcmp(t.filename, "..") != 0);
		FUZZ_ASSERT(strncmp(t.hw, "hw", 2) == 0);
	}
	free(rel);
	return 0;
}
