/*
 * sdnotify — the service manager's notification protocol (sd_notify(3)):
 * one datagram of newline-separated KEY=VALUE lines to the AF_UNIX socket
 * that $NOTIFY_SOCKET names ('@' for the abstract namespace), sent without
 * ever stalling the loop on a receiver that does not read.
 */
#ifndef KAOHE_SDNOTIFY_H
#define KAOHE_SDNOTIFY_H

#include <stddef.h>

/*
 * A change of state the manager acts on (READY=1, RELOADING=1,
 * STOPPING=1): worth waiting a moment for room in a full queue.
 */
#define SDNOTIFY_STATE 0x01

/*
 * Open the socket named by $NOTIFY_SOCKET, if any.  Returns 0 (also when
 * none is named: messages then go nowhere), or -1 with a message in ERR
 * when the name is no socket address kaohed can send to.
 */
int sdnotify_init(char *err, size_t errlen);

/*
 * Send one message (FMT and its arguments: KEY=VALUE lines).  Never
 * blocks on a full queue: the message is dropped, with a warning in the
 * log at most once a minute (the drops counted after the last warning:
 * at sdnotify_finalise()).  With SDNOTIFY_STATE in FLAGS it first waits
 * up to two seconds for room, unless a wait already went unanswered
 * since the last message that got through.  0 when sent or when there is
 * no socket, -1 when dropped.
 */
int sdnotify_send(unsigned flags, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Report the drops not yet reported (in the log), and close the socket. */
void sdnotify_finalise(void);

#endif
