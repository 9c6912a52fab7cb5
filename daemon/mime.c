/*
 * mime — RFC 5322 addresses and header lines, RFC 2047 encoded-words,
 * RFC 2045 base64 bodies.  Every line written here ends in CRLF and
 * keeps to the RFCs' lengths, so that no relay has to fold or re-encode
 * what kaohed sends.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "kaohe/mime.h"

/* Append the base64 of LEN bytes of S, on one line. */
static void add_base64(struct sbuf *sb, const void *s, size_t len)
{
	size_t need = 4 * ((len + 2) / 3);
	sbuf_grow(sb, need + 1);
	EVP_EncodeBlock((unsigned char *)sb->buf + sb->len, s, (int)len);
	sb->len += need;
	sb->buf[sb->len] = '\0';
}

/* ------------------------------------------------------------------ */
/* addresses */

int mime_address_parse(const char *s, char *name, size_t namelen, char *addr, size_t addrlen)
{
	const char *lt, *gt, *a, *ae, *n = s, *ne;

	if (!s || !namelen || !addrlen)
		return -1;
	/* A line break would let the value write headers of its own. */
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return -1;
	while (*n == ' ' || *n == '\t')
		n++;
	lt = strrchr(n, '<');
	if (lt) {
		gt = strchr(lt, '>');
		if (!gt)
			return -1;
		for (const char *p = gt + 1; *p; p++)
			if (*p != ' ' && *p != '\t')
				return -1;
		a = lt + 1, ae = gt;
		ne = lt;
	} else {
		a = n, ae = n + strlen(n);
		while (ae > a && (ae[-1] == ' ' || ae[-1] == '\t'))
			ae--;
		ne = n;
	}
	while (ne > n && (ne[-1] == ' ' || ne[-1] == '\t'))
		ne--;

	/* The address: local@domain, printable ASCII without what would break <…>. */
	const char *at = NULL;
	if (ae == a)
		return -1;
	for (const char *p = a; p < ae; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= ' ' || c >= 0x7f || strchr("<>\"(),;:\\[]", c))
			return -1;
		if (c == '@')
			at = p;
	}
	if (!at || at == a || at + 1 == ae || memchr(a, '@', (size_t)(at - a)))
		return -1;
	if ((size_t)(ae - a) >= addrlen)
		return -1;
	memcpy(addr, a, (size_t)(ae - a));
	addr[ae - a] = '\0';

	/* The display name, unquoted if it was a quoted-string. */
	size_t o = 0;
	if (ne - n >= 2 && *n == '"' && ne[-1] == '"') {
		for (const char *p = n + 1; p < ne - 1; p++) {
			if (*p == '\\' && p + 1 < ne - 1)
				p++;
			else if (*p == '"')
				return -1;
			if (o + 1 >= namelen)
				return -1;
			name[o++] = *p;
		}
	} else {
		/* A stray quote is a quoted-string gone wrong: better refused than guessed. */
		if ((size_t)(ne - n) >= namelen || memchr(n, '<', (size_t)(ne - n)) ||
		    memchr(n, '>', (size_t)(ne - n)) || memchr(n, '"', (size_t)(ne - n)))
			return -1;
		memcpy(name, n, (size_t)(ne - n));
		o = (size_t)(ne - n);
	}
	name[o] = '\0';
	return util_utf8_valid(name, o) ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* header lines */

/*
 * Header lines that carry encoded-words may not exceed 76 characters
 * (RFC 2047 section 2); the plain ones keep to RFC 5322's 78.
 */
#define HDR_EW_LINE 76
#define HDR_LINE    78
/* "=?UTF-8?B?" and "?=" around the base64 of one encoded-word. */
#define EW_OVERHEAD 12
#define EW_MAX      75

void mime_header_start(struct mime_header *h, struct sbuf *out, const char *name)
{
	h->out = out;
	sbuf_puts(out, name);
	SBUF_LIT(out, ":");
	h->col = strlen(name) + 1;
}

/* One token, after a space or, when the line would grow past LIMIT, a fold. */
static void hdr_token(struct mime_header *h, const char *tok, size_t len, size_t limit)
{
	if (h->col + 1 + len > limit && h->col > 1) {
		SBUF_LIT(h->out, "\r\n ");
		h->col = 1;
	} else {
		SBUF_LIT(h->out, " ");
		h->col++;
	}
	sbuf_add(h->out, tok, len);
	h->col += len;
}

void mime_header_end(struct mime_header *h)
{
	SBUF_LIT(h->out, "\r\n");
}

/*
 * S as UTF-8 "B" encoded-words.  Each word holds whole characters, so
 * that it decodes to valid UTF-8 on its own (RFC 2047 section 5: a
 * character may not be split between words), and fits in what is left
 * of the line, else starts a new one.
 */
static void hdr_encoded(struct mime_header *h, const char *s, size_t len)
{
	char word[EW_MAX + 1];

	while (len > 0) {
		size_t room = h->col + 1 < HDR_EW_LINE ? HDR_EW_LINE - h->col - 1 : 0;
		if (room > EW_MAX)
			room = EW_MAX;
		size_t raw = room > EW_OVERHEAD ? (room - EW_OVERHEAD) / 4 * 3 : 0;
		size_t take = util_utf8_trim(s, raw < len ? raw : len);
		if (take == 0 && h->col > 1) {
			/* Not one character fits on this line: fold and retry. */
			SBUF_LIT(h->out, "\r\n");
			h->col = 0;
			continue;
		}
		if (take == 0) /* not UTF-8 after all: split bytes rather than loop */
			take = raw < len ? raw : len;
		size_t n = 10;
		memcpy(word, "=?UTF-8?B?", 10);
		n += (size_t)EVP_EncodeBlock((unsigned char *)word + n, (const unsigned char *)s,
					     (int)take);
		memcpy(word + n, "?=", 2);
		n += 2;
		hdr_token(h, word, n, HDR_EW_LINE);
		s += take;
		len -= take;
	}
}

/* Printable ASCII only. */
static bool printable(const char *s)
{
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

void mime_header_text(struct mime_header *h, const char *s)
{
	/* "=?" in plain text would be taken for the start of an encoded-word. */
	bool plain = printable(s) && !strstr(s, "=?");
	/* A word too long to fold would overrun the line: encode it instead. */
	for (const char *p = s; plain && *p;) {
		size_t w = strcspn(p, " ");
		if (w > HDR_LINE - 12)
			plain = false;
		p += w;
		p += strspn(p, " ");
	}
	if (!plain) {
		hdr_encoded(h, s, strlen(s));
		return;
	}
	/*
	 * hdr_token() puts one space (or a fold and a space) before each
	 * word; a run of spaces keeps the rest in front of its word, so that
	 * unfolding gives back the subject exactly.
	 */
	for (const char *p = s; *p;) {
		const char *w = p + strspn(p, " ");
		if (!*w)
			break;
		const char *start = p == s ? p : p + 1;
		const char *we = w + strcspn(w, " ");
		hdr_token(h, start, (size_t)(we - start), HDR_LINE);
		p = we;
	}
}

/* RFC 5322 atext, plus single spaces between the atoms of a phrase. */
static bool phrase_atoms(const char *s)
{
	if (!*s || *s == ' ' || s[strlen(s) - 1] == ' ' || strstr(s, "  ") || strstr(s, "=?"))
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-/=?^_`{|}~ ", *p))
			return false;
	return true;
}

void mime_header_mailbox(struct mime_header *h, const char *name, const char *addr)
{
	struct sbuf q;

	sbuf_init(&q);
	if (name && *name && !printable(name)) {
		hdr_encoded(h, name, strlen(name));
	} else if (name && *name) {
		if (phrase_atoms(name)) {
			sbuf_puts(&q, name);
		} else {
			SBUF_LIT(&q, "\"");
			for (const char *p = name; *p; p++) {
				if (*p == '"' || *p == '\\')
					SBUF_LIT(&q, "\\");
				sbuf_add(&q, p, 1);
			}
			SBUF_LIT(&q, "\"");
		}
		hdr_token(h, q.buf, q.len, HDR_LINE);
	}
	sbuf_free(&q);
	sbuf_init(&q);
	sbuf_printf(&q, "<%s>", addr);
	hdr_token(h, q.buf, q.len, HDR_EW_LINE);
	sbuf_free(&q);
}

/* ------------------------------------------------------------------ */
/* dates and bodies */

int mime_date(struct sbuf *out, int64_t t)
{
	static const char *const wday[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;

	if (!localtime_r(&tt, &tm))
		return -1;
	long off = tm.tm_gmtoff;
	sbuf_printf(out, "Date: %s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld\r\n", wday[tm.tm_wday],
		    tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
		    off < 0 ? '-' : '+', labs(off) / 3600, labs(off) / 60 % 60);
	return 0;
}

/* Text with every line end as CRLF, the canonical form of a MIME text part. */
static void crlf(struct sbuf *out, const char *s)
{
	const char *run = s;
	for (; *s; s++) {
		if (*s != '\n' && *s != '\r')
			continue;
		sbuf_add(out, run, (size_t)(s - run));
		SBUF_LIT(out, "\r\n");
		if (*s == '\r' && s[1] == '\n')
			s++;
		run = s + 1;
	}
	sbuf_add(out, run, (size_t)(s - run));
}

/* Lines of 76: RFC 2045 section 6.8. */
void mime_base64_body(struct sbuf *out, const char *s)
{
	struct sbuf c, b;

	sbuf_init(&c);
	sbuf_init(&b);
	crlf(&c, s);
	add_base64(&b, c.buf, c.len);
	for (size_t i = 0; i < b.len; i += 76) {
		sbuf_add(out, b.buf + i, b.len - i < 76 ? b.len - i : 76);
		SBUF_LIT(out, "\r\n");
	}
	sbuf_free(&c);
	sbuf_free(&b);
}
