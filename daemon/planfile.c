/*
 * planfile: a plan file's units list found by a scan of libconfig's
 * lexical structure (strings, comments, names, brackets), and cut into
 * batches.  The scan does not judge the file: anything it is not sure of
 * leaves the file to libconfig whole, and libconfig's own error or
 * reading then follows.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kaohe/planfile.h"
#include "kaohe/util.h"

/* Deeper than any plan: a file nested further is read whole. */
#define MAX_DEPTH 64

struct scan {
	const char *t;
	size_t len, i;
	int line;
	char stack[MAX_DEPTH];
	int depth;
	size_t name_off, name_len; /* the name just read, at name_depth */
	int name_depth;
	bool assigned;  /* `=` or `:` followed that name */
	int plan_depth; /* 0 before the plan group, 1 in it, -1 after it */
	int list_depth; /* the depth of the units' elements, while in the list */
	bool in_elem, after_comma, list_done;
	size_t list_open, list_close;
	struct planfile *pf;
	size_t cap;
};

/* Skip a comment or a string at S->i; false at its unterminated end. */
static bool skip_comment_or_string(struct scan *s)
{
	const char *t = s->t;
	if (t[s->i] == '"') {
		for (s->i++; s->i < s->len && t[s->i] != '"'; s->i++) {
			if (t[s->i] == '\\' && s->i + 1 < s->len)
				s->i++;
			if (t[s->i] == '\n')
				s->line++;
		}
		if (s->i >= s->len)
			return false;
		s->i++;
		return true;
	}
	if (t[s->i] == '#' || (t[s->i] == '/' && t[s->i + 1] == '/')) {
		while (s->i < s->len && t[s->i] != '\n')
			s->i++;
		return true;
	}
	/* a block comment */
	for (s->i += 2; s->i + 1 < s->len && !(t[s->i] == '*' && t[s->i + 1] == '/'); s->i++)
		if (t[s->i] == '\n')
			s->line++;
	if (s->i + 1 >= s->len)
		return false;
	s->i += 2;
	return true;
}

static bool is_name_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '*';
}

static bool is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool name_is(const struct scan *s, const char *name)
{
	return s->name_len == strlen(name) && memcmp(s->t + s->name_off, name, s->name_len) == 0;
}

/* An element of the list begins at S->i. */
static void begin_elem(struct scan *s)
{
	struct planfile *pf = s->pf;
	util_reserve(&pf->el, &s->cap, pf->nel + 1, sizeof(*pf->el));
	pf->el[pf->nel] = (struct planfile_elem){ .off = s->i, .line = s->line };
	s->in_elem = true;
}

static void end_elem(struct scan *s)
{
	struct planfile_elem *e = &s->pf->el[s->pf->nel++];
	e->len = s->i - e->off;
	s->in_elem = false;
}

/* An opening bracket at S->i; false when the file is to be read whole. */
static bool open_bracket(struct scan *s, char c)
{
	if (s->depth == MAX_DEPTH)
		return false;
	bool named = s->assigned && s->name_depth == s->depth;
	if (named && s->depth == 0 && c == '{' && name_is(s, "plan")) {
		if (s->plan_depth)
			return false; /* a second plan group: libconfig says so */
		s->plan_depth = 1;
	} else if (named && s->plan_depth == 1 && s->depth == 1 && name_is(s, "units")) {
		/* a list only: an array [ … ] of groups is libconfig's error, which
		 * batches, read as lists, would not make */
		if (c != '(' || s->list_depth || s->list_done)
			return false;
		s->list_depth = s->depth + 1;
		s->list_open = s->i;
		s->pf->list_line = s->line;
	}
	s->stack[s->depth++] = c;
	s->assigned = false;
	s->name_len = 0;
	return true;
}

static bool close_bracket(struct scan *s, char c)
{
	static const char pairs[] = "{}()[]";
	if (s->depth == 0 || strchr(pairs, s->stack[s->depth - 1])[1] != c)
		return false;
	if (s->depth == s->list_depth) {
		if (s->in_elem)
			end_elem(s);
		else if (s->after_comma)
			return false; /* a trailing comma */
		s->list_close = s->i;
		s->list_depth = 0;
		s->list_done = true;
	}
	if (s->depth == 1 && s->plan_depth == 1)
		s->plan_depth = -1; /* the plan group has ended */
	s->depth--;
	s->assigned = false;
	s->name_len = 0;
	return true;
}

/* One token at S->i; false when the file is to be read whole. */
static bool scan_token(struct scan *s)
{
	const char *t = s->t;
	char c = t[s->i];
	bool at_list = s->list_depth && s->depth == s->list_depth;

	if (c == '\n' || c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
		s->line += c == '\n';
		s->i++;
		return true;
	}
	if (c == '#' || (c == '/' && (t[s->i + 1] == '/' || t[s->i + 1] == '*')))
		return skip_comment_or_string(s);
	if (c == '@' || c == '\0')
		return false; /* an include, or a NUL libconfig would stop at */
	if (at_list && c != ',' && c != ')' && c != ']' && !s->in_elem)
		begin_elem(s);
	if (c == '"') {
		s->assigned = false;
		return skip_comment_or_string(s);
	}
	if (c == '{' || c == '(' || c == '[') {
		bool ok = open_bracket(s, c);
		s->i++;
		return ok;
	}
	if (c == '}' || c == ')' || c == ']') {
		bool ok = close_bracket(s, c);
		s->i++;
		return ok;
	}
	if (c == ',' && at_list) {
		if (!s->in_elem)
			return false; /* an empty element */
		end_elem(s);
		s->after_comma = true;
		s->i++;
		return true;
	}
	if (c == '=' || c == ':') {
		s->assigned = s->name_len > 0;
		s->i++;
		return true;
	}
	if (is_name_start(c)) {
		s->name_off = s->i;
		while (s->i < s->len && is_name_char(t[s->i]))
			s->i++;
		s->name_len = s->i - s->name_off;
		s->name_depth = s->depth;
		s->assigned = false;
		return true;
	}
	/* a number, a terminator, or anything libconfig is left to judge */
	s->name_len = 0;
	s->assigned = false;
	s->i++;
	while (s->i < s->len && is_name_char(t[s->i]) && !(c == ';' || c == ','))
		s->i++;
	return true;
}

/* PF->rest: the file with the list's elements cut out, its newlines kept. */
static void make_rest(struct planfile *pf, size_t open, size_t close)
{
	size_t n = 0;
	for (size_t i = open + 1; i < close; i++)
		n += pf->text[i] == '\n';
	pf->rest = xmalloc(pf->len - (close - open - 1) + n + 1);
	char *w = pf->rest;
	memcpy(w, pf->text, open + 1);
	w += open + 1;
	memset(w, '\n', n);
	w += n;
	memcpy(w, pf->text + close, pf->len - close + 1);
}

int planfile_scan(char *text, size_t len, struct planfile *pf)
{
	struct scan s = { .t = text, .len = len, .line = 1, .pf = pf };

	memset(pf, 0, sizeof(*pf));
	bool ok = true;
	while (ok && s.i < len)
		ok = scan_token(&s);
	if (!ok || s.depth != 0 || !s.list_done) {
		free(pf->el);
		memset(pf, 0, sizeof(*pf));
		return 1;
	}
	pf->text = text;
	pf->len = len;
	make_rest(pf, s.list_open, s.list_close);
	return 0;
}

int planfile_read(const char *path, struct planfile *pf)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	memset(pf, 0, sizeof(*pf));
	if (fd < 0)
		return 1;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return 1;
	}
	size_t len = (size_t)sb.st_size, got = 0;
	char *text = xmalloc(len + 1);
	while (got < len) {
		ssize_t r = read(fd, text + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	text[got] = '\0';
	if (got != len || memchr(text, '\0', got) != NULL || planfile_scan(text, got, pf) != 0) {
		free(text);
		return 1;
	}
	return 0;
}

char *planfile_batch(const struct planfile *pf, size_t first, size_t n)
{
	static const char head[] = "units = (", tail[] = ");";
	const struct planfile_elem *a = &pf->el[first], *b = &pf->el[first + n - 1];
	size_t pad = (size_t)(a->line - 1), body = b->off + b->len - a->off;
	char *out = xmalloc(pad + sizeof(head) - 1 + body + sizeof(tail));
	char *w = out;

	memset(w, '\n', pad);
	w += pad;
	memcpy(w, head, sizeof(head) - 1);
	w += sizeof(head) - 1;
	memcpy(w, pf->text + a->off, body);
	w += body;
	memcpy(w, tail, sizeof(tail));
	return out;
}

void planfile_free(struct planfile *pf)
{
	free(pf->text);
	free(pf->rest);
	free(pf->el);
	memset(pf, 0, sizeof(*pf));
}
