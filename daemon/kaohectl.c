/*
 * kaohectl — the control client: sends one command to kaohed and prints
 * the answer as a readable table, or verbatim with --json.  A thin
 * client: every check that matters happens in the daemon.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <wchar.h>

#include "kaohe/grammar.h"

#define DEFAULT_SOCKET "/run/kaohe/control.sock"

enum { EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_NO_DAEMON = 3 };

/* TEXT on lines of at most 79 columns, each indented by INDENT (ASCII text). */
static void wrapped(FILE *f, const char *text, int indent)
{
	int col = 0;

	while (*text) {
		int w = (int)strcspn(text, " ");
		if (col > 0 && col + 1 + w > 79) {
			fputc('\n', f);
			col = 0;
		}
		if (col)
			col += fprintf(f, " %.*s", w, text);
		else
			col += fprintf(f, "%*s%.*s", indent, "", w, text);
		text += w;
		text += strspn(text, " ");
	}
	fputc('\n', f);
}

/* The commands, their usage and examples come from the daemon's own table. */
static void usage(FILE *f)
{
	char u[160];

	fprintf(f,
		"usage: kaohectl [-s SOCKET] [--json] COMMAND [ARGS...]\n"
		"\n"
		"  -s, --socket PATH  the control socket (default $KAOHE_SOCKET or " DEFAULT_SOCKET
		")\n"
		"      --json         print the daemon's JSON answer as it came\n"
		"  -h, --help         this help\n"
		"\n"
		"commands (the daemon decides who may run which):\n");
	for (int i = 0; i < CMD_NCOMMANDS; i++) {
		const struct grammar_cmd *c = grammar_command((enum grammar_id)i);
		grammar_usage(c, u, sizeof(u));
		fprintf(f, "  %s\n", u);
		wrapped(f, c->does, 8);
	}
	fprintf(f, "\nexamples:\n");
	for (int i = 0; i < CMD_NCOMMANDS; i++) {
		const struct grammar_cmd *c = grammar_command((enum grammar_id)i);
		if (c->example)
			fprintf(f, "  kaohectl %s\n", c->example);
	}
	fprintf(f, "\n"
		   "exit status: 0 done, 1 the daemon refused or failed the command,\n"
		   "2 usage, 3 no daemon answers on the socket\n");
}

/* Append ARG to LINE, quoted when it holds spaces, quotes or backslashes. */
static void add_arg(char **line, size_t *len, size_t *cap, const char *arg)
{
	bool quote = *arg == '\0' || strpbrk(arg, " \t\"\\") != NULL;
	size_t need = *len + 2 * strlen(arg) + 4;
	if (need > *cap) {
		*cap = need * 2;
		*line = realloc(*line, *cap);
		if (*line == NULL) {
			perror("kaohectl");
			exit(EXIT_REFUSED);
		}
	}
	if (*len)
		(*line)[(*len)++] = ' ';
	if (quote)
		(*line)[(*len)++] = '"';
	for (const char *p = arg; *p; p++) {
		if (quote && (*p == '"' || *p == '\\'))
			(*line)[(*len)++] = '\\';
		(*line)[(*len)++] = *p;
	}
	if (quote)
		(*line)[(*len)++] = '"';
	(*line)[*len] = '\0';
}

/* Display width of a UTF-8 string: CJK characters take two columns. */
static int width(const char *s)
{
	mbstate_t st = { 0 };
	int w = 0;
	wchar_t wc;
	size_t n;

	while (*s && (n = mbrtowc(&wc, s, MB_CUR_MAX, &st)) != 0) {
		if (n == (size_t)-1 || n == (size_t)-2) {
			s++;
			w++;
			memset(&st, 0, sizeof(st));
			continue;
		}
		int cw = wcwidth(wc);
		w += cw > 0 ? cw : 0;
		s += n;
	}
	return w;
}

/*
 * S with each control character (C0, DEL, C1) shown as an escape: \r,
 * \n, \t, \x1b, \u009b.  Text from the daemon is printed to a terminal,
 * where such a character would act instead of showing (clear the screen,
 * set the window title, break a table's row); the daemon refuses them in
 * what it stores now, but an older database may hold some.
 */
static char *visible(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(6 * n + 1), *o = out;
	const unsigned char *p = (const unsigned char *)s;

	if (out == NULL)
		return NULL;
	for (; *p; p++) {
		if (*p == '\r' || *p == '\n' || *p == '\t') {
			*o++ = '\\';
			*o++ = *p == '\r' ? 'r' : *p == '\n' ? 'n' : 't';
		} else if (*p < 0x20 || *p == 0x7f) {
			o += sprintf(o, "\\x%02x", *p);
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			o += sprintf(o, "\\u%04x", p[1]);
			p++;
		} else {
			*o++ = (char)*p;
		}
	}
	*o = '\0';
	return out;
}

static char *scalar_text(const json_t *v)
{
	if (json_is_string(v))
		return visible(json_string_value(v));
	if (json_is_null(v))
		return strdup("-");
	return json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
}

static bool is_scalar(const json_t *v)
{
	return !json_is_object(v) && !json_is_array(v);
}

static void print_shown(const char *key, const json_t *v, int indent);

/* A table of an array of objects: one column per scalar member. */
static void print_table(const json_t *arr, int indent)
{
	const char *cols[64];
	char *heads[64];
	int widths[64], ncols = 0;
	size_t i;
	json_t *row;

	json_array_foreach(arr, i, row)
	{
		const char *key;
		json_t *v;
		json_object_foreach((json_t *)row, key, v)
		{
			int c;
			if (!is_scalar(v))
				continue;
			for (c = 0; c < ncols && strcmp(cols[c], key) != 0; c++)
				;
			if (c == ncols && ncols < 64) {
				cols[ncols] = key;
				heads[ncols] = visible(key);
				widths[ncols] = heads[ncols] ? width(heads[ncols]) : 0;
				ncols++;
			}
		}
	}
	json_array_foreach(arr, i, row)
	{
		for (int c = 0; c < ncols; c++) {
			json_t *v = json_object_get(row, cols[c]);
			char *t = v ? scalar_text(v) : strdup("");
			if (t && width(t) > widths[c])
				widths[c] = width(t);
			free(t);
		}
	}
	printf("%*s", indent, "");
	for (int c = 0; c < ncols; c++) {
		const char *h = heads[c] ? heads[c] : "";
		printf("%s%*s", h, c + 1 < ncols ? widths[c] - width(h) + 2 : 0, "");
	}
	printf("\n");
	json_array_foreach(arr, i, row)
	{
		printf("%*s", indent, "");
		for (int c = 0; c < ncols; c++) {
			json_t *v = json_object_get(row, cols[c]);
			char *t = v ? scalar_text(v) : strdup("");
			printf("%s%*s", t ? t : "",
			       c + 1 < ncols ? widths[c] - width(t ? t : "") + 2 : 0, "");
			free(t);
		}
		printf("\n");
	}
	for (int c = 0; c < ncols; c++)
		free(heads[c]);
}

static void print_value(const char *rawkey, const json_t *v, int indent)
{
	char *key = rawkey ? visible(rawkey) : NULL;
	print_shown(key, v, indent);
	free(key);
}

/* print_value() with KEY already made visible. */
static void print_shown(const char *key, const json_t *v, int indent)
{
	if (is_scalar(v)) {
		char *t = scalar_text(v);
		printf("%*s%s%s%s\n", indent, "", key ? key : "", key ? ": " : "", t ? t : "");
		free(t);
		return;
	}
	if (json_is_array(v) && json_array_size(v) > 0 && is_scalar(json_array_get(v, 0))) {
		/* A list of plain values fits on one line. */
		size_t i;
		json_t *e;
		printf("%*s%s%s", indent, "", key ? key : "", key ? ": " : "");
		json_array_foreach(v, i, e)
		{
			char *t = scalar_text(e);
			printf("%s%s", i ? ", " : "", t ? t : "");
			free(t);
		}
		printf("\n");
		return;
	}
	if (key)
		printf("%*s%s:\n", indent, "", key);
	int sub = key ? indent + 2 : indent;
	if (json_is_array(v)) {
		bool objects = json_array_size(v) > 0;
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e) objects &= json_is_object(e);
		if (objects) {
			print_table(v, sub);
			/* Nested lists of each element (e.g. a row's entries) follow it. */
			json_array_foreach(v, i, e)
			{
				const char *k;
				json_t *m;
				json_object_foreach(e, k, m)
				{
					if (json_is_array(m) && json_array_size(m) > 0) {
						json_t *id = json_object_get(e, "row")
								     ?: json_object_get(e, "occurrence")
								     ?: json_object_get(e, "unit");
						char *t = id ? scalar_text(id) : NULL;
						char *kv = visible(k), label[256];
						snprintf(label, sizeof(label), "%s %s", t ? t : "",
							 kv ? kv : "");
						free(t);
						free(kv);
						print_shown(label, m, sub);
					}
				}
			}
		} else {
			json_array_foreach(v, i, e) print_value(NULL, e, sub);
		}
		return;
	}
	const char *k;
	json_t *m;
	json_object_foreach((json_t *)v, k, m) print_value(k, m, sub);
}

/* Whether WORD (of the request's words W for command C) fills a PATH slot. */
static bool is_path(const struct grammar_cmd *c, const struct grammar_words *w, const char *word)
{
	for (int k = 0; k < w->npos && k < GRAMMAR_MAX_POS; k++)
		if (c->pos[k].type == ARG_PATH && w->pos[k] == word)
			return true;
	for (int k = 0; c->opt[k].name; k++)
		if (c->opt[k].type == ARG_PATH && w->opt[k] == word)
			return true;
	return false;
}

/*
 * The request: the N words ARGV quoted into one line, with its newline,
 * its length in *LEN.  NULL after a message (a usage error).
 */
static char *request_line(int n, char **argv, size_t *len)
{
	const struct grammar_cmd *c = grammar_find(argv[0]);
	struct grammar_words w;
	char err[256], *line = NULL;
	size_t cap = 0;
	/* A request the table refuses goes as it is: the daemon says why. */
	bool assigned = c && grammar_assign(c, n - 1, argv + 1, &w, err, sizeof(err)) == 0;

	*len = 0;
	for (int i = 0; i < n; i++) {
		/* The protocol is one line: a line break would start a second request. */
		if (strpbrk(argv[i], "\r\n")) {
			fprintf(stderr,
				"kaohectl: argument %d holds a line break, which no request may\n",
				i + 1);
			free(line);
			return NULL;
		}
		/*
		 * A relative path (backup's) is the caller's, not the daemon's
		 * (which runs elsewhere and takes absolute paths only); a URI is
		 * left for the daemon to refuse.
		 */
		if (assigned && is_path(c, &w, argv[i]) && argv[i][0] != '/' &&
		    argv[i][0] != '\0' && strncmp(argv[i], "file:", 5) != 0) {
			char cwd[PATH_MAX], *abs;
			if (getcwd(cwd, sizeof(cwd)) == NULL ||
			    asprintf(&abs, "%s/%s", strcmp(cwd, "/") ? cwd : "", argv[i]) < 0) {
				perror("kaohectl: the working directory");
				free(line);
				return NULL;
			}
			add_arg(&line, len, &cap, abs);
			free(abs);
			continue;
		}
		add_arg(&line, len, &cap, argv[i]);
	}
	line[(*len)++] = '\n'; /* add_arg() leaves room for it */
	return line;
}

/* A connection to the daemon on PATH, or -1 after a message with the exit status in *STATUS. */
static int connect_daemon(const char *path, int *status)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	*status = EXIT_USAGE;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "kaohectl: socket path %s is too long\n", path);
		return -1;
	}
	*status = EXIT_NO_DAEMON;
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "kaohectl: no daemon answers on %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct timeval tv = { .tv_sec = 120 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/*
 * Send LEN bytes of LINE: 0, or the errno that stopped it.  The daemon
 * may have refused us (busy) and closed: its answer can still be waiting
 * to be read.
 */
static int send_request(int fd, const char *line, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		off += (size_t)n;
	}
	return 0;
}

/*
 * The answer's line from PATH (without its newline), or NULL after a
 * message with the exit status in *STATUS.  SEND_ERRNO is why the
 * request could not be sent whole (0: it was).
 */
static char *read_answer(int fd, const char *path, int send_errno, int *status)
{
	char *ans = NULL;
	size_t alen = 0, acap = 0;

	/* The daemon's answers are at most GRAMMAR_MAX_ANSWER bytes and a newline. */
	const size_t most = (size_t)GRAMMAR_MAX_ANSWER + 2;

	for (;;) {
		if (alen + 1 >= most) {
			fprintf(stderr,
				"kaohectl: the answer is longer than the %d bytes a daemon "
				"sends\n",
				GRAMMAR_MAX_ANSWER);
			free(ans);
			*status = EXIT_REFUSED;
			return NULL;
		}
		if (alen + 65536 > acap && acap < most) {
			acap = acap ? (acap * 2 < most ? acap * 2 : most) : 131072;
			char *bigger = realloc(ans, acap);
			if (bigger == NULL) {
				perror("kaohectl");
				free(ans);
				*status = EXIT_REFUSED;
				return NULL;
			}
			ans = bigger;
		}
		ssize_t n = recv(fd, ans + alen, acap - alen - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (send_errno)
				fprintf(stderr, "kaohectl: sending to %s: %s\n", path,
					strerror(send_errno));
			else
				fprintf(stderr,
					"kaohectl: %s closed without a complete answer%s%s\n", path,
					n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
			free(ans);
			*status = EXIT_NO_DAEMON;
			return NULL;
		}
		alen += (size_t)n;
		if (memchr(ans + alen - n, '\n', (size_t)n))
			break;
	}
	ans[alen] = '\0';
	ans[strcspn(ans, "\n")] = '\0';
	return ans;
}

/*
 * Print the LEN bytes of S, valid UTF-8, with DEL and the C1 controls
 * (U+0080-U+009F) written as the JSON escapes \u007f and \u0080-\u009f, and
 * the C0 controls but tab, LF and CR as \u0000-\u001f.  In JSON the escape
 * stands for the same character (and JSON outside its strings is ASCII);
 * in a document it shows where the character was.  Raw, the terminal
 * would act on it: ESC and the C1 CSI (U+009B) start commands.
 */
static void print_inert(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	for (; p < end; p++) {
		if ((*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') || *p == 0x7f)
			printf("\\u%04x", *p);
		else if (*p == 0xc2 && p + 1 < end && p[1] >= 0x80 && p[1] <= 0x9f)
			printf("\\u%04x", *++p);
		else
			putchar(*p);
	}
}

/* Print the answer ANS: verbatim (RAW), a document, a table, or the error; the exit status. */
static int print_answer(const char *ans, bool raw)
{
	json_error_t jerr;
	json_t *answer = json_loads(ans, 0, &jerr);

	if (answer == NULL || !json_is_object(answer)) {
		fprintf(stderr, "kaohectl: the daemon's answer is not JSON: %s\n", jerr.text);
		json_decref(answer);
		return EXIT_REFUSED;
	}
	bool ok = json_is_true(json_object_get(answer, "ok"));
	json_t *content = json_object_get(json_object_get(answer, "data"), "content");
	if (raw) {
		print_inert(ans, strlen(ans));
		putchar('\n');
	} else if (ok && json_is_string(content)) {
		/* A whole document (report): printed as it is, to be saved or piped. */
		print_inert(json_string_value(content), json_string_length(content));
	} else if (ok) {
		print_value(NULL, json_object_get(answer, "data"), 0);
	} else {
		json_t *e = json_object_get(answer, "error");
		char *code = scalar_text(json_object_get(e, "code") ?: json_null());
		char *msg = scalar_text(json_object_get(e, "message") ?: json_null());
		fprintf(stderr, "kaohectl: %s: %s\n", code ? code : "", msg ? msg : "");
		free(code);
		free(msg);
		size_t i;
		json_t *m;
		json_array_foreach(json_object_get(e, "errors"), i, m)
		{
			char *t = scalar_text(m);
			fprintf(stderr, "  %s\n", t ? t : "");
			free(t);
		}
	}
	json_decref(answer);
	return ok ? 0 : EXIT_REFUSED;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = getenv("KAOHE_SOCKET") ? getenv("KAOHE_SOCKET") : DEFAULT_SOCKET;
	bool raw = false;
	int c, status;
	size_t len;

	/* Widths need UTF-8; cron and services often run in the C locale. */
	const char *loc = setlocale(LC_CTYPE, "");
	if (loc == NULL || strcmp(nl_langinfo(CODESET), "UTF-8") != 0)
		setlocale(LC_CTYPE, "C.UTF-8");
	/* "+": the command's own options (--at, --note …) are not ours. */
	while ((c = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'j': raw = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "kaohectl: no command given\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	char *line = request_line(argc - optind, argv + optind, &len);
	if (line == NULL)
		return EXIT_USAGE;
	int fd = connect_daemon(path, &status);
	if (fd < 0) {
		free(line);
		return status;
	}
	int send_errno = send_request(fd, line, len);
	free(line);
	char *ans = read_answer(fd, path, send_errno, &status);
	close(fd);
	if (ans == NULL)
		return status;
	status = print_answer(ans, raw);
	free(ans);
	return status;
}
