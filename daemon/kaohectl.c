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
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kaohe/display.h"
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
		"usage: kaohectl [-s SOCKET] [--json | --wide] [--year YYYY] COMMAND [ARGS...]\n"
		"\n"
		"  -s, --socket PATH  the control socket (default $KAOHE_SOCKET or " DEFAULT_SOCKET
		")\n"
		"      --json         print the daemon's JSON answer as it came\n"
		"  -w, --wide         tables with every column and nothing cut (else 80 columns)\n"
		"  -V, --version      the version\n"
		"      --year YYYY    the plan year the command addresses (default: the\n"
		"                     latest in force)\n"
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
		   "2 usage (an unknown command, a missing or extra argument, an option\n"
		   "the command does not take), 3 no daemon answers on the socket\n");
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

/* --wide: every column of every table, and no text cut. */
static bool wide;
/* The command asked: which views apply to its answer. */
static const char *command;

/* Every line of a table or a value fits this many columns, unless --wide. */
#define COLUMNS 80

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

/* An identifier read as words: "not_submitted" is "not submitted", "on-time" "on time". */
static char *as_words(const char *id, const char *seps)
{
	char *w = visible(id);
	for (char *p = w; p && *p; p++)
		if (strchr(seps, *p))
			*p = ' ';
	return w;
}

/* The instant S (2020-09-15T18:00:00+08:00) in Unix seconds; false if it is none. */
static bool parse_instant(const char *s, int64_t *t)
{
	struct tm tm = { 0 };
	int oh, om, n = 0;
	char sign;

	if (strlen(s) != 25 ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &sign, &oh, &om, &n) != 9 ||
	    n != 25 || (sign != '+' && sign != '-'))
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*t = (int64_t)timegm(&tm) - (sign == '+' ? 1 : -1) * (oh * 3600 + om * 60);
	return true;
}

/*
 * The instant S as a table shows it: "2020-09-15 18:00", with ":SS" when
 * the seconds are not 00.  Every instant of an answer is in the plan's
 * time zone, so the offset tells nothing in a table; --wide shows it.
 */
static char *short_instant(const char *s)
{
	int64_t t;

	if (wide || !parse_instant(s, &t))
		return strdup(s);
	bool secs = strncmp(s + 17, "00", 2) != 0;
	char *out = strndup(s, secs ? 19 : 16);
	if (out)
		out[10] = ' ';
	return out;
}

/* The text of V in a table's column KEY: instants shortened, states as words. */
static char *cell_text(const char *key, const json_t *v)
{
	if (v == NULL)
		return strdup("");
	if (json_is_string(v) && strcmp(key, "state") == 0)
		return as_words(json_string_value(v), "_-");
	if (json_is_string(v)) {
		char *t = short_instant(json_string_value(v));
		char *vis = t ? visible(t) : NULL;
		free(t);
		return vis;
	}
	return scalar_text(v);
}

/* Print INDENT spaces, then TEXT cut to the COLUMNS - INDENT columns left (unless --wide). */
static void print_line(int indent, const char *text)
{
	char *t = wide ? strdup(text) : display_fit(text, COLUMNS - indent);
	printf("%*s%s\n", indent, "", t ? t : "");
	free(t);
}

/*
 * A table's notes: lines under a row, for what its columns cannot say.
 * Each fills OUT with at most MAX lines (malloc'd text) and returns how many.
 */
typedef int (*notes_fn)(const json_t *row, char **out, int max);

/*
 * How one table of an answer is shown: the columns kept within
 * COLUMNS (in this order; the others appear with --wide), the line that
 * says it is empty, and notes.  A table without a view shows every
 * column, the widest cut first.
 */
struct view {
	const char *command; /* the command whose answer holds the table */
	const char *table;   /* the member holding it ("" the answer itself) */
	const char *columns; /* space-separated; NULL: every column */
	const char *empty;   /* said when it holds nothing; NULL: "TABLE: none" */
	notes_fn notes;
};

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	int n = vasprintf(&s, f, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

static const char *member_text(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/*
 * An entry written after the instant it applies to (by a catch-up, or a
 * submission backdated with --at) says when it was written; a voided
 * one, who voided it, when and why.
 */
static int entry_notes(const json_t *e, char **out, int max)
{
	int n = 0;
	int64_t at, written;
	const char *rec = member_text(e, "recorded_at");

	if (n < max && parse_instant(member_text(e, "at"), &at) && parse_instant(rec, &written) &&
	    written - at >= 60) {
		char *w = short_instant(rec);
		out[n++] = fmt(strcmp(member_text(e, "by"), "auto") == 0
				       ? "written %s, by a catch-up"
				       : "written %s",
			       w ? w : rec);
		free(w);
	}
	const json_t *v = json_object_get(e, "voided");
	if (n < max && json_is_object(v)) {
		char *when = short_instant(member_text(v, "at"));
		char *by = visible(member_text(v, "by"));
		char *why = visible(member_text(v, "reason"));
		out[n++] =
			fmt("voided %s by %s: %s", when ? when : "", by ? by : "", why ? why : "");
		free(when);
		free(by);
		free(why);
	}
	return n;
}

/* A delivery that failed says why, and when it is tried next. */
static int outbox_notes(const json_t *r, char **out, int max)
{
	const char *err = member_text(r, "error");
	json_int_t code = json_integer_value(json_object_get(r, "code"));
	int n = 0;

	if (n < max && *err) {
		char *e = visible(err);
		out[n++] = code ? fmt("error (%lld): %s", (long long)code, e ? e : "")
				: fmt("error: %s", e ? e : "");
		free(e);
	}
	if (n < max && *err && json_object_get(r, "next")) {
		char *next = short_instant(member_text(r, "next"));
		out[n++] = fmt("next try %s", next ? next : "");
		free(next);
	}
	return n;
}

static const struct view views[] = {
	{ "status", "open", "occurrence due deadline close", "nothing is overdue", NULL },
	{ "status", "occurrences", "occurrence state due close submitted_at", "no deadlines",
	  NULL },
	{ "upcoming", "occurrences", "occurrence due late missing department title",
	  "nothing falls due in these days", NULL },
	{ "explain", "rows", "row category max start score content", NULL, NULL },
	{ "explain", "entries", "id type occurrence points at by note", "no entries", entry_notes },
	{ "snapshots", "", NULL, "no snapshots taken yet", NULL },
	{ "audit", "", "id at by command result", "nothing audited yet", NULL },
	{ "plan", "rows", "row category department max late missing content", NULL, NULL },
	{ "outbox", "rows", "id state kind channel to at about", "no deliveries", outbox_notes },
};

static const struct view *view_of(const char *table)
{
	for (size_t i = 0; command && i < sizeof(views) / sizeof(views[0]); i++)
		if (strcmp(views[i].command, command) == 0 && strcmp(views[i].table, table) == 0)
			return &views[i];
	return NULL;
}

/* Whether the space-separated LIST names WORD. */
static bool listed(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

#define MAX_COLUMNS 64

/*
 * Narrow the columns of widths W (N of them) until they fit AVAIL
 * columns with two spaces between them: the widest first, none below 4
 * (or its natural width), the texts before the FIRM columns (instants,
 * numbers), which are cut only when the texts are down to 4; then, if
 * that is not enough, the last columns go.  The number of columns kept.
 */
static int fit_columns(int *w, const bool *firm, int n, int avail)
{
	enum { FLOOR = 4 };
	int total = 0;

	for (int c = 0; c < n; c++)
		total += w[c] + (c ? 2 : 0);
	for (int pass = 0; pass < 2; pass++) {
		while (total > avail) {
			int widest = -1;
			for (int c = 0; c < n; c++)
				if (w[c] > FLOOR && (pass || !firm[c]) &&
				    (widest < 0 || w[c] > w[widest]))
					widest = c;
			if (widest < 0)
				break;
			w[widest]--;
			total--;
		}
	}
	while (n > 1 && total > avail)
		total -= w[--n] + 2;
	if (total > avail)
		w[0] = avail > 1 ? avail : 1;
	return n;
}

static void print_shown(const char *key, const char *rawkey, const json_t *v, int indent);

/* Whether V is kept whole before texts are cut to their floor: absent, a number or an instant. */
static bool is_firm(const json_t *v)
{
	int64_t t;
	return v == NULL || json_is_null(v) || json_is_number(v) ||
	       (json_is_string(v) && parse_instant(json_string_value(v), &t));
}

/* The columns of a table: every scalar member, in the order first seen, or the view's. */
static int table_columns(const json_t *arr, const struct view *vw, const char **cols)
{
	int ncols = 0;
	size_t i;
	json_t *row;

	json_array_foreach(arr, i, row)
	{
		const char *key;
		json_t *v;
		json_object_foreach((json_t *)row, key, v)
		{
			int c;
			if (!is_scalar(v) ||
			    (!wide && vw && vw->columns && !listed(vw->columns, key)))
				continue;
			for (c = 0; c < ncols && strcmp(cols[c], key) != 0; c++)
				;
			if (c == ncols && ncols < MAX_COLUMNS)
				cols[ncols++] = key;
		}
	}
	if (!wide && vw && vw->columns) {
		/* In the view's order. */
		int k = 0;
		const char *sorted[MAX_COLUMNS];
		for (const char *p = vw->columns; *p; p += strspn(p, " ")) {
			size_t len = strcspn(p, " ");
			for (int c = 0; c < ncols; c++)
				if (strlen(cols[c]) == len && strncmp(cols[c], p, len) == 0)
					sorted[k++] = cols[c];
			p += len;
		}
		memcpy(cols, sorted, sizeof(*cols) * (size_t)k);
		ncols = k;
	}
	return ncols;
}

/* A table of an array of objects under TABLE: one column per scalar member. */
static void print_table(const json_t *arr, int indent, const char *table)
{
	const struct view *vw = view_of(table);
	const char *cols[MAX_COLUMNS];
	int widths[MAX_COLUMNS], ncols = table_columns(arr, vw, cols);
	size_t i, nrows = json_array_size(arr);
	json_t *row;

	char **cells = calloc((nrows + 1) * (size_t)(ncols ? ncols : 1), sizeof(*cells));
	if (cells == NULL)
		return;
	bool firm[MAX_COLUMNS];
	for (int c = 0; c < ncols; c++) {
		cells[c] = visible(cols[c]);
		widths[c] = cells[c] ? display_width(cells[c]) : 0;
		firm[c] = true;
	}
	json_array_foreach(arr, i, row)
	{
		for (int c = 0; c < ncols; c++) {
			char **t = &cells[(i + 1) * (size_t)ncols + (size_t)c];
			json_t *v = json_object_get(row, cols[c]);
			*t = cell_text(cols[c], v);
			if (*t && display_width(*t) > widths[c])
				widths[c] = display_width(*t);
			firm[c] &= is_firm(v);
		}
	}
	int shown = wide ? ncols : fit_columns(widths, firm, ncols, COLUMNS - indent);
	for (size_t r = 0; r <= nrows; r++) {
		char **line = &cells[r * (size_t)ncols];
		int last = shown - 1; /* the last cell with text: no spaces after it */
		while (last > 0 && (line[last] == NULL || *line[last] == '\0'))
			last--;
		printf("%*s", indent, "");
		for (int c = 0; c <= last; c++) {
			const char *t = line[c];
			char *f = wide ? strdup(t ? t : "") : display_fit(t ? t : "", widths[c]);
			int pad = c < last ? widths[c] - display_width(f ? f : "") + 2 : 0;
			printf("%s%*s", f ? f : "", pad, "");
			free(f);
		}
		printf("\n");
		char *notes[4];
		int nn = r > 0 && vw && vw->notes ? vw->notes(json_array_get(arr, r - 1), notes, 4)
						  : 0;
		for (int k = 0; k < nn; k++) {
			print_line(indent + (shown > 1 ? widths[0] + 2 : 2),
				   notes[k] ? notes[k] : "");
			free(notes[k]);
		}
	}
	for (size_t k = 0; k < (nrows + 1) * (size_t)ncols; k++)
		free(cells[k]);
	free(cells);
}

/*
 * KEY: the values of the array V on one line, as many as fit (unless
 * --wide), then how many more there are.
 */
static void print_list(const char *key, const json_t *v, int indent)
{
	size_t i, n = json_array_size(v), len = 0;
	char *line = NULL, more[48];
	FILE *f = open_memstream(&line, &len);
	int w = key ? display_width(key) + 2 : 0;
	json_t *e;

	if (f == NULL)
		return;
	if (key)
		fprintf(f, "%s: ", key);
	json_array_foreach(v, i, e)
	{
		char *t = scalar_text(e);
		int tw = (t ? display_width(t) : 0) + (i ? 2 : 0);
		/* Room is kept for the count of those left out. */
		snprintf(more, sizeof(more), ", … %zu more", n - i - 1);
		if (!wide && w + tw + (i + 1 < n ? display_width(more) : 0) > COLUMNS - indent) {
			fprintf(f, "%s… %zu more", i ? ", " : "", n - i);
			free(t);
			break;
		}
		fprintf(f, "%s%s", i ? ", " : "", t ? t : "");
		w += tw;
		free(t);
	}
	if (fclose(f) == 0)
		print_line(indent, line);
	free(line);
}

/*
 * The members of each element of the table ARR that are arrays (a row's
 * entries, an occurrence's units), each after the table, labelled by the
 * element's id.
 */
static void print_nested(const json_t *arr, int indent)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e)
	{
		const char *k;
		json_t *m;
		json_object_foreach(e, k, m)
		{
			if (!json_is_array(m) || json_array_size(m) == 0)
				continue;
			json_t *id = json_object_get(e, "row") ?: json_object_get(e, "occurrence")
									?: json_object_get(e, "unit");
			char *t = id ? scalar_text(id) : NULL;
			char *kw = as_words(k, "_");
			char *label = fmt("%s %s", t ? t : "", kw ? kw : "");
			free(t);
			free(kw);
			print_shown(label, k, m, indent);
			free(label);
		}
	}
}

/*
 * Print V under the label KEY (already made readable; NULL for none),
 * found in the answer under the member RAWKEY: a scalar on the label's
 * line, a list of scalars on one line, an array of objects as a table,
 * an object member by member.
 */
static void print_shown(const char *key, const char *rawkey, const json_t *v, int indent)
{
	if (is_scalar(v)) {
		bool state = rawkey && strcmp(rawkey, "state") == 0 && json_is_string(v);
		char *t = state ? as_words(json_string_value(v), "_-") : scalar_text(v);
		char *line = fmt("%s%s%s", key ? key : "", key ? ": " : "", t ? t : "");
		print_line(indent, line ? line : "");
		free(line);
		free(t);
		return;
	}
	if (json_is_array(v) && json_array_size(v) == 0) {
		const struct view *vw = view_of(rawkey ? rawkey : "");
		if (vw && vw->empty)
			printf("%*s%s\n", indent, "", vw->empty);
		else
			printf("%*s%s%snone\n", indent, "", key ? key : "", key ? ": " : "");
		return;
	}
	if (json_is_array(v) && is_scalar(json_array_get(v, 0))) {
		print_list(key, v, indent);
		return;
	}
	if (key)
		printf("%*s%s:\n", indent, "", key);
	int sub = key ? indent + 2 : indent;
	size_t i;
	json_t *e;
	if (json_is_array(v)) {
		bool objects = true;
		json_array_foreach(v, i, e) objects &= json_is_object(e);
		if (objects) {
			print_table(v, sub, rawkey ? rawkey : "");
			print_nested(v, sub);
		} else {
			json_array_foreach(v, i, e) print_shown(NULL, NULL, e, sub);
		}
		return;
	}
	const char *k;
	json_t *m;
	json_object_foreach((json_t *)v, k, m)
	{
		char *kw = as_words(k, "_");
		print_shown(kw, k, m, sub);
		free(kw);
	}
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
 * The request: the N words ARGV quoted into one line, then --year YEAR
 * when given, with its newline, its length in *LEN.  NULL after a
 * message (a usage error).
 */
static char *request_line(int n, char **argv, const char *year, size_t *len)
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
	/* An option of every command: the daemon takes it wherever it stands. */
	if (year) {
		add_arg(&line, len, &cap, "--year");
		add_arg(&line, len, &cap, year);
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

/* test-send's answer: where it went, then what the server said, a line each, as it said it. */
static void print_said(const json_t *data)
{
	static const char *const keys[] = { "channel", "provider", "to", "status" };
	size_t i;
	json_t *line;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		print_shown(keys[i], keys[i], json_object_get(data, keys[i]) ?: json_null(), 0);
	printf("said:\n");
	json_array_foreach(json_object_get(data, "said"), i, line)
	{
		char *t = scalar_text(line);
		printf("  %s\n", t ? t : "");
		free(t);
	}
	print_shown("body", "body", json_object_get(data, "body") ?: json_null(), 0);
}

/*
 * Print the answer ANS: verbatim (RAW), a document, a table, or the
 * error; the exit status: 2 for a request the daemon found malformed, as
 * for one kaohectl finds so.
 */
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
	const char *code =
		json_string_value(json_object_get(json_object_get(answer, "error"), "code"));
	int status = ok ? 0 : code && grammar_usage_code(code) ? EXIT_USAGE : EXIT_REFUSED;
	json_t *content = json_object_get(json_object_get(answer, "data"), "content");
	if (raw) {
		print_inert(ans, strlen(ans));
		putchar('\n');
	} else if (ok && json_is_string(content)) {
		/* A whole document (report): printed as it is, to be saved or piped. */
		print_inert(json_string_value(content), json_string_length(content));
	} else if (ok && json_is_array(json_object_get(json_object_get(answer, "data"), "said"))) {
		print_said(json_object_get(answer, "data"));
	} else if (ok) {
		print_shown(NULL, "", json_object_get(answer, "data"), 0);
	} else {
		json_t *e = json_object_get(answer, "error");
		char *ct = scalar_text(json_object_get(e, "code") ?: json_null());
		char *msg = scalar_text(json_object_get(e, "message") ?: json_null());
		fprintf(stderr, "kaohectl: %s: %s\n", ct ? ct : "", msg ? msg : "");
		free(ct);
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
	return status;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "wide", no_argument, NULL, 'w' },
		{ "version", no_argument, NULL, 'V' },
		{ "year", required_argument, NULL, 'y' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = getenv("KAOHE_SOCKET") ? getenv("KAOHE_SOCKET") : DEFAULT_SOCKET;
	bool raw = false;
	const char *year = NULL;
	int c, status;
	size_t len;

	/* Widths need UTF-8; cron and services often run in the C locale. */
	const char *loc = setlocale(LC_CTYPE, "");
	if (loc == NULL || strcmp(nl_langinfo(CODESET), "UTF-8") != 0)
		setlocale(LC_CTYPE, "C.UTF-8");
	/* getopt's own messages name the program as ours do, not by its path. */
	argv[0] = "kaohectl";
	/* "+": the command's own options (--at, --note …) are not ours. */
	while ((c = getopt_long(argc, argv, "+s:jwVh", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'j': raw = true; break;
		case 'w': wide = true; break;
		case 'V': printf("kaohectl %s\n", KAOHE_VERSION); return 0;
		case 'y':
			if (strlen(optarg) != 4 || strspn(optarg, "0123456789") != 4) {
				fprintf(stderr, "kaohectl: --year takes a plan year, as 2026\n");
				return EXIT_USAGE;
			}
			year = optarg;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (raw && wide) {
		fprintf(stderr, "kaohectl: --json and --wide exclude each other\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (optind >= argc) {
		fprintf(stderr, "kaohectl: no command given\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	command = argv[optind];
	char *line = request_line(argc - optind, argv + optind, year, &len);
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
