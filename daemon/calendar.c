/*
 * calendar — civil dates through the system tz database.  Day numbers use
 * the days-from-civil algorithm so that date arithmetic never goes through
 * struct tm; only the conversions between a local wall time and an instant
 * do, with localtime_r() and mktime() in the zone set once at start.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kaohe/calendar.h"
#include "kaohe/util.h"

int32_t calendar_days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int32_t)doe - 719468;
}

void calendar_civil_from_days(int32_t z, int *y, int *m, int *d)
{
	z += 719468;
	int era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)yoe + era * 400 + (*m <= 2);
}

int calendar_weekday(int32_t day)
{
	return (int)((day % 7 + 11) % 7);
}

int calendar_month_days(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : days[m - 1];
}

/* Remembered UTC offsets of blocks of time; see utc_offset(). */
#define OFFSET_BLOCK 86400
#define OFFSET_SLOTS 1024
static struct {
	int64_t block;
	long off;
} offset_cache[OFFSET_SLOTS];
static bool offset_cache_valid;

int calendar_set_timezone(const char *tz, char *err, size_t errlen)
{
	const char *dir = getenv("TZDIR");
	char path[512];

	/* glibc falls back to UTC for an unknown zone without a word. */
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "/usr/share/zoneinfo", tz);
	/* A zone is a TZif file; directories and zone.tab are not zones. */
	char magic[4] = { 0 };
	FILE *f = tz[0] && tz[0] != '/' && strstr(tz, "..") == NULL ? fopen(path, "rb") : NULL;
	size_t n = f ? fread(magic, 1, sizeof(magic), f) : 0;
	if (f)
		fclose(f);
	if (n != sizeof(magic) || memcmp(magic, "TZif", 4) != 0) {
		snprintf(err, errlen, "unknown time zone \"%s\" (not in the tz database)", tz);
		return -1;
	}
	setenv("TZ", tz, 1);
	tzset();
	offset_cache_valid = false;
	return 0;
}

int64_t calendar_instant(int32_t day, int secs)
{
	struct tm tm = { 0 };
	int y, m, d;

	calendar_civil_from_days(day, &y, &m, &d);
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	tm.tm_hour = secs / 3600;
	tm.tm_min = secs / 60 % 60;
	tm.tm_sec = secs % 60;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm);
}

int32_t calendar_day_of(int64_t t, int *secs)
{
	time_t tt = (time_t)t;
	struct tm tm;

	localtime_r(&tt, &tm);
	if (secs)
		*secs = tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
	return calendar_days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

static int parse_digits(const char **s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*s)[i]))
			return -1;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*out = v;
	return 0;
}

static bool valid_date(int y, int m, int d)
{
	return y >= 1970 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 &&
	       d <= calendar_month_days(y, m);
}

int calendar_parse_instant(const char *s, bool strict, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, sec = 0;

	if (parse_digits(&s, 4, &y) || *s++ != '-' || parse_digits(&s, 2, &mo) || *s++ != '-' ||
	    parse_digits(&s, 2, &d) || !valid_date(y, mo, d))
		return -1;
	int32_t day = calendar_days_from_civil(y, mo, d);
	if (*s == '\0') {
		if (strict)
			return -1;
		*out = calendar_instant(day, 0);
		return 0;
	}
	if ((*s != 'T' && *s != ' ') || (s++, parse_digits(&s, 2, &h)) || *s++ != ':' ||
	    parse_digits(&s, 2, &mi))
		return -1;
	if (*s == ':') {
		s++;
		if (parse_digits(&s, 2, &sec))
			return -1;
	}
	if (h > 23 || mi > 59 || sec > 59)
		return -1;
	int secs = h * 3600 + mi * 60 + sec;
	if (*s == '\0') {
		if (strict)
			return -1;
		*out = calendar_instant(day, secs);
		return 0;
	}
	int off = 0;
	if (*s == 'Z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		int sign = *s++ == '-' ? -1 : 1, oh, om;
		if (parse_digits(&s, 2, &oh))
			return -1;
		if (*s == ':')
			s++;
		if (parse_digits(&s, 2, &om) || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 3600 + om * 60);
	} else {
		return -1;
	}
	if (*s != '\0')
		return -1;
	*out = (int64_t)day * DAY_SECONDS + secs - off;
	return 0;
}

int calendar_parse_day(const char *s, int year, int32_t *out)
{
	int y = year, m, d;

	if (strlen(s) == 10) {
		if (parse_digits(&s, 4, &y) || *s++ != '-')
			return -1;
	} else if (strlen(s) != 5) {
		return -1;
	}
	if (parse_digits(&s, 2, &m) || *s++ != '-' || parse_digits(&s, 2, &d) || *s != '\0' ||
	    !valid_date(y, m, d))
		return -1;
	*out = calendar_days_from_civil(y, m, d);
	return 0;
}

/*
 * The UTC offset at T.  A zone changes its offset at most once a day, so
 * a block of OFFSET_BLOCK seconds whose two edges agree has one offset,
 * remembered; in a block whose edges differ, T is asked for itself.
 * calendar_set_timezone() forgets it.
 */

static long utc_offset(int64_t t)
{
	int64_t block = t >= 0 ? t / OFFSET_BLOCK : (t - OFFSET_BLOCK + 1) / OFFSET_BLOCK;
	time_t a = (time_t)(block * OFFSET_BLOCK), b = a + OFFSET_BLOCK - 1, tt = (time_t)t;
	size_t slot = (size_t)((uint64_t)block % OFFSET_SLOTS);
	struct tm ta, tb;

	if (!offset_cache_valid) {
		for (size_t i = 0; i < OFFSET_SLOTS; i++)
			offset_cache[i].block = INT64_MIN;
		offset_cache_valid = true;
	}
	if (offset_cache[slot].block == block)
		return offset_cache[slot].off;
	localtime_r(&a, &ta);
	localtime_r(&b, &tb);
	if (ta.tm_gmtoff != tb.tm_gmtoff) {
		localtime_r(&tt, &ta);
		return ta.tm_gmtoff;
	}
	offset_cache[slot].block = block;
	offset_cache[slot].off = ta.tm_gmtoff;
	return ta.tm_gmtoff;
}

void calendar_format_instant(int64_t t, char *buf, size_t len)
{
	long off = utc_offset(t);
	int64_t local = t + off;
	int64_t days = local >= 0 ? local / DAY_SECONDS : (local - DAY_SECONDS + 1) / DAY_SECONDS;
	int secs = (int)(local - days * DAY_SECONDS), y, m, d;

	calendar_civil_from_days((int32_t)days, &y, &m, &d);
	if (len < 26 || y < 0 || y > 9999) {
		snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld", y, m, d,
			 secs / 3600, secs / 60 % 60, secs % 60, off < 0 ? '-' : '+',
			 labs(off) / 3600, labs(off) / 60 % 60);
		return;
	}
	/* By hand: instants are formatted for every answer and output line. */
	int oh = (int)(labs(off) / 3600), om = (int)(labs(off) / 60 % 60);
	int f[] = { y / 100, y % 100, m, d, secs / 3600, secs / 60 % 60, secs % 60, oh, om };
	static const char sep[] = { 0, 0, '-', '-', 'T', ':', ':', 0, ':' };
	char *p = buf;
	for (int i = 0; i < 9; i++) {
		if (i == 7)
			*p++ = off < 0 ? '-' : '+';
		else if (sep[i])
			*p++ = sep[i];
		*p++ = (char)('0' + f[i] / 10);
		*p++ = (char)('0' + f[i] % 10);
	}
	*p = '\0';
}

void calendar_format_day(int32_t day, char *buf, size_t len)
{
	int y, m, d;
	calendar_civil_from_days(day, &y, &m, &d);
	snprintf(buf, len, "%04d-%02d-%02d", y, m, d);
}

int calendar_parse_duration(const char *s, int64_t *out)
{
	char *end;
	long long n;

	if (!isdigit((unsigned char)*s))
		return -1;
	n = strtoll(s, &end, 10);
	if (n <= 0 || n > 100000000LL || end[0] == '\0' || end[1] != '\0')
		return -1;
	switch (*end) {
	case 's': *out = n; break;
	case 'm': *out = n * 60; break;
	case 'h': *out = n * 3600; break;
	case 'd': *out = n * DAY_SECONDS; break;
	default: return -1;
	}
	return 0;
}

int calendar_parse_slot(const char *s, struct slot_spec *spec, char *err, size_t errlen)
{
	const char *p = s;
	char *end;
	int sign = 1, h, m;
	long long n;

	memset(spec, 0, sizeof(*spec));
	spec->tod = -1;
	if (strlen(s) >= sizeof(spec->text)) {
		snprintf(err, errlen, "reminder slot \"%s\" is too long", s);
		return -1;
	}
	snprintf(spec->text, sizeof(spec->text), "%s", s);
	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (!isdigit((unsigned char)*p))
		goto bad;
	n = strtoll(p, &end, 10);
	if (n > 100000)
		goto bad;
	switch (*end) {
	case 's': spec->offset = n; break;
	case 'm': spec->offset = n * 60; break;
	case 'h': spec->offset = n * 3600; break;
	case 'd': spec->offset = n * DAY_SECONDS; break;
	default: goto bad;
	}
	spec->offset *= sign;
	p = end + 1;
	if (*p == '\0')
		return 0;
	if (*p++ != '@' || parse_digits(&p, 2, &h) || *p++ != ':' || parse_digits(&p, 2, &m) ||
	    *p != '\0' || h > 23 || m > 59)
		goto bad;
	if (spec->offset % DAY_SECONDS != 0) {
		snprintf(err, errlen,
			 "reminder slot \"%s\": an offset with a time of day must be whole days",
			 s);
		return -1;
	}
	spec->tod = h * 3600 + m * 60;
	return 0;
bad:
	snprintf(err, errlen,
		 "bad reminder slot \"%s\" (expected an offset such as \"-7d@09:00\" or \"-30s\")",
		 s);
	return -1;
}

void calendar_init(struct calendar *c, int year)
{
	memset(c, 0, sizeof(*c));
	c->year = year;
	c->year_first = calendar_days_from_civil(year, 1, 1);
	c->first_day = c->year_first;
	c->last_day = calendar_days_from_civil(year, 12, 31);
	c->in_force_start = calendar_instant(c->first_day, 0);
	int32_t end = calendar_days_from_civil(year + 2, 1, 1);
	for (int32_t i = 0; i < end - c->year_first; i++) {
		int wd = calendar_weekday(c->year_first + i);
		c->workday[i] = wd != 0 && wd != 6;
	}
	c->close = CLOSE_QUARTER_END;
	c->reminders.overdue_every = 3 * DAY_SECONDS;
	c->reminders.shift_to_workdays = true;
	c->reminders.not_before_in_force = true;
	c->reminders.escalate = true;
}

void calendar_free(struct calendar *c)
{
	free(c->reminders.before);
	free(c->reminders.due);
	free(c->reminders.record);
	c->reminders.before = c->reminders.due = c->reminders.record = NULL;
	c->reminders.nbefore = c->reminders.ndue = c->reminders.nrecord = 0;
}

/* Whether DAY lies in the plan year or the next, the days C holds. */
static bool in_two_years(const struct calendar *c, int32_t day)
{
	return day >= c->year_first && day < calendar_days_from_civil(c->year + 2, 1, 1);
}

void calendar_set_workday(struct calendar *c, int32_t day, bool working)
{
	if (in_two_years(c, day))
		c->workday[day - c->year_first] = working;
}

bool calendar_is_workday(const struct calendar *c, int32_t day)
{
	if (in_two_years(c, day))
		return c->workday[day - c->year_first];
	int wd = calendar_weekday(day);
	return wd != 0 && wd != 6;
}

bool calendar_covers(const struct calendar *c, int32_t day)
{
	return calendar_in_year(c, day) || (c->next_known && in_two_years(c, day));
}

bool calendar_in_year(const struct calendar *c, int32_t day)
{
	return day >= c->year_first && day < calendar_days_from_civil(c->year + 1, 1, 1);
}

static int push_day(const struct calendar *c, int32_t day, int32_t **days, size_t *n, size_t *cap)
{
	if (day < c->first_day || day > c->last_day)
		return 0;
	util_reserve(days, cap, *n + 1, sizeof(**days));
	(*days)[(*n)++] = day;
	return 0;
}

int calendar_expand(const struct calendar *c, const char *spec, int32_t **days)
{
	size_t n = 0, cap = 0;
	int dd = 0;
	const char *p;

	*days = NULL;
	if (strcmp(spec, "quarter-end") == 0) {
		for (int m = 3; m <= 12; m += 3)
			push_day(c,
				 calendar_days_from_civil(c->year, m,
							  calendar_month_days(c->year, m)),
				 days, &n, &cap);
		return (int)n;
	}
	bool quarterly = strncmp(spec, "quarterly:", 10) == 0;
	bool monthly = strncmp(spec, "monthly:", 8) == 0;
	if (!quarterly && !monthly)
		return -1;
	p = spec + (quarterly ? 10 : 8);
	if (strlen(p) < 1 || strlen(p) > 2 || parse_digits(&p, (int)strlen(p), &dd) || dd < 1 ||
	    dd > 31)
		return -1;
	for (int m = quarterly ? 3 : 1; m <= 12; m += quarterly ? 3 : 1) {
		int md = calendar_month_days(c->year, m);
		push_day(c, calendar_days_from_civil(c->year, m, dd < md ? dd : md), days, &n,
			 &cap);
	}
	return (int)n;
}

int64_t calendar_quarter_end(int32_t day)
{
	int y, m, d;
	calendar_civil_from_days(day, &y, &m, &d);
	int next = (m - 1) / 3 * 3 + 4;
	if (next > 12)
		return calendar_instant(calendar_days_from_civil(y + 1, 1, 1), 0);
	return calendar_instant(calendar_days_from_civil(y, next, 1), 0);
}

size_t calendar_quarters(const struct calendar *c, struct quarter out[4])
{
	size_t n = 0;
	for (int q = 1; q <= 4; q++) {
		int32_t qfirst = calendar_days_from_civil(c->year, q * 3 - 2, 1);
		int64_t end = calendar_quarter_end(qfirst);
		if (qfirst > c->last_day || end <= c->in_force_start)
			continue;
		out[n].at = end;
		snprintf(out[n].period, sizeof(out[n].period), "%04d-Q%d", c->year % 10000, q);
		n++;
	}
	return n;
}

void calendar_schedule(const struct calendar *c, struct schedule *s)
{
	s->deadline = s->timed ? s->due_at : calendar_instant(s->due_day + 1, 0);
	switch (c->close) {
	case CLOSE_QUARTER_END: s->close = calendar_quarter_end(s->due_day); break;
	case CLOSE_YEAR_END:
		s->close = calendar_instant(calendar_days_from_civil(c->year + 1, 1, 1), 0);
		break;
	case CLOSE_AFTER: s->close = s->deadline + c->close_after; break;
	}
	/* A due moved past the year's end still gets a late window. */
	if (s->close < s->deadline)
		s->close = s->deadline;
}

const char *calendar_slot_kind_name(enum slot_kind k)
{
	static const char *const names[SLOT_NKINDS] = { "before", "due", "overdue", "record" };
	return (unsigned)k < SLOT_NKINDS ? names[k] : "?";
}

/* Where a slot falls before any shift. */
static int64_t slot_raw(const struct schedule *s, const struct slot_spec *sp)
{
	if (sp->tod >= 0)
		return calendar_instant(s->due_day + (int32_t)(sp->offset / DAY_SECONDS), sp->tod);
	return (s->timed ? s->due_at : calendar_instant(s->due_day, 0)) + sp->offset;
}

/* Move T to the nearest working day in direction DIR (-1, +1), same time. */
static int64_t shift_workday(const struct calendar *c, int64_t t, int dir)
{
	int secs;
	int32_t day = calendar_day_of(t, &secs), d = day;

	if (!c->reminders.shift_to_workdays)
		return t;
	for (int i = 0; i < 60 && !calendar_is_workday(c, d); i++)
		d += dir;
	return d == day ? t : calendar_instant(d, secs);
}

struct raw_slot {
	struct slot s;
	int64_t raw;
};

static void add_slot(struct raw_slot **v, size_t *n, size_t *cap, int64_t at, int64_t raw,
		     enum slot_kind kind, const char *key)
{
	util_reserve(v, cap, *n + 1, sizeof(**v));
	struct raw_slot *r = &(*v)[(*n)++];
	r->s.at = at;
	r->s.kind = kind;
	snprintf(r->s.key, sizeof(r->s.key), "%s", key);
	r->raw = raw;
}

static int cmp_raw_slot(const void *a, const void *b)
{
	const struct raw_slot *x = a, *y = b;
	if (x->s.at != y->s.at)
		return x->s.at < y->s.at ? -1 : 1;
	/* Of colliding slots the one nearest the deadline comes last. */
	return x->raw < y->raw ? -1 : x->raw > y->raw;
}

size_t calendar_slots(const struct calendar *c, const struct schedule *s, bool record,
		      struct slot **out)
{
	const struct reminder_policy *p = &c->reminders;
	struct raw_slot *v = NULL;
	size_t n = 0, cap = 0;
	int64_t floor = p->not_before_in_force ? c->in_force_start : INT64_MIN;

	if (record) {
		for (size_t i = 0; i < p->nrecord; i++) {
			int64_t raw = slot_raw(s, &p->record[i]);
			int64_t at = shift_workday(c, raw, -1);
			if (at >= floor)
				add_slot(&v, &n, &cap, at, raw, SLOT_RECORD, p->record[i].text);
		}
	} else {
		for (int pass = 0; pass < 2; pass++) {
			const struct slot_spec *sp = pass ? p->due : p->before;
			size_t ns = pass ? p->ndue : p->nbefore;
			for (size_t i = 0; i < ns; i++) {
				int64_t raw = slot_raw(s, &sp[i]);
				int64_t at = shift_workday(c, raw, -1);
				if (at >= floor && at < s->deadline && at < s->close)
					add_slot(&v, &n, &cap, at, raw,
						 pass ? SLOT_DUE : SLOT_BEFORE, sp[i].text);
			}
		}
		if (p->has_overdue) {
			int64_t raw = slot_raw(s, &p->overdue_first);
			for (int k = 0; raw < s->close && k < 10000; k++) {
				int64_t at = shift_workday(c, raw, +1);
				char key[24];
				snprintf(key, sizeof(key), "overdue#%d", k);
				if (at >= s->deadline && at < s->close && at >= floor)
					add_slot(&v, &n, &cap, at, raw, SLOT_OVERDUE, key);
				if (p->overdue_first.tod >= 0 &&
				    p->overdue_every % DAY_SECONDS == 0) {
					/* Whole days keep the local time across DST. */
					int secs;
					int32_t d = calendar_day_of(raw, &secs);
					raw = calendar_instant(
						d + (int32_t)(p->overdue_every / DAY_SECONDS),
						secs);
				} else {
					raw += p->overdue_every;
				}
			}
		}
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_raw_slot);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && v[i + 1].s.at == v[i].s.at)
			continue;
		v[m++] = v[i];
	}
	if (m == 0) {
		free(v);
		*out = NULL;
		return 0;
	}
	struct slot *res = xmalloc(m * sizeof(*res));
	for (size_t i = 0; i < m; i++)
		res[i] = v[i].s;
	free(v);
	*out = res;
	return m;
}
