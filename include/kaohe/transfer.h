/*
 * transfer — HTTP POSTs and SMTP sends through libcurl's multi interface,
 * run by a worker thread on a libev loop of its own (curl's evhiperfifo
 * pattern): nothing blocks the caller's loop, curl's and the kernel's
 * work overlap with the caller's, connections are reused, and each
 * transfer ends in a callback on the caller's loop with what the server
 * answered.  Every function here is for the thread that runs that loop.
 */
#ifndef KAOHE_TRANSFER_H
#define KAOHE_TRANSFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaohe/util.h"

struct ev_loop;

struct transfer_request {
	const char *url; /* http(s)://… or smtp(s)://… */
	/* HTTP: a POST of BODY with HEADERS ("Name: value"). */
	const char *const *headers;
	size_t nheaders;
	const char *body; /* for SMTP: the whole message */
	size_t body_len;
	/* SMTP (when MAIL_FROM is set) */
	const char *mail_from;
	const char *const *rcpt;
	size_t nrcpt;
	const char *user, *password; /* may be NULL */
	bool require_tls;            /* smtp://: STARTTLS or fail */
	/* both */
	const char *ca_file; /* NULL: the system's */
	long connect_timeout_ms;
	long timeout_ms; /* the whole transfer */
	/* Keep every line the server sent (the result's SAID), on a new connection. */
	bool said;
};

struct transfer_result {
	int curl_code;    /* CURLcode; 0 when the exchange completed */
	long status;      /* HTTP status or the last SMTP reply code; 0 if none */
	const char *body; /* the HTTP response body (at most 64 KiB kept), NUL-terminated */
	size_t body_len;
	int64_t retry_after; /* seconds, from a Retry-After header; -1 when absent */
	const char *error;   /* curl's message when CURL_CODE != 0, else "" */
	/* With the request's SAID: SMTP replies, HTTP status line and headers (not the body). */
	const char *said;
	size_t said_len;
};

/* Called once per transfer, from LOOP on its thread; R lives for the call only. */
typedef void (*transfer_done_fn)(void *arg, const struct transfer_result *r);

struct transfer;

/*
 * A transfer engine reporting on LOOP, running at most MAX_ACTIVE
 * transfers at once (more wait in order) on a worker thread it starts.
 * While transfers are pending they keep LOOP running; an idle engine
 * does not.  The worker does not survive fork(): a child must leave the
 * engine alone.  NULL with a message in ERR.
 */
struct transfer *transfer_new(struct ev_loop *loop, int max_active, char *err, size_t errlen);
/*
 * Abort every transfer (their callbacks are not called, finished ones not
 * yet reported included), stop and join the worker, and free; NULL is
 * fine, and so is a call from a DONE callback.
 */
void transfer_free(struct transfer *t);
/* A new limit, taken up by the worker; lowering lets the running ones finish. */
void transfer_set_max_active(struct transfer *t, int max_active);

/*
 * Start R (everything is copied, then handed to the worker).  DONE(ARG,
 * result) follows, from LOOP, never from inside this call; DONEs come in
 * the order the transfers finished.  May be called from a DONE callback.
 * 0, or -1 when curl refused the request (DONE is then not called).
 */
int transfer_start(struct transfer *t, const struct transfer_request *r, transfer_done_fn done,
		   void *arg);
/* Transfers started and not yet done (waiting ones included). */
size_t transfer_pending(const struct transfer *t);

#endif
