/*
 * fuzz_config.c - the JSON configuration file (--config FILE), written to a
 * real temporary file and loaded as the agent does.
 */
#include <errno.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static char path[] = "/tmp/jcw-fuzz-config-XXXXXX";
static int fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fd = mkstemp(path);
	if (fd < 0)
		abort();
	/* Only the file: the environment must not decide what is tested. */
	unsetenv("JCW_CONFIG");
	return 0;
}

static void cleanup(void) __attribute__((destructor));
static void cleanup(void)
{
	if (fd >= 0)
		unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[] = { "jcode-watcher", "--config", path, NULL };
	struct config cfg;
	char err[512];
	int rc;

	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	memset(err, 'x', sizeof(err));
	rc = config_load(&cfg, 3, argv, err, sizeof(err));
	if (rc == 0) {
		config_free(&cfg);
		return 0;
	}
	/* A refusal is -EINVAL (exit 2) with a one-line message: nothing from
	 * the file may start a line of its own in the log. */
	FUZZ_ASSERT(rc == -EINVAL);
	FUZZ_ASSERT(memchr(err, '\0', sizeof(err)) != NULL);
	FUZZ_ASSERT(strchr(err, '\n') == NULL && strchr(err, '\r') == NULL);
	config_free(&cfg);
	return 0;
}
