/*
 * transfer — libcurl's multi-socket interface on a libev loop of its own,
 * run by a worker thread: the pattern of curl's docs/examples/evhiperfifo.c
 * without its demo shortcuts.  curl tells the worker which sockets to
 * watch and when to wake it, and every completion is read back with
 * curl_multi_info_read.  Curl and the kernel's TCP work then overlap with
 * whatever the caller's thread does meanwhile (rendering, SQLite).
 *
 * The two threads meet in two lists under one mutex.  transfer_start
 * copies the request into a job and puts it in the inbox; the worker
 * takes the whole inbox at once.  At most max_active jobs are in curl at
 * once; the others wait in the worker's FIFO, holding no easy handle.
 * One multi handle keeps the connection cache, so a burst of webhooks to
 * one robot API or mails through one relay reuses the same few
 * connections, and finished easy handles go back to a small pool instead
 * of being freed.  A finished job, its answer copied into it, goes to the
 * outbox once per turn of the worker's loop; the caller's loop takes the
 * whole outbox at once and calls DONE for each, in completion order.  A
 * transfer that fails before curl ever sees it goes back the same way, so
 * DONE never runs inside transfer_start, and may itself call it (or
 * transfer_free).  Each side wakes the other (ev_async_send) only when it
 * finds the list empty: a non-empty list already has a wake-up on its way.
 *
 * Only the worker touches the multi handle, the easy handles and the
 * worker loop's watchers once it runs (transfer_new sets them up before
 * it starts); only the caller's thread touches npending and calls DONE.
 *
 * curl_global_init runs once per process, on the first transfer_new and
 * before any worker exists (it is not thread-safe), and
 * curl_global_cleanup never: OpenSSL cannot be initialised again after it
 * is torn down, and the process ends soon after its last engine anyway.
 */
#include <curl/curl.h>
#include <ev.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kaohe/log.h"
#include "kaohe/transfer.h"
#include "kaohe/util.h"

/* What is kept of a response body; webhook answers are a few hundred bytes. */
#define TRANSFER_BODY_MAX (64 * 1024)

/* A socket curl asked the worker to watch (curl_multi_assign'ed to it). */
struct tsock {
	struct transfer *t;
	curl_socket_t fd;
	int events; /* EV_READ | EV_WRITE as last asked */
	ev_io io;
	struct tsock *prev, *next;
};

/*
 * One transfer: its copied request, then its answer.  Written by the
 * caller's thread until it is in the inbox, by the worker until it is in
 * the outbox, read by the caller's thread after: the mutex between hands
 * it over.
 */
struct xfer {
	CURL *easy; /* only while in curl */
	bool smtp;
	char *url;
	char *body; /* a NUL-terminated copy; POSTFIELDS or the upload */
	size_t body_len, body_sent;
	struct curl_slist *headers, *rcpt;
	char *mail_from, *user, *password, *ca_file;
	bool require_tls;
	long connect_timeout_ms, timeout_ms;
	transfer_done_fn done;
	void *arg;
	/* the answer */
	int code;
	long status;
	int64_t retry_after;
	char *resp;
	size_t resp_len, resp_cap;
	bool want_said;
	struct sbuf said; /* when WANT_SAID: the lines the server sent */
	char errbuf[CURL_ERROR_SIZE];
	struct xfer *prev, *next;
};

struct xlist {
	struct xfer *head, *tail;
};

struct transfer {
	/* The caller's thread only. */
	struct ev_loop *loop;
	ev_async reply; /* on LOOP: the outbox has something */
	size_t npending;
	bool in_done; /* a DONE callback is running */
	bool dying;   /* transfer_free was called from it */

	/* Both threads, under MU. */
	pthread_mutex_t mu;
	struct xlist inbox;  /* started, not yet taken by the worker */
	struct xlist outbox; /* finished, not yet reported */
	int want_max;        /* the max_active last asked for */
	bool stop;

	/* The worker only (set up before it starts, torn down after it ends). */
	pthread_t thread;
	struct ev_loop *wloop;
	ev_async wake;    /* on WLOOP: the inbox, WANT_MAX or STOP changed */
	ev_prepare flush; /* on WLOOP: hands the turn's completions over */
	CURLM *multi;
	int max_active;
	ev_timer timer; /* curl's own timeout */
	struct xlist waiting, active, done;
	size_t nactive;
	CURL **pool; /* idle easy handles, at most max_active */
	size_t npool;
	struct tsock *socks;
};

static void xlist_push(struct xlist *l, struct xfer *x)
{
	x->next = NULL;
	x->prev = l->tail;
	if (l->tail)
		l->tail->next = x;
	else
		l->head = x;
	l->tail = x;
}

static void xlist_remove(struct xlist *l, struct xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		l->head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	else
		l->tail = x->prev;
	x->prev = x->next = NULL;
}

/* Move all of FROM to the end of L, in order; FROM is left empty. */
static void xlist_append(struct xlist *l, struct xlist *from)
{
	if (from->head == NULL)
		return;
	from->head->prev = l->tail;
	if (l->tail)
		l->tail->next = from->head;
	else
		l->head = from->head;
	l->tail = from->tail;
	from->head = from->tail = NULL;
}

static void xfer_free(struct xfer *x)
{
	curl_slist_free_all(x->headers);
	curl_slist_free_all(x->rcpt);
	free(x->url);
	free(x->body);
	free(x->mail_from);
	free(x->user);
	if (x->password) {
		/* a relay password should not linger in freed heap */
		memset(x->password, 0, strlen(x->password));
		free(x->password);
	}
	free(x->ca_file);
	free(x->resp);
	sbuf_free(&x->said);
	free(x);
}

static void xlist_free(struct xlist *l)
{
	struct xfer *x, *next;

	for (x = l->head; x; x = next) {
		next = x->next;
		xfer_free(x);
	}
	l->head = l->tail = NULL;
}

/* ---- libcurl callbacks on the easy handles (worker) ---------------------- */

/* Keep the first TRANSFER_BODY_MAX bytes and swallow the rest. */
static size_t transfer_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb, keep = n;

	if (keep > TRANSFER_BODY_MAX - x->resp_len)
		keep = TRANSFER_BODY_MAX - x->resp_len;
	if (keep > 0) {
		util_reserve(&x->resp, &x->resp_cap, x->resp_len + keep + 1, 1);
		memcpy(x->resp + x->resp_len, data, keep);
		x->resp_len += keep;
		x->resp[x->resp_len] = '\0';
	}
	/* Less than N would abort the transfer: an oversized answer is still an answer. */
	return n;
}

/* The SMTP upload: the message as given; curl does the dot-stuffing. */
static size_t transfer_read_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;

	if (n > x->body_len - x->body_sent)
		n = x->body_len - x->body_sent;
	memcpy(buf, x->body + x->body_sent, n);
	x->body_sent += n;
	return n;
}

/* ---- the easy handles (worker) ------------------------------------------- */

static CURL *transfer_easy_get(struct transfer *t)
{
	if (t->npool > 0)
		return t->pool[--t->npool];
	return curl_easy_init();
}

/*
 * Back to the pool, reset: no pointer into a freed xfer survives, and the
 * next transfer starts from curl's defaults.  The connection cache lives
 * in the multi handle, so nothing of value is lost by the reset.
 */
static void transfer_easy_put(struct transfer *t, CURL *e)
{
	if (t->npool < (size_t)t->max_active) {
		curl_easy_reset(e);
		t->pool[t->npool++] = e;
	} else {
		curl_easy_cleanup(e);
	}
}

/* What the server said, line by line as curl read it (not the HTTP body). */
static int transfer_said_cb(CURL *e, curl_infotype type, char *data, size_t size, void *arg)
{
	struct sbuf *said = arg;
	(void)e;
	if (type == CURLINFO_HEADER_IN && said->len < TRANSFER_BODY_MAX)
		sbuf_add(said, data, size);
	return 0;
}

/* Configure E for X; the first failing option's code. */
static CURLcode transfer_setup(struct xfer *x, CURL *e)
{
	CURLcode rc;

#define SETOPT(opt, val)                                              \
	do {                                                          \
		if ((rc = curl_easy_setopt(e, opt, val)) != CURLE_OK) \
			return rc;                                    \
	} while (0)

	SETOPT(CURLOPT_PRIVATE, x);
	SETOPT(CURLOPT_ERRORBUFFER, x->errbuf);
	SETOPT(CURLOPT_URL, x->url);
	/*
	 * The outbox only speaks to webhooks and mail relays; a URL from the
	 * configuration must not make curl read file:// or talk to anything else.
	 */
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https,smtp,smtps");
	/* A webhook that redirects is misconfigured: report it, do not chase it. */
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	/* Both are curl's defaults; stated so that no later edit loosens them. */
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	if (x->ca_file)
		SETOPT(CURLOPT_CAINFO, x->ca_file);
	/*
	 * Timeouts by SIGALRM would hit the daemon's own signal watchers, and
	 * curl's signal-based timeouts are not safe in a threaded program.
	 */
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	if (x->connect_timeout_ms > 0)
		SETOPT(CURLOPT_CONNECTTIMEOUT_MS, x->connect_timeout_ms);
	if (x->timeout_ms > 0)
		SETOPT(CURLOPT_TIMEOUT_MS, x->timeout_ms);
	SETOPT(CURLOPT_USERAGENT, "kaohe/" KAOHE_VERSION);
	SETOPT(CURLOPT_WRITEFUNCTION, transfer_write_cb);
	SETOPT(CURLOPT_WRITEDATA, x);
	if (x->want_said) {
		/*
		 * A new connection: the whole exchange is seen (a mail
		 * server's greeting, TLS), and nothing a connection kept from
		 * an earlier transfer would hide is missed.
		 */
		SETOPT(CURLOPT_FRESH_CONNECT, 1L);
		SETOPT(CURLOPT_DEBUGFUNCTION, transfer_said_cb);
		SETOPT(CURLOPT_DEBUGDATA, &x->said);
		SETOPT(CURLOPT_VERBOSE, 1L);
	}
	if (x->smtp) {
		SETOPT(CURLOPT_MAIL_FROM, x->mail_from);
		SETOPT(CURLOPT_MAIL_RCPT, x->rcpt);
		SETOPT(CURLOPT_UPLOAD, 1L);
		SETOPT(CURLOPT_READFUNCTION, transfer_read_cb);
		SETOPT(CURLOPT_READDATA, x);
		SETOPT(CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->body_len);
		if (x->user)
			SETOPT(CURLOPT_USERNAME, x->user);
		if (x->password)
			SETOPT(CURLOPT_PASSWORD, x->password);
		/* smtps:// is TLS from the first byte; this makes smtp:// demand STARTTLS. */
		if (x->require_tls)
			SETOPT(CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	} else {
		SETOPT(CURLOPT_POST, 1L);
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
		SETOPT(CURLOPT_POSTFIELDS, x->body);
		SETOPT(CURLOPT_HTTPHEADER, x->headers);
	}
#undef SETOPT
	return CURLE_OK;
}

/* ---- completion (worker) ------------------------------------------------- */

/*
 * Retry-After in seconds, or -1.  CURLINFO_RETRY_AFTER says 0 both for
 * "Retry-After: 0" and for no header at all, so the header's presence is
 * asked separately (for this transfer's response only: a pooled handle
 * must not report its previous answer's header).
 */
static int64_t transfer_retry_after(CURL *e)
{
	struct curl_header *h;
	curl_off_t ra = 0;

	if (curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &ra) != CURLE_OK)
		return -1;
	switch (curl_easy_header(e, "Retry-After", 0, CURLH_HEADER, -1, &h)) {
	case CURLHE_OK: break;
	case CURLHE_NOT_BUILT_IN: return ra > 0 ? (int64_t)ra : -1;
	default: return -1;
	}
	/* An HTTP-date already past is "now". */
	return ra > 0 ? (int64_t)ra : 0;
}

/*
 * X left curl with CODE: copy its answer into it, give back its handle,
 * and keep it for this turn's hand-over.
 */
static void transfer_finish(struct transfer *t, struct xfer *x, CURLcode code)
{
	CURLMcode mc;
	long status = 0;

	x->code = (int)code;
	if (curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK)
		x->status = status;
	x->retry_after = transfer_retry_after(x->easy);
	if (code != CURLE_OK && x->errbuf[0] == '\0')
		util_strlcpy(x->errbuf, curl_easy_strerror(code), sizeof(x->errbuf));
	if ((mc = curl_multi_remove_handle(t->multi, x->easy)) != CURLM_OK)
		log_warnx("transfer: curl_multi_remove_handle: %s", curl_multi_strerror(mc));
	transfer_easy_put(t, x->easy);
	x->easy = NULL;
	xlist_remove(&t->active, x);
	t->nactive--;
	xlist_push(&t->done, x);
}

/* Everything curl has finished, drained after each socket action. */
static void transfer_collect(struct transfer *t)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(t->multi, &left)) != NULL) {
		char *x = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &x) != CURLE_OK ||
		    x == NULL) {
			log_warnx("transfer: a finished transfer without its state");
			continue;
		}
		transfer_finish(t, (struct xfer *)x, msg->data.result);
	}
}

/* Hand X to curl; on failure X is done, with curl's reason. */
static void transfer_launch(struct transfer *t, struct xfer *x)
{
	CURLcode rc;
	CURLMcode mc;
	CURL *e = transfer_easy_get(t);

	if (e == NULL) {
		x->code = CURLE_OUT_OF_MEMORY;
		util_strlcpy(x->errbuf, "curl_easy_init failed", sizeof(x->errbuf));
		xlist_push(&t->done, x);
		return;
	}
	if ((rc = transfer_setup(x, e)) != CURLE_OK) {
		x->code = (int)rc;
		if (x->errbuf[0] == '\0')
			util_strlcpy(x->errbuf, curl_easy_strerror(rc), sizeof(x->errbuf));
		transfer_easy_put(t, e);
		xlist_push(&t->done, x);
		return;
	}
	/* Adding only arms curl's timer (at 0): the work starts from the loop. */
	if ((mc = curl_multi_add_handle(t->multi, e)) != CURLM_OK) {
		log_warnx("transfer: curl_multi_add_handle: %s", curl_multi_strerror(mc));
		x->code = CURLE_FAILED_INIT;
		util_strlcpy(x->errbuf, curl_multi_strerror(mc), sizeof(x->errbuf));
		transfer_easy_put(t, e);
		xlist_push(&t->done, x);
		return;
	}
	x->easy = e;
	xlist_push(&t->active, x);
	t->nactive++;
}

/* Move waiting transfers into curl while there is room, oldest first. */
static void transfer_fill(struct transfer *t)
{
	struct xfer *x;

	while (t->nactive < (size_t)t->max_active && (x = t->waiting.head) != NULL) {
		xlist_remove(&t->waiting, x);
		transfer_launch(t, x);
	}
}

/*
 * The worker's ev_prepare, run once per turn of its loop before it
 * sleeps: what finished in the turn goes to the outbox in one piece.
 * The caller's loop is woken only when the outbox was empty; otherwise
 * a wake-up is already on its way and its callback takes these too.
 */
static void transfer_flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct transfer *t = w->data;
	bool was_empty;

	(void)loop;
	(void)revents;
	if (t->done.head == NULL)
		return;
	pthread_mutex_lock(&t->mu);
	was_empty = t->outbox.head == NULL;
	xlist_append(&t->outbox, &t->done);
	pthread_mutex_unlock(&t->mu);
	if (was_empty)
		ev_async_send(t->loop, &t->reply);
}

/* ---- libev watchers and libcurl's multi callbacks (worker) ---------------- */

static void transfer_action(struct transfer *t, curl_socket_t fd, int what)
{
	int running;
	CURLMcode mc = curl_multi_socket_action(t->multi, fd, what, &running);

	/* A bad socket is curl's bookkeeping, not a reason to stop the others. */
	if (mc != CURLM_OK)
		log_warnx("transfer: curl_multi_socket_action: %s", curl_multi_strerror(mc));
	/* Collect, then refill the slots freed. */
	transfer_collect(t);
	transfer_fill(t);
}

static void transfer_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tsock *ts = w->data;
	int what = ((revents & EV_READ) ? CURL_CSELECT_IN : 0) |
		   ((revents & EV_WRITE) ? CURL_CSELECT_OUT : 0);

	(void)loop;
	/* TS may be freed inside (CURL_POLL_REMOVE): nothing of it is used after. */
	transfer_action(ts->t, ts->fd, what);
}

static void transfer_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	transfer_action(w->data, CURL_SOCKET_TIMEOUT, 0);
}

/*
 * CURLMOPT_TIMERFUNCTION.  Never drives curl itself (that would re-enter
 * curl from inside curl): even "now" (0) is a zero-length ev_timer that
 * fires on the loop's next iteration.
 */
static int transfer_multi_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct transfer *t = arg;

	(void)multi;
	ev_timer_stop(t->wloop, &t->timer);
	if (timeout_ms >= 0) {
		ev_timer_set(&t->timer, timeout_ms / 1000.0, 0.);
		ev_timer_start(t->wloop, &t->timer);
	}
	return 0;
}

static void transfer_sock_free(struct transfer *t, struct tsock *ts)
{
	ev_io_stop(t->wloop, &ts->io);
	if (ts->prev)
		ts->prev->next = ts->next;
	else
		t->socks = ts->next;
	if (ts->next)
		ts->next->prev = ts->prev;
	free(ts);
}

/* CURLMOPT_SOCKETFUNCTION: watch FD for what curl wants now. */
static int transfer_multi_sock_cb(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct transfer *t = arg;
	struct tsock *ts = sockp;
	int events;
	CURLMcode mc;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		/* curl forgets the assignment itself; the socket is closed after this. */
		if (ts)
			transfer_sock_free(t, ts);
		return 0;
	}
	events = ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (ts == NULL) {
		ts = xcalloc(1, sizeof(*ts));
		ts->t = t;
		ts->fd = fd;
		ts->next = t->socks;
		if (t->socks)
			t->socks->prev = ts;
		t->socks = ts;
		if ((mc = curl_multi_assign(t->multi, fd, ts)) != CURLM_OK)
			log_warnx("transfer: curl_multi_assign: %s", curl_multi_strerror(mc));
		ev_io_init(&ts->io, transfer_io_cb, fd, events);
		ts->io.data = ts;
		ts->events = events;
		ev_io_start(t->wloop, &ts->io);
	} else if (ts->events != events) {
		/* libev cannot change an active watcher's events: stop, set, start. */
		ev_io_stop(t->wloop, &ts->io);
		ev_io_set(&ts->io, fd, events);
		ts->events = events;
		ev_io_start(t->wloop, &ts->io);
	}
	return 0;
}

/* Cache limits that follow MAX_ACTIVE. */
static void transfer_multi_limits(struct transfer *t)
{
	CURLMcode mc;

	/*
	 * No host can need more connections than transfers run at once; the
	 * cache keeps a few per slot so that the relay and each robot API
	 * stay connected between bursts to different hosts.
	 */
	if ((mc = curl_multi_setopt(t->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
				    (long)t->max_active)) != CURLM_OK ||
	    (mc = curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, 4L * t->max_active)) !=
		    CURLM_OK)
		log_warnx("transfer: curl_multi_setopt: %s", curl_multi_strerror(mc));
}

/* A new MAX_ACTIVE: lowering lets the running ones finish; the limit holds for the next. */
static void transfer_resize(struct transfer *t, int max_active)
{
	while (t->npool > (size_t)max_active)
		curl_easy_cleanup(t->pool[--t->npool]);
	t->pool = xrealloc(t->pool, (size_t)max_active * sizeof(*t->pool));
	t->max_active = max_active;
	transfer_multi_limits(t);
}

/*
 * The worker's ev_async: the caller's thread started transfers, changed
 * max_active or wants the worker to stop.  The whole inbox is taken under
 * one lock.
 */
static void transfer_wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct transfer *t = w->data;
	struct xlist in = { NULL, NULL };
	int want;
	bool stop;

	(void)revents;
	pthread_mutex_lock(&t->mu);
	stop = t->stop;
	if (!stop)
		xlist_append(&in, &t->inbox);
	want = t->want_max;
	pthread_mutex_unlock(&t->mu);
	if (stop) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	if (want != t->max_active)
		transfer_resize(t, want);
	xlist_append(&t->waiting, &in);
	transfer_fill(t);
}

/*
 * Everything the worker owns, on its thread once its loop has ended (or
 * on the caller's if it never started): the transfers in curl are
 * aborted and freed with those waiting and those not handed over yet.
 */
static void transfer_worker_end(struct transfer *t)
{
	struct xfer *x;
	CURLMcode mc;

	for (x = t->active.head; x; x = x->next) {
		if ((mc = curl_multi_remove_handle(t->multi, x->easy)) != CURLM_OK)
			log_warnx("transfer: curl_multi_remove_handle: %s",
				  curl_multi_strerror(mc));
		curl_easy_cleanup(x->easy);
	}
	xlist_free(&t->active);
	xlist_free(&t->waiting);
	xlist_free(&t->done);
	while (t->npool > 0)
		curl_easy_cleanup(t->pool[--t->npool]);
	free(t->pool);
	t->pool = NULL;
	/*
	 * Closing the cached connections calls back with CURL_POLL_REMOVE
	 * (and may re-arm the timer): the watchers are stopped after it.
	 */
	if ((mc = curl_multi_cleanup(t->multi)) != CURLM_OK)
		log_warnx("transfer: curl_multi_cleanup: %s", curl_multi_strerror(mc));
	t->multi = NULL;
	ev_timer_stop(t->wloop, &t->timer);
	while (t->socks)
		transfer_sock_free(t, t->socks);
	ev_prepare_stop(t->wloop, &t->flush);
	ev_async_stop(t->wloop, &t->wake);
	ev_loop_destroy(t->wloop);
	t->wloop = NULL;
}

static void *transfer_worker(void *arg)
{
	struct transfer *t = arg;

	ev_run(t->wloop, 0);
	transfer_worker_end(t);
	return NULL;
}

/* ---- the caller's side ---------------------------------------------------- */

static void transfer_destroy(struct transfer *t);

/*
 * Call DONE for everything in DONE_LIST, in order.  Only from the reply
 * callback, as its last step: if a DONE callback freed T, the rest of the
 * list is dropped and T is gone on return.
 */
static void transfer_deliver(struct transfer *t, struct xlist *done_list)
{
	struct xfer *x;

	t->in_done = true;
	while (!t->dying && (x = done_list->head) != NULL) {
		struct transfer_result r = {
			.curl_code = x->code,
			.status = x->status,
			.body = x->resp ? x->resp : "",
			.body_len = x->resp_len,
			.retry_after = x->retry_after,
			.error = x->code != 0 ? x->errbuf : "",
			.said = x->said.buf ? x->said.buf : "",
			.said_len = x->said.len,
		};

		xlist_remove(done_list, x);
		if (--t->npending == 0)
			ev_unref(t->loop);
		x->done(x->arg, &r);
		xfer_free(x);
	}
	t->in_done = false;
	if (t->dying) {
		xlist_free(done_list);
		transfer_destroy(t);
	}
}

/* The caller's ev_async: the worker put finished transfers in the outbox. */
static void transfer_reply_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct transfer *t = w->data;
	struct xlist done_list = { NULL, NULL };

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&t->mu);
	xlist_append(&done_list, &t->outbox);
	pthread_mutex_unlock(&t->mu);
	transfer_deliver(t, &done_list);
}

/* ---- the API ------------------------------------------------------------- */

static pthread_once_t transfer_once = PTHREAD_ONCE_INIT;
static CURLcode transfer_global_rc = CURLE_FAILED_INIT;

static void transfer_global_init(void)
{
	transfer_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* T's multi handle, on the caller's thread before the worker exists. */
static int transfer_multi_new(struct transfer *t, char *err, size_t errlen)
{
	CURLMcode mc;

	if ((t->multi = curl_multi_init()) == NULL) {
		snprintf(err, errlen, "curl_multi_init failed");
		return -1;
	}
	if ((mc = curl_multi_setopt(t->multi, CURLMOPT_SOCKETFUNCTION, transfer_multi_sock_cb)) !=
		    CURLM_OK ||
	    (mc = curl_multi_setopt(t->multi, CURLMOPT_SOCKETDATA, t)) != CURLM_OK ||
	    (mc = curl_multi_setopt(t->multi, CURLMOPT_TIMERFUNCTION, transfer_multi_timer_cb)) !=
		    CURLM_OK ||
	    (mc = curl_multi_setopt(t->multi, CURLMOPT_TIMERDATA, t)) != CURLM_OK) {
		snprintf(err, errlen, "curl_multi_setopt: %s", curl_multi_strerror(mc));
		curl_multi_cleanup(t->multi);
		t->multi = NULL;
		return -1;
	}
	transfer_multi_limits(t);
	return 0;
}

struct transfer *transfer_new(struct ev_loop *loop, int max_active, char *err, size_t errlen)
{
	struct transfer *t;
	sigset_t all, old;
	int rc;

	if (max_active < 1) {
		snprintf(err, errlen, "transfer: at most %d transfers at once: need at least 1",
			 max_active);
		return NULL;
	}
	pthread_once(&transfer_once, transfer_global_init);
	if (transfer_global_rc != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init: %s",
			 curl_easy_strerror(transfer_global_rc));
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	t->loop = loop;
	t->max_active = t->want_max = max_active;
	if (transfer_multi_new(t, err, errlen) < 0) {
		free(t);
		return NULL;
	}
	if ((t->wloop = ev_loop_new(EVFLAG_AUTO)) == NULL) {
		snprintf(err, errlen, "transfer: cannot create the worker's event loop");
		curl_multi_cleanup(t->multi);
		free(t);
		return NULL;
	}
	t->pool = xcalloc((size_t)max_active, sizeof(*t->pool));
	ev_init(&t->timer, transfer_timer_cb);
	t->timer.data = t;
	ev_async_init(&t->wake, transfer_wake_cb);
	t->wake.data = t;
	ev_async_start(t->wloop, &t->wake);
	ev_prepare_init(&t->flush, transfer_flush_cb);
	t->flush.data = t;
	ev_prepare_start(t->wloop, &t->flush);
	ev_async_init(&t->reply, transfer_reply_cb);
	t->reply.data = t;
	ev_async_start(loop, &t->reply);
	pthread_mutex_init(&t->mu, NULL);

	/*
	 * Signals are the main loop's (its ev_signal watchers): the worker,
	 * and the resolver threads curl starts from it, block them all.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&t->thread, NULL, transfer_worker, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "transfer: cannot start the worker thread: %s", strerror(rc));
		transfer_worker_end(t);
		ev_async_stop(loop, &t->reply);
		pthread_mutex_destroy(&t->mu);
		free(t);
		return NULL;
	}
	/* A name for top -H and perf; too long a name is the only failure. */
	(void)pthread_setname_np(t->thread, "kaohe-transfer");
	/*
	 * An idle engine does not keep LOOP running; pending transfers do, as
	 * their own watchers would if they ran on it (see transfer_start).
	 */
	ev_unref(loop);
	return t;
}

/* On the caller's thread, never inside a DONE callback. */
static void transfer_destroy(struct transfer *t)
{
	int rc;

	/*
	 * Sent under the lock: once the worker sees STOP (woken by an earlier
	 * send, perhaps) it destroys its loop, which must outlive this send.
	 */
	pthread_mutex_lock(&t->mu);
	t->stop = true;
	ev_async_send(t->wloop, &t->wake);
	pthread_mutex_unlock(&t->mu);
	if ((rc = pthread_join(t->thread, NULL)) != 0)
		log_warnx("transfer: cannot join the worker thread: %s", strerror(rc));
	/* The worker freed what it held; these it never took or were never reported. */
	xlist_free(&t->inbox);
	xlist_free(&t->outbox);
	if (t->npending == 0)
		ev_ref(t->loop);
	ev_async_stop(t->loop, &t->reply);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

/*
 * From inside a DONE callback the engine is only marked: the delivery
 * loop that called DONE frees it once the callback returns.
 */
void transfer_free(struct transfer *t)
{
	if (t == NULL)
		return;
	if (t->in_done) {
		t->dying = true;
		return;
	}
	transfer_destroy(t);
}

void transfer_set_max_active(struct transfer *t, int max_active)
{
	if (max_active < 1) {
		log_warnx("transfer: at most %d transfers at once: using 1", max_active);
		max_active = 1;
	}
	pthread_mutex_lock(&t->mu);
	t->want_max = max_active;
	pthread_mutex_unlock(&t->mu);
	ev_async_send(t->wloop, &t->wake);
}

/* Whether R is something this module sends; logs why not. */
static bool transfer_check(const struct transfer_request *r, bool *smtp)
{
	CURLU *u;
	CURLUcode uc;
	char *scheme = NULL;
	bool ok = false;

	if (r->url == NULL) {
		log_warnx("transfer: a request without a URL");
		return false;
	}
	if ((u = curl_url()) == NULL) {
		log_warnx("transfer: %s: curl_url failed", r->url);
		return false;
	}
	if ((uc = curl_url_set(u, CURLUPART_URL, r->url, 0)) != CURLUE_OK ||
	    (uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0)) != CURLUE_OK) {
		log_warnx("transfer: %s: %s", r->url, curl_url_strerror(uc));
		goto out;
	}
	*smtp = strcmp(scheme, "smtp") == 0 || strcmp(scheme, "smtps") == 0;
	if (!*smtp && strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		log_warnx("transfer: %s: scheme %s is neither HTTP(S) nor SMTP(S)", r->url, scheme);
		goto out;
	}
	/* An SMTP URL without a sender would make curl VRFY; an HTTP one with it would PUT. */
	if (*smtp != (r->mail_from != NULL)) {
		log_warnx("transfer: %s: %s", r->url,
			  *smtp ? "mail without a sender" : "a sender for a non-mail URL");
		goto out;
	}
	if (*smtp && r->nrcpt == 0) {
		log_warnx("transfer: %s: mail without recipients", r->url);
		goto out;
	}
	if (r->body == NULL && r->body_len > 0) {
		log_warnx("transfer: %s: %zu bytes of body but no body", r->url, r->body_len);
		goto out;
	}
	ok = true;
out:
	curl_free(scheme);
	curl_url_cleanup(u);
	return ok;
}

static char *transfer_strdup(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* A copy of R, ready for transfer_setup(); NULL when R is not sendable (logged). */
static struct xfer *xfer_new(const struct transfer_request *r, transfer_done_fn done, void *arg)
{
	struct xfer *x;
	bool smtp = false;
	size_t i;

	if (!transfer_check(r, &smtp))
		return NULL;
	x = xcalloc(1, sizeof(*x));
	x->smtp = smtp;
	x->url = xstrdup(r->url);
	x->body = xmalloc(r->body_len + 1);
	if (r->body_len > 0)
		memcpy(x->body, r->body, r->body_len);
	x->body[r->body_len] = '\0';
	x->body_len = r->body_len;
	if (smtp) {
		x->mail_from = xstrdup(r->mail_from);
		for (i = 0; i < r->nrcpt; i++) {
			struct curl_slist *l = curl_slist_append(x->rcpt, r->rcpt[i]);
			if (l == NULL)
				goto oom;
			x->rcpt = l;
		}
		x->user = transfer_strdup(r->user);
		x->password = transfer_strdup(r->password);
		x->require_tls = r->require_tls;
	} else {
		for (i = 0; i < r->nheaders; i++) {
			struct curl_slist *l = curl_slist_append(x->headers, r->headers[i]);
			if (l == NULL)
				goto oom;
			x->headers = l;
		}
		/* No 100-continue round trip (and its 1 s wait on servers that ignore it). */
		struct curl_slist *l = curl_slist_append(x->headers, "Expect:");
		if (l == NULL)
			goto oom;
		x->headers = l;
	}
	x->ca_file = transfer_strdup(r->ca_file);
	x->connect_timeout_ms = r->connect_timeout_ms;
	x->timeout_ms = r->timeout_ms;
	x->done = done;
	x->arg = arg;
	x->retry_after = -1;
	x->want_said = r->said;
	sbuf_init(&x->said);
	return x;
oom:
	log_warnx("transfer: %s: curl_slist_append failed", r->url);
	xfer_free(x);
	return NULL;
}

int transfer_start(struct transfer *t, const struct transfer_request *r, transfer_done_fn done,
		   void *arg)
{
	struct xfer *x = xfer_new(r, done, arg);
	bool was_empty;

	if (x == NULL)
		return -1;
	/* A pending transfer keeps LOOP running until its DONE (see transfer_new). */
	if (t->npending++ == 0)
		ev_ref(t->loop);
	/*
	 * The worker is woken only when the inbox was empty: otherwise a
	 * wake-up is already on its way and its callback takes X too.
	 */
	pthread_mutex_lock(&t->mu);
	was_empty = t->inbox.head == NULL;
	xlist_push(&t->inbox, x);
	pthread_mutex_unlock(&t->mu);
	if (was_empty)
		ev_async_send(t->wloop, &t->wake);
	return 0;
}

size_t transfer_pending(const struct transfer *t)
{
	return t->npending;
}
