/*
 * deliver — works off the outbox on the daemon's loop: takes the rows
 * that are due, renders them as they stand now (notify) into their
 * channel's request (provider), sends them (transfer), and records what
 * the provider makes of the answer: sent; failed with a next
 * attempt (exponential backoff with jitter, Retry-After honoured); dead
 * after the last try, reported to the admins; or cancelled when what it
 * reminded of was submitted or closed meanwhile.  Each channel's rate
 * limits are token buckets: a row beyond them stays pending in the
 * database until a token is free, so nothing waits in memory and
 * nothing is dropped.
 */
#ifndef KAOHE_DELIVER_H
#define KAOHE_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include "kaohe/config.h"
#include "kaohe/engine.h"
#include "kaohe/store.h"
#include "kaohe/util.h"

struct ev_loop;
struct deliver;

/*
 * A deliverer over ST on LOOP.  Rows left in flight by the last run go
 * back to pending (their requests may have gone out: at least once).
 * NULL with a message in ERR.
 */
struct deliver *deliver_new(struct ev_loop *loop, struct store *st, char *err, size_t errlen);
/* A plan year the deliverer renders messages of: its plan and engine. */
struct deliver_year {
	int year;
	const struct config *cfg;
	struct engine *eng;
};

/*
 * Use CFG (channels, limits, templates) and, for each outbox row, the
 * plan and engine (the current state of what a reminder names) of its
 * plan year among YEARS (by year; a year not there: the last), from now
 * on: at start and after each reload.
 * Rate-limit state survives for channels of the same name; the waits
 * the providers asked for do not: a reload is the admins' word that
 * every endpoint may be tried again.
 */
void deliver_configure(struct deliver *d, const struct config *cfg,
		       const struct deliver_year *years, size_t nyears);
/* Rows were enqueued or retried: look at the outbox on the next turn of the loop. */
void deliver_kick(struct deliver *d);
/*
 * Lift the wait a provider asked of CHANNEL's endpoint (NULL: of every
 * endpoint), and look at the outbox on the next turn: a delivery retried
 * by hand goes now, and what waited behind it follows.
 */
void deliver_unblock(struct deliver *d, const char *channel);
/* Transfers running now. */
size_t deliver_active(const struct deliver *d);
/*
 * Abort what is in flight (those rows go back to pending at the next
 * start; test messages are reported dropped) and free.
 */
void deliver_free(struct deliver *d);

/* What a test message met: what deliver_test() reports. */
struct deliver_test {
	char to[256]; /* whom it went to: an address, or the channel's endpoint */
	const char *provider;
	bool sent;        /* the server took it */
	long status;      /* HTTP status or the last SMTP reply code; 0: none */
	char error[256];  /* why not, and what to change; "" when sent */
	struct sbuf said; /* every line the server sent (not the HTTP body) */
	struct sbuf body; /* the HTTP answer's body */
};

/*
 * What came of a test message: T, valid for the call only; NULL when
 * deliver_free() dropped the message before the server answered.
 */
typedef void (*deliver_test_fn)(void *arg, const struct deliver_test *t);

/*
 * Start a test message over CHANNEL, outside the outbox, through the
 * same transfers as the deliveries (the loop goes on meanwhile): to
 * address RECIPIENT (email; NULL: the first admin contact with an
 * address), or mentioning mobile RECIPIENT (a webhook; NULL: no one).
 * ACTOR is who asked, named in the text.  DONE(ARG, T) follows from the
 * loop, never from inside this call, once the server answered or the
 * transfer failed, at most TEST_TIMEOUT_MS after it began.  0, or -1
 * with ERR when there is nothing to try (unknown channel, no recipient,
 * a message the channel cannot carry); DONE is then not called.
 */
#define DELIVER_TEST_TIMEOUT_MS 15000
int deliver_test(struct deliver *d, const char *channel, const char *recipient, const char *actor,
		 deliver_test_fn done, void *arg, char *err, size_t errlen);

/*
 * The longest wait, in seconds, that a provider's word buys: a
 * Retry-After header or a robot's own "slow down" code holds the
 * endpoint back for at most an hour.
 */
#define DELIVER_WAIT_MAX 3600
/*
 * How long, in seconds, RETRY_AFTER (what the provider asked; <= 0 or
 * -1: nothing) holds the endpoint back: at most DELIVER_WAIT_MAX, and
 * never longer than a delivery may live (S's max_age).  Exposed for the
 * tests.
 */
int64_t deliver_wait(const struct delivery_settings *s, int64_t retry_after);
/*
 * The delay before attempt ATTEMPTS + 1 (ATTEMPTS >= 1 failed so far):
 * first * factor^(attempts-1), capped, less up to jitter of it (R in
 * [0, 1) picks how much).  Exposed for the tests.
 */
int64_t deliver_backoff(const struct delivery_settings *s, int attempts, double r);

/*
 * A channel's token buckets: one per limit "COUNT per PER", holding
 * COUNT tokens, each spent token coming back PER after it was spent.  So
 * no window of PER ever holds more than COUNT sends, which is how the
 * providers count (a bucket refilled at a steady rate would let up to
 * 2 x COUNT - 1 through in some window and trip the provider's limit).
 * Exposed for the tests.
 */
struct deliver_bucket {
	int64_t *spent[CHANNEL_MAX_RATES]; /* when each token was spent, oldest at head */
	size_t head[CHANNEL_MAX_RATES];
};
void deliver_bucket_init(struct deliver_bucket *b, const struct rate_limit *rates, size_t nrates);
void deliver_bucket_free(struct deliver_bucket *b);
/* Tokens free at NOW_MS under RATES (INT_MAX when there are no limits). */
int deliver_bucket_free_tokens(const struct deliver_bucket *b, const struct rate_limit *rates,
			       size_t nrates, int64_t now_ms);
/* Take one token at NOW_MS (the caller checked that one is free). */
void deliver_bucket_take(struct deliver_bucket *b, const struct rate_limit *rates, size_t nrates,
			 int64_t now_ms);
/* When a token is next free under every limit (<= NOW_MS: now). */
int64_t deliver_bucket_next(const struct deliver_bucket *b, const struct rate_limit *rates,
			    size_t nrates, int64_t now_ms);

#endif
