#define _GNU_SOURCE
/*
 * fuzz_spool.c - recovery of a spool segment as a crash, a full disk or a
 * hand could leave it: the input is written as segment 1 (and, after an
 * "\nACK" marker, its acknowledgement journal) in a fresh directory, the
 * spool is opened, and every record it hands out is read and acknowledged.
 */
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "fuzz.h"
#include "log.h"
#include "spool.h"

static char base[] = "/tmp/jcw-fuzz-spool-XXXXXX";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!mkdtemp(base))
		abort();
	log_set_level(LOG_ERROR);
	return 0;
}

static void put(const char *name, const uint8_t *data, size_t size)
{
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", base, name);
	fd = open(p, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
}

static void empty_dir(void)
{
	DIR *d = opendir(base);
	struct dirent *e;

	if (!d)
		abort();
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' || (e->d_name[1] && e->d_name[1] != '.'))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

static void cleanup(void) __attribute__((destructor));
static void cleanup(void)
{
	empty_dir();
	rmdir(base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spool_config cfg = { .dir = base, .max_bytes = 1 << 20, .segment_bytes = 64 << 10 };
	const uint8_t *ack = memmem(data, size, "\nACK", 4);
	size_t seg_len = ack ? (size_t)(ack - data) : size;
	struct spool_rec rec;
	struct spool *sp;
	char err[512];
	int n = 0;

	empty_dir();
	put("0000000000000001.seg", data, seg_len);
	if (ack)
		put("0000000000000001.ack", ack + 4, size - seg_len - 4);
	sp = spool_open(&cfg, err, sizeof(err));
	if (!sp)
		return 0;
	while (n < 100000 && spool_next(sp, &rec) == 1) {
		FUZZ_ASSERT(rec.path && rec.body);
		spool_ack(sp, rec.seq);
		free(rec.block);
		n++;
	}
	FUZZ_ASSERT(spool_caught_up(sp));
	spool_close(sp);
	return 0;
}
