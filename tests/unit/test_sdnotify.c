/*
 * Unit tests of sdnotify on real datagram sockets: a path and the
 * abstract namespace, names it refuses, and a receiver that never reads
 * (its queue fills: the sends must fail, never block).  An alarm ends the
 * test if a send blocks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "kaohe/log.h"
#include "kaohe/sdnotify.h"
#include "support.h"

/* Far longer than any send may take; a blocked send is killed by it. */
#define GUARD_SECONDS 60

struct receiver {
	char dir[64];
	char name[128]; /* what NOTIFY_SOCKET says */
	int fd;
};

/* A datagram socket bound at a path in a new directory, or abstract. */
static void receiver_open(struct receiver *r, int abstract)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len;

	r->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(r->fd >= 0);
	r->dir[0] = '\0';
	if (abstract) {
		snprintf(r->name, sizeof(r->name), "@kaohe-test-sdnotify-%d", (int)getpid());
		memcpy(sun.sun_path + 1, r->name + 1, strlen(r->name) - 1);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(r->name));
	} else {
		snprintf(r->dir, sizeof(r->dir), "/tmp/kaohe-sdnotify-XXXXXX");
		assert_non_null(mkdtemp(r->dir));
		snprintf(r->name, sizeof(r->name), "%s/notify", r->dir);
		memcpy(sun.sun_path, r->name, strlen(r->name) + 1);
		len = sizeof(sun);
	}
	assert_int_equal(bind(r->fd, (struct sockaddr *)&sun, len), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", r->name, 1), 0);
}

/* The next datagram, or "" when none waits. */
static void receiver_next(struct receiver *r, char *buf, size_t size)
{
	ssize_t n = recv(r->fd, buf, size - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = '\0';
}

static void receiver_close(struct receiver *r)
{
	close(r->fd);
	if (r->dir[0]) {
		unlink(r->name);
		rmdir(r->dir);
	}
	unsetenv("NOTIFY_SOCKET");
}

static void sends_to_a_path(void **state)
{
	struct receiver r;
	char err[256], buf[256];
	(void)state;

	receiver_open(&r, 0);
	assert_int_equal(sdnotify_init(err, sizeof(err)), 0);
	assert_int_equal(sdnotify_send(0, "STATUS=%s", "next: 考核 at 09:00"), 0);
	assert_int_equal(sdnotify_send(SDNOTIFY_STATE, "READY=1"), 0);
	assert_int_equal(sdnotify_send(0, "WATCHDOG=1\nEXTEND_TIMEOUT_USEC=%d", 30000000), 0);
	receiver_next(&r, buf, sizeof(buf));
	assert_string_equal(buf, "STATUS=next: 考核 at 09:00");
	receiver_next(&r, buf, sizeof(buf));
	assert_string_equal(buf, "READY=1");
	receiver_next(&r, buf, sizeof(buf));
	assert_string_equal(buf, "WATCHDOG=1\nEXTEND_TIMEOUT_USEC=30000000");
	receiver_next(&r, buf, sizeof(buf));
	assert_string_equal(buf, "");
	sdnotify_finalise();
	receiver_close(&r);
}

static void sends_to_the_abstract_namespace(void **state)
{
	struct receiver r;
	char err[256], buf[256];
	(void)state;

	receiver_open(&r, 1);
	assert_int_equal(sdnotify_init(err, sizeof(err)), 0);
	assert_int_equal(sdnotify_send(SDNOTIFY_STATE, "STOPPING=1"), 0);
	receiver_next(&r, buf, sizeof(buf));
	assert_string_equal(buf, "STOPPING=1");
	sdnotify_finalise();
	receiver_close(&r);
}

static void without_a_socket_nothing_is_sent(void **state)
{
	char err[256];
	(void)state;

	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(sdnotify_init(err, sizeof(err)), 0);
	assert_int_equal(sdnotify_send(SDNOTIFY_STATE, "READY=1"), 0);
	sdnotify_finalise();
}

static void refuses_what_is_no_socket_path(void **state)
{
	static const char *const bad[] = { "relative/notify", "vsock:2:1234", "@", "/" };
	char err[256], longname[200];
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("NOTIFY_SOCKET", bad[i], 1);
		err[0] = '\0';
		assert_int_equal(sdnotify_init(err, sizeof(err)), -1);
		assert_non_null(strstr(err, "NOTIFY_SOCKET"));
		assert_non_null(strstr(err, bad[i]));
		/* Refused: messages then go nowhere, quietly. */
		assert_int_equal(sdnotify_send(0, "STATUS=x"), 0);
	}
	memset(longname, 'x', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longname, 1);
	assert_int_equal(sdnotify_init(err, sizeof(err)), -1);
	unsetenv("NOTIFY_SOCKET");
	sdnotify_finalise();
}

/*
 * Nobody reads: once the queue is full every send fails at once (a change
 * of state after waiting a moment) instead of blocking, and sends go
 * through again as soon as there is room.
 */
static void a_full_queue_drops_instead_of_blocking(void **state)
{
	struct receiver r;
	char err[256], buf[256];
	int sent = 0, dropped = 0;
	(void)state;

	receiver_open(&r, 0);
	assert_int_equal(sdnotify_init(err, sizeof(err)), 0);
	alarm(GUARD_SECONDS);
	for (int i = 0; i < 2000; i++) {
		if (sdnotify_send(0, "STATUS=message %d", i) == 0)
			sent++;
		else
			dropped++;
	}
	assert_true(sent > 0);
	assert_true(dropped > 0);
	/* A change of state waits for room, once; then it is dropped too. */
	assert_int_equal(sdnotify_send(SDNOTIFY_STATE, "RELOADING=1"), -1);
	assert_int_equal(sdnotify_send(SDNOTIFY_STATE, "READY=1"), -1);
	assert_int_equal(sdnotify_send(SDNOTIFY_STATE, "STOPPING=1"), -1);
	/* The queue holds the first ones; one read makes room for one. */
	receiver_next(&r, buf, sizeof(buf));
	assert_string_equal(buf, "STATUS=message 0");
	assert_int_equal(sdnotify_send(SDNOTIFY_STATE, "READY=1"), 0);
	assert_int_equal(sdnotify_send(0, "STATUS=full again"), -1);
	alarm(0);
	/* The rest, then READY=1 last. */
	char last[256] = "";
	int n = 1;
	for (;;) {
		receiver_next(&r, buf, sizeof(buf));
		if (buf[0] == '\0')
			break;
		n++;
		memcpy(last, buf, sizeof(last));
	}
	assert_int_equal(n, sent + 1);
	assert_string_equal(last, "READY=1");
	sdnotify_finalise();
	receiver_close(&r);
}

/* The drops the warnings in TEXT report, added up; LAST: the last one's message. */
static unsigned warned_drops(const char *text, char *last, size_t lastlen)
{
	static const char what[] = "warning: notify: ";
	unsigned n = 0;

	last[0] = '\0';
	for (const char *p = strstr(text, what); p; p = strstr(p, what)) {
		p += strlen(what);
		n += (unsigned)strtoul(p, NULL, 10);
		const char *q = strstr(p, "(the last: \"");
		assert_non_null(q);
		q += strlen("(the last: \"");
		snprintf(last, lastlen, "%.*s", (int)strcspn(q, "\""), q);
	}
	return n;
}

/*
 * The first drop is warned of, the rest counted for the next warning a
 * minute on; when no drop comes to bring it, the count is reported as
 * the socket is closed (at a stop), so that every drop is in the log.
 */
static void drops_after_the_warning_are_reported_at_the_end(void **state)
{
	struct receiver r;
	struct capture cap;
	char err[256], last[256];
	unsigned dropped = 0;
	(void)state;

	receiver_open(&r, 0);
	assert_int_equal(sdnotify_init(err, sizeof(err)), 0);
	log_set_level(LOG_LEVEL_WARNING);
	capture_begin(&cap);
	alarm(GUARD_SECONDS);
	for (int i = 0; i < 100; i++)
		if (sdnotify_send(0, "STATUS=message %d\nEXTEND_TIMEOUT_USEC=1", i) < 0)
			dropped++;
	alarm(0);
	char *before = capture_text(&cap);
	sdnotify_finalise();
	char *after = capture_text(&cap);
	/* Reported once: closing again says nothing more. */
	sdnotify_finalise();
	char *again = capture_text(&cap);
	capture_end(&cap, 4096);
	log_set_level(LOG_LEVEL_ERROR);

	/* The queue holds max_dgram_qlen of them: the rest were dropped. */
	assert_true(dropped >= 2);
	assert_true(warned_drops(before, last, sizeof(last)) < dropped);
	assert_int_equal(warned_drops(after, last, sizeof(last)), dropped);
	assert_string_equal(last, "STATUS=message 99");
	assert_non_null(strstr(after, "its queue is full, nobody reads it"));
	assert_string_equal(again, after);
	free(before);
	free(after);
	free(again);
	receiver_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sends_to_a_path),
		cmocka_unit_test(sends_to_the_abstract_namespace),
		cmocka_unit_test(without_a_socket_nothing_is_sent),
		cmocka_unit_test(refuses_what_is_no_socket_path),
		cmocka_unit_test(a_full_queue_drops_instead_of_blocking),
		cmocka_unit_test(drops_after_the_warning_are_reported_at_the_end),
	};
	log_init("test_sdnotify", true);
	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
