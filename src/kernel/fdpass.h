/*
 * fdpass.h - one message and its file descriptors over a Unix socket
 * (SCM_RIGHTS): how the short-lived BPF loader hands the agent the maps
 * and attachments it made.
 */
#ifndef JCW_FDPASS_H
#define JCW_FDPASS_H

#include <stddef.h>

#define FDPASS_MAX_FDS 16

/* Send len bytes of msg and nfds descriptors in one datagram.  0 or -errno. */
int fdpass_send(int sock, const void *msg, size_t len, const int *fds, int nfds);

/*
 * Receive one datagram of exactly len bytes into msg and its descriptors
 * into fds (close-on-exec).  Returns the number of descriptors (0..maxfds),
 * or -errno: -EPIPE when the peer closed without sending, -EMSGSIZE for a
 * message of another size or with more descriptors than maxfds (whatever
 * arrived is closed), -EBADMSG for a truncated control part.
 */
int fdpass_recv(int sock, void *msg, size_t len, int *fds, int maxfds);

#endif
