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
#include "kaohe/util.h"

/* A client with more answers than this unread is not read from until it
 * catches up (and is closed when idle for the idle timeout). */
#define CONTROL_BACKLOG (64 << 10)

struct control_limits {
	int max_clients, max_per_uid;
	double idle_seconds;
};

/*
 * Connections kept for admins beyond max_clients: however many other
 * users fill the socket, an admin still gets in.
 */
#define CONTROL_ADMIN_RESERVE 8
/*
 * Peers with no rights at all (no admin, no department, no unit: they
 * may only `ping`) are any local user, made-up uids included: this many
 * connections of theirs in all, and one per user.
 */
#define CONTROL_MAX_NO_RIGHTS 4
/* Refusals logged one by one per CONTROL_LOG_WINDOW seconds; the rest are counted. */
#define CONTROL_LOG_BURST  5
#define CONTROL_LOG_WINDOW 10.0

/* What a peer may do, as far as the connection limits go. */
enum control_rights { CONTROL_NO_RIGHTS, CONTROL_SOME_RIGHTS, CONTROL_ADMIN };

struct control_ops {
	void *arg;
	/* Run one request line for PEER, appending its one-line answer to OUT. */
	void (*execute)(void *arg, struct peer *peer, const char *line, size_t len,
			struct sbuf *out);
	/* What PEER may do under the configuration in force. */
	enum control_rights (*rights)(void *arg, struct peer *peer);
};

struct control;

/*
 * Whether kaohed may listen on PATH later: -1 (message in ERR) when
 * another process answers there or PATH is no socket; 0 when nothing or
 * a stale socket file is there.  Changes nothing.
 */
int control_probe(const char *path, char *err, size_t errlen);
/*
 * Listen on PATH.  Refuses (NULL, message in ERR) when another process
 * answers there; replaces a stale socket file left by a dead one.
 */
struct control *control_new(struct ev_loop *loop, const char *path, const struct control_ops *ops,
			    const struct control_limits *limits, char *err, size_t errlen);
/*
 * New limits (after a reload): for new connections, and the idle time for
 * all.  Peers are counted by the rights they had when they connected.
 */
void control_set_limits(struct control *c, const struct control_limits *limits);
/* Close every connection and the socket, and remove the socket file. */
void control_free(struct control *c);
/* The connections open now (0 for NULL). */
size_t control_clients(const struct control *c);

#endif
