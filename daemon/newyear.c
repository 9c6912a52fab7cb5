/*
 * newyear — the plan file is rewritten as text, line by line, so that
 * its comments and layout stay as the administrator wrote them; the
 * day-off checks read the new year's official calendar file.
 */
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/calendar.h"
#include "kaohe/newyear.h"
#include "kaohe/util.h"

/* The whole of file PATH, NUL-terminated, its length in *LEN; NULL when unreadable. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	struct sbuf sb;
	char buf[8192];
	size_t n;

	if (f == NULL)
		return NULL;
	sbuf_init(&sb);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sbuf_add(&sb, buf, n);
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		sbuf_free(&sb);
		return NULL;
	}
	*len = sb.len;
	return sb.buf ? sb.buf : xstrdup("");
}

/* The days off of one year: weekends unless worked, and the holidays. */
struct days_off {
	int year;
	uint8_t off[366];
};

static int day_index(const struct days_off *d, int m, int dd)
{
	return (int)(calendar_days_from_civil(d->year, m, dd) -
		     calendar_days_from_civil(d->year, 1, 1));
}

/* Mark the dates or ranges of LIST ("YYYY-MM-DD" or "A..B") of the year as VALUE. */
static void mark(struct days_off *d, const config_setting_t *list, uint8_t value)
{
	int32_t first = calendar_days_from_civil(d->year, 1, 1);
	for (int i = 0; list && i < config_setting_length(list); i++) {
		const char *s = config_setting_get_string_elem(list, i);
		int32_t a, b;
		if (s == NULL || calendar_parse_day(s, 0, &a) < 0)
			continue;
		b = a;
		const char *dots = strstr(s, "..");
		if (dots && calendar_parse_day(dots + 2, 0, &b) < 0)
			continue;
		for (int32_t x = a; x <= b; x++)
			if (x >= first && x - first < 366)
				d->off[x - first] = value;
	}
}

static int load_days_off(const struct config *cfg, struct days_off *d, char *err, size_t errlen)
{
	struct sbuf searched;
	config_t c;

	sbuf_init(&searched);
	char *path = config_calendar_path(cfg, d->year, &searched);
	if (path == NULL) {
		snprintf(err, errlen,
			 "no official calendar of %d is installed (looked for %s): add %d.conf "
			 "(README: A new year's calendar), then run new-year again",
			 d->year, searched.buf, d->year);
		sbuf_free(&searched);
		return -1;
	}
	sbuf_free(&searched);
	config_init(&c);
	if (config_read_file(&c, path) != CONFIG_TRUE) {
		snprintf(err, errlen, "%s:%d: %s", path, config_error_line(&c),
			 config_error_text(&c));
		config_destroy(&c);
		free(path);
		return -1;
	}
	int32_t first = calendar_days_from_civil(d->year, 1, 1);
	int32_t last = calendar_days_from_civil(d->year, 12, 31);
	for (int32_t x = first; x <= last; x++) {
		int wd = calendar_weekday(x);
		d->off[x - first] = wd == 0 || wd == 6;
	}
	mark(d, config_lookup(&c, "calendar.workdays"), 0);
	mark(d, config_lookup(&c, "calendar.holidays"), 1);
	config_destroy(&c);
	free(path);
	return 0;
}

static bool is_off(const struct days_off *d, int m, int dd)
{
	int i = day_index(d, m, dd);
	return i >= 0 && i < 366 && d->off[i];
}

/* Whether S (at least 5 bytes) is "MM-DD" of a real day. */
static bool mmdd(const char *s, int *m, int *d)
{
	if (!(s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] == '-' &&
	      s[3] >= '0' && s[3] <= '9' && s[4] >= '0' && s[4] <= '9'))
		return false;
	*m = (s[0] - '0') * 10 + s[1] - '0';
	*d = (s[3] - '0') * 10 + s[4] - '0';
	return *m >= 1 && *m <= 12 && *d >= 1 && *d <= 31;
}

/*
 * The REVIEW comments of one line of a plan (LINE, LEN bytes): each
 * quoted due ("MM-DD", "quarterly:DD", "monthly:DD") that falls on a day
 * off, each full date of another year than D's.
 */
static int review_dues(const struct days_off *d, const char *line, size_t len, const char *indent,
		       size_t ilen, struct sbuf *out)
{
	int n = 0, m, dd;
	for (size_t i = 0; i + 1 < len; i++) {
		if (line[i] != '"')
			continue;
		const char *s = line + i + 1;
		size_t rest = len - i - 1;
		const char *q = memchr(s, '"', rest);
		if (q == NULL)
			break;
		size_t slen = (size_t)(q - s);
		i += slen + 1;
		if (slen == 5 && mmdd(s, &m, &dd) && is_off(d, m, dd)) {
			sbuf_printf(out, "%.*s# REVIEW: %02d-%02d is a day off in %d\n", (int)ilen,
				    indent, m, dd, d->year);
			n++;
		} else if (slen >= 10 && strspn(s, "0123456789") == 4 && s[4] == '-' &&
			   mmdd(s + 5, &m, &dd) && atoi(s) != d->year) {
			sbuf_printf(
				out,
				"%.*s# REVIEW: \"%.*s\" is a full date of %d: write it as MM-DD "
				"or as a date of %d\n",
				(int)ilen, indent, (int)slen, s, atoi(s), d->year);
			n++;
		} else if ((slen > 10 && strncmp(s, "quarterly:", 10) == 0) ||
			   (slen > 8 && strncmp(s, "monthly:", 8) == 0)) {
			bool q4 = s[0] == 'q';
			int day = atoi(s + (q4 ? 10 : 8));
			struct sbuf off;
			sbuf_init(&off);
			for (int mm = q4 ? 3 : 1; mm <= 12 && day >= 1 && day <= 31;
			     mm += q4 ? 3 : 1)
				if (day <= calendar_month_days(d->year, mm) && is_off(d, mm, day))
					sbuf_printf(&off, "%s%02d-%02d", off.len ? ", " : "", mm,
						    day);
			if (off.len) {
				sbuf_printf(out,
					    "%.*s# REVIEW: \"%.*s\" falls on days off in %d: %s\n",
					    (int)ilen, indent, (int)slen, s, d->year, off.buf);
				n++;
			}
			sbuf_free(&off);
		}
	}
	return n;
}

/* Whether LINE starts (after blanks) with the setting NAME and then " =" or "=". */
static bool setting(const char *line, size_t len, const char *name, size_t *ilen)
{
	size_t i = strspn(line, " \t"), n = strlen(name);
	*ilen = i;
	if (i + n >= len || strncmp(line + i, name, n) != 0)
		return false;
	i += n;
	i += strspn(line + i, " \t");
	return i < len && (line[i] == '=' || line[i] == ':');
}

int newyear_text(const struct config *cfg, int year, struct sbuf *out, int *reviews, char *err,
		 size_t errlen)
{
	const struct plan *p = cfg->plan;
	struct days_off d = { .year = year };
	size_t len, ilen;
	bool year_done = false, in_calendar = false;

	*reviews = 0;
	if (load_days_off(cfg, &d, err, errlen) < 0)
		return -1;
	char *text = read_file(p->file, &len);
	if (text == NULL) {
		snprintf(err, errlen, "cannot read %s", p->file);
		return -1;
	}
	sbuf_printf(out,
		    "# The plan of %d, made by `kaohed new-year` from %s (the plan of %d).\n"
		    "# Review every line marked REVIEW, then remove the marks.\n",
		    year, p->file, p->written_year);
	for (char *line = text, *end; line < text + len; line = end) {
		end = memchr(line, '\n', (size_t)(text + len - line));
		end = end ? end + 1 : text + len;
		size_t n = (size_t)(end - line);
		if (in_calendar) {
			/* The old year's own calendar group goes: the official one serves. */
			if (memmem(line, n, "};", 2))
				in_calendar = false;
			continue;
		}
		if (!year_done && setting(line, n, "year", &ilen)) {
			sbuf_printf(out, "%.*syear = %d;\n", (int)ilen, line, year);
			year_done = true;
			continue;
		}
		if (setting(line, n, "calendar", &ilen) && ilen > 0) {
			sbuf_printf(out, "%.*scalendar = \"official\";\n", (int)ilen, line);
			in_calendar = memchr(line, '{', n) && !memmem(line, n, "};", 2);
			continue;
		}
		if (setting(line, n, "title", &ilen) || setting(line, n, "document", &ilen)) {
			sbuf_printf(out,
				    "%.*s# REVIEW: the %s is the plan of %d's; give this year's\n",
				    (int)ilen, line,
				    line[ilen] == 't' ? "title" : "document number",
				    p->written_year);
			(*reviews)++;
		} else if (setting(line, n, "track_from", &ilen)) {
			sbuf_printf(out,
				    "%.*s# REVIEW: track_from is the plan of %d's adoption; a new "
				    "year is tracked from its start without it\n",
				    (int)ilen, line, p->written_year);
			(*reviews)++;
		} else if (memmem(line, n, "due", 3)) {
			*reviews += review_dues(&d, line, n, line, strspn(line, " \t"), out);
		}
		sbuf_add(out, line, n);
	}
	if (len && text[len - 1] != '\n')
		sbuf_puts(out, "\n");
	free(text);
	return 0;
}
