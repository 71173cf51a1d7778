/*
 * test_fsutil.c - whole-buffer writes and reads, mkdir -p, on real files.
 */
#define _GNU_SOURCE
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"
#include "testlib.h"

static char dir[64];

static void test_write_then_read(void)
{
	char p[128], buf[16];
	long long len = -1;
	char *all;
	int fd;

	snprintf(p, sizeof(p), "%s/f", dir);
	fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK_INT(fs_write_all(fd, "hello, world", 12), 0);
	/* fs_read_file reads from offset 0 whatever fd's offset is. */
	all = fs_read_file(fd, 100, &len);
	CHECK_INT(len, 12);
	CHECK(all && memcmp(all, "hello, world", 12) == 0);
	free(all);
	/* Larger than max: refused, with EFBIG. */
	errno = 0;
	CHECK(fs_read_file(fd, 11, &len) == NULL);
	CHECK_INT(errno, EFBIG);
	/* fs_read_full stops at EOF and says how much it got. */
	CHECK_INT(lseek(fd, 7, SEEK_SET), 7);
	CHECK_INT(fs_read_full(fd, buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, "world", 5) == 0);
	CHECK_INT(lseek(fd, 0, SEEK_SET), 0);
	CHECK_INT(fs_read_full(fd, buf, 5), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	close(fd);
	/* A bad fd is an error, not a crash. */
	errno = 0;
	CHECK_INT(fs_write_all(-1, "x", 1), -EBADF);
	CHECK_INT(errno, EBADF);
	CHECK_INT(fs_read_full(-1, buf, 1), -EBADF);
}

static void test_mkdir_p(void)
{
	char p[256], leaf[256];
	struct stat st;
	char *huge;

	snprintf(p, sizeof(p), "%s/a/b", dir);
	snprintf(leaf, sizeof(leaf), "%s/a/b/c", dir);
	umask(0);
	CHECK_INT(fs_mkdir_p(leaf, 0700), 0);
	CHECK_INT(stat(p, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0755);
	CHECK_INT(stat(leaf, &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_INT(st.st_mode & 07777, 0700);
	/* Again: an existing directory is fine. */
	CHECK_INT(fs_mkdir_p(leaf, 0700), 0);
	/* A file in the way is an error. */
	snprintf(p, sizeof(p), "%s/f/x", dir);
	errno = 0;
	CHECK_INT(fs_mkdir_p(p, 0700), -ENOTDIR);
	CHECK_INT(errno, ENOTDIR);
	errno = 0;
	CHECK_INT(fs_mkdir_p("", 0700), -ENAMETOOLONG);
	CHECK_INT(errno, ENAMETOOLONG);
	huge = malloc(PATH_MAX + 1);
	memset(huge, 'a', PATH_MAX);
	huge[0] = '/';
	huge[PATH_MAX] = '\0';
	errno = 0;
	CHECK_INT(fs_mkdir_p(huge, 0700), -ENAMETOOLONG);
	CHECK_INT(errno, ENAMETOOLONG);
	free(huge);
	umask(022);
}

int main(void)
{
	strcpy(dir, "/tmp/test_fsutil.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	RUN(test_write_then_read);
	RUN(test_mkdir_p);
	support_rm_rf(dir);
	return TEST_DONE();
}
