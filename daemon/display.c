/*
 * display — text widths for a terminal.  Characters are decoded here, not
 * by mbrtowc(), so that a stray byte counts as the one column a terminal
 * shows it in and never ends the count.
 */
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "kaohe/display.h"

/* The character at S (N bytes left) in *CP: its length, or 0 when S is no UTF-8. */
static size_t decode(const unsigned char *s, size_t n, unsigned *cp)
{
	size_t len;
	unsigned c = s[0], min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, c &= 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, c &= 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, c &= 0x07, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* The columns of the character of *LEN bytes at S (N bytes left). */
static int char_width(const char *s, size_t n, size_t *len)
{
	unsigned cp;

	*len = decode((const unsigned char *)s, n, &cp);
	if (*len == 0) {
		*len = 1;
		return 1;
	}
	int w = wcwidth((wchar_t)cp);
	return w > 0 ? w : 0;
}

int display_width_n(const char *s, size_t n)
{
	int w = 0;
	size_t len;

	for (size_t i = 0; i < n && s[i]; i += len)
		w += char_width(s + i, n - i, &len);
	return w;
}

int display_width(const char *s)
{
	return display_width_n(s, strlen(s));
}

char *display_fit(const char *s, int max)
{
	size_t n = strlen(s), end = 0, len;
	int w = 0;

	if (max < 1)
		return strdup("");
	if (display_width_n(s, n) <= max)
		return strdup(s);
	/* The longest beginning that leaves a column for the ellipsis. */
	for (size_t i = 0; i < n; i += len) {
		int cw = char_width(s + i, n - i, &len);
		if (w + cw > max - 1)
			break;
		w += cw;
		end = i + len;
	}
	char *out = malloc(end + sizeof("…"));
	if (out == NULL)
		return NULL;
	memcpy(out, s, end);
	memcpy(out + end, "…", sizeof("…"));
	return out;
}
