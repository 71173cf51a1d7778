/*
 * fuzz_diagnostics.c - a student's compiler, Python or program output
 * through the diagnostics parser (any bytes: escapes, NULs, long lines).
 */
#include <ctype.h>
#include <errno.h>

#include "diagnostics.h"
#include "fuzz.h"

static void check_field(const char *s)
{
	FUZZ_ASSERT(s != NULL);
	FUZZ_ASSERT(strchr(s, '\n') == NULL);
	FUZZ_ASSERT(strchr(s, 0x1b) == NULL);	/* escapes removed */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct diag_list l = { 0 };
	char name[256];
	size_t i;
	int rc;

	FUZZ_ASSERT(diag_parse(text, size, &l) == 0);
	FUZZ_ASSERT(l.n <= DIAG_LIST_MAX);
	FUZZ_ASSERT(l.errors + l.warnings + l.notes == l.n + l.omitted);
	FUZZ_ASSERT(l.omitted == 0 || l.n == DIAG_LIST_MAX);
	for (i = 0; i < l.n; i++) {
		check_field(l.v[i].message);
		if (l.v[i].file)
			check_field(l.v[i].file);
		FUZZ_ASSERT(l.v[i].line <= 999999999 && l.v[i].column <= 999999999);
		FUZZ_ASSERT(l.v[i].column == 0 || l.v[i].line != 0);
	}
	diag_list_free(&l);

	rc = diag_python_exception(text, size, name, sizeof(name));
	FUZZ_ASSERT(rc == 0 || rc == -ENOENT || rc == -ENOSPC);
	if (rc == 0) {
		FUZZ_ASSERT(isalpha((unsigned char)name[0]) || name[0] == '_');
		for (i = 0; name[i]; i++)
			FUZZ_ASSERT(isalnum((unsigned char)name[i]) || name[i] == '_' || name[i] == '.');
	}
	diag_crash_report(text, size);
	return 0;
}
