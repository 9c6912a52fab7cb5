/*
 * util — small helpers shared by every module: checked allocation, points
 * in integer hundredths, metric values in ten-thousandths, UTF-8 checks
 * and a growable string.
 */
#ifndef KAOHE_UTIL_H
#define KAOHE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Allocation that cannot fail: on exhaustion the process logs and aborts.
 * Every write is one SQLite transaction, so an abort loses nothing that
 * was acknowledged.
 */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grow *ARR (of *CAP elements of SIZE bytes) so that it holds NEED. */
void util_reserve(void *arr, size_t *cap, size_t need, size_t size);

/*
 * Parse a decimal with at most SCALE_DIGITS fraction digits ("0.2",
 * "-3", "96.50") into an integer scaled by 10^SCALE_DIGITS.  Returns 0,
 * or -1 for anything else (no digits, junk, too many decimals, overflow).
 */
int util_parse_fixed(const char *s, int scale_digits, int64_t *out);
/*
 * Convert a double from a config file into hundredths; -1 unless it has
 * at most two decimals.
 */
int util_double_to_hundredths(double d, int64_t *out);
/* Format a scaled integer with no trailing zeros: 9650 -> "96.5". */
void util_format_fixed(int64_t v, int scale_digits, char *buf, size_t len);

/*
 * Copy SRC into DST of LEN bytes, cut if need be, always terminated;
 * returns strlen(SRC).
 */
size_t util_strlcpy(char *dst, const char *src, size_t len);

/* The length of S's first LEN bytes without a UTF-8 sequence cut at the end. */
size_t util_utf8_trim(const char *s, size_t len);

/* True when S (of LEN bytes) is well-formed UTF-8 without NUL. */
bool util_utf8_valid(const char *s, size_t len);

/*
 * The offset of the first control character in S (LEN bytes of valid
 * UTF-8): C0 (U+0000-U+001F), DEL (U+007F) or C1 (U+0080-U+009F), its
 * code point in *CP; -1 when there is none.  Such characters in stored
 * text would reach a terminal as commands (escape sequences, a carriage
 * return over a table's cells).
 */
long util_control_char(const char *s, size_t len, unsigned *cp);
/*
 * The offset of the first character in S (LEN bytes of valid UTF-8) that
 * changes how the text around it is shown without showing itself: a
 * bidirectional control (U+202A-U+202E, U+2066-U+2069), which reorders
 * what follows so that a table or an audit line reads otherwise than it
 * was written, a line or paragraph separator (U+2028, U+2029), or a
 * noncharacter (U+FFFE, U+FFFF); its code point in *CP; -1 when there is
 * none.
 */
long util_format_char(const char *s, size_t len, unsigned *cp);
/*
 * Replace every control character of the valid UTF-8 string S (as
 * util_control_char() finds them) by spaces, in place: for texts others
 * wrote (a server's answer) that are kept and shown, and cannot be
 * refused.
 */
void util_control_scrub(char *s);

/*
 * A map from strings to non-negative ints (open addressing).  Keys are
 * not copied: they must outlive the map.  Several values may share a key;
 * strmap_next() walks them.
 */
struct strmap {
	const char **keys;
	int *vals;
	size_t mask;
};
/* Ready for up to N keys. */
void strmap_init(struct strmap *m, size_t n);
void strmap_free(struct strmap *m);
void strmap_put(struct strmap *m, const char *key, int val);
/*
 * The first value under KEY, or -1.  *POS, when not NULL, is where to go
 * on with strmap_next(); each returns -1 when no more values hold KEY.
 */
int strmap_get(const struct strmap *m, const char *key, size_t *pos);
int strmap_next(const struct strmap *m, const char *key, size_t *pos);

/* A growable NUL-terminated string. */
struct sbuf {
	char *buf;
	size_t len, cap;
};
void sbuf_init(struct sbuf *sb);
void sbuf_free(struct sbuf *sb);
void sbuf_grow(struct sbuf *sb, size_t len);
/* Append LEN bytes of S. */
static inline void sbuf_add(struct sbuf *sb, const char *s, size_t len)
{
	/* Answers are built from many short pieces: no call when they fit. */
	if (sb->len + len + 1 > sb->cap)
		sbuf_grow(sb, len);
	memcpy(sb->buf + sb->len, s, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
}
/* Empty SB, keeping its memory for the next use. */
static inline void sbuf_reset(struct sbuf *sb)
{
	sb->len = 0;
	sb->buf[0] = '\0';
}
/* Append a string literal, its length known at compile time. */
#define SBUF_LIT(sb, lit) sbuf_add((sb), "" lit, sizeof(lit) - 1)
void sbuf_puts(struct sbuf *sb, const char *s);
void sbuf_printf(struct sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append V, scaled by 10^SCALE_DIGITS, as util_format_fixed() writes it. */
void sbuf_add_fixed(struct sbuf *sb, int64_t v, int scale_digits);
/*
 * Append LEN bytes of S with the five characters that could open markup
 * or close a quoted attribute (& < > " ') as references; every other
 * byte passes as it is.
 */
void sbuf_add_html(struct sbuf *sb, const char *s, size_t len);

#endif
