/*
 * control — the control socket.  The socket file is world-connectable on
 * purpose (0666 in a 0755 directory): authorization happens per request,
 * in the daemon, from the peer credentials the kernel reports, so anyone
 * may ask and only the access section decides who is answered.  Limits
 * keep one client from starving others: clients in all and per uid, a
 * few slots for peers with no rights, a share for readers and a reserve
 * for admins, line length, idle time, the size of an answer, answers left
 * unread, and the order requests run in (short answers first).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "kaohe/command.h"
#include "kaohe/control.h"
#include "kaohe/json.h"
#include "kaohe/log.h"
#include "kaohe/util.h"

struct client {
	struct control *ctl;
	int fd;
	ev_io rio, wio;
	ev_timer idle;
	struct peer peer;
	enum control_rights rights; /* when it connected */
	ev_tstamp since;            /* when it connected */
	char *in;                   /* up to COMMAND_MAX_LINE + 1 bytes */
	size_t inlen;
	char *out;
	size_t outlen, outoff, outcap;
	bool closing; /* flush what is pending, then close */
	bool heavy;   /* its last answer was longer than CONTROL_BACKLOG */
	bool queued;  /* a request of it waits for its turn */
	/* The token of the request whose answer comes later (0: none); the next wait behind it. */
	uint64_t pending;
	TAILQ_ENTRY(client) entry;
	TAILQ_ENTRY(client) turn;
};

TAILQ_HEAD(clients, client);

/* What is logged of connections, a few lines per window, the rest counted by kind. */
enum conn_event { CONN_REFUSED, CONN_TOO_LONG, CONN_IDLE, CONN_EVICTED, CONN_UNREAD, CONN_NKINDS };

struct control {
	struct ev_loop *loop;
	char *path;
	int fd;
	ev_io lio;
	struct control_ops ops;
	struct control_limits limits;
	ev_timer accept_retry; /* listening again after running out of descriptors */
	struct clients clients;
	size_t nclients;
	/* Clients with a request waiting: those whose last answer was short go first. */
	struct clients light, heavy;
	ev_check work;   /* runs the waiting requests after each turn's events */
	ev_idle more;    /* keeps the poll from waiting while requests are left */
	size_t unsent;   /* answer bytes not yet sent, over all clients */
	uint64_t tokens; /* the last token given to a request */
	ev_timer log_window;
	int logged;
	unsigned long unlogged[CONN_NKINDS];
};

/*
 * A crowd of connections churning against a limit, or sending lines too
 * long, would otherwise write a log line each (thousands a second): a few
 * are logged, the others counted in one line per kind at the end of the
 * window.  Warnings, but for the idle closes.
 */
static void log_event(struct control *c, enum conn_event e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void log_event(struct control *c, enum conn_event e, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!ev_is_active(&c->log_window)) {
		ev_timer_set(&c->log_window, CONTROL_LOG_WINDOW, 0.);
		ev_timer_start(c->loop, &c->log_window);
	}
	if (c->logged >= CONTROL_LOG_BURST) {
		c->unlogged[e]++;
		return;
	}
	c->logged++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (e == CONN_IDLE)
		log_info("control: %s", msg);
	else
		log_warnx("control: %s", msg);
}

static void on_log_window(struct ev_loop *loop, ev_timer *w, int revents)
{
	/* Each kind's words for one and for several. */
	static const char *const counted[CONN_NKINDS][2] = {
		[CONN_REFUSED] = { "connection refused", "connections refused" },
		[CONN_TOO_LONG] = { "request too long (its connection closed)",
				    "requests too long (their connections closed)" },
		[CONN_IDLE] = { "idle connection closed", "idle connections closed" },
		[CONN_EVICTED] = { "connection without rights closed for a newcomer",
				   "connections without rights closed for newcomers" },
		[CONN_UNREAD] = { "connection closed for answers left unread",
				  "connections closed for answers left unread" },
	};
	struct control *c = w->data;
	(void)loop;
	(void)revents;

	for (int e = 0; e < CONN_NKINDS; e++) {
		unsigned long n = c->unlogged[e];
		const char *what = counted[e][n != 1];
		if (n == 0)
			continue;
		if (e == CONN_IDLE)
			log_info("control: %lu more %s in the last %.0f s", n, what,
				 CONTROL_LOG_WINDOW);
		else
			log_warnx("control: %lu more %s in the last %.0f s", n, what,
				  CONTROL_LOG_WINDOW);
		c->unlogged[e] = 0;
	}
	c->logged = 0;
}

static void client_close(struct client *cl)
{
	struct control *c = cl->ctl;

	ev_io_stop(c->loop, &cl->rio);
	ev_io_stop(c->loop, &cl->wio);
	ev_timer_stop(c->loop, &cl->idle);
	close(cl->fd);
	TAILQ_REMOVE(&c->clients, cl, entry);
	if (cl->queued)
		TAILQ_REMOVE(cl->heavy ? &c->heavy : &c->light, cl, turn);
	c->nclients--;
	c->unsent -= cl->outlen - cl->outoff;
	log_debug("control: %s (pid %d) disconnected", cl->peer.user, (int)cl->peer.pid);
	access_peer_free(&cl->peer);
	free(cl->in);
	free(cl->out);
	free(cl);
}

/*
 * Write what is pending; close when told to and done.  -1 if CL is gone.
 * Progress counts as activity for the idle timer: a client that neither
 * sends nor reads is what the timer closes.
 */
static int client_flush(struct client *cl)
{
	struct control *c = cl->ctl;

	while (cl->outoff < cl->outlen) {
		ssize_t n =
			send(cl->fd, cl->out + cl->outoff, cl->outlen - cl->outoff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_start(c->loop, &cl->wio);
			return 0;
		}
		if (n < 0) {
			log_debug("control: %s: send: %s", cl->peer.user, strerror(errno));
			client_close(cl);
			return -1;
		}
		cl->outoff += (size_t)n;
		c->unsent -= (size_t)n;
		ev_timer_again(c->loop, &cl->idle);
	}
	cl->outoff = cl->outlen = 0;
	ev_io_stop(c->loop, &cl->wio);
	/* Closing once every complete request it sent has its answer. */
	if (cl->closing && cl->pending == 0 && memchr(cl->in, '\n', cl->inlen) == NULL) {
		client_close(cl);
		return -1;
	}
	return 0;
}

/* Append LEN bytes of S and a newline to what CL is to be sent. */
static void client_queue(struct client *cl, const char *s, size_t len)
{
	util_reserve(&cl->out, &cl->outcap, cl->outlen + len + 1, 1);
	memcpy(cl->out + cl->outlen, s, len);
	cl->outlen += len;
	cl->out[cl->outlen++] = '\n';
	cl->ctl->unsent += len + 1;
}

/* The error answer CODE: MSG, as one line of JSON, into OUT. */
static void error_line(struct sbuf *out, const char *code, const char *msg)
{
	json_t *e = command_error(code, "%s", msg);
	char *text = json_dump_compact(e);
	sbuf_puts(out, text);
	free(text);
	json_decref(e);
}

static void client_error(struct client *cl, const char *code, const char *msg)
{
	struct sbuf sb;
	sbuf_init(&sb);
	error_line(&sb, code, msg);
	client_queue(cl, sb.buf, sb.len);
	sbuf_free(&sb);
}

/*
 * Whether CL has a complete request that may run now: no answer of it is
 * still to come, and its answers are being read.
 */
static bool client_ready(const struct client *cl)
{
	return cl->pending == 0 && cl->outlen - cl->outoff <= CONTROL_BACKLOG &&
	       memchr(cl->in, '\n', cl->inlen);
}

/* Put CL in line for its turn, if it has a request that may run now. */
static void client_wake(struct client *cl)
{
	struct control *c = cl->ctl;

	if (cl->queued || !client_ready(cl))
		return;
	TAILQ_INSERT_TAIL(cl->heavy ? &c->heavy : &c->light, cl, turn);
	cl->queued = true;
}

/*
 * The client that leaves the most answers unread is closed while all of
 * them hold more than CONTROL_MAX_UNSENT: what never reads costs the
 * daemon a bounded amount of memory.
 */
static void close_unread(struct control *c)
{
	while (c->unsent > CONTROL_MAX_UNSENT) {
		struct client *cl, *most = NULL;
		TAILQ_FOREACH(cl, &c->clients, entry)
		if (most == NULL || cl->outlen - cl->outoff > most->outlen - most->outoff)
			most = cl;
		log_event(c, CONN_UNREAD,
			  "%s (pid %d) leaves %zu bytes of answers unread, and all clients %zu: "
			  "closing",
			  most->peer.user, (int)most->peer.pid, most->outlen - most->outoff,
			  c->unsent);
		client_close(most);
	}
}

/*
 * After CL read, ran a request or was sent something: a line too long is
 * refused and the connection closed; what is pending is sent; CL is read
 * from only while its answers are being read, and is put in line when a
 * request of it may run.  A client that does not read costs one answer's
 * memory, never holds up others, and is closed when idle.
 */
static void client_settle(struct client *cl)
{
	struct control *c = cl->ctl;

	if (cl->inlen > COMMAND_MAX_LINE && memchr(cl->in, '\n', cl->inlen) == NULL) {
		char msg[96];
		snprintf(msg, sizeof(msg), "request longer than %d bytes; closing",
			 COMMAND_MAX_LINE);
		log_event(c, CONN_TOO_LONG, "%s (pid %d): %s", cl->peer.user, (int)cl->peer.pid,
			  msg);
		client_error(cl, "line-too-long", msg);
		ev_io_stop(c->loop, &cl->rio);
		cl->inlen = 0;
		cl->closing = true;
	}
	if (client_flush(cl) < 0)
		return; /* closed */
	if (cl->outlen - cl->outoff > CONTROL_BACKLOG)
		ev_io_stop(c->loop, &cl->rio); /* on_write goes on when the client reads */
	else if (!cl->closing && cl->inlen <= COMMAND_MAX_LINE)
		ev_io_start(c->loop, &cl->rio);
	client_wake(cl);
	close_unread(c);
}

/* The answer to CL's request, in SB (CL's output) from MARK on: bounded, queued, then settled. */
static void client_answer(struct client *cl, struct sbuf *sb, size_t mark)
{
	struct control *c = cl->ctl;
	size_t answer = sb->len - mark;

	if (answer > GRAMMAR_MAX_ANSWER) {
		/* What no client takes is not sent: the answer is the refusal. */
		char msg[256];
		snprintf(msg, sizeof(msg),
			 "the answer would be %zu bytes, more than the limit of %d; ask for less "
			 "(explain UNIT ROW, audit N, status UNIT)",
			 answer, GRAMMAR_MAX_ANSWER);
		sb->len = mark;
		error_line(sb, "answer-too-large", msg);
		answer = sb->len - mark;
		if (sb->cap > 2 * (size_t)CONTROL_BACKLOG + sb->len) {
			/* The memory of the answer refused goes back. */
			sb->buf = xrealloc(sb->buf, sb->len + 1);
			sb->cap = sb->len + 1;
		}
	}
	sbuf_add(sb, "\n", 1);
	cl->out = sb->buf;
	cl->outlen = sb->len;
	cl->outcap = sb->cap;
	c->unsent += answer + 1;
	cl->heavy = answer > CONTROL_BACKLOG;
	client_settle(cl);
}

/* CL's output as an sbuf to append an answer to. */
static struct sbuf client_out(struct client *cl)
{
	struct sbuf sb = { .buf = cl->out, .len = cl->outlen, .cap = cl->outcap };
	if (sb.buf == NULL)
		sbuf_init(&sb);
	return sb;
}

/* Run CL's first complete request, then settle it (or, if its answer comes later, wait). */
static void client_run(struct client *cl)
{
	struct control *c = cl->ctl;
	char *nl = memchr(cl->in, '\n', cl->inlen);
	size_t len = (size_t)(nl - cl->in), mark = cl->outlen;
	uint64_t token = ++c->tokens;

	if (len > 0 && cl->in[len - 1] == '\r')
		len--;
	struct sbuf sb = client_out(cl);
	bool later = c->ops.execute(c->ops.arg, &cl->peer, cl->in, len, &sb, token);
	cl->inlen -= (size_t)(nl + 1 - cl->in);
	memmove(cl->in, nl + 1, cl->inlen);
	if (later) {
		/* Nothing was appended; the requests after it wait for control_answer(). */
		cl->out = sb.buf;
		cl->outcap = sb.cap;
		cl->pending = token;
		client_settle(cl);
		return;
	}
	client_answer(cl, &sb, mark);
}

int control_answer(struct control *c, uint64_t token, const char *text, size_t len)
{
	struct client *cl;

	if (c == NULL || token == 0)
		return -1;
	TAILQ_FOREACH(cl, &c->clients, entry)
	if (cl->pending == token)
		break;
	if (cl == NULL)
		return -1; /* the client left, or was closed: nobody to tell */
	cl->pending = 0;
	struct sbuf sb = client_out(cl);
	size_t mark = sb.len;
	sbuf_add(&sb, text, len);
	client_answer(cl, &sb, mark);
	/* Its requests that waited run in this turn's work, or the next's. */
	if (!TAILQ_EMPTY(&c->light) || !TAILQ_EMPTY(&c->heavy))
		ev_idle_start(c->loop, &c->more);
	return 0;
}

/*
 * Once a turn of the loop has handled its events (this watcher has the
 * lowest priority): run the requests waiting, one per client at a time,
 * those of clients whose last answer was short first, until
 * CONTROL_TURN_SECONDS have gone by; what is left waits for the next
 * turn, which then does not wait for anything new.  A client asking for
 * large answers holds up another for the time one of them takes to
 * build, never longer.
 */
static void on_work(struct ev_loop *loop, ev_check *w, int revents)
{
	struct control *c = w->data;
	ev_tstamp start = ev_time();
	(void)revents;

	for (;;) {
		struct client *cl = TAILQ_FIRST(&c->light);
		struct clients *q = &c->light;
		if (cl == NULL)
			cl = TAILQ_FIRST(q = &c->heavy);
		if (cl == NULL)
			break;
		TAILQ_REMOVE(q, cl, turn);
		cl->queued = false;
		client_run(cl);
		if (ev_time() - start >= CONTROL_TURN_SECONDS)
			break;
	}
	if (TAILQ_EMPTY(&c->light) && TAILQ_EMPTY(&c->heavy))
		ev_idle_stop(loop, &c->more);
	else
		ev_idle_start(loop, &c->more);
}

static void on_more(struct ev_loop *loop, ev_idle *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *cl = w->data;
	(void)loop;
	(void)revents;
	/* Answers drained: go on with requests that waited for it. */
	if (client_flush(cl) == 0)
		client_settle(cl);
}

static void on_idle(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct client *cl = w->data;
	(void)loop;
	(void)revents;
	/* Waiting for its answer is not idleness; the timer repeats. */
	if (cl->pending)
		return;
	log_event(cl->ctl, CONN_IDLE, "%s (pid %d) idle for %.0f s, closing", cl->peer.user,
		  (int)cl->peer.pid, cl->ctl->limits.idle_seconds);
	client_close(cl);
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *cl = w->data;
	(void)revents;

	for (;;) {
		size_t room = COMMAND_MAX_LINE + 1 - cl->inlen;
		if (room == 0)
			break;
		ssize_t n = recv(cl->fd, cl->in + cl->inlen, room, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			/* EOF (a half-close) or an error: answer what came, the
			 * last line even without its newline, then go. */
			ev_io_stop(loop, &cl->rio);
			cl->closing = true;
			if (cl->inlen > 0 && cl->inlen <= COMMAND_MAX_LINE &&
			    cl->in[cl->inlen - 1] != '\n')
				cl->in[cl->inlen++] = '\n';
			break;
		}
		ev_timer_again(loop, &cl->idle);
		cl->inlen += (size_t)n;
		if (memchr(cl->in + cl->inlen - n, '\n', (size_t)n))
			break; /* answer before reading more */
	}
	/* A full buffer of complete lines is read on once they have run. */
	if (cl->inlen > COMMAND_MAX_LINE && memchr(cl->in, '\n', cl->inlen))
		ev_io_stop(loop, &cl->rio);
	client_settle(cl);
}

/* The peer without rights connected longest, or NULL. */
static struct client *oldest_no_rights(struct control *c)
{
	struct client *cl;
	TAILQ_FOREACH(cl, &c->clients, entry)
	if (cl->rights == CONTROL_NO_RIGHTS)
		return cl; /* the list is in the order they came */
	return NULL;
}

/*
 * Why PEER may not connect now (NULL: it may), RIGHTS set to what it may
 * do, and *EVICT to a connection without rights whose place it takes.
 * The cheap limits come first: working out the rights of a peer costs a
 * look at every unit's access rule.
 */
static const char *full_for(struct control *c, struct peer *peer, enum control_rights *rights,
			    struct client **evict)
{
	size_t same = 0, none = 0, readers = 0, n = c->nclients;
	struct client *o;
	TAILQ_FOREACH(o, &c->clients, entry)
	{
		same += o->peer.uid == peer->uid;
		none += o->rights == CONTROL_NO_RIGHTS;
		readers += o->rights <= CONTROL_READER;
	}
	*rights = CONTROL_NO_RIGHTS;
	*evict = NULL;
	if (same >= (size_t)c->limits.max_per_uid)
		return "too many connections of this user";
	if (n >= (size_t)c->limits.max_clients + CONTROL_ADMIN_RESERVE)
		return "too many connections";
	*rights = c->ops.rights ? c->ops.rights(c->ops.arg, peer) : CONTROL_WRITER;
	if (*rights == CONTROL_NO_RIGHTS && same >= 1)
		return "too many connections of this user (it has no rights here: one at a time)";
	if (*rights == CONTROL_NO_RIGHTS && none >= CONTROL_MAX_NO_RIGHTS) {
		o = oldest_no_rights(c);
		if (ev_now(c->loop) - o->since < CONTROL_NO_RIGHTS_HOLD)
			return "too many connections of users without rights";
		/* The newcomer takes its place. */
		*evict = o;
		readers--;
		n--;
	}
	if (*rights <= CONTROL_READER &&
	    readers >= (size_t)CONTROL_READERS_SHARE(c->limits.max_clients)) {
		*evict = NULL;
		return "too many connections of users who may only read (the rest are kept for "
		       "officers)";
	}
	if (*rights != CONTROL_ADMIN && n >= (size_t)c->limits.max_clients) {
		*evict = NULL;
		return "too many connections";
	}
	return NULL;
}

/* Answer FD one error line, without waiting, and close it. */
static void refuse(int fd, const char *code, const char *msg)
{
	struct sbuf sb;
	sbuf_init(&sb);
	error_line(&sb, code, msg);
	sbuf_add(&sb, "\n", 1);
	(void)!send(fd, sb.buf, sb.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	sbuf_free(&sb);
	close(fd);
}

/* CL, without rights, gives its place to NEWCOMER (also without rights). */
static void evict(struct client *cl, const struct peer *newcomer)
{
	struct control *c = cl->ctl;
	char msg[160];
	double held = ev_now(c->loop) - cl->since;

	log_event(c, CONN_EVICTED,
		  "%s (pid %d), without rights, held a connection for %.0f s: "
		  "closed for %s",
		  cl->peer.user, (int)cl->peer.pid, held, newcomer->user);
	snprintf(msg, sizeof(msg),
		 "another user without rights needs the connection held for "
		 "%.0f s",
		 held);
	client_error(cl, "busy", msg);
	/* Its last words if they fit at once; the place is free now either way. */
	(void)!send(cl->fd, cl->out + cl->outoff, cl->outlen - cl->outoff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
	client_close(cl);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control *c = w->data;
	char err[256];
	(void)revents;

	for (;;) {
		int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
			/* The socket stays readable: stop listening a moment
			 * instead of spinning on it. */
			log_warn("control: accept (not listening for a second)");
			ev_io_stop(loop, &c->lio);
			ev_timer_again(loop, &c->accept_retry);
			return;
		}
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("control: accept");
			return;
		}
		struct peer peer;
		if (access_peer(fd, &peer, err, sizeof(err)) < 0) {
			log_event(c, CONN_REFUSED, "%s", err);
			close(fd);
			continue;
		}
		enum control_rights rights;
		struct client *victim;
		const char *why = full_for(c, &peer, &rights, &victim);
		if (why) {
			log_event(c, CONN_REFUSED, "refusing %s (pid %d): %s", peer.user,
				  (int)peer.pid, why);
			refuse(fd, "busy", why);
			access_peer_free(&peer);
			continue;
		}
		if (victim)
			evict(victim, &peer);
		struct client *cl = xcalloc(1, sizeof(*cl));
		cl->ctl = c;
		cl->fd = fd;
		cl->peer = peer;
		cl->rights = rights;
		cl->since = ev_now(loop);
		cl->in = xmalloc(COMMAND_MAX_LINE + 1);
		ev_io_init(&cl->rio, on_read, fd, EV_READ);
		ev_io_init(&cl->wio, on_write, fd, EV_WRITE);
		ev_init(&cl->idle, on_idle);
		cl->idle.repeat = c->limits.idle_seconds;
		cl->rio.data = cl->wio.data = cl->idle.data = cl;
		ev_io_start(loop, &cl->rio);
		ev_timer_again(loop, &cl->idle);
		TAILQ_INSERT_TAIL(&c->clients, cl, entry);
		c->nclients++;
		log_debug("control: %s (uid %u, pid %d) connected", peer.user, (unsigned)peer.uid,
			  (int)peer.pid);
	}
}

static void on_accept_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct control *c = w->data;
	(void)revents;
	ev_timer_stop(loop, w);
	ev_io_start(loop, &c->lio);
}

void control_set_limits(struct control *c, const struct control_limits *limits)
{
	struct client *cl;

	c->limits = *limits;
	TAILQ_FOREACH(cl, &c->clients, entry)
	{
		cl->idle.repeat = limits->idle_seconds;
		ev_timer_again(c->loop, &cl->idle);
	}
}

/*
 * Fill SUN with PATH and look at what is there: 1 a socket nobody answers
 * on (a stale file), 0 nothing, -1 (message in ERR) another instance, a
 * process that listens there and accepts nothing, or something that is
 * no socket.
 */
static int probe(const char *path, struct sockaddr_un *sun, char *err, size_t errlen)
{
	struct stat sb;

	if (strlen(path) >= sizeof(sun->sun_path)) {
		snprintf(err, errlen, "control socket path %s is too long", path);
		return -1;
	}
	*sun = (struct sockaddr_un){ .sun_family = AF_UNIX };
	memcpy(sun->sun_path, path, strlen(path) + 1);
	if (lstat(path, &sb) < 0)
		return 0;
	if (!S_ISSOCK(sb.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -1;
	}
	/*
	 * Someone answering there is another instance; silence is a stale
	 * file.  A listener whose queue is full would keep connect() waiting
	 * for as long as it accepts nothing, the state directory locked
	 * meanwhile: the wait has a limit, and such a listener is no stale file.
	 */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "control socket %s: socket: %s", path, strerror(errno));
		return -1;
	}
	struct timeval tv = { .tv_sec = CONTROL_PROBE_SECONDS };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	int rc = connect(fd, (struct sockaddr *)sun, sizeof(*sun));
	int e = errno;
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "another kaohed answers on %s", path);
		return -1;
	}
	if (e == EAGAIN || e == EINPROGRESS || e == EINTR) {
		snprintf(err, errlen,
			 "another process holds %s: it listens there but accepted no connection "
			 "in %d s (its queue is full); not starting",
			 path, CONTROL_PROBE_SECONDS);
		return -1;
	}
	return 1;
}

int control_probe(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	return probe(path, &sun, err, errlen) < 0 ? -1 : 0;
}

struct control *control_new(struct ev_loop *loop, const char *path, const struct control_ops *ops,
			    const struct control_limits *limits, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	int fd;

	int there = probe(path, &sun, err, errlen);
	if (there < 0)
		return NULL;
	if (there > 0) {
		if (unlink(path) < 0) {
			snprintf(err, errlen, "cannot remove the stale socket %s: %s", path,
				 strerror(errno));
			return NULL;
		}
		log_info("control: removed the stale socket %s", path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return NULL;
	}
	/* No moment exists when the socket has a looser mode than 0666. */
	mode_t old = umask(0111);
	int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || chmod(path, 0666) < 0 || listen(fd, limits->max_clients) < 0) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	struct control *c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	c->path = xstrdup(path);
	c->fd = fd;
	c->ops = *ops;
	c->limits = *limits;
	TAILQ_INIT(&c->clients);
	TAILQ_INIT(&c->light);
	TAILQ_INIT(&c->heavy);
	ev_check_init(&c->work, on_work);
	ev_set_priority(&c->work, EV_MINPRI);
	c->work.data = c;
	ev_check_start(loop, &c->work);
	ev_idle_init(&c->more, on_more);
	ev_io_init(&c->lio, on_accept, fd, EV_READ);
	c->lio.data = c;
	ev_init(&c->accept_retry, on_accept_retry);
	c->accept_retry.repeat = 1.0;
	c->accept_retry.data = c;
	ev_init(&c->log_window, on_log_window);
	c->log_window.data = c;
	ev_io_start(loop, &c->lio);
	return c;
}

void control_free(struct control *c)
{
	if (c == NULL)
		return;
	while (!TAILQ_EMPTY(&c->clients))
		client_close(TAILQ_FIRST(&c->clients));
	if (ev_is_active(&c->log_window)) {
		ev_timer_stop(c->loop, &c->log_window);
		on_log_window(c->loop, &c->log_window, 0);
	}
	ev_timer_stop(c->loop, &c->accept_retry);
	ev_check_stop(c->loop, &c->work);
	ev_idle_stop(c->loop, &c->more);
	ev_io_stop(c->loop, &c->lio);
	close(c->fd);
	unlink(c->path);
	free(c->path);
	free(c);
}

size_t control_clients(const struct control *c)
{
	return c ? c->nclients : 0;
}
