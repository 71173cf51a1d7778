/* json_text.c - students' bytes as a JSON string (json_text.h). */
#include "json_text.h"

#include <stdlib.h>

#include "utf8.h"

json_t *json_text(const char *s, size_t n, size_t *replaced)
{
	char *clean;
	json_t *v;

	if (replaced)
		*replaced = 0;
	if (utf8_json_safe(s, n))
		return json_stringn_nocheck(s, n);
	clean = utf8_sanitize(s, n, replaced);
	if (!clean)
		return NULL;
	v = json_string_nocheck(clean);
	free(clean);
	return v;
}
