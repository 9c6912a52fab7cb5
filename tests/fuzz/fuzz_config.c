/*
 * fuzz_config — libFuzzer target of the configuration loader.  Each input
 * is written to DIR/input.conf (DIR a private directory under /tmp made
 * once) and loaded twice: directly, and through DIR/top.conf, which holds
 * only `@include "input.conf"` (libconfig then names settings by the
 * included file, another branch of the error reporting).
 *
 * The input is also read as a plan file named in DIR/plans.conf (`plans =
 * [ "input.conf" ]`), twice: its units list read in batches when they can
 * be found, and the file read whole (config_opts.plans_whole).
 *
 * What must hold for any bytes:
 *   - config_load() returns NULL exactly when it reported an error, and
 *     its reports start "file:line: " and end with a newline;
 *   - loading directly and through the include agree on success;
 *   - a plan file read in batches and read whole give the same verdict,
 *     errors and warnings, byte for byte;
 *   - nothing leaks (LeakSanitizer) and nothing crashes.
 *
 * @include directives of the input itself are disabled (the '@' becomes
 * '#', a comment): they could name /dev/zero, a FIFO or the input itself,
 * which would only test libconfig and the machine, not kaohe.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "kaohe/config.h"
#include "kaohe/log.h"
#include "kaohe/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], input_path[128], top_path[128], plans_path[128];

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;
	fputs("fuzz_config: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static void write_file(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		die("cannot write %s", path);
	if ((size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		die("cannot write %s", path);
}

static void cleanup(void)
{
	unlink(input_path);
	unlink(top_path);
	unlink(plans_path);
	rmdir(dir);
}

/* Write TEXT as NAME in DIR; its path in PATH. */
static void put(char *path, size_t len, const char *name, const char *text)
{
	snprintf(path, len, "%s/%s", dir, name);
	write_file(path, text, strlen(text));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_LEVEL_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/kaohe-fuzz-config-XXXXXX");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp %s failed", dir);
	snprintf(input_path, sizeof(input_path), "%s/input.conf", dir);
	put(top_path, sizeof(top_path), "top.conf", "@include \"input.conf\"\n");
	/* the official calendars are the source tree's */
#define HEAD                                                                        \
	"kaohe: { timezone = \"Asia/Shanghai\"; calendar_dir = \"" KAOHE_SOURCE_DIR \
	"/config/calendars\"; };\n"
	put(plans_path, sizeof(plans_path), "plans.conf", HEAD "plans = [ \"input.conf\" ];\n");
#undef HEAD
	atexit(cleanup);
	return 0;
}

/*
 * TEXT (errors or warnings) starts "PATH:LINE: " for one of the two files
 * and ends with a newline.  Only the first line is checked for form: a
 * message may quote a string of the input, newlines and all.
 */
static void check_report(const char *text, const char *what)
{
	size_t n = strlen(dir), len = text ? strlen(text) : 0;
	if (len == 0)
		return;
	if (text[len - 1] != '\n')
		die("%s do not end with a newline: \"%s\"", what, text);
	if (strncmp(text, dir, n) != 0 || text[n] != '/')
		die("%s do not start with the file: \"%s\"", what, text);
	const char *colon = strchr(text + n, ':');
	if (colon == NULL || !isdigit((unsigned char)colon[1]))
		die("%s: no line number: \"%s\"", what, text);
	const char *q = colon + 1;
	while (isdigit((unsigned char)*q))
		q++;
	if (q[0] != ':' || q[1] != ' ')
		die("%s: no \": \" after the line number: \"%s\"", what, text);
}

/*
 * Load FILE; whether it succeeded.  Its errors and warnings in ERRS and
 * WARNS when they are not NULL (initialised; the caller frees them).
 */
static bool load_into(const char *file, bool whole, struct sbuf *errs_out, struct sbuf *warns_out)
{
	struct config_opts o = { .plans_whole = whole };
	struct sbuf errs, warns;
	sbuf_init(&errs);
	sbuf_init(&warns);
	struct config *cfg = config_load_opts(file, &o, &errs, &warns);
	bool has_errors = errs.len > 0;
	if (cfg == NULL && !has_errors)
		die("config_load(%s) failed without an error message", file);
	if (cfg != NULL && has_errors)
		die("config_load(%s) succeeded with errors:\n%s", file, errs.buf);
	check_report(errs.buf, "errors");
	check_report(warns.buf, "warnings");
	if (cfg && cfg->plan == NULL)
		die("config_load(%s): no plan", file);
	config_free(cfg);
	if (errs_out)
		*errs_out = errs;
	else
		sbuf_free(&errs);
	if (warns_out)
		*warns_out = warns;
	else
		sbuf_free(&warns);
	return cfg != NULL;
}

static bool load(const char *file)
{
	return load_into(file, false, NULL, NULL);
}

static const char *text_of(const struct sbuf *sb)
{
	return sb->len ? sb->buf : "";
}

/* The input as a plan file, in batches and whole: the same in every word. */
static void plan_file_both_ways(void)
{
	struct sbuf e[2], w[2];
	bool ok[2] = { load_into(plans_path, false, &e[0], &w[0]),
		       load_into(plans_path, true, &e[1], &w[1]) };
	if (ok[0] != ok[1])
		die("the input as a plan file loads %s in batches but %s whole:\n%s%s",
		    ok[0] ? "fine" : "with errors", ok[1] ? "fine" : "with errors", text_of(&e[0]),
		    text_of(&e[1]));
	if (strcmp(text_of(&e[0]), text_of(&e[1])) != 0)
		die("errors of the plan file in batches:\n%swhole:\n%s", text_of(&e[0]),
		    text_of(&e[1]));
	if (strcmp(text_of(&w[0]), text_of(&w[1])) != 0)
		die("warnings of the plan file in batches:\n%swhole:\n%s", text_of(&w[0]),
		    text_of(&w[1]));
	for (int i = 0; i < 2; i++) {
		sbuf_free(&e[i]);
		sbuf_free(&w[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	/* No @include of the input's own (see above); libconfig reads the file
	 * as text, so a NUL ends it there as well. */
	for (size_t i = 0; i + 8 <= size; i++)
		if (text[i] == '@' && strncasecmp(text + i + 1, "include", 7) == 0)
			text[i] = '#';
	write_file(input_path, text, size);
	free(text);

	bool direct = load(input_path);
	bool included = load(top_path);
	if (direct != included)
		die("the input loads %s directly but %s through @include",
		    direct ? "fine" : "with errors", included ? "fine" : "with errors");
	plan_file_both_ways();
	return 0;
}
