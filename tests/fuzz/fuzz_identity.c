/* fuzz_identity.c - a container's hostname and a workspace directory name,
 * both chosen by whoever runs the container. */
#include "fuzz.h"
#include "identity.h"

static void check(const struct identity *id)
{
	/* Every field is a terminated string, class_div is subject-division. */
	char want[2 * IDENTITY_FIELD_LEN + 1];

	FUZZ_ASSERT(memchr(id->subject, '\0', sizeof(id->subject)) != NULL);
	FUZZ_ASSERT(memchr(id->division, '\0', sizeof(id->division)) != NULL);
	FUZZ_ASSERT(memchr(id->student_id, '\0', sizeof(id->student_id)) != NULL);
	FUZZ_ASSERT(memchr(id->class_div, '\0', sizeof(id->class_div)) != NULL);
	snprintf(want, sizeof(want), "%s-%s", id->subject, id->division);
	FUZZ_ASSERT(strcmp(want, id->class_div) == 0);
	FUZZ_ASSERT(id->student_id[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size);
	struct identity id;

	if (identity_parse(s, NULL, &id) == 0)
		check(&id);
	if (identity_parse(s, "jc", &id) == 0)
		check(&id);
	if (identity_parse_workspace(s, &id) == 0)
		check(&id);
	free(s);
	return 0;
}
