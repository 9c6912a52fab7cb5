/*
 * test_deliver — the worker's arithmetic, on virtual time: the retry
 * backoff (first delay, growth, cap, jitter bounds), the cap on a
 * provider's wait, and the token buckets of the rate limits (a token
 * comes back exactly PER after it was spent, several limits take the
 * minimum, and no window of PER ever holds more than COUNT sends however
 * greedily they are taken).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/config.h"
#include "kaohe/deliver.h"
#include "support.h"

/* ------------------------------------------------------------------ */
/* Backoff                                                             */

/* The shipped defaults: 30 s, doubling, at most 1 h, up to 20 % less. */
static struct delivery_settings defaults(void)
{
	return (struct delivery_settings){ .concurrency = 64,
					   .connect_timeout_ms = 10000,
					   .timeout_ms = 30000,
					   .retry_first_ms = 30000,
					   .retry_factor = 2.0,
					   .retry_cap_ms = 3600000,
					   .retry_jitter = 0.2,
					   .retry_max_attempts = 10,
					   .retry_max_age_ms = 2 * 86400000LL };
}

/* Just below 1: the most jitter there can be. */
#define R_MAX (1.0 - 1e-9)

static void test_backoff_grows_by_factor_up_to_cap(void **state)
{
	struct delivery_settings s = defaults();
	/* 30 s x 2^(n-1): 30, 60, 120, 240, 480, 960, 1920 s, then 3840 > 3600 */
	static const int64_t expect[] = { 30000,  60000,   120000,  240000,  480000,
					  960000, 1920000, 3600000, 3600000, 3600000 };
	(void)state;
	for (int n = 1; n <= 10; n++)
		assert_i64(deliver_backoff(&s, n, 0.0), expect[n - 1]);
	/* however many attempts: still the cap, no overflow */
	assert_i64(deliver_backoff(&s, 1000, 0.0), 3600000);
	assert_i64(deliver_backoff(&s, INT_MAX, 0.0), 3600000);
}

static void test_backoff_fractional_factor(void **state)
{
	struct delivery_settings s = defaults();
	(void)state;
	s.retry_first_ms = 1000;
	s.retry_factor = 1.5;
	s.retry_cap_ms = 5000;
	assert_i64(deliver_backoff(&s, 1, 0.0), 1000);
	assert_i64(deliver_backoff(&s, 2, 0.0), 1500);
	assert_i64(deliver_backoff(&s, 3, 0.0), 2250);
	assert_i64(deliver_backoff(&s, 4, 0.0), 3375);
	assert_i64(deliver_backoff(&s, 5, 0.0), 5000); /* 5062.5, capped */
	/* factor 1: the same delay every time */
	s.retry_factor = 1.0;
	for (int n = 1; n <= 20; n++)
		assert_i64(deliver_backoff(&s, n, 0.0), 1000);
}

/* Jitter takes off up to JITTER of the delay: never more, never adds. */
static void test_backoff_jitter_bounds(void **state)
{
	struct delivery_settings s = defaults();
	(void)state;
	for (int n = 1; n <= 12; n++) {
		int64_t full = deliver_backoff(&s, n, 0.0);
		int64_t least = deliver_backoff(&s, n, R_MAX);
		int64_t half = deliver_backoff(&s, n, 0.5);
		/* r -> 1: 80 % of the delay (within a millisecond) */
		assert_true(least >= full * 8 / 10 - 1);
		assert_true(least <= full * 8 / 10 + 1);
		assert_true(least < full);
		/* r = 0.5: 90 % */
		assert_true(half >= full * 9 / 10 - 1 && half <= full * 9 / 10 + 1);
		for (double r = 0.0; r < 1.0; r += 0.0625) {
			int64_t d = deliver_backoff(&s, n, r);
			assert_true(d >= least && d <= full);
		}
	}
	/* no jitter: r does not matter */
	s.retry_jitter = 0.0;
	assert_i64(deliver_backoff(&s, 3, R_MAX), 120000);
	/* full jitter: down to nothing, but never below 1 ms */
	s.retry_jitter = 1.0;
	assert_i64(deliver_backoff(&s, 1, R_MAX), 1);
	assert_i64(deliver_backoff(&s, 1, 0.5), 15000);
}

/* ------------------------------------------------------------------ */
/* A provider's wait                                                   */

/*
 * What a provider asks for holds an endpoint back for at most an hour
 * (a Retry-After of 999999999 would otherwise silence it for the two
 * days a delivery may live), and never longer than a delivery may live.
 */
static void test_wait_is_capped(void **state)
{
	struct delivery_settings s = defaults();
	(void)state;
	assert_i64(deliver_wait(&s, -1), 0);
	assert_i64(deliver_wait(&s, 0), 0);
	assert_i64(deliver_wait(&s, 1), 1);
	assert_i64(deliver_wait(&s, 60), 60);
	assert_i64(deliver_wait(&s, 600), 600); /* DingTalk's 10-minute block stands */
	assert_i64(deliver_wait(&s, DELIVER_WAIT_MAX), 3600);
	assert_i64(deliver_wait(&s, DELIVER_WAIT_MAX + 1), 3600);
	assert_i64(deliver_wait(&s, 999999999), 3600);
	assert_i64(deliver_wait(&s, INT64_MAX), 3600);
	/* a delivery that may live 30 s is not held longer */
	s.retry_max_age_ms = 30000;
	assert_i64(deliver_wait(&s, 999999999), 30);
	assert_i64(deliver_wait(&s, 10), 10);
}

/* ------------------------------------------------------------------ */
/* Token buckets                                                       */

static const struct rate_limit two_per_s[] = { { 2, 1000 } };

/* "2/s": 2 tokens, then none, the next exactly 1000 ms after the first was spent. */
static void test_bucket_two_per_second(void **state)
{
	struct deliver_bucket b;
	int64_t t0 = INT64_C(1600000000000);
	(void)state;

	deliver_bucket_init(&b, two_per_s, 1);
	assert_int_equal(deliver_bucket_free_tokens(&b, two_per_s, 1, t0), 2);
	assert_i64(deliver_bucket_next(&b, two_per_s, 1, t0), t0);
	deliver_bucket_take(&b, two_per_s, 1, t0);
	assert_int_equal(deliver_bucket_free_tokens(&b, two_per_s, 1, t0), 1);
	deliver_bucket_take(&b, two_per_s, 1, t0 + 300);
	assert_int_equal(deliver_bucket_free_tokens(&b, two_per_s, 1, t0 + 300), 0);
	assert_i64(deliver_bucket_next(&b, two_per_s, 1, t0 + 300), t0 + 1000);
	assert_int_equal(deliver_bucket_free_tokens(&b, two_per_s, 1, t0 + 999), 0);
	assert_int_equal(deliver_bucket_free_tokens(&b, two_per_s, 1, t0 + 1000), 1);
	assert_int_equal(deliver_bucket_free_tokens(&b, two_per_s, 1, t0 + 1299), 1);
	assert_int_equal(deliver_bucket_free_tokens(&b, two_per_s, 1, t0 + 1300), 2);
	/* the token spent at t0 + 1000 comes back at t0 + 2000 */
	deliver_bucket_take(&b, two_per_s, 1, t0 + 1000);
	assert_int_equal(deliver_bucket_free_tokens(&b, two_per_s, 1, t0 + 1000), 0);
	assert_i64(deliver_bucket_next(&b, two_per_s, 1, t0 + 1000), t0 + 1300);
	deliver_bucket_take(&b, two_per_s, 1, t0 + 1300);
	assert_i64(deliver_bucket_next(&b, two_per_s, 1, t0 + 1300), t0 + 2000);
	/* asked later than that: now */
	assert_i64(deliver_bucket_next(&b, two_per_s, 1, t0 + 5000), t0 + 5000);
	assert_int_equal(deliver_bucket_free_tokens(&b, two_per_s, 1, t0 + 5000), 2);
	deliver_bucket_free(&b);
}

/* "5/s" and "100/min" together: the tighter one at each moment. */
static void test_bucket_two_limits_take_the_minimum(void **state)
{
	static const struct rate_limit feishu[] = { { 5, 1000 }, { 100, 60000 } };
	struct deliver_bucket b;
	int64_t t = 0, taken = 0;
	(void)state;

	deliver_bucket_init(&b, feishu, 2);
	assert_int_equal(deliver_bucket_free_tokens(&b, feishu, 2, 0), 5);
	/* 5 a second for 20 seconds: 100 sent, then the minute's limit holds */
	for (t = 0; t < 20000; t += 1000) {
		assert_int_equal(deliver_bucket_free_tokens(&b, feishu, 2, t), 5);
		for (int i = 0; i < 5; i++, taken++)
			deliver_bucket_take(&b, feishu, 2, t);
		assert_int_equal(deliver_bucket_free_tokens(&b, feishu, 2, t), 0);
	}
	assert_i64(taken, 100);
	/* a second later the per-second bucket is full, the minute's empty */
	assert_int_equal(deliver_bucket_free_tokens(&b, feishu, 2, 20000), 0);
	assert_int_equal(deliver_bucket_free_tokens(&b, feishu, 2, 59999), 0);
	assert_i64(deliver_bucket_next(&b, feishu, 2, 20000), 60000);
	/* the first five minute-tokens come back at 60 s */
	assert_int_equal(deliver_bucket_free_tokens(&b, feishu, 2, 60000), 5);
	deliver_bucket_take(&b, feishu, 2, 60000);
	deliver_bucket_take(&b, feishu, 2, 60000);
	assert_int_equal(deliver_bucket_free_tokens(&b, feishu, 2, 60000), 3);
	/* five in one second: both are empty until 61 s, when each gets five back */
	for (int i = 0; i < 3; i++)
		deliver_bucket_take(&b, feishu, 2, 60000);
	assert_int_equal(deliver_bucket_free_tokens(&b, feishu, 2, 60999), 0);
	assert_i64(deliver_bucket_next(&b, feishu, 2, 60500), 61000);
	assert_int_equal(deliver_bucket_free_tokens(&b, feishu, 2, 61000), 5);
	deliver_bucket_free(&b);
}

/* No limits: no bound at all. */
static void test_bucket_no_limits(void **state)
{
	struct deliver_bucket b;
	(void)state;
	deliver_bucket_init(&b, NULL, 0);
	assert_int_equal(deliver_bucket_free_tokens(&b, NULL, 0, 0), INT_MAX);
	for (int i = 0; i < 1000; i++)
		deliver_bucket_take(&b, NULL, 0, 5);
	assert_int_equal(deliver_bucket_free_tokens(&b, NULL, 0, 5), INT_MAX);
	assert_i64(deliver_bucket_next(&b, NULL, 0, 5), 5);
	deliver_bucket_free(&b);
}

/* A deterministic generator for the simulation (xorshift64*). */
static uint64_t rng = UINT64_C(0x9e3779b97f4a7c15);
static uint64_t next_rand(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * UINT64_C(2685821657736338717);
}

/*
 * Take greedily whenever a token is free over a long virtual span,
 * stepping now by random amounts and sometimes straight to
 * deliver_bucket_next(); then check that no window [t, t + PER) of any
 * limit holds more than COUNT takes, and that the greedy sender did use
 * the limit (a bucket that never gives is no answer either).
 */
static void simulate(const struct rate_limit *rates, size_t nrates, int64_t span)
{
	struct deliver_bucket b;
	size_t cap = 1 << 16, n = 0;
	int64_t *at = malloc(cap * sizeof(*at));
	int64_t now = 1000;

	assert_non_null(at);
	deliver_bucket_init(&b, rates, nrates);
	while (now < span) {
		int free = deliver_bucket_free_tokens(&b, rates, nrates, now);
		int64_t next = deliver_bucket_next(&b, rates, nrates, now);
		/* next says "now" exactly when a token is free */
		assert_int_equal(free > 0, next <= now);
		if (free > 0) {
			/* take some of them, maybe all */
			int k = 1 + (int)(next_rand() % (uint64_t)free);
			for (int i = 0; i < k; i++) {
				assert_true(n < cap);
				deliver_bucket_take(&b, rates, nrates, now);
				at[n++] = now;
			}
			assert_int_equal(deliver_bucket_free_tokens(&b, rates, nrates, now),
					 free - k);
		} else {
			/* nothing is free a millisecond before the promised time */
			assert_int_equal(deliver_bucket_free_tokens(&b, rates, nrates, next - 1),
					 0);
			assert_true(deliver_bucket_free_tokens(&b, rates, nrates, next) > 0);
		}
		now = (next_rand() % 3 == 0 && next > now) ? next
							   : now + 1 + (int64_t)(next_rand() % 700);
	}
	for (size_t i = 0; i < nrates; i++) {
		size_t j = 0, most = 0;
		for (size_t s = 0; s < n; s++) {
			/* takes in [at[s], at[s] + per) */
			if (j < s)
				j = s;
			while (j < n && at[j] < at[s] + rates[i].per_ms)
				j++;
			if (j - s > most)
				most = j - s;
		}
		if (most > (size_t)rates[i].count)
			fail_msg("%zu sends in a window of %lld ms under %d/%lld ms", most,
				 (long long)rates[i].per_ms, rates[i].count,
				 (long long)rates[i].per_ms);
	}
	/* the tightest limit's rate was reached on average (within a window's worth) */
	double rate = 1e30;
	for (size_t i = 0; i < nrates; i++)
		if ((double)rates[i].count / (double)rates[i].per_ms < rate)
			rate = (double)rates[i].count / (double)rates[i].per_ms;
	assert_true((double)n > rate * (double)span * 0.5);
	deliver_bucket_free(&b);
	free(at);
}

static void test_bucket_no_window_holds_more_than_count(void **state)
{
	static const struct rate_limit one[] = { { 20, 60000 } };
	static const struct rate_limit feishu[] = { { 5, 1000 }, { 100, 60000 } };
	static const struct rate_limit three[] = { { 3, 1000 }, { 10, 7000 }, { 50, 60000 } };
	(void)state;
	simulate(two_per_s, 1, 600000);
	simulate(one, 1, 3600000);
	simulate(feishu, 2, 3600000);
	simulate(three, 3, 3600000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_grows_by_factor_up_to_cap),
		cmocka_unit_test(test_backoff_fractional_factor),
		cmocka_unit_test(test_backoff_jitter_bounds),
		cmocka_unit_test(test_wait_is_capped),
		cmocka_unit_test(test_bucket_two_per_second),
		cmocka_unit_test(test_bucket_two_limits_take_the_minimum),
		cmocka_unit_test(test_bucket_no_limits),
		cmocka_unit_test(test_bucket_no_window_holds_more_than_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
