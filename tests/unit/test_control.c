/*
 * test_control — the control socket on a real libev loop and a real UNIX
 * socket in a temporary directory, with clients on the other end of it
 * in this process (and, as root, in children that connect as other
 * users).  The requests go to a recording execute(); the rights of each
 * peer come from the test.
 *
 * Lines and their framing, several in one write, the 64 KiB limit (the
 * longest line answered, one byte more refused and closed), a half-close,
 * the idle timeout (short, and the loop run until it fires; activity of
 * either direction keeps a client), the limits per uid and in all, the
 * admins' reserve and the few slots of peers with no rights, a client
 * that does not read (not read from in turn, others served, closed when
 * idle), the refusals' log (a few lines, then a count), running out of
 * descriptors, control_probe and the socket file.
 *
 * Nothing sleeps: the loop runs until the event awaited happens, with a
 * guard of GUARD seconds that fails the test instead of hanging it.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sockios.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kaohe/control.h"
#include "kaohe/log.h"
#include "kaohe/util.h"
#include "support.h"

#define GUARD 60.0
/* Uids no one has, for peers with no rights. */
#define GHOST_UID 4100000

/* ---- the server ---------------------------------------------------------- */

struct srv {
	struct ev_loop *loop;
	struct control *ctl;
	char dir[64], path[100];
	struct capture cap;
	ev_timer guard;
	bool guard_fired;
	/* What execute() saw: every line, and the peer of the last. */
	char **lines;
	size_t nlines;
	uid_t last_uid;
	char last_user[64];
	size_t pad;                 /* bytes added to each answer */
	enum control_rights rights; /* of peers with a real uid */
	int nrights;                /* calls of rights() */
	uint64_t later;             /* the token of the last request "later" */
};

static struct srv *g;

static bool execute(void *arg, struct peer *peer, const char *line, size_t len, struct sbuf *out,
		    uint64_t token)
{
	struct srv *s = arg;
	s->lines = xrealloc(s->lines, (s->nlines + 1) * sizeof(*s->lines));
	s->lines[s->nlines++] = xasprintf("%.*s", (int)len, line);
	s->last_uid = peer->uid;
	snprintf(s->last_user, sizeof(s->last_user), "%s", peer->user);
	/* Answered later, by the test through control_answer(). */
	if (len == 5 && memcmp(line, "later", 5) == 0) {
		s->later = token;
		return true;
	}
	sbuf_printf(out, "{\"n\":%zu,\"line\":\"%.*s\"", s->nlines, (int)len, line);
	if (s->pad) {
		static char x[4096];
		memset(x, 'x', sizeof(x));
		SBUF_LIT(out, ",\"pad\":\"");
		for (size_t done = 0; done < s->pad; done += sizeof(x))
			sbuf_add(out, x, s->pad - done < sizeof(x) ? s->pad - done : sizeof(x));
		SBUF_LIT(out, "\"");
	}
	SBUF_LIT(out, "}");
	return false;
}

/* Made-up uids have no rights; others what the test says. */
static enum control_rights rights(void *arg, struct peer *peer)
{
	struct srv *s = arg;
	s->nrights++;
	return peer->uid >= GHOST_UID ? CONTROL_NO_RIGHTS : s->rights;
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	g->guard_fired = true;
}

static int setup(void **state)
{
	(void)state;
	g = xcalloc(1, sizeof(*g));
	g->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(g->loop);
	temp_dir(g->dir, sizeof(g->dir), "control");
	/* Others may reach the socket (0666) through it: the peers of other uids. */
	assert_int_equal(chmod(g->dir, 0711), 0);
	snprintf(g->path, sizeof(g->path), "%s/control.sock", g->dir);
	ev_init(&g->guard, on_guard);
	g->rights = CONTROL_WRITER;
	log_set_level(LOG_LEVEL_INFO);
	capture_begin(&g->cap);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	control_free(g->ctl);
	ev_timer_stop(g->loop, &g->guard);
	ev_loop_destroy(g->loop);
	capture_end(&g->cap, 16384);
	remove_tree(g->dir);
	for (size_t i = 0; i < g->nlines; i++)
		free(g->lines[i]);
	free(g->lines);
	free(g);
	log_set_level(LOG_LEVEL_WARNING);
	return 0;
}

/* Listen with these limits, or fail. */
static void start(int max_clients, int max_per_uid, double idle)
{
	struct control_ops ops = { .arg = g, .execute = execute, .rights = rights };
	struct control_limits lim = { .max_clients = max_clients,
				      .max_per_uid = max_per_uid,
				      .idle_seconds = idle };
	char err[256] = "";
	g->ctl = control_new(g->loop, g->path, &ops, &lim, err, sizeof(err));
	if (g->ctl == NULL)
		fail_msg("control_new: %s", err);
}

/* Run the loop until DONE(ARG) holds; fail after GUARD seconds without. */
static void pump(bool (*done)(void *), void *arg)
{
	g->guard_fired = false;
	ev_timer_set(&g->guard, GUARD, 0.);
	ev_timer_start(g->loop, &g->guard);
	while (!done(arg)) {
		if (g->guard_fired)
			fail_msg("what the test waits for did not happen in %.0f s", GUARD);
		ev_run(g->loop, EVRUN_ONCE);
	}
	ev_timer_stop(g->loop, &g->guard);
}

/* What the log wrote so far (the caller frees). */
static char *logged(void)
{
	return capture_text(&g->cap);
}

static bool log_has(void *needle)
{
	char *text = logged();
	bool has = strstr(text, needle) != NULL;
	free(text);
	return has;
}

/* ---- clients ------------------------------------------------------------- */

struct cli {
	int fd;
	struct sbuf in; /* received, not yet taken */
	bool eof;
	size_t max_read; /* at most this much per fill (0: everything there is) */
};

/* Take what the socket holds, without waiting. */
static void cli_fill(struct cli *c)
{
	char buf[65536];
	size_t got = 0;

	while (!c->eof && (c->max_read == 0 || got < c->max_read)) {
		size_t want = sizeof(buf);
		if (c->max_read && c->max_read - got < want)
			want = c->max_read - got;
		ssize_t n = recv(c->fd, buf, want, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			fail_msg("recv: %s", strerror(errno));
		if (n == 0)
			c->eof = true;
		sbuf_add(&c->in, buf, (size_t)n);
		got += (size_t)n;
	}
}

/* A socket of FD already connected. */
static void cli_init(struct cli *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	sbuf_init(&c->in);
	int fl = fcntl(fd, F_GETFL);
	assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

static void cli_open(struct cli *c)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", g->path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		fail_msg("connect %s: %s", g->path, strerror(errno));
	cli_init(c, fd);
}

static void cli_close(struct cli *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	sbuf_free(&c->in);
}

/* Send all of S, running the loop while the server is behind. */
static void cli_send(struct cli *c, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, s, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_run(g->loop, EVRUN_NOWAIT);
			continue;
		}
		if (n < 0)
			fail_msg("send: %s", strerror(errno));
		s += n;
		len -= (size_t)n;
	}
}

static void cli_puts(struct cli *c, const char *s)
{
	cli_send(c, s, strlen(s));
}

static bool cli_has_line(void *arg)
{
	struct cli *c = arg;
	cli_fill(c);
	return memchr(c->in.buf, '\n', c->in.len) != NULL || c->eof;
}

/* The next answer line (without its newline; the caller frees), or fail. */
static char *cli_line(struct cli *c)
{
	pump(cli_has_line, c);
	char *nl = memchr(c->in.buf, '\n', c->in.len);
	if (nl == NULL)
		fail_msg("the server closed instead of answering (%zu bytes: %.80s)", c->in.len,
			 c->in.buf);
	size_t len = (size_t)(nl - c->in.buf);
	char *line = xasprintf("%.*s", (int)len, c->in.buf);
	c->in.len -= len + 1;
	memmove(c->in.buf, nl + 1, c->in.len);
	c->in.buf[c->in.len] = '\0';
	return line;
}

static bool cli_at_eof(void *arg)
{
	struct cli *c = arg;
	cli_fill(c);
	return c->eof;
}

/* The server has taken everything the client sent. */
static bool cli_all_taken(void *arg)
{
	struct cli *c = arg;
	int n;
	return ioctl(c->fd, SIOCOUTQ, &n) == 0 && n == 0;
}

/* The server closes the connection with nothing more said. */
static void cli_expect_eof(struct cli *c)
{
	pump(cli_at_eof, c);
	if (c->in.len)
		fail_msg("unread at the end: %.80s", c->in.buf);
}

/* The answer to request LINE is for LINE. */
static void expect_answer(struct cli *c, const char *line)
{
	char *a = cli_line(c);
	char *want = xasprintf("\"line\":\"%s\"", line);
	if (strstr(a, want) == NULL || strncmp(a, "{\"n\":", 5) != 0)
		fail_msg("answer %.120s is not for %s", a, line);
	free(want);
	free(a);
}

/* The connection is served: a request is answered. */
static void expect_served(struct cli *c)
{
	cli_puts(c, "ping\n");
	expect_answer(c, "ping");
}

/* The connection is refused: one busy answer saying WHY, then the end. */
static void expect_refused(struct cli *c, const char *why)
{
	char *a = cli_line(c);
	char *want =
		xasprintf("{\"ok\":false,\"error\":{\"code\":\"busy\",\"message\":\"%s\"}}", why);
	assert_string_equal(a, want);
	free(want);
	free(a);
	cli_expect_eof(c);
}

/* ---- framing ------------------------------------------------------------- */

static void test_framing(void **state)
{
	(void)state;
	struct cli c;

	start(8, 8, GUARD);
	cli_open(&c);
	/* Several lines in one write: answered one by one, in order; CR LF is a line end too. */
	cli_puts(&c, "one\ntwo\r\n\nthree\n");
	expect_answer(&c, "one");
	expect_answer(&c, "two");
	expect_answer(&c, "");
	expect_answer(&c, "three");
	/* One line in pieces: one request. */
	cli_puts(&c, "fo");
	ev_run(g->loop, EVRUN_NOWAIT);
	cli_puts(&c, "u");
	ev_run(g->loop, EVRUN_NOWAIT);
	cli_puts(&c, "r\n");
	expect_answer(&c, "four");
	assert_int_equal(g->nlines, 5);
	assert_string_equal(g->lines[1], "two");
	assert_string_equal(g->lines[2], "");
	assert_string_equal(g->lines[4], "four");
	/* The kernel's word on who asked. */
	assert_int_equal(g->last_uid, getuid());
	cli_close(&c);
}

/* The longest line is answered; a byte more is refused, and the connection closed. */
static void test_line_limit(void **state)
{
	(void)state;
	struct cli c;
	size_t max = COMMAND_MAX_LINE;
	char *line = xmalloc(max + 2);

	start(8, 8, GUARD);
	cli_open(&c);
	memset(line, 'a', max);
	line[max] = '\n';
	cli_send(&c, line, max + 1);
	char *a = cli_line(&c);
	assert_int_equal(g->nlines, 1);
	assert_int_equal(strlen(g->lines[0]), max);
	assert_true(strlen(a) > max);
	free(a);

	/* The same in two writes: all of its bytes, taken in, then its newline. */
	cli_send(&c, line, max);
	pump(cli_all_taken, &c);
	for (int i = 0; i < 10; i++)
		ev_run(g->loop, EVRUN_NOWAIT);
	cli_puts(&c, "\n");
	a = cli_line(&c);
	assert_int_equal(g->nlines, 2);
	assert_int_equal(strlen(g->lines[1]), max);
	free(a);

	/* A request before the long one is answered first. */
	cli_puts(&c, "before\n");
	cli_send(&c, line, max);
	cli_send(&c, "b", 1);
	expect_answer(&c, "before");
	a = cli_line(&c);
	assert_string_equal(a, "{\"ok\":false,\"error\":{\"code\":\"line-too-long\",\"message\":"
			       "\"request longer than 65536 bytes; closing\"}}");
	free(a);
	cli_expect_eof(&c);
	assert_int_equal(g->nlines, 3);
	char *text = logged();
	assert_non_null(strstr(text, "control: root (pid "));
	assert_non_null(strstr(text, "): request longer than 65536 bytes; closing\n"));
	free(text);
	free(line);
	cli_close(&c);
}

/*
 * A client that half-closes is answered, its last line even without a
 * newline, and then closed; one that says nothing goes at once.
 */
static void test_half_close(void **state)
{
	(void)state;
	struct cli c;

	start(8, 1, GUARD);
	cli_open(&c);
	cli_puts(&c, "first\nlast");
	assert_int_equal(shutdown(c.fd, SHUT_WR), 0);
	expect_answer(&c, "first");
	expect_answer(&c, "last");
	cli_expect_eof(&c);
	cli_close(&c);

	cli_open(&c);
	assert_int_equal(shutdown(c.fd, SHUT_WR), 0);
	cli_expect_eof(&c);
	cli_close(&c);
	assert_int_equal(g->nlines, 2);
	/* Both are gone: the one slot of this uid is free again. */
	cli_open(&c);
	expect_served(&c);
	cli_close(&c);
}

/* ---- answers that come later --------------------------------------------- */

static bool later_given(void *arg)
{
	return g->later != *(uint64_t *)arg;
}

static bool clients_are(void *arg)
{
	return control_clients(g->ctl) == *(size_t *)arg;
}

/*
 * A request answered later holds back the same client's next ones, in
 * order, and nobody else's; a late answer for a client that has gone, or
 * one given twice, goes nowhere.
 */
static void test_answer_later(void **state)
{
	(void)state;
	struct cli a, b;
	uint64_t none = 0, first;

	start(8, 8, GUARD);
	cli_open(&a);
	cli_open(&b);
	cli_puts(&a, "later\nafter\n");
	pump(later_given, &none);
	first = g->later;
	for (int i = 0; i < 10; i++)
		ev_run(g->loop, EVRUN_NOWAIT);
	/* Meanwhile another client is served; A's next request waits. */
	expect_served(&b);
	assert_int_equal(g->nlines, 2);
	assert_string_equal(g->lines[0], "later");
	cli_fill(&a);
	assert_int_equal(a.in.len, 0);

	const char *late = "{\"late\":true}";
	assert_int_equal(control_answer(g->ctl, first, late, strlen(late)), 0);
	char *line = cli_line(&a);
	assert_string_equal(line, late);
	free(line);
	expect_answer(&a, "after");
	assert_int_equal(control_answer(g->ctl, first, late, strlen(late)), -1);
	assert_int_equal(control_answer(g->ctl, 0, late, strlen(late)), -1);
	assert_int_equal(control_answer(NULL, first, late, strlen(late)), -1);

	/* A client that leaves while it waits: kept until its answer, then closed. */
	cli_puts(&a, "later\n");
	pump(later_given, &first);
	uint64_t second = g->later;
	cli_close(&a);
	for (int i = 0; i < 10; i++)
		ev_run(g->loop, EVRUN_NOWAIT);
	assert_int_equal(control_answer(g->ctl, second, late, strlen(late)), 0);
	size_t one = 1;
	pump(clients_are, &one);
	expect_served(&b);

	/* One still waiting when the socket closes: freed with it (teardown). */
	cli_puts(&b, "later\n");
	pump(later_given, &second);
	cli_close(&b);
}

/* ---- idle ---------------------------------------------------------------- */

static void test_idle_timeout(void **state)
{
	(void)state;
	struct cli c;

	start(8, 8, 0.4);
	ev_now_update(g->loop);
	double t0 = ev_now(g->loop);
	cli_open(&c);
	cli_expect_eof(&c);
	ev_now_update(g->loop);
	assert_true(ev_now(g->loop) - t0 >= 0.35);
	assert_true(log_has(") idle for 0 s, closing"));
	cli_close(&c);
}

/* New limits give the clients already there the new idle time. */
static void test_idle_after_new_limits(void **state)
{
	(void)state;
	struct cli c;

	start(8, 8, 3600);
	cli_open(&c);
	expect_served(&c);
	control_set_limits(g->ctl, &(struct control_limits){ .max_clients = 8,
							     .max_per_uid = 8,
							     .idle_seconds = 0.2 });
	cli_expect_eof(&c);
	cli_close(&c);
}

/*
 * Activity either way keeps a client: one sends a long request a few
 * bytes at a time and gets no answer until its end; one asks for a
 * backlog of answers at once and then only reads, slowly (the reading
 * takes twice the idle time).  The silent one is closed after the idle
 * time; the other two outlive two of them.
 */
#define BACKLOG_ANSWERS 100
#define PAD             16384
#define TICK            0.25
#define READ_PER_TICK   65536
#define DRIBBLE         "pq"

struct busy {
	struct cli dribble, read, silent;
	ev_timer tick;
	struct sbuf sent; /* the dribbled request so far */
	double t0, silent_closed, read_all;
};

static size_t lines_in(const struct sbuf *sb)
{
	size_t n = 0;
	for (size_t i = 0; i < sb->len; i++)
		n += sb->buf[i] == '\n';
	return n;
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct busy *b = w->data;
	(void)loop;
	(void)revents;
	cli_puts(&b->dribble, DRIBBLE);
	sbuf_puts(&b->sent, DRIBBLE);
	cli_fill(&b->read); /* at most READ_PER_TICK */
	if (b->read_all == 0 && lines_in(&b->read.in) == BACKLOG_ANSWERS)
		b->read_all = ev_now(g->loop) - b->t0;
	if (b->silent_closed == 0 && (cli_fill(&b->silent), b->silent.eof))
		b->silent_closed = ev_now(g->loop) - b->t0;
}

static bool busy_done(void *arg)
{
	struct busy *b = arg;
	return b->silent_closed > 0 && b->read_all > 0 && ev_now(g->loop) - b->t0 > 7.0;
}

static void test_activity_keeps_clients(void **state)
{
	(void)state;
	struct busy b = { 0 };

	g->pad = PAD;
	start(8, 8, 3.0);
	cli_open(&b.dribble);
	cli_open(&b.read);
	cli_open(&b.silent);
	sbuf_init(&b.sent);
	b.read.max_read = READ_PER_TICK;
	ev_now_update(g->loop);
	b.t0 = ev_now(g->loop);
	for (int i = 0; i < BACKLOG_ANSWERS; i++)
		cli_puts(&b.read, "r\n");
	ev_timer_init(&b.tick, on_tick, TICK, TICK);
	b.tick.data = &b;
	ev_timer_start(g->loop, &b.tick);
	pump(busy_done, &b);
	ev_timer_stop(g->loop, &b.tick);

	assert_true(b.silent_closed >= 2.9);
	/* Every answer, the last of them long after the last request. */
	assert_true(b.read_all > 4.0);
	assert_false(b.read.eof);
	/* The long request, whole, after more than two idle times. */
	g->pad = 0;
	cli_puts(&b.dribble, "\n");
	expect_answer(&b.dribble, b.sent.buf);
	sbuf_free(&b.sent);
	cli_close(&b.dribble);
	cli_close(&b.read);
	cli_close(&b.silent);
}

/* ---- limits -------------------------------------------------------------- */

static void test_per_uid_limit(void **state)
{
	(void)state;
	struct cli a, b, c;

	start(8, 2, GUARD);
	cli_open(&a);
	expect_served(&a);
	cli_open(&b);
	expect_served(&b);
	assert_int_equal(g->nrights, 2);
	cli_open(&c);
	expect_refused(&c, "too many connections of this user");
	cli_close(&c);
	/* The cheap limit first: no look at the rights of a peer refused anyway. */
	assert_int_equal(g->nrights, 2);
	/* One goes: another may come. */
	assert_int_equal(shutdown(a.fd, SHUT_WR), 0);
	cli_expect_eof(&a);
	cli_close(&a);
	cli_open(&c);
	expect_served(&c);
	expect_served(&b);
	cli_close(&b);
	cli_close(&c);
}

/*
 * max_clients in all for users with some rights; admins get in beyond
 * it, up to CONTROL_ADMIN_RESERVE more.
 */
static void test_total_limit_and_admin_reserve(void **state)
{
	(void)state;
	struct cli c[2 + CONTROL_ADMIN_RESERVE + 2];
	size_t n = 0;

	start(2, 100, GUARD);
	for (; n < 2; n++) {
		cli_open(&c[n]);
		expect_served(&c[n]);
	}
	struct cli more;
	cli_open(&more);
	expect_refused(&more, "too many connections");
	cli_close(&more);

	g->rights = CONTROL_ADMIN;
	for (; n < 2 + CONTROL_ADMIN_RESERVE; n++) {
		cli_open(&c[n]);
		expect_served(&c[n]);
	}
	int calls = g->nrights;
	cli_open(&more);
	expect_refused(&more, "too many connections");
	cli_close(&more);
	/* Refused on the count alone. */
	assert_int_equal(g->nrights, calls);

	/* Admins' slots are not for others, even when a user's slot frees. */
	g->rights = CONTROL_WRITER;
	assert_int_equal(shutdown(c[0].fd, SHUT_WR), 0);
	cli_expect_eof(&c[0]);
	cli_close(&c[0]);
	cli_open(&more);
	expect_refused(&more, "too many connections");
	cli_close(&more);
	for (size_t i = 1; i < n; i++)
		cli_close(&c[i]);
}

/* A user with no rights: one connection at a time. */
static void test_no_rights_one_at_a_time(void **state)
{
	(void)state;
	struct cli a, b;

	start(8, 8, GUARD);
	g->rights = CONTROL_NO_RIGHTS;
	cli_open(&a);
	expect_served(&a);
	cli_open(&b);
	expect_refused(&b,
		       "too many connections of this user (it has no rights here: one at a time)");
	cli_close(&b);
	cli_close(&a);
}

/*
 * In a child: become uid and gid UID, connect to the socket, and hand
 * the connected socket back through SV; only _exit.
 */
static void connect_as(uid_t uid, int sv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = "s", .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)
	};

	if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
		_exit(2);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", g->path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		_exit(3);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	_exit(sendmsg(sv, &msg, 0) == 1 ? 0 : 4);
}

/* A client connected as UID (made up: no name, no rights). */
static void cli_open_as(struct cli *c, uid_t uid)
{
	int sv[2];
	char ctl[CMSG_SPACE(sizeof(int))], b;
	struct iovec iov = { .iov_base = &b, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)
	};

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		connect_as(uid, sv[1]);
	}
	close(sv[1]);
	ssize_t n = recvmsg(sv[0], &msg, MSG_CMSG_CLOEXEC);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the child connecting as %u failed (status %d)", (unsigned)uid, status);
	assert_int_equal(n, 1);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	assert_non_null(cm);
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	close(sv[0]);
	cli_init(c, fd);
}

/*
 * Peers with no rights are anyone, made-up uids included: at most
 * CONTROL_MAX_NO_RIGHTS of them at once, and they take nothing from the
 * others.  Root: children connect as uids of their own.
 */
static void test_no_rights_cap(void **state)
{
	(void)state;
	struct cli c[CONTROL_MAX_NO_RIGHTS + 1], mine;

	if (geteuid() != 0)
		skip();
	start(8, 8, GUARD);
	for (int i = 0; i < CONTROL_MAX_NO_RIGHTS; i++) {
		cli_open_as(&c[i], GHOST_UID + (uid_t)i);
		expect_served(&c[i]);
		char want[32];
		snprintf(want, sizeof(want), "uid:%u", GHOST_UID + (unsigned)i);
		assert_string_equal(g->last_user, want);
	}
	cli_open_as(&c[CONTROL_MAX_NO_RIGHTS], GHOST_UID + CONTROL_MAX_NO_RIGHTS);
	expect_refused(&c[CONTROL_MAX_NO_RIGHTS], "too many connections of users without rights");
	cli_open(&mine);
	expect_served(&mine);
	assert_int_equal(g->last_uid, 0);
	/* One goes: another peer without rights may come. */
	cli_close(&c[0]);
	assert_int_equal(shutdown(c[1].fd, SHUT_WR), 0);
	cli_expect_eof(&c[1]);
	cli_close(&c[CONTROL_MAX_NO_RIGHTS]);
	cli_open_as(&c[CONTROL_MAX_NO_RIGHTS], GHOST_UID + CONTROL_MAX_NO_RIGHTS);
	expect_served(&c[CONTROL_MAX_NO_RIGHTS]);
	for (int i = 1; i <= CONTROL_MAX_NO_RIGHTS; i++)
		cli_close(&c[i]);
	cli_close(&mine);
}

/*
 * Readers (unit members) share three quarters of max_clients: however
 * many of them fill it, officers still get in, and admins beyond.
 */
static void test_readers_share(void **state)
{
	(void)state;
	struct cli c[8 + 1 + 1], more;
	int n = 0;

	start(8, 100, GUARD);
	g->rights = CONTROL_READER;
	for (; n < CONTROL_READERS_SHARE(8); n++) {
		cli_open(&c[n]);
		expect_served(&c[n]);
	}
	assert_int_equal(n, 6);
	cli_open(&more);
	expect_refused(&more, "too many connections of users who may only read (the rest are "
			      "kept for officers)");
	cli_close(&more);
	g->rights = CONTROL_WRITER;
	for (; n < 8; n++) {
		cli_open(&c[n]);
		expect_served(&c[n]);
	}
	cli_open(&more);
	expect_refused(&more, "too many connections");
	cli_close(&more);
	g->rights = CONTROL_ADMIN;
	cli_open(&c[n]);
	expect_served(&c[n]);
	n++;
	for (int i = 0; i < n; i++)
		cli_close(&c[i]);
}

static void on_passed(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	*(bool *)w->data = true;
}

static bool flag_set(void *arg)
{
	return *(bool *)arg;
}

/* Run the loop for S seconds. */
static void pass_time(double s)
{
	bool passed = false;
	ev_timer t;
	ev_timer_init(&t, on_passed, s, 0.);
	t.data = &passed;
	ev_timer_start(g->loop, &t);
	pump(flag_set, &passed);
	ev_timer_stop(g->loop, &t);
}

/*
 * Peers with no rights holding every place of theirs keep no other out
 * for long: once the longest held has been held CONTROL_NO_RIGHTS_HOLD
 * seconds, a newcomer takes its place, and the one closed is told why.
 */
static void test_no_rights_give_way(void **state)
{
	(void)state;
	struct cli c[CONTROL_MAX_NO_RIGHTS], late;

	if (geteuid() != 0)
		skip();
	start(8, 8, GUARD);
	for (int i = 0; i < CONTROL_MAX_NO_RIGHTS; i++) {
		cli_open_as(&c[i], GHOST_UID + (uid_t)i);
		expect_served(&c[i]);
	}
	/* Held a moment only: the newcomer waits. */
	cli_open_as(&late, GHOST_UID + CONTROL_MAX_NO_RIGHTS);
	expect_refused(&late, "too many connections of users without rights");
	cli_close(&late);
	pass_time(CONTROL_NO_RIGHTS_HOLD + 0.1);
	cli_open_as(&late, GHOST_UID + CONTROL_MAX_NO_RIGHTS);
	expect_served(&late);
	/* The first one gave way, the others are still served. */
	char *a = cli_line(&c[0]);
	assert_non_null(strstr(a,
			       "{\"ok\":false,\"error\":{\"code\":\"busy\",\"message\":\"another "
			       "user without rights needs the connection held for "));
	free(a);
	cli_expect_eof(&c[0]);
	for (int i = 1; i < CONTROL_MAX_NO_RIGHTS; i++)
		expect_served(&c[i]);
	char want[96];
	snprintf(want, sizeof(want), "control: uid:%u (pid ", GHOST_UID);
	assert_true(log_has(want));
	assert_true(log_has("), without rights, held a connection for 2 s: closed for uid:"));
	for (int i = 0; i < CONTROL_MAX_NO_RIGHTS; i++)
		cli_close(&c[i]);
	cli_close(&late);
}

/* ---- a client that does not read ----------------------------------------- */

#define REQUESTS 1000

static bool any_executed(void *arg)
{
	(void)arg;
	return g->nlines > 0;
}

/* Send REQUESTS requests for big answers and read none; how many were answered. */
static size_t flood(struct cli *c)
{
	struct sbuf req;
	sbuf_init(&req);
	for (int i = 0; i < REQUESTS; i++)
		sbuf_printf(&req, "big %04d\n", i);
	g->pad = PAD;
	cli_send(c, req.buf, req.len);
	sbuf_free(&req);
	pump(any_executed, NULL);
	for (int i = 0; i < 20; i++)
		ev_run(g->loop, EVRUN_NOWAIT);
	return g->nlines;
}

/*
 * Answers unread: the client is not read from, its other requests wait
 * (its cost is bounded), and others are served meanwhile; once it reads,
 * every request is answered, in order.
 */
static void test_backpressure(void **state)
{
	(void)state;
	struct cli a, b;

	start(8, 8, GUARD);
	cli_open(&a);
	size_t stalled = flood(&a);
	/* At least the backlog's worth, and far from all of them. */
	assert_true(stalled > CONTROL_BACKLOG / PAD);
	assert_true(stalled < REQUESTS / 4);
	/* Held where it is: the loop runs on, nothing more of it is done. */
	for (int i = 0; i < 20; i++)
		ev_run(g->loop, EVRUN_NOWAIT);
	assert_int_equal(g->nlines, stalled);

	g->pad = 0;
	cli_open(&b);
	expect_served(&b);
	cli_close(&b);
	g->pad = PAD;

	for (int i = 0; i < REQUESTS; i++) {
		char want[16];
		snprintf(want, sizeof(want), "big %04d", i);
		expect_answer(&a, want);
	}
	assert_int_equal(g->nlines, REQUESTS + 1);
	cli_close(&a);
}

static bool hung_up(void *arg)
{
	struct cli *c = arg;
	struct pollfd p = { .fd = c->fd, .events = POLLIN | POLLRDHUP };
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP));
}

/* A client that neither reads nor asks is closed when idle, answers pending or not. */
static void test_unread_closed_when_idle(void **state)
{
	(void)state;
	struct cli a;

	start(8, 1, GUARD);
	cli_open(&a);
	flood(&a);
	control_set_limits(g->ctl, &(struct control_limits){ .max_clients = 8,
							     .max_per_uid = 1,
							     .idle_seconds = 0.2 });
	pump(hung_up, &a);
	assert_true(log_has("control: root (pid "));
	assert_true(log_has(") idle for 0 s, closing"));
	cli_close(&a);
	g->pad = 0;
	cli_open(&a);
	expect_served(&a);
	cli_close(&a);
}

/* An answer longer than any client takes is refused, and the connection goes on. */
static void test_answer_too_large(void **state)
{
	(void)state;
	struct cli c;

	start(8, 8, GUARD);
	cli_open(&c);
	g->pad = GRAMMAR_MAX_ANSWER;
	cli_puts(&c, "huge\n");
	char *a = cli_line(&c);
	char want[256];
	snprintf(want, sizeof(want),
		 "{\"ok\":false,\"error\":{\"code\":\"answer-too-large\",\"message\":\"the answer "
		 "would be %d bytes, more than the limit of %d; ask for less (explain UNIT ROW, "
		 "audit N, status UNIT)\"}}",
		 GRAMMAR_MAX_ANSWER + 30, GRAMMAR_MAX_ANSWER);
	assert_string_equal(a, want);
	free(a);
	/* The longest answer allowed goes whole. */
	g->pad = GRAMMAR_MAX_ANSWER - 30;
	cli_puts(&c, "huge\n");
	a = cli_line(&c);
	assert_int_equal(strlen(a), GRAMMAR_MAX_ANSWER);
	free(a);
	g->pad = 0;
	expect_served(&c);
	cli_close(&c);
}

/*
 * Clients whose last answer was long wait behind the others: a request
 * of a client asking for short answers runs before the next of one that
 * asks for long ones, whichever of them the loop hears first.
 */
static void test_short_answers_first(void **state)
{
	(void)state;
	struct cli heavy, light;

	start(8, 8, GUARD);
	cli_open(&heavy);
	g->pad = 2 * CONTROL_BACKLOG;
	cli_puts(&heavy, "h\n");
	expect_answer(&heavy, "h");
	for (int round = 0; round < 2; round++) {
		/* Both in the kernel before the loop turns, in either order. */
		g->pad = 0;
		cli_open(&light);
		expect_served(&light);
		g->pad = 2 * CONTROL_BACKLOG;
		size_t first = g->nlines;
		if (round == 0)
			cli_puts(&light, "p\n");
		cli_puts(&heavy, "h1\nh2\nh3\n");
		if (round == 1)
			cli_puts(&light, "p\n");
		char *a = cli_line(&light);
		free(a);
		for (int i = 1; i <= 3; i++) {
			char want[8];
			snprintf(want, sizeof(want), "h%d", i);
			expect_answer(&heavy, want);
		}
		assert_int_equal(g->nlines, first + 4);
		if (strcmp(g->lines[first], "p") != 0)
			fail_msg("round %d: the short answer came after %s", round,
				 g->lines[first]);
		cli_close(&light);
	}
	g->pad = 0;
	cli_close(&heavy);
}

static bool executed_n(void *arg)
{
	return g->nlines >= *(size_t *)arg;
}

static bool at_eof_any(void *arg)
{
	struct cli *c = arg;
	for (int i = 0; i < 5; i++) {
		struct pollfd p = { .fd = c[i].fd, .events = POLLIN | POLLRDHUP };
		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP)))
			return true;
	}
	return false;
}

/*
 * Clients that ask for long answers and never read them hold at most
 * CONTROL_MAX_UNSENT of the daemon's memory: beyond it, the one that
 * leaves the most unread is closed.
 */
static void test_unread_answers_bounded(void **state)
{
	(void)state;
	struct cli c[5];

	start(8, 8, GUARD);
	g->pad = GRAMMAR_MAX_ANSWER - 1000;
	for (int i = 0; i < 5; i++) {
		cli_open(&c[i]);
		cli_puts(&c[i], "huge\n");
		size_t n = (size_t)i + 1;
		pump(executed_n, &n);
	}
	pump(at_eof_any, c);
	assert_true(log_has(" bytes of answers unread, and all clients "));
	int closed = 0;
	for (int i = 0; i < 5; i++) {
		struct pollfd p = { .fd = c[i].fd, .events = POLLIN | POLLRDHUP };
		closed += poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP));
		cli_close(&c[i]);
	}
	assert_int_equal(closed, 1);
	g->pad = 0;
}

/* ---- the refusals' log --------------------------------------------------- */

static void refuse_some(int n)
{
	for (int i = 0; i < n; i++) {
		struct cli c;
		cli_open(&c);
		expect_refused(&c, "too many connections of this user");
		cli_close(&c);
	}
}

/*
 * CONTROL_LOG_BURST refusals are logged one by one in a window of
 * CONTROL_LOG_WINDOW seconds, the others counted in one line when it
 * ends (or when the socket closes); then the next ones are logged again.
 */
static void test_refusal_log(void **state)
{
	(void)state;
	struct cli a;
	char one[128];

	start(8, 1, GUARD);
	cli_open(&a);
	expect_served(&a);
	refuse_some(CONTROL_LOG_BURST + 1);
	char *text = logged();
	assert_int_equal(count_in(text, "control: refusing "), CONTROL_LOG_BURST);
	snprintf(one, sizeof(one),
		 "control: refusing root (pid %d): too many connections of this user\n",
		 (int)getpid());
	assert_non_null(strstr(text, one));
	assert_null(strstr(text, " more connection"));
	free(text);

	/* The window ends. */
	pump(log_has, "control: 1 more connection refused in the last 10 s\n");

	refuse_some(CONTROL_LOG_BURST + 2);
	text = logged();
	assert_int_equal(count_in(text, "control: refusing "), 2 * CONTROL_LOG_BURST);
	assert_int_equal(count_in(text, " more connection"), 1);
	free(text);
	control_free(g->ctl);
	g->ctl = NULL;
	text = logged();
	assert_non_null(strstr(text, "control: 2 more connections refused in the last 10 s\n"));
	free(text);
	cli_expect_eof(&a);
	cli_close(&a);
}

/*
 * Requests too long share the refusals' log limit: a stranger sending
 * them one connection after another writes CONTROL_LOG_BURST lines per
 * window, the rest counted in one line.
 */
static void test_too_long_log_limited(void **state)
{
	(void)state;
	size_t max = COMMAND_MAX_LINE;
	char *line = xmalloc(max + 1);

	memset(line, 'a', max + 1);
	start(8, 8, GUARD);
	for (int i = 0; i < CONTROL_LOG_BURST + 7; i++) {
		struct cli c;
		cli_open(&c);
		cli_send(&c, line, max + 1);
		char *a = cli_line(&c);
		assert_non_null(strstr(a, "\"line-too-long\""));
		free(a);
		cli_expect_eof(&c);
		cli_close(&c);
	}
	char *text = logged();
	assert_int_equal(count_in(text, "): request longer than 65536 bytes; closing"),
			 CONTROL_LOG_BURST);
	free(text);
	control_free(g->ctl);
	g->ctl = NULL;
	text = logged();
	assert_non_null(strstr(text, "control: 7 more requests too long (their connections "
				     "closed) in the last 10 s\n"));
	free(text);
	free(line);
}

/* ---- running out of descriptors ------------------------------------------ */

/*
 * accept() failing for want of a descriptor: the socket stays readable,
 * so the server stops listening for a second instead of spinning, then
 * takes the connection waiting.
 */
static void test_out_of_descriptors(void **state)
{
	(void)state;
	struct cli c;
	struct rlimit old, low;

	start(8, 8, GUARD);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	/* Every descriptor below the lowest free one is taken: none left under the limit. */
	int lowest = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
	assert_true(lowest >= 0);
	close(lowest);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)lowest;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);

	ev_now_update(g->loop);
	double t0 = ev_now(g->loop);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", g->path);
	int rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	int e = errno;
	if (rc == 0)
		pump(log_has,
		     "control: accept (not listening for a second): Too many open files\n");
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	if (rc < 0)
		fail_msg("connect: %s", strerror(e));
	char *text = logged();
	/* Once, not once per turn of the loop. */
	assert_int_equal(count_in(text, "control: accept"), 1);
	free(text);

	cli_init(&c, fd);
	expect_served(&c);
	ev_now_update(g->loop);
	assert_true(ev_now(g->loop) - t0 >= 0.95);
	cli_close(&c);
}

/* ---- the socket file ----------------------------------------------------- */

static void test_probe(void **state)
{
	(void)state;
	char err[512] = "", want[512];
	struct stat sb;

	/* Nothing there. */
	assert_int_equal(control_probe(g->path, err, sizeof(err)), 0);

	/* A path a socket address cannot hold. */
	char longp[200];
	memset(longp, 'p', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(control_probe(longp, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "control socket path %s is too long", longp);
	assert_string_equal(err, want);

	/* Something else than a socket: left alone. */
	write_file(g->path, "mine\n");
	assert_int_equal(control_probe(g->path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s exists and is not a socket", g->path);
	assert_string_equal(err, want);
	struct control_ops ops = { .arg = g, .execute = execute, .rights = rights };
	struct control_limits lim = { .max_clients = 8, .max_per_uid = 8, .idle_seconds = GUARD };
	assert_null(control_new(g->loop, g->path, &ops, &lim, err, sizeof(err)));
	assert_string_equal(err, want);
	char *text = read_whole(g->path, NULL);
	assert_string_equal(text, "mine\n");
	free(text);
	unlink(g->path);

	/* A socket nobody answers on (a dead daemon's): the probe says go, and changes nothing. */
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", g->path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(s);
	assert_int_equal(control_probe(g->path, err, sizeof(err)), 0);
	assert_int_equal(lstat(g->path, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	/* control_new takes its place, 0666 whatever the umask. */
	mode_t old = umask(0);
	start(8, 8, GUARD);
	umask(old);
	snprintf(want, sizeof(want), "control: removed the stale socket %s\n", g->path);
	assert_true(log_has(want));
	assert_int_equal(lstat(g->path, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0666);

	/* Someone answers: another instance. */
	snprintf(want, sizeof(want), "another kaohed answers on %s", g->path);
	assert_int_equal(control_probe(g->path, err, sizeof(err)), -1);
	assert_string_equal(err, want);
	assert_null(control_new(g->loop, g->path, &ops, &lim, err, sizeof(err)));
	assert_string_equal(err, want);
	struct cli c;
	cli_open(&c);
	expect_served(&c);

	/* Closing: the clients see the end, the file goes. */
	control_free(g->ctl);
	g->ctl = NULL;
	cli_expect_eof(&c);
	cli_close(&c);
	assert_int_equal(lstat(g->path, &sb), -1);
	assert_int_equal(errno, ENOENT);

	/* Under a strict umask too. */
	old = umask(077);
	start(8, 8, GUARD);
	umask(old);
	assert_int_equal(lstat(g->path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0666);
}

/*
 * A process that listens on the path and accepts nothing, its queue full:
 * the probe gives up after CONTROL_PROBE_SECONDS and names it, instead of
 * waiting for ever.  Run in a child, so that a probe that hangs fails the
 * test instead of hanging it.
 */
static void test_probe_listener_that_never_accepts(void **state)
{
	(void)state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int pipefd[2];
	char got[600] = "";

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", g->path);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(l, 0), 0);
	/* Its queue of one is full. */
	int q = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_int_equal(connect(q, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(pipe(pipefd), 0);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[512] = "";
		int rc = control_probe(g->path, err, sizeof(err));
		dprintf(pipefd[1], "%d %s", rc, err);
		_exit(0);
	}
	close(pipefd[1]);
	struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
	int ready = poll(&p, 1, (int)(GUARD * 1000));
	if (ready == 1)
		assert_true(read(pipefd[0], got, sizeof(got) - 1) > 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(pipefd[0]);
	close(q);
	close(l);
	if (ready != 1)
		fail_msg("control_probe() still waits after %.0f s", GUARD);
	char want[600];
	snprintf(want, sizeof(want),
		 "-1 another process holds %s: it listens there but accepted "
		 "no connection in %d s (its queue is full); not starting",
		 g->path, CONTROL_PROBE_SECONDS);
	assert_string_equal(got, want);
}

#define CASE(test) cmocka_unit_test_setup_teardown(test, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		CASE(test_framing),
		CASE(test_line_limit),
		CASE(test_half_close),
		CASE(test_answer_later),
		CASE(test_idle_timeout),
		CASE(test_idle_after_new_limits),
		CASE(test_activity_keeps_clients),
		CASE(test_per_uid_limit),
		CASE(test_total_limit_and_admin_reserve),
		CASE(test_no_rights_one_at_a_time),
		CASE(test_no_rights_cap),
		CASE(test_readers_share),
		CASE(test_no_rights_give_way),
		CASE(test_backpressure),
		CASE(test_unread_closed_when_idle),
		CASE(test_answer_too_large),
		CASE(test_short_answers_first),
		CASE(test_unread_answers_bounded),
		CASE(test_refusal_log),
		CASE(test_too_long_log_limited),
		CASE(test_out_of_descriptors),
		CASE(test_probe),
		CASE(test_probe_listener_that_never_accepts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
