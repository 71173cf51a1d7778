/*
 * fsutil.h - the few whole-buffer file operations several stages need:
 * write everything, read everything, make a directory and its parents.
 *
 * Each retries EINTR and short transfers, so a caller never sees half a
 * buffer.  Errors: a negative errno (or NULL with errno set).
 */
#ifndef JCW_FSUTIL_H
#define JCW_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* write() all len bytes of buf.  0, or -errno. */
int fs_write_all(int fd, const void *buf, size_t len);

/* read() from fd's offset until EOF or cap bytes.  The bytes read, or
 * -errno.  Asking for one byte more than expected tells whether the
 * file grew. */
ssize_t fs_read_full(int fd, void *buf, size_t cap);

/* The whole file from offset 0 (pread: fd's offset is not moved), as big
 * as fstat says, in a malloc'd buffer; *len is what was read (less if the
 * file shrank meanwhile).  NULL with errno, EFBIG when it is larger than
 * max. */
char *fs_read_file(int fd, long long max, long long *len);

/* mkdir path and every missing parent: parents with mode 0755, path itself
 * with mode.  An existing directory is fine.  0, or -errno
 * (ENAMETOOLONG when path is empty or PATH_MAX or longer). */
int fs_mkdir_p(const char *path, mode_t mode);

#endif
