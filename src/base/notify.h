/*
 * notify.h - tell systemd how the agent is doing (Type=notify), without
 * libsystemd: the protocol is one datagram to $NOTIFY_SOCKET.
 *
 * The agent says READY=1 once its probes are attached and filemon watches,
 * so `systemctl start` returns when records can flow, and STOPPING=1 when
 * it begins to shut down.
 */
#ifndef JCW_NOTIFY_H
#define JCW_NOTIFY_H

/* Send state ("READY=1") to $NOTIFY_SOCKET.  0 when sent or when there is
 * no socket (not started by systemd), else a negative errno. */
int notify_send(const char *state);

#endif
