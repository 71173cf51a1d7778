/*
 * fuzz_decoder.c - raw kernel records, as the kernel side could be made to
 * write them, through the decoder and on into the JSON body of a run.  The
 * first 8 bytes are the clock offset, the next 32 an exit record, the rest
 * an exec record.
 */
#include "decoder.h"
#include "payload.h"
#include "event_id.h"
#include "event_id_testing.h"
#include "fuzz.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_ERROR);
	event_set_boot_id("fuzz-boot");
	return 0;
}

static void build(const struct process *p)
{
	static const struct identity fixed = {
		.subject = "os", .division = "1", .student_id = "202012345", .class_div = "os-1",
	};
	struct identity id;
	struct proc_report r = {
		.endpoint = ENDPOINT_RUN, .type = PROCESS_USER_BINARY, .proc = p, .id = &fixed,
		.hw = "hw1", .target_path = p->exe,
	};
	char *path = NULL, *body = NULL;

	if (identity_parse(p->hostname, NULL, &id) == 0)
		r.id = &id;
	FUZZ_ASSERT(payload_build(&r, &path, &body) == 0);
	FUZZ_ASSERT(path && body && strchr(body, '\n') == NULL);
	free(path);
	free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const size_t head = sizeof(long long) + sizeof(struct procmon_exit);
	long long offset = 0;
	struct proc_exit e;
	struct process p;

	if (size < head)
		return 0;
	memcpy(&offset, data, sizeof(offset));
	decoder_kind(data + head, size - head);
	{
		struct proc_output o;

		/* stderr: what it names lies inside the record, never past it */
		if (decoder_decode_output(data + head, size - head, &o) == 0)
			FUZZ_ASSERT(o.size <= PROCMON_OUTPUT_LEN &&
				    o.data == (const char *)data + head +
					      offsetof(struct procmon_output, data) &&
				    offsetof(struct procmon_output, data) + o.size <= size - head);
		else
			FUZZ_ASSERT(o.data == NULL && o.size == 0);
	}
	if (decoder_decode_exec(data + head, size - head, &p) < 0) {
		FUZZ_ASSERT(p.exe == NULL && p.argv == NULL);
		return 0;
	}
	FUZZ_ASSERT(p.argc >= 0 && p.argv && p.argv[p.argc] == NULL);
	FUZZ_ASSERT(p.exe && p.cwd && strlen(p.exe) <= PROCMON_PATH_LEN);
	if (decoder_decode_exit(data + sizeof(offset), sizeof(struct procmon_exit), &e) == 0) {
		decoder_apply_exit(&p, &e, offset);
		FUZZ_ASSERT(p.exit_code >= 0 && p.exit_code <= 255);
	}
	build(&p);
	process_free(&p);
	return 0;
}
