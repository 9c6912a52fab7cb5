/*
 * test_log — the one logging API: level names, which levels pass each
 * setting, the line's form on stderr in the foreground, log_warn's
 * errno text (and the x variants without it), a message longer than the
 * buffer cut to one line, whole lines from several threads at once,
 * fatal and fatalx (in a child: they exit), and, where the machine lets
 * a child mount its own /dev, the syslog priorities on a real /dev/log
 * datagram socket.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kaohe/log.h"
#include "kaohe/util.h"
#include "support.h"

#define PROG "kaohe-test"

static struct capture g_cap = { .fd = -1 };

static int setup(void **state)
{
	(void)state;
	log_init(PROG, true);
	log_set_level(LOG_LEVEL_INFO);
	capture_begin(&g_cap);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	capture_end(&g_cap, 1024);
	log_set_level(LOG_LEVEL_INFO);
	return 0;
}

/* What the log wrote since setup (kept until the next call). */
static const char *logged(void)
{
	static char *text;
	free(text);
	text = capture_text(&g_cap);
	return text;
}

static void test_parse_level(void **state)
{
	(void)state;
	assert_int_equal(log_parse_level("error"), LOG_LEVEL_ERROR);
	assert_int_equal(log_parse_level("warning"), LOG_LEVEL_WARNING);
	assert_int_equal(log_parse_level("info"), LOG_LEVEL_INFO);
	assert_int_equal(log_parse_level("debug"), LOG_LEVEL_DEBUG);
	/* The names are the configuration's words, exactly. */
	assert_int_equal(log_parse_level("warn"), -1);
	assert_int_equal(log_parse_level("INFO"), -1);
	assert_int_equal(log_parse_level("info "), -1);
	assert_int_equal(log_parse_level(""), -1);
}

/* Each setting lets through its own level and the more severe ones. */
static void test_levels(void **state)
{
	static const enum log_level levels[] = { LOG_LEVEL_ERROR, LOG_LEVEL_WARNING, LOG_LEVEL_INFO,
						 LOG_LEVEL_DEBUG };
	(void)state;

	for (size_t i = 0; i < 4; i++) {
		enum log_level set = levels[i];
		log_set_level(set);
		for (size_t j = 0; j < 4; j++)
			assert_int_equal(log_enabled(levels[j]), levels[j] <= set);
		char *before = capture_text(&g_cap);
		log_warnx("w at %zu", i);
		log_info("i at %zu", i);
		log_debug("d at %zu", i);
		const char *text = logged() + strlen(before);
		char line[64];
		snprintf(line, sizeof(line), PROG ": warning: w at %zu\n", i);
		assert_int_equal(strstr(text, line) != NULL, set >= LOG_LEVEL_WARNING);
		snprintf(line, sizeof(line), PROG ": info: i at %zu\n", i);
		assert_int_equal(strstr(text, line) != NULL, set >= LOG_LEVEL_INFO);
		snprintf(line, sizeof(line), PROG ": debug: d at %zu\n", i);
		assert_int_equal(strstr(text, line) != NULL, set >= LOG_LEVEL_DEBUG);
		free(before);
	}
}

/* PROGNAME: LEVEL: MESSAGE, one line each, the arguments formatted. */
static void test_line_form(void **state)
{
	(void)state;
	log_set_level(LOG_LEVEL_DEBUG);
	log_warnx("%s has %d rows, %.1f%%", "bayilu", 28, 12.5);
	log_info("plain");
	log_debug("%05d|%-4s|", 42, "ab");
	assert_string_equal(logged(), PROG ": warning: bayilu has 28 rows, 12.5%\n" PROG
					   ": info: plain\n" PROG ": debug: 00042|ab  |\n");
}

/* log_warn adds the text of errno as it was; log_warnx never does. */
static void test_warn_errno(void **state)
{
	(void)state;
	errno = ENOENT;
	log_warn("open %s", "/nowhere");
	errno = EACCES;
	log_warnx("no errno here");
	errno = 0;
	log_info("nor here");
	assert_string_equal(logged(),
			    PROG ": warning: open /nowhere: No such file or directory\n" PROG
				 ": warning: no errno here\n" PROG ": info: nor here\n");
}

/* A message longer than the log's buffer is cut, still one whole line. */
static void test_long_message(void **state)
{
	(void)state;
	char *big = xmalloc(5001);
	memset(big, 'x', 5000);
	big[5000] = '\0';
	errno = EPERM;
	log_warn("%s", big);
	free(big);
	const char *text = logged();
	const char *prefix = PROG ": warning: ";
	assert_int_equal(strncmp(text, prefix, strlen(prefix)), 0);
	const char *msg = text + strlen(prefix);
	size_t n = strspn(msg, "x");
	/* The buffer is 2048 bytes with its NUL; no room left for the errno text. */
	assert_int_equal(n, 2047);
	assert_string_equal(msg + n, "\n");
}

/* A message cut in the middle of a character ends before it: still UTF-8. */
static void test_long_message_utf8(void **state)
{
	(void)state;
	struct sbuf big;
	sbuf_init(&big);
	for (int i = 0; i < 1000; i++)
		sbuf_puts(&big, "考");
	log_info("%s", big.buf);
	sbuf_free(&big);
	const char *text = logged();
	const char *prefix = PROG ": info: ";
	assert_int_equal(strncmp(text, prefix, strlen(prefix)), 0);
	const char *msg = text + strlen(prefix);
	size_t n = strlen(msg) - 1;
	assert_string_equal(msg + n, "\n");
	/* 682 whole characters of 3 bytes fit in 2047: not the first byte of the 683rd. */
	assert_int_equal(n, 682 * 3);
	assert_true(util_utf8_valid(msg, n));
}

/* fatal and fatalx log at error level (shown at every setting) and exit(1). */
static void expect_fatal(bool with_errno, const char *want)
{
	int out[2];
	assert_int_equal(pipe(out), 0);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out[1], STDERR_FILENO);
		close(out[0]);
		log_set_level(LOG_LEVEL_ERROR);
		errno = EPERM;
		if (with_errno)
			fatal("cannot %s", "go on");
		fatalx("cannot %s", "go on");
	}
	close(out[1]);
	char buf[512];
	size_t len = 0;
	ssize_t n;
	while ((n = read(out[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(out[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_string_equal(buf, want);
}

static void test_fatal(void **state)
{
	(void)state;
	expect_fatal(true, PROG ": error: cannot go on: Operation not permitted\n");
	expect_fatal(false, PROG ": error: cannot go on\n");
}

/* Transfer's worker logs beside the loop: lines never interleave. */
#define THREADS 4
#define LINES   300
#define WIDTH   1500

static void *log_lines(void *arg)
{
	int id = (int)(intptr_t)arg;
	char body[WIDTH + 1];
	memset(body, 'a' + id, WIDTH);
	body[WIDTH] = '\0';
	for (int i = 0; i < LINES; i++)
		log_info("t%d %04d %s", id, i, body);
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t t[THREADS];
	(void)state;

	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, log_lines, (void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);

	const char *text = logged();
	int next[THREADS] = { 0 };
	size_t nlines = 0;
	for (const char *s = text; *s; nlines++) {
		const char *nl = strchr(s, '\n');
		assert_non_null(nl);
		int id, seq, used = 0;
		if (sscanf(s, PROG ": info: t%d %d %n", &id, &seq, &used) != 2 || used == 0)
			fail_msg("line %zu is torn: %.60s", nlines + 1, s);
		assert_true(id >= 0 && id < THREADS);
		/* Each thread's lines whole and in its own order. */
		assert_int_equal(seq, next[id]++);
		assert_int_equal((size_t)(nl - (s + used)), WIDTH);
		for (const char *c = s + used; c < nl; c++)
			if (*c != 'a' + id)
				fail_msg("line %zu mixes in '%c'", nlines + 1, *c);
		s = nl + 1;
	}
	assert_int_equal(nlines, THREADS * LINES);
}

/*
 * The syslog side, in a child with a mount namespace of its own and a
 * tmpfs on /dev, where a datagram socket is /dev/log: each level's
 * priority (facility daemon), the tag with the pid, the message.  The
 * child sends what it received through a pipe: one datagram per line.
 * 77: the machine does not let it make the namespace.
 */
static int syslog_child(int out)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
	char buf[1024];

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("none", "/dev", "tmpfs", 0, NULL) < 0)
		return 77;
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return 2;
	/* Fewer datagrams than net.unix.max_dgram_qlen (10) before they are read. */
	log_init(PROG, false);
	log_set_level(LOG_LEVEL_DEBUG);
	log_warnx("w %d", 1);
	errno = ENOENT;
	log_warn("gone");
	log_info("i");
	log_debug("d");
	log_set_level(LOG_LEVEL_WARNING);
	log_info("filtered");
	log_finalise();
	ssize_t n;
	while ((n = recv(s, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		buf[n] = '\n';
		if (write(out, buf, (size_t)n + 1) != n + 1)
			return 3;
	}
	return 0;
}

/* The datagram LINE (up to its newline) without the timestamp: "<PRI>TAG[PID]: MSG". */
static void expect_datagram(const char **text, int pri, pid_t pid, const char *msg)
{
	char want[256], got[256];
	const char *nl = strchr(*text, '\n');
	if (nl == NULL)
		fail_msg("no datagram for \"%s\"", msg);
	/* <PRI>Mmm dd hh:mm:ss TAG[PID]: MSG; the timestamp is 15 characters. */
	const char *gt = strchr(*text, '>');
	assert_non_null(gt);
	assert_true(gt < nl && nl - gt > 17);
	snprintf(got, sizeof(got), "%.*s|%.*s", (int)(gt + 1 - *text), *text, (int)(nl - (gt + 17)),
		 gt + 17);
	snprintf(want, sizeof(want), "<%d>|" PROG "[%d]: %s", pri, (int)pid, msg);
	assert_string_equal(got, want);
	*text = nl + 1;
}

static void test_syslog(void **state)
{
	int out[2];
	(void)state;

	assert_int_equal(pipe(out), 0);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(out[0]);
		_exit(syslog_child(out[1]));
	}
	close(out[1]);
	struct sbuf got;
	char buf[1024];
	ssize_t n;
	sbuf_init(&got);
	while ((n = read(out[0], buf, sizeof(buf))) > 0)
		sbuf_add(&got, buf, (size_t)n);
	close(out[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		sbuf_free(&got);
		skip();
	}
	assert_int_equal(WEXITSTATUS(status), 0);
	/* LOG_DAEMON (3 << 3) with LOG_WARNING 4, LOG_INFO 6, LOG_DEBUG 7. */
	const char *t = got.buf;
	expect_datagram(&t, 28, pid, "w 1");
	expect_datagram(&t, 28, pid, "gone: No such file or directory");
	expect_datagram(&t, 30, pid, "i");
	expect_datagram(&t, 31, pid, "d");
	assert_string_equal(t, "");
	/* Nothing of it on stderr. */
	assert_string_equal(logged(), "");
	sbuf_free(&got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parse_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_form, setup, teardown),
		cmocka_unit_test_setup_teardown(test_warn_errno, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_message_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fatal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syslog, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
