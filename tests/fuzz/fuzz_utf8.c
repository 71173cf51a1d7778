/* fuzz_utf8.c - the UTF-8 check and sanitiser (argv, paths, file names). */
#include "fuzz.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	size_t replaced = 0;
	bool valid = utf8_valid(s, size);
	bool has_nul = memchr(s, '\0', size) != NULL;
	char *out = utf8_sanitize(s, size, &replaced);

	FUZZ_ASSERT(out != NULL);
	/* The output is always clean, and untouched input comes back as is. */
	FUZZ_ASSERT(utf8_valid(out, strlen(out)));
	FUZZ_ASSERT((replaced == 0) == (valid && !has_nul));
	if (replaced == 0)
		FUZZ_ASSERT(strlen(out) == size && memcmp(out, s, size) == 0);
	free(out);
	return 0;
}
