/*
 * json — the JSON writer and the jansson values of the project's types.
 * Points leave the program as JSON numbers, integers where whole so that
 * "14" stays 14, else the shortest decimal that is exact: the writer
 * prints the fixed-point figure as it is, jansson a real with 15
 * significant digits, and both give the same text.
 */
#include <assert.h>
#include <string.h>

#include "kaohe/calendar.h"
#include "kaohe/json.h"

/*
 * What jansson writes for each byte of a string: 0 the byte itself, 'u'
 * a \u00XX escape, else the letter after a backslash.  The NUL that ends
 * a string is marked too, so that one scan finds both the end and the
 * first byte to escape.
 */
static const char escape[256] = {
	['\0'] = 1,   [0x01] = 'u', [0x02] = 'u', [0x03] = 'u',  [0x04] = 'u', [0x05] = 'u',
	[0x06] = 'u', [0x07] = 'u', ['\b'] = 'b', ['\t'] = 't',  ['\n'] = 'n', [0x0b] = 'u',
	['\f'] = 'f', ['\r'] = 'r', [0x0e] = 'u', [0x0f] = 'u',  [0x10] = 'u', [0x11] = 'u',
	[0x12] = 'u', [0x13] = 'u', [0x14] = 'u', [0x15] = 'u',  [0x16] = 'u', [0x17] = 'u',
	[0x18] = 'u', [0x19] = 'u', [0x1a] = 'u', [0x1b] = 'u',  [0x1c] = 'u', [0x1d] = 'u',
	[0x1e] = 'u', [0x1f] = 'u', ['"'] = '"',  ['\\'] = '\\',
};

/* The first byte of S that is escaped, or its end. */
static const char *plain_end(const char *s)
{
	while (escape[(unsigned char)*s] == 0)
		s++;
	return s;
}

/*
 * Room for LEN more bytes at the end of SB, which the caller fills and
 * counts: a member's pieces are written with one check of the room.
 */
static char *room(struct sbuf *sb, size_t len)
{
	if (sb->len + len + 1 > sb->cap)
		sbuf_grow(sb, len);
	return sb->buf + sb->len;
}

/* S as a JSON string literal: runs without escapes are copied whole. */
static void put_string(struct sbuf *sb, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *p = plain_end(s);
	size_t n = (size_t)(p - s);

	if (*p == '\0') {
		/* Most strings: nothing to escape, the quotes and the text in one piece. */
		char *d = room(sb, n + 2);
		d[0] = '"';
		memcpy(d + 1, s, n);
		d[n + 1] = '"';
		d[n + 2] = '\0';
		sb->len += n + 2;
		return;
	}
	sbuf_add(sb, "\"", 1);
	for (;;) {
		sbuf_add(sb, s, (size_t)(p - s));
		if (*p == '\0')
			break;
		unsigned char c = (unsigned char)*p++;
		if (escape[c] == 'u') {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			sbuf_add(sb, u, sizeof(u));
		} else {
			char b[2] = { '\\', escape[c] };
			sbuf_add(sb, b, sizeof(b));
		}
		s = p;
		p = plain_end(s);
	}
	sbuf_add(sb, "\"", 1);
}

/*
 * Before each value: its comma and its name, where it stands.  A name is
 * the program's own word or a plan id (letters, digits, '-' and '_', as
 * config.c checks), so it is copied as it is: scanning every member's
 * name for escapes would cost more than the rest of a standing.
 */
static void begin(struct json_writer *w, const char *name)
{
	int d = w->depth;

	assert((name != NULL) == w->object[d]);
	assert(d > 0 || !w->more[0]);
	if (name == NULL) {
		if (w->more[d])
			sbuf_add(w->sb, ",", 1);
		w->more[d] = true;
		return;
	}
	size_t n = strlen(name);
	assert(*plain_end(name) == '\0');
	char *p = room(w->sb, n + 4), *start = p;
	if (w->more[d])
		*p++ = ',';
	w->more[d] = true;
	*p++ = '"';
	memcpy(p, name, n);
	p += n;
	*p++ = '"';
	*p++ = ':';
	*p = '\0';
	w->sb->len += (size_t)(p - start);
}

void json_do_start(struct json_writer *w, struct sbuf *sb)
{
	w->sb = sb;
	w->depth = 0;
	w->object[0] = false;
	w->more[0] = false;
}

void json_do_finish(const struct json_writer *w)
{
	assert(w->depth == 0 && w->more[0]);
	(void)w;
}

static void open_container(struct json_writer *w, const char *name, bool object)
{
	begin(w, name);
	assert(w->depth < JSON_MAX_DEPTH);
	w->depth++;
	w->object[w->depth] = object;
	w->more[w->depth] = false;
	sbuf_add(w->sb, object ? "{" : "[", 1);
}

void json_do_object(struct json_writer *w, const char *name)
{
	open_container(w, name, true);
}

void json_do_array(struct json_writer *w, const char *name)
{
	open_container(w, name, false);
}

void json_do_end(struct json_writer *w)
{
	assert(w->depth > 0);
	sbuf_add(w->sb, w->object[w->depth] ? "}" : "]", 1);
	w->depth--;
}

void json_do_string(struct json_writer *w, const char *name, const char *s)
{
	begin(w, name);
	put_string(w->sb, s);
}

void json_do_int(struct json_writer *w, const char *name, int64_t v)
{
	begin(w, name);
	sbuf_add_fixed(w->sb, v, 0);
}

void json_do_bool(struct json_writer *w, const char *name, bool v)
{
	begin(w, name);
	if (v)
		SBUF_LIT(w->sb, "true");
	else
		SBUF_LIT(w->sb, "false");
}

void json_do_null(struct json_writer *w, const char *name)
{
	begin(w, name);
	SBUF_LIT(w->sb, "null");
}

void json_do_points(struct json_writer *w, const char *name, int64_t hundredths)
{
	begin(w, name);
	sbuf_add_fixed(w->sb, hundredths, 2);
}

void json_do_instant(struct json_writer *w, const char *name, int64_t t)
{
	char buf[48];

	/* Digits, signs, colons and a T: nothing to escape. */
	buf[0] = '"';
	calendar_format_instant(t, buf + 1, sizeof(buf) - 2);
	size_t n = strlen(buf);
	buf[n] = '"';
	begin(w, name);
	sbuf_add(w->sb, buf, n + 1);
}

void json_do_splice(struct json_writer *w, const char *obj, size_t len)
{
	int d = w->depth;

	assert(d > 0 && w->object[d]);
	assert(len >= 2 && obj[0] == '{' && obj[len - 1] == '}');
	if (len == 2)
		return;
	if (w->more[d])
		sbuf_add(w->sb, ",", 1);
	w->more[d] = true;
	sbuf_add(w->sb, obj + 1, len - 2);
}

json_t *json_new_points(int64_t h)
{
	if (h % 100 == 0)
		return json_integer(h / 100);
	return json_real((double)h / 100.0);
}

json_t *json_new_metric(int64_t v)
{
	if (v % 10000 == 0)
		return json_integer(v / 10000);
	return json_real((double)v / 10000.0);
}

json_t *json_new_instant(int64_t t)
{
	char buf[40];
	calendar_format_instant(t, buf, sizeof(buf));
	return json_string(buf);
}

char *json_dump_compact(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
				     JSON_REAL_PRECISION(15));
}
