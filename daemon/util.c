/*
 * util — helpers without state.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/log.h"
#include "kaohe/util.h"

static void util_oom(size_t n)
{
	log_warnx("out of memory allocating %zu bytes", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		util_oom(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		util_oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		util_oom(n);
	return q;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		util_oom(0);
	va_end(ap);
	return s;
}

void util_reserve(void *arr, size_t *cap, size_t need, size_t size)
{
	void **p = arr;
	size_t n = *cap ? *cap : 8;

	if (need <= *cap)
		return;
	while (n < need)
		n *= 2;
	*p = xrealloc(*p, n * size);
	*cap = n;
}

int util_parse_fixed(const char *s, int scale_digits, int64_t *out)
{
	int64_t ip = 0, fp = 0;
	int neg = 0, digits = 0, fdigits = 0;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		if (ip > (INT64_MAX / 10 - 9) / 100000)
			return -1;
		ip = ip * 10 + (*s - '0');
	}
	if (*s == '.') {
		s++;
		for (; *s >= '0' && *s <= '9'; s++, fdigits++) {
			if (fdigits >= scale_digits) {
				if (*s != '0')
					return -1;
				continue;
			}
			fp = fp * 10 + (*s - '0');
		}
		if (fdigits == 0)
			return -1;
	}
	if (*s != '\0' || digits == 0)
		return -1;
	for (int i = fdigits < scale_digits ? fdigits : scale_digits; i < scale_digits; i++)
		fp *= 10;
	int64_t scale = 1;
	for (int i = 0; i < scale_digits; i++)
		scale *= 10;
	*out = (ip * scale + fp) * (neg ? -1 : 1);
	return 0;
}

int util_double_to_hundredths(double d, int64_t *out)
{
	double h = d * 100.0;
	double r = round(h);

	if (!isfinite(d) || fabs(h - r) > 1e-6 || fabs(r) > 1e15)
		return -1;
	*out = (int64_t)r;
	return 0;
}

/*
 * V scaled by 10^SCALE_DIGITS, written backwards from END (which it does
 * not touch): the start of the text.  By hand: every point in every
 * output line comes through here.
 */
static char *fixed_text(int64_t v, int scale_digits, char *end)
{
	char *p = end;
	uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	int digits = 0;
	bool frac = false;

	for (; digits < scale_digits; digits++, a /= 10) {
		int d = (int)(a % 10);
		if (d || frac) {
			*--p = (char)('0' + d);
			frac = true;
		}
	}
	if (frac)
		*--p = '.';
	do {
		*--p = (char)('0' + a % 10);
		a /= 10;
	} while (a);
	if (v < 0)
		*--p = '-';
	return p;
}

void util_format_fixed(int64_t v, int scale_digits, char *buf, size_t len)
{
	char tmp[48];

	tmp[sizeof(tmp) - 1] = '\0';
	util_strlcpy(buf, fixed_text(v, scale_digits, tmp + sizeof(tmp) - 1), len);
}

size_t util_strlcpy(char *dst, const char *src, size_t len)
{
	size_t n = strlen(src);
	if (len) {
		size_t k = n < len ? n : len - 1;
		memcpy(dst, src, k);
		dst[k] = '\0';
	}
	return n;
}

size_t util_utf8_trim(const char *s, size_t len)
{
	size_t i = len;
	/* Back over continuation bytes to the last lead byte, if any. */
	while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80 && len - i < 3)
		i--;
	if (i == 0)
		return len;
	unsigned char c = (unsigned char)s[i - 1];
	size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
	return len - (i - 1) >= need ? len : i - 1;
}

bool util_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str, *end = s + len;

	while (s < end) {
		unsigned c = *s;
		int n;
		unsigned min;

		if (c == 0)
			return false;
		if (c < 0x80) {
			s++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1, min = 0x80, c &= 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, min = 0x800, c &= 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, min = 0x10000, c &= 0x07;
		} else {
			return false;
		}
		if (end - s <= n)
			return false;
		for (int i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			c = (c << 6) | (s[i] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
		s += n + 1;
	}
	return true;
}

void util_control_scrub(char *s)
{
	unsigned cp;
	long at;
	size_t len = strlen(s);

	while ((at = util_control_char(s, len, &cp)) >= 0) {
		s[at] = ' ';
		if (cp >= 0x80)
			s[at + 1] = ' ';
	}
}

long util_control_char(const char *str, size_t len, unsigned *cp)
{
	const unsigned char *s = (const unsigned char *)str;

	for (size_t i = 0; i < len; i++) {
		if (s[i] < 0x20 || s[i] == 0x7f) {
			*cp = s[i];
			return (long)i;
		}
		/* U+0080-U+009F are the two bytes C2 80 to C2 9F. */
		if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f) {
			*cp = s[i + 1];
			return (long)i;
		}
	}
	return -1;
}

long util_format_char(const char *str, size_t len, unsigned *cp)
{
	const unsigned char *s = (const unsigned char *)str;

	for (size_t i = 0; i + 2 < len; i++) {
		if (s[i] != 0xe2 && s[i] != 0xef)
			continue;
		unsigned c = (s[i] & 0x0fu) << 12 | (s[i + 1] & 0x3fu) << 6 | (s[i + 2] & 0x3fu);
		if ((c >= 0x2028 && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0xfffe ||
		    c == 0xffff) {
			*cp = c;
			return (long)i;
		}
	}
	return -1;
}

/* FNV-1a with a final mix, so that keys differing in their last bytes
 * (u00001, u00002, …) spread over the whole table. */
static size_t strmap_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	h ^= h >> 32;
	h *= 0x9e3779b97f4a7c15ULL;
	return (size_t)(h ^ (h >> 29));
}

void strmap_init(struct strmap *m, size_t n)
{
	size_t cap = 16;
	while (cap < n * 2)
		cap *= 2;
	m->keys = xcalloc(cap, sizeof(*m->keys));
	m->vals = xcalloc(cap, sizeof(*m->vals));
	m->mask = cap - 1;
}

void strmap_free(struct strmap *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->mask = 0;
}

void strmap_put(struct strmap *m, const char *key, int val)
{
	size_t h = strmap_hash(key) & m->mask;
	while (m->keys[h])
		h = (h + 1) & m->mask;
	m->keys[h] = key;
	m->vals[h] = val;
}

int strmap_next(const struct strmap *m, const char *key, size_t *pos)
{
	for (size_t h = *pos; m->keys && m->keys[h]; h = (h + 1) & m->mask)
		if (strcmp(m->keys[h], key) == 0) {
			*pos = (h + 1) & m->mask;
			return m->vals[h];
		}
	return -1;
}

int strmap_get(const struct strmap *m, const char *key, size_t *pos)
{
	size_t p = m->keys ? strmap_hash(key) & m->mask : 0;
	return strmap_next(m, key, pos ? (*pos = p, pos) : &p);
}

void sbuf_init(struct sbuf *sb)
{
	sb->buf = NULL;
	sb->len = sb->cap = 0;
	sbuf_add(sb, "", 0);
}

void sbuf_free(struct sbuf *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}

void sbuf_grow(struct sbuf *sb, size_t len)
{
	util_reserve(&sb->buf, &sb->cap, sb->len + len + 1, 1);
}

void sbuf_puts(struct sbuf *sb, const char *s)
{
	sbuf_add(sb, s, strlen(s));
}

void sbuf_add_html(struct sbuf *sb, const char *s, size_t len)
{
	const char *run = s, *end = s + len;

	for (; s < end; s++) {
		const char *rep;

		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		sbuf_add(sb, run, (size_t)(s - run));
		sbuf_puts(sb, rep);
		run = s + 1;
	}
	sbuf_add(sb, run, (size_t)(s - run));
}

void sbuf_printf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	util_reserve(&sb->buf, &sb->cap, sb->len + (size_t)n + 1, 1);
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

void sbuf_add_fixed(struct sbuf *sb, int64_t v, int scale_digits)
{
	char tmp[48], *p = fixed_text(v, scale_digits, tmp + sizeof(tmp));

	sbuf_add(sb, p, (size_t)(tmp + sizeof(tmp) - p));
}
