/*
 * Unit tests of transfer against real servers on 127.0.0.1: a small
 * HTTP/1.1 server with keep-alive and a small SMTP server, each an accept
 * thread plus a thread per connection, recording what arrived.  The
 * client side runs on a private libev loop; the server threads are
 * watched by polling their counters from that loop, under a guard timer
 * that fails the test instead of hanging it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kaohe/log.h"
#include "kaohe/transfer.h"

/* Longest any wait may take before the test fails (slow under ASan, never reached). */
#define GUARD_SECONDS 20.0

/* ------------------------------------------------------------------ */
/* the servers */

struct srv_conn {
	struct srv *s;
	int fd;
	pthread_t thr;
	struct srv_conn *next;
};

struct srv {
	bool smtp;
	int lfd, port;
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;
	struct srv_conn *conns;
	int accepted; /* connections */
	int requests; /* HTTP requests read */
	int hanging;  /* /hang requests whose connection is still open */
	/* /gate: answers are held until GATE_N are waiting or GATE_TOTAL arrived */
	int gate_n, gate_total, gate_arrived, inflight, max_inflight;
	unsigned gate_gen;
	/* the last HTTP request */
	char *method, *path, *head, *body;
	size_t body_len;
	/* what the SMTP server was told */
	char *mail_from, *auth, *data;
	char *rcpt[4];
	int nrcpt, messages;
	size_t data_len;
};

struct rbuf {
	char *buf;
	size_t len, cap;
};

/* Read more into RB; recv's result. */
static ssize_t rb_fill(int fd, struct rbuf *rb)
{
	ssize_t n;

	if (rb->cap - rb->len < 65536) {
		rb->cap = rb->cap * 2 + 65536;
		rb->buf = realloc(rb->buf, rb->cap);
		if (rb->buf == NULL)
			abort();
	}
	do
		n = recv(fd, rb->buf + rb->len, rb->cap - rb->len, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		rb->len += (size_t)n;
	return n;
}

static void rb_consume(struct rbuf *rb, size_t n)
{
	memmove(rb->buf, rb->buf + n, rb->len - n);
	rb->len -= n;
}

/* Where NEEDLE starts in RB, or -1. */
static ssize_t rb_find(const struct rbuf *rb, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= rb->len; i++)
		if (memcmp(rb->buf + i, needle, n) == 0)
			return (ssize_t)i;
	return -1;
}

/* The next line (with its CRLF) as a new string; NULL at EOF. */
static char *rb_line(int fd, struct rbuf *rb)
{
	ssize_t at;
	char *line;

	while ((at = rb_find(rb, "\n")) < 0)
		if (rb_fill(fd, rb) <= 0)
			return NULL;
	line = strndup(rb->buf, (size_t)at + 1);
	rb_consume(rb, (size_t)at + 1);
	return line;
}

static void send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

static void send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

static void replace(char **slot, char *v)
{
	free(*slot);
	*slot = v;
}

static void http_respond(int fd, int status, const char *extra, const char *body, size_t len)
{
	char head[512];

	snprintf(head, sizeof(head), "HTTP/1.1 %d Whatever\r\nContent-Length: %zu\r\n%s\r\n",
		 status, len, extra);
	send_str(fd, head);
	send_all(fd, body, len);
}

/* Answer one request; -1 when the connection is done with. */
static int http_answer(struct srv_conn *c, const char *path, const char *body, size_t len)
{
	struct srv *s = c->s;
	char text[64], extra[320];

	if (strcmp(path, "/echo") == 0) {
		http_respond(c->fd, 200, "Content-Type: application/octet-stream\r\n", body, len);
	} else if (strncmp(path, "/status/", 8) == 0) {
		int status = atoi(path + 8);
		snprintf(text, sizeof(text), "status %d", status);
		http_respond(c->fd, status, "", text, strlen(text));
	} else if (strncmp(path, "/retry/", 7) == 0) {
		snprintf(extra, sizeof(extra), "Retry-After: %s\r\n", path + 7);
		http_respond(c->fd, 503, extra, "later", 5);
	} else if (strcmp(path, "/redirect") == 0) {
		http_respond(c->fd, 302, "Location: /status/200\r\n", "moved", 5);
	} else if (strcmp(path, "/gate") == 0) {
		pthread_mutex_lock(&s->mu);
		s->gate_arrived++;
		if (++s->inflight > s->max_inflight)
			s->max_inflight = s->inflight;
		if (s->inflight >= s->gate_n || s->gate_arrived == s->gate_total) {
			s->gate_gen++;
			pthread_cond_broadcast(&s->cv);
		} else {
			unsigned gen = s->gate_gen;
			while (gen == s->gate_gen && !s->stopping)
				pthread_cond_wait(&s->cv, &s->mu);
		}
		pthread_mutex_unlock(&s->mu);
		http_respond(c->fd, 200, "", "gated", 5);
		pthread_mutex_lock(&s->mu);
		s->inflight--;
		pthread_mutex_unlock(&s->mu);
	} else if (strcmp(path, "/hang") == 0) {
		char sink[512];
		pthread_mutex_lock(&s->mu);
		s->hanging++;
		pthread_mutex_unlock(&s->mu);
		/* Never answer; wait for the client (or srv_stop) to close. */
		while (recv(c->fd, sink, sizeof(sink), 0) > 0)
			;
		pthread_mutex_lock(&s->mu);
		s->hanging--;
		pthread_mutex_unlock(&s->mu);
		return -1;
	} else {
		http_respond(c->fd, 404, "", "no", 2);
	}
	return 0;
}

static void http_serve(struct srv_conn *c)
{
	struct srv *s = c->s;
	struct rbuf rb = { 0 };

	for (;;) {
		ssize_t end;
		size_t hlen, clen = 0;
		char method[16] = "", path[256] = "", *head, *cl, *body;

		while ((end = rb_find(&rb, "\r\n\r\n")) < 0)
			if (rb_fill(c->fd, &rb) <= 0)
				goto out;
		hlen = (size_t)end + 4;
		head = strndup(rb.buf, hlen);
		if ((cl = strcasestr(head, "\r\nContent-Length:")) != NULL)
			clen = strtoul(cl + 17, NULL, 10);
		while (rb.len < hlen + clen)
			if (rb_fill(c->fd, &rb) <= 0) {
				free(head);
				goto out;
			}
		if (sscanf(head, "%15s %255s", method, path) != 2) {
			free(head);
			goto out;
		}
		body = malloc(clen + 1);
		memcpy(body, rb.buf + hlen, clen);
		body[clen] = '\0';
		rb_consume(&rb, hlen + clen);

		pthread_mutex_lock(&s->mu);
		s->requests++;
		replace(&s->method, strdup(method));
		replace(&s->path, strdup(path));
		replace(&s->head, head);
		replace(&s->body, body);
		s->body_len = clen;
		pthread_mutex_unlock(&s->mu);
		/* BODY stays valid: only this thread replaces it, after answering. */
		if (http_answer(c, path, body, clen) < 0)
			break;
	}
out:
	free(rb.buf);
}

static void smtp_serve(struct srv_conn *c)
{
	struct srv *s = c->s;
	struct rbuf rb = { 0 };
	char *line;

	send_str(c->fd, "220 kaohe-test ESMTP\r\n");
	while ((line = rb_line(c->fd, &rb)) != NULL) {
		bool quit = false;

		pthread_mutex_lock(&s->mu);
		if (strncasecmp(line, "EHLO", 4) == 0) {
			send_str(c->fd, "250-kaohe-test\r\n250 AUTH PLAIN\r\n");
		} else if (strncasecmp(line, "AUTH PLAIN", 10) == 0) {
			char *arg = line + 10;
			arg += strspn(arg, " ");
			if (*arg == '\r' || *arg == '\n') {
				pthread_mutex_unlock(&s->mu);
				send_str(c->fd, "334 \r\n");
				char *resp = rb_line(c->fd, &rb);
				pthread_mutex_lock(&s->mu);
				replace(&s->auth,
					resp ? strndup(resp, strcspn(resp, "\r\n")) : NULL);
				free(resp);
			} else {
				replace(&s->auth, strndup(arg, strcspn(arg, "\r\n")));
			}
			send_str(c->fd, "235 2.7.0 accepted\r\n");
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			replace(&s->mail_from, strndup(line, strcspn(line, "\r\n")));
			send_str(c->fd, "250 2.1.0 ok\r\n");
		} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
			if (s->nrcpt < 4)
				s->rcpt[s->nrcpt++] = strndup(line, strcspn(line, "\r\n"));
			send_str(c->fd, "250 2.1.5 ok\r\n");
		} else if (strncasecmp(line, "DATA", 4) == 0) {
			char *dl, *data = NULL;
			size_t len = 0;

			pthread_mutex_unlock(&s->mu);
			send_str(c->fd, "354 go ahead\r\n");
			/* Up to the lone dot, undoing the dot-stuffing. */
			while ((dl = rb_line(c->fd, &rb)) != NULL && strcmp(dl, ".\r\n") != 0) {
				const char *p = dl[0] == '.' ? dl + 1 : dl;
				size_t n = strlen(p);
				data = realloc(data, len + n + 1);
				memcpy(data + len, p, n);
				len += n;
				data[len] = '\0';
				free(dl);
			}
			pthread_mutex_lock(&s->mu);
			if (dl != NULL) {
				free(dl);
				replace(&s->data, data);
				s->data_len = len;
				s->messages++;
				send_str(c->fd, "250 2.0.0 queued\r\n");
			} else {
				free(data);
				quit = true;
			}
		} else if (strncasecmp(line, "QUIT", 4) == 0) {
			send_str(c->fd, "221 2.0.0 bye\r\n");
			quit = true;
		} else if (strncasecmp(line, "RSET", 4) == 0 || strncasecmp(line, "NOOP", 4) == 0) {
			send_str(c->fd, "250 2.0.0 ok\r\n");
		} else {
			send_str(c->fd, "502 5.5.2 what\r\n");
		}
		pthread_mutex_unlock(&s->mu);
		free(line);
		if (quit)
			break;
	}
	free(rb.buf);
}

static void *srv_conn_main(void *arg)
{
	struct srv_conn *c = arg;

	if (c->s->smtp)
		smtp_serve(c);
	else
		http_serve(c);
	pthread_mutex_lock(&c->s->mu);
	close(c->fd);
	c->fd = -1;
	pthread_mutex_unlock(&c->s->mu);
	return NULL;
}

static void *srv_accept_main(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		int fd = accept(s->lfd, NULL, NULL);
		struct srv_conn *c;

		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0)
			break;
		pthread_mutex_lock(&s->mu);
		if (s->stopping) {
			pthread_mutex_unlock(&s->mu);
			close(fd);
			break;
		}
		/* Answers go out as head then body: no Nagle wait for the ACK in between. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		c = calloc(1, sizeof(*c));
		c->s = s;
		c->fd = fd;
		c->next = s->conns;
		s->conns = c;
		s->accepted++;
		if (pthread_create(&c->thr, NULL, srv_conn_main, c) != 0)
			abort();
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

/* A socket listening on an ephemeral port of 127.0.0.1; its port in *PORT. */
static int listen_local(int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 128), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static struct srv *srv_start(bool smtp)
{
	struct srv *s = calloc(1, sizeof(*s));

	s->smtp = smtp;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->lfd = listen_local(&s->port);
	assert_int_equal(pthread_create(&s->thr, NULL, srv_accept_main, s), 0);
	return s;
}

static void srv_shutdown_conns(struct srv *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cv);
	for (struct srv_conn *c = s->conns; c; c = c->next)
		if (c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->mu);
}

static void srv_stop(struct srv *s)
{
	struct srv_conn *c, *next;

	if (s == NULL)
		return;
	srv_shutdown_conns(s);
	/* A listening socket shut down makes the blocked accept() return. */
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->thr, NULL);
	close(s->lfd);
	srv_shutdown_conns(s);
	for (c = s->conns; c; c = next) {
		next = c->next;
		pthread_join(c->thr, NULL);
		free(c);
	}
	free(s->method);
	free(s->path);
	free(s->head);
	free(s->body);
	free(s->mail_from);
	free(s->auth);
	free(s->data);
	for (int i = 0; i < s->nrcpt; i++)
		free(s->rcpt[i]);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* A counter of S, read under its lock. */
static int srv_get(struct srv *s, const int *field)
{
	int v;

	pthread_mutex_lock(&s->mu);
	v = *field;
	pthread_mutex_unlock(&s->mu);
	return v;
}

/*
 * Copies of what S recorded, taken under its lock so that no assertion
 * fails while the lock is held: the string *FIELD (NULL stays NULL), and
 * the last request's body with its length.
 */
static char *srv_str(struct srv *s, char *const *field)
{
	char *v;

	pthread_mutex_lock(&s->mu);
	v = *field ? strdup(*field) : NULL;
	pthread_mutex_unlock(&s->mu);
	return v;
}

static char *srv_body(struct srv *s, size_t *len)
{
	char *v = NULL;

	pthread_mutex_lock(&s->mu);
	*len = s->body_len;
	if (s->body) {
		v = malloc(s->body_len + 1);
		memcpy(v, s->body, s->body_len + 1);
	}
	pthread_mutex_unlock(&s->mu);
	return v;
}

/* Free the copies once the test is done with them. */
static void free_all(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
}

/* ------------------------------------------------------------------ */
/* the client side */

#define MAX_JOBS 128

struct ctx;

struct job {
	struct ctx *c;
	int tag;
};

struct got {
	int tag;
	int code;
	long status;
	int64_t retry_after;
	char *body;
	size_t body_len;
	char *error;
};

struct ctx {
	struct ev_loop *loop;
	struct transfer *t;
	struct srv *srv, *smtp;
	struct job jobs[MAX_JOBS];
	struct got got[MAX_JOBS];
	int ndone;
	/* called after each DONE is recorded */
	void (*hook)(struct ctx *c, int tag);
	int chain_last;
};

/* True while a test is inside transfer_start: DONE must not come then. */
static bool g_in_start;

static void on_done(void *arg, const struct transfer_result *r)
{
	struct job *j = arg;
	struct ctx *c = j->c;
	struct got *g;

	if (g_in_start)
		fail_msg("DONE of transfer %d called from inside transfer_start", j->tag);
	if (c->ndone >= MAX_JOBS)
		fail_msg("more DONE calls than transfers");
	assert_non_null(r->body);
	assert_non_null(r->error);
	assert_int_equal(r->body[r->body_len], '\0');
	g = &c->got[c->ndone++];
	g->tag = j->tag;
	g->code = r->curl_code;
	g->status = r->status;
	g->retry_after = r->retry_after;
	g->body = malloc(r->body_len + 1);
	memcpy(g->body, r->body, r->body_len + 1);
	g->body_len = r->body_len;
	g->error = strdup(r->error);
	if (c->hook)
		c->hook(c, j->tag);
}

static int start(struct ctx *c, const struct transfer_request *r, int tag)
{
	bool was = g_in_start;
	int rc;

	assert_true(tag >= 0 && tag < MAX_JOBS);
	c->jobs[tag].c = c;
	c->jobs[tag].tag = tag;
	g_in_start = true;
	rc = transfer_start(c->t, r, on_done, &c->jobs[tag]);
	g_in_start = was;
	return rc;
}

/* The result of transfer TAG; fails when it has not finished. */
static const struct got *got_tag(struct ctx *c, int tag)
{
	for (int i = 0; i < c->ndone; i++)
		if (c->got[i].tag == tag)
			return &c->got[i];
	fail_msg("transfer %d has not finished", tag);
	return NULL;
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	*(bool *)w->data = true;
	ev_break(loop, EVBREAK_ONE);
}

static void on_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
	/* Only wakes the loop so that server-side counters are looked at. */
	(void)loop;
	(void)w;
	(void)revents;
}

/* Run C's loop until COND(C, N) holds; false if the guard ran out first. */
static bool run_until(struct ctx *c, bool (*cond)(struct ctx *c, int n), int n)
{
	bool expired = false;
	ev_timer guard, poll;

	ev_now_update(c->loop);
	ev_timer_init(&guard, on_guard, GUARD_SECONDS, 0.);
	guard.data = &expired;
	ev_timer_init(&poll, on_poll, 0.005, 0.005);
	ev_timer_start(c->loop, &guard);
	ev_timer_start(c->loop, &poll);
	while (!cond(c, n) && !expired)
		ev_run(c->loop, EVRUN_ONCE);
	ev_timer_stop(c->loop, &guard);
	ev_timer_stop(c->loop, &poll);
	return cond(c, n);
}

static bool done_at_least(struct ctx *c, int n)
{
	return c->ndone >= n;
}

static bool srv_hanging(struct ctx *c, int n)
{
	return srv_get(c->srv, &c->srv->hanging) == n;
}

/* Run until N transfers are done, failing the test otherwise. */
static void wait_done(struct ctx *c, int n)
{
	if (!run_until(c, done_at_least, n))
		fail_msg("%d of %d transfers done after %.0f s", c->ndone, n, GUARD_SECONDS);
}

/* A few turns of the loop that must bring nothing. */
static void spin(struct ctx *c)
{
	for (int i = 0; i < 20; i++)
		ev_run(c->loop, EVRUN_NOWAIT);
}

static void new_transfer(struct ctx *c, int max_active)
{
	char err[256] = "";

	c->t = transfer_new(c->loop, max_active, err, sizeof(err));
	if (c->t == NULL)
		fail_msg("transfer_new: %s", err);
}

static void url_of(struct srv *s, const char *scheme, const char *path, char *buf, size_t len)
{
	snprintf(buf, len, "%s://127.0.0.1:%d%s", scheme, s->port, path);
}

/* A POST of "{}" to PATH on the HTTP server. */
static struct transfer_request post(struct ctx *c, const char *path, char *url, size_t len)
{
	url_of(c->srv, "http", path, url, len);
	return (struct transfer_request){
		.url = url,
		.body = "{}",
		.body_len = 2,
		.connect_timeout_ms = 5000,
		.timeout_ms = 15000,
	};
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	c->loop = ev_loop_new(EVFLAG_AUTO);
	if (c->loop == NULL)
		return -1;
	c->srv = srv_start(false);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	/* First the client: closing its connections lets the server threads end. */
	transfer_free(c->t);
	srv_stop(c->srv);
	srv_stop(c->smtp);
	for (int i = 0; i < c->ndone; i++) {
		free(c->got[i].body);
		free(c->got[i].error);
	}
	ev_loop_destroy(c->loop);
	free(c);
	return 0;
}

/* ------------------------------------------------------------------ */
/* HTTP */

/*
 * A 2 MiB binary body (every byte value, NULs included) and the headers
 * arrive as given although the caller's copies are scribbled over right
 * after transfer_start; no "Expect: 100-continue" (curl adds it above
 * 1 MiB); the echoed answer is cut at 64 KiB and NUL-terminated.
 */
static void post_body_and_headers_arrive(void **state)
{
	struct ctx *c = *state;
	size_t len = 2 * 1024 * 1024;
	char *body = malloc(len), *want = malloc(len), url[128];
	char h1[] = "Content-Type: application/json";
	char h2[] = "X-Kaohe-Signature: sha256=0123abcd";
	const char *headers[] = { h1, h2 };
	struct transfer_request r;
	const struct got *g;

	for (size_t i = 0; i < len; i++)
		body[i] = (char)(i * 7 + i / 251);
	memcpy(want, body, len);
	new_transfer(c, 2);
	r = post(c, "/echo", url, sizeof(url));
	r.body = body;
	r.body_len = len;
	r.headers = headers;
	r.nheaders = 2;
	assert_int_equal(start(c, &r, 0), 0);
	memset(body, 'x', len);
	memset(h1, 'x', sizeof(h1) - 1);
	memset(h2, 'x', sizeof(h2) - 1);
	memset(url, 'x', sizeof(url) - 1);
	wait_done(c, 1);

	g = got_tag(c, 0);
	assert_int_equal(g->code, 0);
	assert_string_equal(g->error, "");
	assert_int_equal(g->status, 200);
	assert_int_equal(g->retry_after, -1);
	assert_int_equal(g->body_len, 64 * 1024);
	assert_memory_equal(g->body, want, 64 * 1024);

	size_t seen_len;
	char *seen[] = {
		srv_str(c->srv, &c->srv->method),
		srv_str(c->srv, &c->srv->path),
		srv_str(c->srv, &c->srv->head),
		srv_body(c->srv, &seen_len),
	};
	assert_string_equal(seen[0], "POST");
	assert_string_equal(seen[1], "/echo");
	assert_non_null(strstr(seen[2], "\r\nContent-Type: application/json\r\n"));
	assert_non_null(strstr(seen[2], "\r\nX-Kaohe-Signature: sha256=0123abcd\r\n"));
	assert_null(strcasestr(seen[2], "\r\nExpect:"));
	assert_int_equal(seen_len, len);
	assert_memory_equal(seen[3], want, len);
	free_all(seen, 4);
	free(body);
	free(want);
}

/* A short answer comes back whole. */
static void response_body_whole(void **state)
{
	struct ctx *c = *state;
	char url[128];
	struct transfer_request r;

	new_transfer(c, 1);
	r = post(c, "/echo", url, sizeof(url));
	r.body = "{\"errcode\":0}";
	r.body_len = strlen(r.body);
	assert_int_equal(start(c, &r, 0), 0);
	wait_done(c, 1);
	assert_int_equal(got_tag(c, 0)->status, 200);
	assert_int_equal(got_tag(c, 0)->body_len, 13);
	assert_string_equal(got_tag(c, 0)->body, "{\"errcode\":0}");
}

/*
 * Status, body and Retry-After of four answers in a row through one
 * pooled handle (max_active 1): a Retry-After of 0 is not "absent", and
 * no answer inherits the previous one's.
 */
static void status_and_retry_after(void **state)
{
	struct ctx *c = *state;
	const char *paths[] = { "/retry/7", "/status/500", "/retry/0", "/status/200" };
	const long status[] = { 503, 500, 503, 200 };
	const int64_t retry[] = { 7, -1, 0, -1 };
	char url[128];

	new_transfer(c, 1);
	for (int i = 0; i < 4; i++) {
		struct transfer_request r = post(c, paths[i], url, sizeof(url));
		assert_int_equal(start(c, &r, i), 0);
	}
	wait_done(c, 4);
	for (int i = 0; i < 4; i++) {
		const struct got *g = got_tag(c, i);
		assert_int_equal(g->code, 0);
		assert_int_equal(g->status, status[i]);
		assert_int_equal(g->retry_after, retry[i]);
	}
	assert_string_equal(got_tag(c, 0)->body, "later");
	assert_string_equal(got_tag(c, 1)->body, "status 500");
	assert_int_equal(srv_get(c->srv, &c->srv->requests), 4);
}

/* A redirect is reported, not followed. */
static void redirect_not_followed(void **state)
{
	struct ctx *c = *state;
	char url[128];
	struct transfer_request r;

	new_transfer(c, 1);
	r = post(c, "/redirect", url, sizeof(url));
	assert_int_equal(start(c, &r, 0), 0);
	wait_done(c, 1);
	assert_int_equal(got_tag(c, 0)->code, 0);
	assert_int_equal(got_tag(c, 0)->status, 302);
	assert_int_equal(srv_get(c->srv, &c->srv->requests), 1);
}

static void connection_refused(void **state)
{
	struct ctx *c = *state;
	char url[128];
	int port, fd = listen_local(&port);
	struct transfer_request r = { .url = url, .body = "", .connect_timeout_ms = 5000 };
	const struct got *g;

	/* The port was just free; closed, nobody listens there. */
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	new_transfer(c, 1);
	assert_int_equal(start(c, &r, 0), 0);
	wait_done(c, 1);
	g = got_tag(c, 0);
	assert_int_equal(g->code, CURLE_COULDNT_CONNECT);
	assert_int_equal(g->status, 0);
	assert_int_equal(g->retry_after, -1);
	assert_true(strlen(g->error) > 0);
	assert_int_equal(transfer_pending(c->t), 0);
}

/* A server that never answers: the whole-transfer timeout ends it. */
static void total_timeout(void **state)
{
	struct ctx *c = *state;
	char url[128];
	struct transfer_request r;
	const struct got *g;
	ev_tstamp t0, elapsed;

	new_transfer(c, 1);
	r = post(c, "/hang", url, sizeof(url));
	r.timeout_ms = 300;
	ev_now_update(c->loop);
	t0 = ev_time();
	assert_int_equal(start(c, &r, 0), 0);
	wait_done(c, 1);
	elapsed = ev_time() - t0;
	g = got_tag(c, 0);
	assert_int_equal(g->code, CURLE_OPERATION_TIMEDOUT);
	assert_int_equal(g->status, 0);
	assert_true(strlen(g->error) > 0);
	if (elapsed < 0.25 || elapsed > 5.0)
		fail_msg("a 300 ms timeout took %.3f s", elapsed);
	/* curl closed the connection */
	assert_true(run_until(c, srv_hanging, 0));
}

/*
 * /gate holds answers until N requests wait (or all have arrived): with
 * more in curl than N, the server would see more than N at once; with
 * fewer, nothing would ever be answered.
 */
static void gated_batch(struct ctx *c, int n, int total)
{
	char url[128];

	pthread_mutex_lock(&c->srv->mu);
	c->srv->gate_n = n;
	c->srv->gate_total = total;
	pthread_mutex_unlock(&c->srv->mu);
	for (int i = 0; i < total; i++) {
		struct transfer_request r = post(c, "/gate", url, sizeof(url));
		assert_int_equal(start(c, &r, i), 0);
	}
	assert_int_equal(transfer_pending(c->t), total);
	wait_done(c, total);
	for (int i = 0; i < total; i++) {
		assert_int_equal(got_tag(c, i)->code, 0);
		assert_int_equal(got_tag(c, i)->status, 200);
	}
	assert_int_equal(srv_get(c->srv, &c->srv->max_inflight), n);
	assert_int_equal(srv_get(c->srv, &c->srv->requests), total);
	assert_int_equal(transfer_pending(c->t), 0);
}

static void max_active_respected(void **state)
{
	struct ctx *c = *state;

	new_transfer(c, 3);
	gated_batch(c, 3, 12);
}

static void set_max_active_raises_limit(void **state)
{
	struct ctx *c = *state;

	new_transfer(c, 1);
	transfer_set_max_active(c->t, 3);
	gated_batch(c, 3, 9);
}

/* Waiting transfers start in the order they were given. */
static void queue_is_fifo(void **state)
{
	struct ctx *c = *state;
	/* none of 204, 205 and 304, which carry no body */
	const int status[] = { 200, 201, 202, 400, 404, 500 };
	char url[128], path[32];

	new_transfer(c, 1);
	for (int i = 0; i < 6; i++) {
		snprintf(path, sizeof(path), "/status/%d", status[i]);
		struct transfer_request r = post(c, path, url, sizeof(url));
		assert_int_equal(start(c, &r, i), 0);
	}
	wait_done(c, 6);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(c->got[i].tag, i);
		assert_int_equal(c->got[i].code, 0);
		assert_int_equal(c->got[i].status, status[i]);
	}
}

/* 100 POSTs two at a time ride on the same two connections. */
static void connections_reused(void **state)
{
	struct ctx *c = *state;
	char url[128];

	new_transfer(c, 2);
	for (int i = 0; i < 100; i++) {
		struct transfer_request r = post(c, "/status/200", url, sizeof(url));
		assert_int_equal(start(c, &r, i), 0);
	}
	wait_done(c, 100);
	for (int i = 0; i < 100; i++)
		assert_int_equal(got_tag(c, i)->status, 200);
	assert_int_equal(srv_get(c->srv, &c->srv->requests), 100);
	int accepted = srv_get(c->srv, &c->srv->accepted);
	if (accepted > 2)
		fail_msg("100 transfers, 2 at a time, used %d connections", accepted);
}

/* Each DONE starts the next transfer; the one ending is no longer pending. */
static void chain_hook(struct ctx *c, int tag)
{
	char url[128];

	assert_int_equal(transfer_pending(c->t), 0);
	if (tag < c->chain_last) {
		struct transfer_request r = post(c, "/status/201", url, sizeof(url));
		assert_int_equal(start(c, &r, tag + 1), 0);
		assert_int_equal(transfer_pending(c->t), 1);
	}
}

static void start_from_done(void **state)
{
	struct ctx *c = *state;
	char url[128];
	struct transfer_request r;

	new_transfer(c, 1);
	c->hook = chain_hook;
	c->chain_last = 4;
	r = post(c, "/status/201", url, sizeof(url));
	assert_int_equal(start(c, &r, 0), 0);
	wait_done(c, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(c->got[i].tag, i);
		assert_int_equal(c->got[i].status, 201);
	}
	assert_int_equal(srv_get(c->srv, &c->srv->requests), 5);
	assert_int_equal(transfer_pending(c->t), 0);
}

/* What curl cannot or must not send is refused at once, without DONE. */
static void refused_requests(void **state)
{
	struct ctx *c = *state;
	char url[128], smtp_url[128];
	const char *rcpt[] = { "a@example.org" };
	struct transfer_request r;

	new_transfer(c, 1);
	url_of(c->srv, "smtp", "", smtp_url, sizeof(smtp_url));

	r = (struct transfer_request){ .url = NULL };
	assert_int_equal(start(c, &r, 0), -1);
	r = (struct transfer_request){ .url = "not a url" };
	assert_int_equal(start(c, &r, 0), -1);
	r = (struct transfer_request){ .url = "ftp://127.0.0.1/x" };
	assert_int_equal(start(c, &r, 0), -1);
	r = (struct transfer_request){ .url = "file:///etc/passwd" };
	assert_int_equal(start(c, &r, 0), -1);
	/* a mail URL without a sender, a sender for a web URL, no recipients */
	r = (struct transfer_request){ .url = smtp_url, .rcpt = rcpt, .nrcpt = 1 };
	assert_int_equal(start(c, &r, 0), -1);
	r = post(c, "/echo", url, sizeof(url));
	r.mail_from = "kaohe@example.org";
	r.rcpt = rcpt;
	r.nrcpt = 1;
	assert_int_equal(start(c, &r, 0), -1);
	r = (struct transfer_request){ .url = smtp_url, .mail_from = "kaohe@example.org" };
	assert_int_equal(start(c, &r, 0), -1);
	/* a length without a body */
	r = post(c, "/echo", url, sizeof(url));
	r.body = NULL;
	assert_int_equal(start(c, &r, 0), -1);

	assert_int_equal(transfer_pending(c->t), 0);
	spin(c);
	assert_int_equal(c->ndone, 0);
	assert_int_equal(srv_get(c->srv, &c->srv->accepted), 0);
}

/*
 * The CA file reaches curl and verification is on: with a CA file that
 * does not exist curl gives up (it would only warn were VERIFYPEER off).
 */
static void https_with_missing_ca_file(void **state)
{
	struct ctx *c = *state;
	char url[128];
	struct transfer_request r;

	new_transfer(c, 1);
	r = post(c, "/echo", url, sizeof(url));
	url_of(c->srv, "https", "/echo", url, sizeof(url));
	r.ca_file = "/nonexistent/kaohe-ca.pem";
	assert_int_equal(start(c, &r, 0), 0);
	wait_done(c, 1);
	assert_int_equal(got_tag(c, 0)->code, CURLE_SSL_CACERT_BADFILE);
	assert_true(strlen(got_tag(c, 0)->error) > 0);
	assert_int_equal(srv_get(c->srv, &c->srv->requests), 0);
}

/* Freed with two transfers hanging in curl and three waiting: no DONE, nothing left open. */
static void free_with_transfers_in_flight(void **state)
{
	struct ctx *c = *state;
	char url[128];

	new_transfer(c, 2);
	for (int i = 0; i < 5; i++) {
		const char *path = i < 2 ? "/hang" : "/status/200";
		struct transfer_request r = post(c, path, url, sizeof(url));
		assert_int_equal(start(c, &r, i), 0);
	}
	assert_true(run_until(c, srv_hanging, 2));
	assert_int_equal(transfer_pending(c->t), 5);
	transfer_free(c->t);
	c->t = NULL;
	spin(c);
	assert_int_equal(c->ndone, 0);
	/* the connections were closed */
	assert_true(run_until(c, srv_hanging, 0));
	assert_int_equal(srv_get(c->srv, &c->srv->requests), 2);
}

static void free_hook(struct ctx *c, int tag)
{
	(void)tag;
	transfer_free(c->t);
	c->t = NULL;
}

/* transfer_free from a DONE callback, with others in flight. */
static void free_from_done(void **state)
{
	struct ctx *c = *state;
	char url[128];
	struct transfer_request r;

	new_transfer(c, 3);
	for (int i = 0; i < 2; i++) {
		r = post(c, "/hang", url, sizeof(url));
		assert_int_equal(start(c, &r, i), 0);
	}
	assert_true(run_until(c, srv_hanging, 2));
	c->hook = free_hook;
	r = post(c, "/status/200", url, sizeof(url));
	assert_int_equal(start(c, &r, 2), 0);
	wait_done(c, 1);
	assert_null(c->t);
	assert_int_equal(got_tag(c, 2)->status, 200);
	spin(c);
	assert_int_equal(c->ndone, 1);
	assert_true(run_until(c, srv_hanging, 0));
}

/* ------------------------------------------------------------------ */
/* the worker thread */

/*
 * Wait, without running C's loop (so that nothing can be reported), until
 * the HTTP server has read N requests, then give the worker a moment to
 * read their answers: completions pile up for the loop.  The tests that
 * use it hold however far the worker got.
 */
static void pile_up_completions(struct ctx *c, int n)
{
	struct timespec ms = { 0, 1000000 };

	for (int i = 0; srv_get(c->srv, &c->srv->requests) < n; i++) {
		if (i > GUARD_SECONDS * 1000)
			fail_msg("%d requests of %d after %.0f s",
				 srv_get(c->srv, &c->srv->requests), n, GUARD_SECONDS);
		nanosleep(&ms, NULL);
	}
	for (int i = 0; i < 50; i++)
		nanosleep(&ms, NULL);
}

#define FAN_WIDTH 8
#define FAN_TOTAL 120

static int fan_started;

/* Each DONE starts the transfer FAN_WIDTH further on, while others are in flight. */
static void fan_hook(struct ctx *c, int tag)
{
	char url[128];

	assert_int_equal(transfer_pending(c->t), fan_started - c->ndone);
	if (tag + FAN_WIDTH < FAN_TOTAL) {
		struct transfer_request r = post(c, "/status/202", url, sizeof(url));
		assert_int_equal(start(c, &r, tag + FAN_WIDTH), 0);
		fan_started++;
		assert_int_equal(transfer_pending(c->t), fan_started - c->ndone);
	}
}

/* Many starts from DONE callbacks, with several transfers always in the worker. */
static void many_starts_from_done(void **state)
{
	struct ctx *c = *state;
	char url[128];
	bool seen[FAN_TOTAL] = { false };

	new_transfer(c, 4);
	c->hook = fan_hook;
	fan_started = 0;
	for (int i = 0; i < FAN_WIDTH; i++) {
		struct transfer_request r = post(c, "/status/202", url, sizeof(url));
		assert_int_equal(start(c, &r, i), 0);
		fan_started++;
	}
	wait_done(c, FAN_TOTAL);
	spin(c);
	assert_int_equal(c->ndone, FAN_TOTAL);
	for (int i = 0; i < FAN_TOTAL; i++) {
		assert_false(seen[c->got[i].tag]);
		seen[c->got[i].tag] = true;
		assert_int_equal(c->got[i].code, 0);
		assert_int_equal(c->got[i].status, 202);
	}
	assert_int_equal(srv_get(c->srv, &c->srv->requests), FAN_TOTAL);
	assert_int_equal(transfer_pending(c->t), 0);
	if (srv_get(c->srv, &c->srv->accepted) > 4)
		fail_msg("4 at a time used %d connections", srv_get(c->srv, &c->srv->accepted));
}

/* Lowering the limit reaches the worker before the transfers started after it. */
static void set_max_active_lowers_limit(void **state)
{
	struct ctx *c = *state;

	new_transfer(c, 3);
	transfer_set_max_active(c->t, 1);
	gated_batch(c, 1, 5);
}

/* Freed with finished transfers not yet reported: no DONE, nothing leaks. */
static void free_with_completions_queued(void **state)
{
	struct ctx *c = *state;
	char url[128];

	new_transfer(c, 4);
	for (int i = 0; i < 16; i++) {
		struct transfer_request r = post(c, "/status/200", url, sizeof(url));
		assert_int_equal(start(c, &r, i), 0);
	}
	pile_up_completions(c, 16);
	assert_int_equal(transfer_pending(c->t), 16);
	transfer_free(c->t);
	c->t = NULL;
	spin(c);
	assert_int_equal(c->ndone, 0);
}

/*
 * The first DONE starts 15 more and lets them finish before it returns;
 * the second, one of a batch of those, starts 15 more again, lets them
 * finish and frees: 14 of its batch and the 15 new ones are not reported.
 */
static void free_late_hook(struct ctx *c, int tag)
{
	char url[128];

	(void)tag;
	for (int i = 0; i < 15; i++) {
		struct transfer_request r = post(c, "/status/200", url, sizeof(url));
		assert_int_equal(start(c, &r, 15 * c->ndone - 14 + i), 0);
	}
	pile_up_completions(c, 15 * c->ndone + 1);
	if (c->ndone == 2) {
		transfer_free(c->t);
		c->t = NULL;
	}
}

/* transfer_free from a DONE, more of its batch and another batch waiting to be reported. */
static void free_from_done_with_completions_queued(void **state)
{
	struct ctx *c = *state;
	char url[128];
	struct transfer_request r;

	new_transfer(c, 16);
	c->hook = free_late_hook;
	r = post(c, "/status/200", url, sizeof(url));
	assert_int_equal(start(c, &r, 0), 0);
	wait_done(c, 2);
	assert_null(c->t);
	spin(c);
	assert_int_equal(c->ndone, 2);
	assert_int_equal(srv_get(c->srv, &c->srv->requests), 31);
}

/*
 * Pending transfers keep the caller's loop running and an idle engine
 * does not: ev_run without a flag returns at once with no transfer, and
 * right after the DONE with one (under a guard that does not count).
 */
static void loop_alive_while_pending(void **state)
{
	struct ctx *c = *state;
	char url[128];
	bool expired = false;
	ev_timer guard;
	struct transfer_request r;

	new_transfer(c, 1);
	ev_now_update(c->loop);
	ev_timer_init(&guard, on_guard, GUARD_SECONDS, 0.);
	guard.data = &expired;
	ev_timer_start(c->loop, &guard);
	ev_unref(c->loop);
	ev_run(c->loop, 0);
	assert_false(expired);
	assert_int_equal(c->ndone, 0);

	r = post(c, "/status/200", url, sizeof(url));
	assert_int_equal(start(c, &r, 0), 0);
	ev_run(c->loop, 0);
	assert_false(expired);
	assert_int_equal(c->ndone, 1);
	assert_int_equal(got_tag(c, 0)->status, 200);
	ev_ref(c->loop);
	ev_timer_stop(c->loop, &guard);
}

static void new_rejects_no_slots(void **state)
{
	struct ctx *c = *state;
	char err[256] = "";

	assert_null(transfer_new(c->loop, 0, err, sizeof(err)));
	assert_true(strlen(err) > 0);
	transfer_free(NULL);
}

/* ------------------------------------------------------------------ */
/* SMTP */

/* The message as given, a line starting with a dot included. */
static const char message[] = "From: kaohe@example.org\r\n"
			      "To: a@example.org\r\n"
			      "Subject: =?UTF-8?B?5o+Q6YaS?=\r\n"
			      "\r\n"
			      "first line\r\n"
			      ".a line that starts with a dot\r\n"
			      "last line\r\n";

static struct transfer_request mail(struct ctx *c, char *url, size_t len)
{
	static const char *rcpt[] = { "a@example.org", "b@example.org" };

	c->smtp = srv_start(true);
	url_of(c->smtp, "smtp", "", url, len);
	return (struct transfer_request){
		.url = url,
		.body = message,
		.body_len = sizeof(message) - 1,
		.mail_from = "kaohe@example.org",
		.rcpt = rcpt,
		.nrcpt = 2,
		.connect_timeout_ms = 5000,
		.timeout_ms = 15000,
	};
}

static void smtp_send(void **state)
{
	struct ctx *c = *state;
	char url[128];
	struct transfer_request r;
	const struct got *g;

	new_transfer(c, 1);
	r = mail(c, url, sizeof(url));
	r.user = "kaohe";
	r.password = "s3cret";
	assert_int_equal(start(c, &r, 0), 0);
	wait_done(c, 1);
	g = got_tag(c, 0);
	assert_int_equal(g->code, 0);
	assert_string_equal(g->error, "");
	assert_int_equal(g->status, 250);
	assert_int_equal(g->body_len, 0);
	assert_int_equal(g->retry_after, -1);

	char *seen[] = {
		srv_str(c->smtp, &c->smtp->auth),    srv_str(c->smtp, &c->smtp->mail_from),
		srv_str(c->smtp, &c->smtp->rcpt[0]), srv_str(c->smtp, &c->smtp->rcpt[1]),
		srv_str(c->smtp, &c->smtp->data),
	};
	assert_int_equal(srv_get(c->smtp, &c->smtp->messages), 1);
	assert_int_equal(srv_get(c->smtp, &c->smtp->nrcpt), 2);
	assert_string_equal(seen[0], "AGthb2hlAHMzY3JldA=="); /* "\0kaohe\0s3cret" */
	assert_string_equal(seen[1], "MAIL FROM:<kaohe@example.org>");
	assert_string_equal(seen[2], "RCPT TO:<a@example.org>");
	assert_string_equal(seen[3], "RCPT TO:<b@example.org>");
	assert_string_equal(seen[4], message);
	free_all(seen, 5);
}

/* require_tls on smtp:// with a server that offers no STARTTLS: nothing is sent. */
static void smtp_require_tls(void **state)
{
	struct ctx *c = *state;
	char url[128];
	struct transfer_request r;

	new_transfer(c, 1);
	r = mail(c, url, sizeof(url));
	r.require_tls = true;
	assert_int_equal(start(c, &r, 0), 0);
	wait_done(c, 1);
	assert_int_equal(got_tag(c, 0)->code, CURLE_USE_SSL_FAILED);
	assert_true(strlen(got_tag(c, 0)->error) > 0);
	assert_int_equal(srv_get(c->smtp, &c->smtp->messages), 0);
	char *from = srv_str(c->smtp, &c->smtp->mail_from);
	assert_null(from);
}

static int group_setup(void **state)
{
	(void)state;
	/* refused requests are logged as warnings: keep the output to errors */
	log_set_level(LOG_LEVEL_ERROR);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(post_body_and_headers_arrive, setup, teardown),
		cmocka_unit_test_setup_teardown(response_body_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(status_and_retry_after, setup, teardown),
		cmocka_unit_test_setup_teardown(redirect_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(connection_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(total_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(max_active_respected, setup, teardown),
		cmocka_unit_test_setup_teardown(set_max_active_raises_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(queue_is_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(connections_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(start_from_done, setup, teardown),
		cmocka_unit_test_setup_teardown(refused_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(https_with_missing_ca_file, setup, teardown),
		cmocka_unit_test_setup_teardown(free_with_transfers_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(free_from_done, setup, teardown),
		cmocka_unit_test_setup_teardown(many_starts_from_done, setup, teardown),
		cmocka_unit_test_setup_teardown(set_max_active_lowers_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(free_with_completions_queued, setup, teardown),
		cmocka_unit_test_setup_teardown(free_from_done_with_completions_queued, setup,
						teardown),
		cmocka_unit_test_setup_teardown(loop_alive_while_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(new_rejects_no_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(smtp_send, setup, teardown),
		cmocka_unit_test_setup_teardown(smtp_require_tls, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
