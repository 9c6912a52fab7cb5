/*
 * fuzz_command — libFuzzer target of the control-command parser and
 * dispatcher.  Each input is one request, handed as it is (pointer and
 * length, no terminating NUL) to command_check(), command_execute() and
 * command_execute_text() (the control socket's path) against the shipped
 * 2020 plan, a private in-memory store and the real engine; a
 * NUL-terminated copy goes through command_split().  The admin runs each
 * request; then a unit member or an officer (by the parity of the length).
 *
 * What must hold for any bytes:
 *   - command_execute() answers a JSON object with a boolean "ok"; a
 *     failure carries error.code and error.message strings; the answer
 *     serializes; no transaction is left open;
 *   - command_execute_text() writes one line of valid JSON (no duplicate
 *     keys) of the same shape, and for a read the same answer as
 *     command_execute();
 *   - a request command_check() refuses is refused by command_execute()
 *     too, with the same code (simulate vets an events file with the
 *     former);
 *   - a unit member (neither admin nor officer) never runs a write;
 *   - command_split() returns -1 (with a message) or 0..COMMAND_MAX_ARGS
 *     words inside the buffer, refuses a buffer too small for the line,
 *     and splitting the words re-quoted gives the same words.
 *
 * `backup PATH` (admins only) creates PATH wherever the process may write,
 * so the admin never runs it here; the others are only denied it.
 *
 * The store is rebuilt every RENEW_EVERY inputs so that it does not grow
 * without bound; a crash that depends on earlier inputs may therefore not
 * reproduce from its single input (the first input always runs on a fresh
 * store, so most do).
 *
 * Environment:
 *   KAOHE_FUZZ_TERMINATE=1  hand command_check()/command_execute() a
 *                           NUL-terminated copy (length unchanged), to
 *                           fuzz past code that reads LINE beyond LEN.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kaohe/calendar.h"
#include "kaohe/command.h"
#include "kaohe/config.h"
#include "kaohe/engine.h"
#include "kaohe/log.h"
#include "kaohe/store.h"
#include "kaohe/util.h"

#ifndef KAOHE_SOURCE_DIR
#error "KAOHE_SOURCE_DIR must be defined by the build"
#endif

#define CONF  KAOHE_SOURCE_DIR "/config/kaohe.conf"
#define START "2020-05-01T00:00:00+08:00"
/* After the 09-15 deadlines, before the Q3 close: late entries exist. */
#define NOW         "2020-09-16T10:30:00+08:00"
#define RENEW_EVERY 1000

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config *cfg;
static struct store *st;
static struct engine *eng;
static int64_t start, now;
static unsigned long runs;
static bool terminate;
static struct actor admin, officer, member;
static uint8_t *officer_depts, *member_units;

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;
	fputs("fuzz_command: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static void world_free(void)
{
	engine_free(eng);
	store_close(st);
	eng = NULL;
	st = NULL;
}

static void world_new(void)
{
	char err[256];

	st = store_open(":memory:", cfg->plan->year, err, sizeof(err));
	if (st == NULL)
		die("store_open: %s", err);
	if (store_begin(st) < 0 || store_sync_plan(st, cfg->plan) < 0 || store_commit(st) < 0)
		die("store_sync_plan: %s", store_errmsg(st));
	eng = engine_new(cfg->plan, st, NULL, start);
	if (eng == NULL)
		die("engine_new failed");
	/* As the daemon's timer would: late entries and the Q2 snapshot exist. */
	if (engine_run(eng, now) < 0)
		die("engine_run: %s", store_errmsg(st));
}

static void cleanup(void)
{
	world_free();
	config_free(cfg);
	free(officer_depts);
	free(member_units);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sbuf errs, warns;
	(void)argc;
	(void)argv;

	log_set_level(LOG_LEVEL_ERROR);
	const char *t = getenv("KAOHE_FUZZ_TERMINATE");
	terminate = t && *t && strcmp(t, "0") != 0;
	sbuf_init(&errs);
	sbuf_init(&warns);
	cfg = config_load(CONF, 0, &errs, &warns);
	if (cfg == NULL)
		die("config_load %s:\n%s", CONF, errs.buf ? errs.buf : "");
	sbuf_free(&errs);
	sbuf_free(&warns);
	if (calendar_parse_instant(START, true, &start) < 0 ||
	    calendar_parse_instant(NOW, true, &now) < 0)
		die("calendar_parse_instant failed");

	const struct plan *p = cfg->plan;
	snprintf(admin.name, sizeof(admin.name), "fuzz-admin");
	admin.admin = true;
	/* An officer of the first department: writes on its rows only. */
	officer_depts = xcalloc(p->ndepts ? p->ndepts : 1, 1);
	if (p->ndepts)
		officer_depts[0] = 1;
	snprintf(officer.name, sizeof(officer.name), "fuzz-officer");
	officer.depts = officer_depts;
	/* A member of the first unit: reads its own unit only, writes nothing. */
	member_units = xcalloc(p->nunits ? p->nunits : 1, 1);
	if (p->nunits)
		member_units[0] = 1;
	snprintf(member.name, sizeof(member.name), "fuzz-member");
	member.units = member_units;

	world_new();
	atexit(cleanup);
	return 0;
}

/* The answer's shape; true when "ok" is true. */
static bool check_answer(const json_t *answer, const char *who)
{
	if (answer == NULL)
		die("command_execute (%s) returned NULL", who);
	if (!json_is_object(answer))
		die("command_execute (%s): the answer is not an object", who);
	const json_t *ok = json_object_get(answer, "ok");
	if (!json_is_boolean(ok))
		die("command_execute (%s): \"ok\" is missing or not a boolean", who);
	if (json_is_true(ok)) {
		if (json_object_get(answer, "data") == NULL)
			die("command_execute (%s): ok answer without \"data\"", who);
	} else {
		const json_t *e = json_object_get(answer, "error");
		if (!json_is_string(json_object_get(e, "code")) ||
		    !json_is_string(json_object_get(e, "message")))
			die("command_execute (%s): failure without error.code/error.message", who);
	}
	char *text = json_dumps(answer, JSON_COMPACT);
	if (text == NULL)
		die("command_execute (%s): the answer does not serialize", who);
	free(text);
	if (store_in_transaction(st))
		die("command_execute (%s) left a transaction open", who);
	return json_is_true(ok);
}

/* The daemon's hooks, as harmless as can be. */
static json_t *reload_hook(void *arg)
{
	(void)arg;
	return json_pack("{s:b, s:n}", "ok", 1, "data");
}

static void timeline_hook(void *arg, int year, int unit)
{
	(void)arg;
	(void)year;
	(void)unit;
}

static struct command_ctx ctx_of(const struct actor *a)
{
	return (struct command_ctx){ .plan = cfg->plan,
				     .st = st,
				     .eng = eng,
				     .now = now,
				     .actor = a,
				     .reload = reload_hook,
				     .timeline_changed = timeline_hook };
}

static json_t *run(const struct actor *a, const char *line, size_t len)
{
	struct command_ctx c = ctx_of(a);
	return command_execute(&c, line, len);
}

/* The control socket's path: one line of JSON text, read back. */
static json_t *run_text(const struct actor *a, const char *line, size_t len)
{
	struct command_ctx c = ctx_of(a);
	struct sbuf out;
	json_error_t e;

	sbuf_init(&out);
	command_execute_text(&c, line, len, &out);
	if (out.len == 0 || strlen(out.buf) != out.len)
		die("command_execute_text (%s) wrote nothing, or a NUL", a->name);
	if (memchr(out.buf, '\n', out.len))
		die("command_execute_text (%s): a newline inside the answer", a->name);
	json_t *j = json_loadb(out.buf, out.len, JSON_REJECT_DUPLICATES, &e);
	if (j == NULL)
		die("command_execute_text (%s) wrote no JSON (%s at %d): %.300s", a->name, e.text,
		    e.position, out.buf);
	sbuf_free(&out);
	return j;
}

/* Quote WORD as command_split() reads it back. */
static size_t quote(char *out, const char *word)
{
	size_t o = 0;
	out[o++] = '"';
	for (; *word; word++) {
		if (*word == '"' || *word == '\\')
			out[o++] = '\\';
		out[o++] = *word;
	}
	out[o++] = '"';
	return o;
}

/* Split a terminated copy of DATA; its first word (the command) into FIRST. */
static void fuzz_split(const uint8_t *data, size_t size, char *first, size_t firstlen)
{
	char *line = xmalloc(size + 1), *buf = xmalloc(size + 1);
	char *argv[COMMAND_MAX_ARGS], err[256];

	memcpy(line, data, size);
	line[size] = '\0';
	err[0] = '\0';
	int n = command_split(line, buf, size + 1, argv, err, sizeof(err));
	if (n < -1 || n > COMMAND_MAX_ARGS)
		die("command_split returned %d", n);
	if (n < 0 && (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL))
		die("command_split failed without a message");
	for (int i = 0; i < n; i++)
		if (argv[i] < buf || argv[i] >= buf + size + 1 ||
		    memchr(argv[i], '\0', (size_t)(buf + size + 1 - argv[i])) == NULL)
			die("command_split: word %d lies outside the buffer", i);
	util_strlcpy(first, n > 0 ? argv[0] : "", firstlen);

	/* Re-quoted words split back into the same words. */
	if (n > 0) {
		char *again = xmalloc(2 * size + 3 * (size_t)n + 1), *buf2,
		     *argv2[COMMAND_MAX_ARGS];
		size_t o = 0;
		for (int i = 0; i < n; i++) {
			if (i)
				again[o++] = ' ';
			o += quote(again + o, argv[i]);
		}
		again[o] = '\0';
		buf2 = xmalloc(o + 1);
		int n2 = command_split(again, buf2, o + 1, argv2, err, sizeof(err));
		if (n2 != n)
			die("command_split: %d words, re-quoted %d (%s)", n, n2, n2 < 0 ? err : "");
		for (int i = 0; i < n; i++)
			if (strcmp(argv[i], argv2[i]) != 0)
				die("command_split: word %d changed when re-quoted", i);
		free(buf2);
		free(again);
	}

	/* A buffer one byte short of the line must be refused, never overrun. */
	size_t len = strlen(line);
	if (len > 0) {
		char *small = xmalloc(len);
		if (command_split(line, small, len, argv, err, sizeof(err)) != -1)
			die("command_split accepted a buffer of %zu bytes for %zu", len, len + 1);
		free(small);
	}
	free(buf);
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (runs > 0 && runs % RENEW_EVERY == 0) {
		world_free();
		world_new();
	}
	runs++;

	char first[16];
	fuzz_split(data, size, first, sizeof(first));

	/* The request exactly as a socket reader would hold it: LEN bytes, and
	 * nothing after them (unless KAOHE_FUZZ_TERMINATE). */
	char *line = xmalloc(size + (terminate ? 1 : 0));
	memcpy(line, data, size);
	if (terminate)
		line[size] = '\0';

	char code[64], msg[1024];
	code[0] = msg[0] = '\0';
	int rc = command_check(cfg->plan, line, size, code, sizeof(code), msg, sizeof(msg));
	if (rc != 0 && rc != -1)
		die("command_check returned %d", rc);
	if (rc < 0 && (code[0] == '\0' || msg[0] == '\0'))
		die("command_check: code \"%s\", message \"%s\"", code, msg);

	static const char *const writes[] = { "submit", "record", "metric", "void",
					      "move",   "reload", "backup" };
	bool write = false;
	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
		write = write || strcmp(first, writes[i]) == 0;
	/* `backup PATH` creates PATH anywhere the fuzzer may write: never as admin. */
	bool fs = strcmp(first, "backup") == 0;

	if (!fs) {
		json_t *answer = run(&admin, line, size);
		bool ok = check_answer(answer, "admin");
		if (rc < 0 && ok)
			die("command_check refused (%s: %s) what command_execute ran", code, msg);
		const char *ecode = json_string_value(
			json_object_get(json_object_get(answer, "error"), "code"));
		if (rc < 0 && ecode && strcmp(ecode, code) != 0)
			die("command_check refused with %s, command_execute with %s", code, ecode);
		/* A read answers the same as text (the socket's path) and as JSON. */
		if (!write) {
			json_t *text = run_text(&admin, line, size);
			check_answer(text, "admin, as text");
			if (!json_equal(text, answer)) {
				char *a = json_dumps(answer, JSON_COMPACT);
				char *b = json_dumps(text, JSON_COMPACT);
				die("the answers differ:\nJSON: %.500s\ntext: %.500s", a, b);
			}
			json_decref(text);
		}
		json_decref(answer);
	}

	/* Someone without admin rights, through the socket's path: denials,
	 * a unit member's own status, an officer's writes. */
	const struct actor *other = size & 1 ? &officer : &member;
	json_t *answer = run_text(other, line, size);
	bool ok = check_answer(answer, other->name);
	if (ok && write && other == &member)
		die("a unit member (no admin, no department) ran %s", first);
	json_decref(answer);

	free(line);
	return 0;
}
