/*
 * control — the control socket.  The socket file is world-connectable on
 * purpose (0666 in a 0755 directory): authorization happens per request,
 * in the daemon, from the peer credentials the kernel reports, so anyone
 * may ask and only the access section decides who is answered.  Limits
 * keep one client from starving others: clients in all and per uid, a
 * few slots for peers with no rights and a reserve for admins, line
 * length, idle time, and answers left unread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
	char *in;                   /* up to COMMAND_MAX_LINE + 1 bytes */
	size_t inlen;
	char *out;
	size_t outlen, outoff, outcap;
	bool closing; /* flush what is pending, then close */
	TAILQ_ENTRY(client) entry;
};

struct control {
	struct ev_loop *loop;
	char *path;
	int fd;
	ev_io lio;
	struct control_ops ops;
	struct control_limits limits;
	ev_timer accept_retry; /* listening again after running out of descriptors */
	TAILQ_HEAD(, client) clients;
	size_t nclients;
	/* Refusals: logged one by one at first, then counted until the window ends. */
	ev_timer log_window;
	int logged;
	unsigned long unlogged;
};

static void client_close(struct client *cl)
{
	struct control *c = cl->ctl;

	ev_io_stop(c->loop, &cl->rio);
	ev_io_stop(c->loop, &cl->wio);
	ev_timer_stop(c->loop, &cl->idle);
	close(cl->fd);
	TAILQ_REMOVE(&c->clients, cl, entry);
	c->nclients--;
	log_debug("control: %s (pid %d) disconnected", cl->peer.user, (int)cl->peer.pid);
	access_peer_free(&cl->peer);
	free(cl->in);
	free(cl->out);
	free(cl);
}

static void client_process(struct client *cl);

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
		ev_timer_again(c->loop, &cl->idle);
	}
	cl->outoff = cl->outlen = 0;
	ev_io_stop(c->loop, &cl->wio);
	/* Closing once every complete request it sent has its answer. */
	if (cl->closing && memchr(cl->in, '\n', cl->inlen) == NULL) {
		client_close(cl);
		return -1;
	}
	return 0;
}

static void client_queue(struct client *cl, const char *s, size_t len)
{
	util_reserve(&cl->out, &cl->outcap, cl->outlen + len + 1, 1);
	memcpy(cl->out + cl->outlen, s, len);
	cl->outlen += len;
	cl->out[cl->outlen++] = '\n';
}

static void client_error(struct client *cl, const char *code, const char *msg)
{
	json_t *e = command_error(code, "%s", msg);
	char *text = json_dump_compact(e);
	client_queue(cl, text, strlen(text));
	free(text);
	json_decref(e);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *cl = w->data;
	(void)loop;
	(void)revents;
	/* Answers drained: go on with requests that waited for it. */
	if (client_flush(cl) == 0 && cl->outlen == 0)
		client_process(cl);
}

static void on_idle(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct client *cl = w->data;
	(void)loop;
	(void)revents;
	log_info("control: %s (pid %d) idle for %.0f s, closing", cl->peer.user, (int)cl->peer.pid,
		 cl->ctl->limits.idle_seconds);
	client_close(cl);
}

/*
 * Answer the complete lines received, but only while the answers are
 * being read: with more than CONTROL_BACKLOG bytes unsent, the client is
 * not read from until it catches up, so a client that does not read costs
 * one answer's memory and is closed when idle, and never holds up others.
 * Whenever the answers drain at once, the next buffered lines follow.
 */
static void client_process(struct client *cl)
{
	struct control *c = cl->ctl;

	for (;;) {
		char *start = cl->in, *nl;
		while (cl->outlen - cl->outoff <= CONTROL_BACKLOG &&
		       (nl = memchr(start, '\n', cl->inlen - (size_t)(start - cl->in))) != NULL) {
			size_t len = (size_t)(nl - start);
			if (len > 0 && start[len - 1] == '\r')
				len--;
			struct sbuf sb = { .buf = cl->out, .len = cl->outlen, .cap = cl->outcap };
			if (sb.buf == NULL)
				sbuf_init(&sb);
			c->ops.execute(c->ops.arg, &cl->peer, start, len, &sb);
			sbuf_add(&sb, "\n", 1);
			cl->out = sb.buf;
			cl->outlen = sb.len;
			cl->outcap = sb.cap;
			start = nl + 1;
		}
		cl->inlen -= (size_t)(start - cl->in);
		memmove(cl->in, start, cl->inlen);
		if (cl->inlen > COMMAND_MAX_LINE) {
			char msg[96];
			snprintf(msg, sizeof(msg), "request longer than %d bytes; closing",
				 COMMAND_MAX_LINE);
			log_warnx("control: %s (pid %d): %s", cl->peer.user, (int)cl->peer.pid,
				  msg);
			client_error(cl, "line-too-long", msg);
			ev_io_stop(c->loop, &cl->rio);
			cl->inlen = 0;
			cl->closing = true;
		}
		if (client_flush(cl) < 0)
			return; /* closed */
		if (cl->outlen > 0) {
			/* Part is unsent: on_write goes on when the client reads. */
			if (cl->outlen - cl->outoff > CONTROL_BACKLOG)
				ev_io_stop(c->loop, &cl->rio);
			else if (!cl->closing)
				ev_io_start(c->loop, &cl->rio);
			return;
		}
		if (memchr(cl->in, '\n', cl->inlen) == NULL)
			break;
	}
	if (!cl->closing)
		ev_io_start(c->loop, &cl->rio);
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
	client_process(cl);
}

static void on_log_window(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct control *c = w->data;
	(void)loop;
	(void)revents;
	if (c->unlogged)
		log_warnx("control: %lu more connection%s refused in the last %.0f s", c->unlogged,
			  c->unlogged == 1 ? "" : "s", CONTROL_LOG_WINDOW);
	c->unlogged = 0;
	c->logged = 0;
}

/*
 * A crowd of connections churning against a limit would otherwise write
 * a log line each (thousands a second): a few are logged, the others
 * counted in one line at the end of the window.
 */
static void log_refusal(struct control *c, const struct peer *peer, const char *why)
{
	if (!ev_is_active(&c->log_window)) {
		ev_timer_set(&c->log_window, CONTROL_LOG_WINDOW, 0.);
		ev_timer_start(c->loop, &c->log_window);
	}
	if (c->logged < CONTROL_LOG_BURST) {
		c->logged++;
		log_warnx("control: refusing %s (pid %d): %s", peer->user, (int)peer->pid, why);
	} else {
		c->unlogged++;
	}
}

/*
 * Why PEER may not connect now (NULL: it may), RIGHTS set to what it may
 * do.  The cheap limits come first: working out the rights of a peer
 * costs a look at every unit's access rule.
 */
static const char *full_for(struct control *c, struct peer *peer, enum control_rights *rights)
{
	size_t same = 0, none = 0;
	struct client *o;
	TAILQ_FOREACH(o, &c->clients, entry)
	{
		same += o->peer.uid == peer->uid;
		none += o->rights == CONTROL_NO_RIGHTS;
	}
	*rights = CONTROL_NO_RIGHTS;
	if (same >= (size_t)c->limits.max_per_uid)
		return "too many connections of this user";
	if (c->nclients >= (size_t)c->limits.max_clients + CONTROL_ADMIN_RESERVE)
		return "too many connections";
	*rights = c->ops.rights ? c->ops.rights(c->ops.arg, peer) : CONTROL_SOME_RIGHTS;
	if (*rights == CONTROL_NO_RIGHTS && same >= 1)
		return "too many connections of this user (it has no rights here: one at a time)";
	if (*rights == CONTROL_NO_RIGHTS && none >= CONTROL_MAX_NO_RIGHTS)
		return "too many connections of users without rights";
	if (*rights != CONTROL_ADMIN && c->nclients >= (size_t)c->limits.max_clients)
		return "too many connections";
	return NULL;
}

/* Refuse one connection with an answer, without keeping it. */
static void refuse(int fd, const char *code, const char *msg)
{
	json_t *e = command_error(code, "%s", msg);
	char *text = json_dump_compact(e);
	size_t len = strlen(text);
	text[len] = '\n';
	(void)!send(fd, text, len + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(text);
	json_decref(e);
	close(fd);
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
			log_warnx("control: %s", err);
			close(fd);
			continue;
		}
		enum control_rights rights;
		const char *why = full_for(c, &peer, &rights);
		if (why) {
			log_refusal(c, &peer, why);
			refuse(fd, "busy", why);
			access_peer_free(&peer);
			continue;
		}
		struct client *cl = xcalloc(1, sizeof(*cl));
		cl->ctl = c;
		cl->fd = fd;
		cl->peer = peer;
		cl->rights = rights;
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
 * on (a stale file), 0 nothing, -1 (message in ERR) another instance or
 * something that is no socket.
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
	/* Someone answering there is another instance; silence is a stale file. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)sun, sizeof(*sun)) == 0) {
		close(fd);
		snprintf(err, errlen, "another kaohed answers on %s", path);
		return -1;
	}
	if (fd >= 0)
		close(fd);
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
