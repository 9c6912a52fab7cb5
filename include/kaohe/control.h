/*
 * control — the control socket: a UNIX stream socket where each request is
 * one line and each answer one line of JSON.  Peers are identified by the
 * kernel; the caller's execute() authorizes and runs each request.
 */
#ifndef KAOHE_CONTROL_H
#define KAOHE_CONTROL_H

#include <ev.h>
#include <jansson.h>
#include <stddef.h>

#include "kaohe/access.h"

#define CONTROL_MAX_CLIENTS 64
#define CONTROL_MAX_PER_UID 16
#define CONTROL_IDLE_SECONDS 60.0
/* A client whose unread answers pile up past this is dropped. */
#define CONTROL_MAX_PENDING (4 << 20)

struct control_ops {
	void *arg;
	/* Run one request line for PEER; returns the answer (owned by the caller). */
	json_t *(*execute)(void *arg, const struct peer *peer, const char *line, size_t len);
};

struct control;

/*
 * Listen on PATH.  Refuses (NULL, message in ERR) when another process
 * answers there; replaces a stale socket file left by a dead one.
 */
struct control *control_new(struct ev_loop *loop, const char *path, const struct control_ops *ops,
			    char *err, size_t errlen);
/* Close every connection and the socket, and remove the socket file. */
void control_free(struct control *c);
/* How many clients are connected. */
size_t control_clients(const struct control *c);

#endif
