/*
 * control — the control socket: a UNIX stream socket where each request is
 * one line and each answer one line of JSON.  Peers are identified by the
 * kernel; the caller's execute() authorizes and runs each request.
 */
#ifndef KAOHE_CONTROL_H
#define KAOHE_CONTROL_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaohe/access.h"
#include "kaohe/grammar.h"
#include "kaohe/util.h"

/* A client with more answers than this unread is not read from until it
 * catches up (and is closed when idle for the idle timeout).  A client
 * whose last answer was longer than this waits behind the others. */
#define CONTROL_BACKLOG (64 << 10)
/*
 * Answers not yet sent, over all clients, beyond which the client that
 * leaves the most of them unread is closed: what clients that ask for
 * large answers and never read them may hold of the daemon's memory.
 */
#define CONTROL_MAX_UNSENT (4 * (size_t)GRAMMAR_MAX_ANSWER)
/*
 * Requests are run before the loop polls again, those of clients whose
 * last answer was short first, until this many seconds have gone by; the
 * rest wait for the next turn of the loop.  One large answer holds up the
 * others for the time it takes to build, never more.
 */
#define CONTROL_TURN_SECONDS 0.01

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
 * Of max_clients, a quarter is kept for officers (and admins): unit
 * members, who may only read, and peers without rights share the rest,
 * so that no crowd of readers can lock out those who record.
 */
#define CONTROL_READERS_SHARE(max_clients) ((max_clients) - (max_clients) / 4)
/*
 * Peers with no rights at all (no admin, no department, no unit: they
 * may only `ping`) are any local user, made-up uids included: this many
 * connections of theirs in all, and one per user.  When all are taken,
 * a newcomer takes the place of the one held longest, once that one has
 * been held CONTROL_NO_RIGHTS_HOLD seconds: holding a place keeps nobody
 * else out for long, and a ping has the time it needs.
 */
#define CONTROL_MAX_NO_RIGHTS  4
#define CONTROL_NO_RIGHTS_HOLD 2.0
/*
 * What a stranger can make the daemon log about connections (refusals,
 * requests too long, idle and evicted connections): CONTROL_LOG_BURST
 * lines per CONTROL_LOG_WINDOW seconds in all; the rest are counted, one
 * line per kind when the window ends.
 */
#define CONTROL_LOG_BURST  5
#define CONTROL_LOG_WINDOW 10.0

/*
 * What a peer may do, as far as the connection limits go: nothing but
 * ping, read (a unit's members), record (a department's officers),
 * everything (admins).
 */
enum control_rights { CONTROL_NO_RIGHTS, CONTROL_READER, CONTROL_WRITER, CONTROL_ADMIN };

struct control_ops {
	void *arg;
	/*
	 * Run one request line for PEER, appending its one-line answer to
	 * OUT; false.  Or true, with nothing appended, when the answer comes
	 * later through control_answer(TOKEN): the client's later requests
	 * wait for it, in order.
	 */
	bool (*execute)(void *arg, struct peer *peer, const char *line, size_t len,
			struct sbuf *out, uint64_t token);
	/* What PEER may do under the configuration in force. */
	enum control_rights (*rights)(void *arg, struct peer *peer);
};

struct control;

/*
 * Whether kaohed may listen on PATH later: -1 (message in ERR) when
 * another process answers there, or listens there without accepting
 * (its queue stays full for CONTROL_PROBE_SECONDS), or PATH is no socket;
 * 0 when nothing or a stale socket file is there.  Changes nothing.
 */
#define CONTROL_PROBE_SECONDS 2
int control_probe(const char *path, char *err, size_t errlen);
/*
 * Listen on PATH.  Refuses (NULL, message in ERR) as control_probe()
 * does; replaces a stale socket file left by a dead one.
 */
struct control *control_new(struct ev_loop *loop, const char *path, const struct control_ops *ops,
			    const struct control_limits *limits, char *err, size_t errlen);
/*
 * New limits (after a reload): for new connections, and the idle time for
 * all.  Peers are counted by the rights they had when they connected.
 */
void control_set_limits(struct control *c, const struct control_limits *limits);
/*
 * The one-line answer TEXT (LEN bytes, no newline) to the request given
 * TOKEN when execute() put it off: sent as any answer, then the client's
 * requests that waited behind it run.  -1 when the client has gone (or
 * C is NULL): nobody is told, nothing else happens.
 */
int control_answer(struct control *c, uint64_t token, const char *text, size_t len);
/*
 * Close every connection (answers still to come are dropped) and the
 * socket, and remove the socket file.
 */
void control_free(struct control *c);
/* The connections open now (0 for NULL). */
size_t control_clients(const struct control *c);

#endif
