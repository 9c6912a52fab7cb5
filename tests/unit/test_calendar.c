/*
 * Unit tests of calendar: day numbers, instants in Asia/Shanghai, parsing
 * and formatting, recurrence expansion, quarters, deadlines and closes,
 * working days and reminder slots on the 2020 calendar of plan-2020.md.
 *
 * Every expected instant is computed here independently of the code under
 * test: Asia/Shanghai has been UTC+08:00 without DST since 1991, so local
 * time L on day D is D * 86400 + L - 8 h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/calendar.h"
#include "support.h"

#define H          3600
#define OFFSET_CST (8 * H)

/* The instant of local (Asia/Shanghai) time HH:MM:SS on day DAY. */
static int64_t L(int32_t day, int hh, int mm, int ss)
{
	return (int64_t)day * 86400 + hh * H + mm * 60 + ss - OFFSET_CST;
}

#define T_2020_09_16 INT64_C(1600185600)

/* ------------------------------------------------------------------ */
/* day numbers */

static void civil_known_days(void **state)
{
	(void)state;
	assert_int_equal(calendar_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(calendar_days_from_civil(1969, 12, 31), -1);
	assert_int_equal(calendar_days_from_civil(2000, 1, 1), 10957);
	assert_int_equal(calendar_days_from_civil(2000, 2, 29), 11016);
	assert_int_equal(calendar_days_from_civil(2020, 1, 1), 18262);
	assert_int_equal(calendar_days_from_civil(2020, 5, 1), 18383);
	assert_int_equal(calendar_days_from_civil(2020, 9, 15), 18520);
	assert_int_equal(calendar_days_from_civil(2020, 12, 31), 18627);
	assert_int_equal(calendar_days_from_civil(2021, 1, 1), JAN1_2021);
	assert_int_equal(calendar_days_from_civil(0, 3, 1), -719468);
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static void civil_round_trip(void **state)
{
	(void)state;
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int32_t n = calendar_days_from_civil(1600, 1, 1);

	/* every day from 1600 to 2400, counted by hand */
	for (int y = 1600; y <= 2400; y++)
		for (int m = 1; m <= 12; m++) {
			int md = mdays[m - 1] + (m == 2 && leap(y));
			for (int d = 1; d <= md; d++, n++) {
				int yy, mm, dd;
				if (calendar_days_from_civil(y, m, d) != n)
					fail_msg("days_from_civil(%d-%02d-%02d) != %d", y, m, d,
						 (int)n);
				calendar_civil_from_days(n, &yy, &mm, &dd);
				if (yy != y || mm != m || dd != d)
					fail_msg(
						"civil_from_days(%d) = %d-%02d-%02d, expected %d-%02d-%02d",
						(int)n, yy, mm, dd, y, m, d);
			}
		}
	assert_int_equal(n, calendar_days_from_civil(2401, 1, 1));

	int y, m, d;
	calendar_civil_from_days(-1, &y, &m, &d);
	assert_int_equal(y, 1969);
	assert_int_equal(m, 12);
	assert_int_equal(d, 31);
	calendar_civil_from_days(D(2, 29), &y, &m, &d);
	assert_int_equal(y, 2020);
	assert_int_equal(m, 2);
	assert_int_equal(d, 29);
}

static void weekday_known(void **state)
{
	(void)state;
	assert_int_equal(calendar_weekday(0), 4);         /* 1970-01-01 Thursday */
	assert_int_equal(calendar_weekday(-1), 3);        /* 1969-12-31 Wednesday */
	assert_int_equal(calendar_weekday(-4), 0);        /* 1969-12-28 Sunday */
	assert_int_equal(calendar_weekday(-719468), 3);   /* 0000-03-01 Wednesday */
	assert_int_equal(calendar_weekday(10957), 6);     /* 2000-01-01 Saturday */
	assert_int_equal(calendar_weekday(D(1, 1)), 3);   /* Wednesday */
	assert_int_equal(calendar_weekday(D(5, 1)), 5);   /* Friday */
	assert_int_equal(calendar_weekday(D(5, 9)), 6);   /* Saturday */
	assert_int_equal(calendar_weekday(D(6, 28)), 0);  /* Sunday */
	assert_int_equal(calendar_weekday(D(9, 15)), 2);  /* Tuesday */
	assert_int_equal(calendar_weekday(D(10, 10)), 6); /* Saturday */
	assert_int_equal(calendar_weekday(D(12, 31)), 4); /* Thursday */
	assert_int_equal(calendar_weekday(JAN1_2021), 5); /* Friday */
	for (int32_t d = D(3, 1); d < D(3, 1) + 21; d++)
		assert_int_equal(calendar_weekday(d + 1), (calendar_weekday(d) + 1) % 7);
}

static void month_days_and_leap_years(void **state)
{
	(void)state;
	assert_int_equal(calendar_month_days(2020, 2), 29);
	assert_int_equal(calendar_month_days(2019, 2), 28);
	assert_int_equal(calendar_month_days(2021, 2), 28);
	assert_int_equal(calendar_month_days(1900, 2), 28);
	assert_int_equal(calendar_month_days(2000, 2), 29);
	assert_int_equal(calendar_month_days(2100, 2), 28);
	assert_int_equal(calendar_month_days(2400, 2), 29);
	assert_int_equal(calendar_month_days(2020, 1), 31);
	assert_int_equal(calendar_month_days(2020, 3), 31);
	assert_int_equal(calendar_month_days(2020, 4), 30);
	assert_int_equal(calendar_month_days(2020, 5), 31);
	assert_int_equal(calendar_month_days(2020, 6), 30);
	assert_int_equal(calendar_month_days(2020, 7), 31);
	assert_int_equal(calendar_month_days(2020, 8), 31);
	assert_int_equal(calendar_month_days(2020, 9), 30);
	assert_int_equal(calendar_month_days(2020, 10), 31);
	assert_int_equal(calendar_month_days(2020, 11), 30);
	assert_int_equal(calendar_month_days(2020, 12), 31);
}

/* ------------------------------------------------------------------ */
/* time zone and instants */

static void timezone_known_and_unknown(void **state)
{
	(void)state;
	char err[256];

	assert_int_equal(calendar_set_timezone("Asia/Shanghai", err, sizeof(err)), 0);
	err[0] = '\0';
	assert_int_equal(calendar_set_timezone("Mars/Olympus_Mons", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Mars/Olympus_Mons"));
	err[0] = '\0';
	assert_int_equal(calendar_set_timezone("", err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
	assert_int_equal(calendar_set_timezone("../../../etc/passwd", err, sizeof(err)), -1);
	/* a rejected zone leaves the previous one in place */
	assert_int_equal(calendar_instant(D(9, 16), 0), T_2020_09_16);
}

static void timezone_directory_is_not_a_zone(void **state)
{
	(void)state;
	char err[256];
	/* "Asia" and "Asia/" name a directory of the tz database, not a zone:
	 * glibc would silently use UTC with them. */
	int r1 = calendar_set_timezone("Asia", err, sizeof(err));
	int r2 = calendar_set_timezone("Asia/", err, sizeof(err));
	int restored = calendar_set_timezone("Asia/Shanghai", err, sizeof(err));
	assert_int_equal(restored, 0);
	assert_int_equal(r1, -1);
	assert_int_equal(r2, -1);
}

static void instant_and_day_of(void **state)
{
	(void)state;
	int secs = -1;

	assert_int_equal(calendar_instant(D(9, 16), 0), T_2020_09_16);
	assert_int_equal(calendar_instant(JAN1_2021, 0), T_2021_01_01);
	assert_int_equal(calendar_instant(D(5, 1), 0), L(D(5, 1), 0, 0, 0));
	assert_int_equal(calendar_instant(D(6, 28), 9 * H), L(D(6, 28), 9, 0, 0));
	assert_int_equal(calendar_instant(D(12, 31), 86399), T_2021_01_01 - 1);

	assert_int_equal(calendar_day_of(T_2020_09_16, &secs), D(9, 16));
	assert_int_equal(secs, 0);
	assert_int_equal(calendar_day_of(T_2020_09_16 - 1, &secs), D(9, 15));
	assert_int_equal(secs, 86399);
	/* 16:00 UTC is already the next day in Shanghai */
	assert_int_equal(calendar_day_of((int64_t)D(9, 15) * 86400 + 16 * H, &secs), D(9, 16));
	assert_int_equal(secs, 0);
	assert_int_equal(calendar_day_of(L(D(10, 10), 9, 30, 15), &secs), D(10, 10));
	assert_int_equal(secs, 9 * H + 30 * 60 + 15);
	assert_int_equal(calendar_day_of(L(D(5, 6), 9, 0, 0), NULL), D(5, 6));
}

static void parse_instant_with_offset(void **state)
{
	(void)state;
	int64_t t = 0, want = L(D(9, 15), 18, 0, 0);

	assert_int_equal(calendar_parse_instant("2020-09-15T18:00:00+08:00", true, &t), 0);
	assert_int_equal(t, want);
	assert_int_equal(calendar_parse_instant("2020-09-15T18:00+08:00", true, &t), 0);
	assert_int_equal(t, want);
	assert_int_equal(calendar_parse_instant("2020-09-15T12:00:00+02:00", true, &t), 0);
	assert_int_equal(t, want);
	assert_int_equal(calendar_parse_instant("2020-09-15T05:30:00-04:30", true, &t), 0);
	assert_int_equal(t, want);
	assert_int_equal(calendar_parse_instant("2020-09-16T00:00:00+08:00", true, &t), 0);
	assert_int_equal(t, T_2020_09_16);
	assert_int_equal(calendar_parse_instant("2020-09-15T23:59:59+08:00", true, &t), 0);
	assert_int_equal(t, T_2020_09_16 - 1);
	assert_int_equal(calendar_parse_instant("2020-09-15T18:00:00+08:00", false, &t), 0);
	assert_int_equal(t, want);
}

static void parse_instant_z(void **state)
{
	(void)state;
	int64_t t = 0;

	assert_int_equal(calendar_parse_instant("2020-09-15T10:00:00Z", true, &t), 0);
	assert_int_equal(t, L(D(9, 15), 18, 0, 0));
	assert_int_equal(calendar_parse_instant("2020-09-15T16:00Z", true, &t), 0);
	assert_int_equal(t, T_2020_09_16);
	assert_int_equal(calendar_parse_instant("1970-01-01T00:00:00Z", true, &t), 0);
	assert_int_equal(t, 0);
}

static void parse_instant_local(void **state)
{
	(void)state;
	int64_t t = 0;

	/* no offset: local time of the plan's zone */
	assert_int_equal(calendar_parse_instant("2020-09-15T18:00", false, &t), 0);
	assert_int_equal(t, L(D(9, 15), 18, 0, 0));
	assert_int_equal(calendar_parse_instant("2020-09-15T18:00:30", false, &t), 0);
	assert_int_equal(t, L(D(9, 15), 18, 0, 30));
	assert_int_equal(calendar_parse_instant("2020-10-10T09:00", false, &t), 0);
	assert_int_equal(t, L(D(10, 10), 9, 0, 0));
}

static void parse_instant_date_only(void **state)
{
	(void)state;
	int64_t t = 0;

	assert_int_equal(calendar_parse_instant("2020-09-16", false, &t), 0);
	assert_int_equal(t, T_2020_09_16);
	assert_int_equal(calendar_parse_instant("2021-01-01", false, &t), 0);
	assert_int_equal(t, T_2021_01_01);
	assert_int_equal(calendar_parse_instant("2020-02-29", false, &t), 0);
	assert_int_equal(t, L(D(2, 29), 0, 0, 0));
}

static void parse_instant_strict_needs_offset(void **state)
{
	(void)state;
	int64_t t = 4242;

	assert_int_equal(calendar_parse_instant("2020-09-15T18:00", true, &t), -1);
	assert_int_equal(calendar_parse_instant("2020-09-15T18:00:00", true, &t), -1);
	assert_int_equal(calendar_parse_instant("2020-09-15", true, &t), -1);
	assert_int_equal(t, 4242);
	assert_int_equal(calendar_parse_instant("2020-09-15T18:00:00Z", true, &t), 0);
	assert_int_equal(t, L(D(9, 16), 2, 0, 0));
}

/* Every one of the N strings BAD is refused, leaving the output alone. */
static void expect_instants_refused(const char *const *bad, size_t n)
{
	int64_t t = 4242;

	for (size_t i = 0; i < n; i++) {
		if (calendar_parse_instant(bad[i], false, &t) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
	}
	assert_int_equal(t, 4242);
}

static void parse_instant_invalid_dates(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"2020-02-30",
		"2020-02-30T09:00:00+08:00",
		"2019-02-29",
		"2020-04-31",
		"2020-13-01",
		"2020-00-10",
		"2020-09-00",
		"2020-09-32",
		"2020-9-15",
		"20-09-15",
		"2020/09/15",
		"",
		"2020-09-15T",
		"2020-09-15X18:00",
		"2020-09-15T18:00:00+08:00 ",
		"x2020-09-15",
		"2020-09-15 ",
	};
	int64_t t;

	expect_instants_refused(bad, sizeof(bad) / sizeof(bad[0]));
	assert_int_equal(calendar_parse_instant("2019-02-28", false, &t), 0);
}

static void parse_instant_bad_times(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"2020-09-15T24:00:00+08:00",  "2020-09-15T23:60:00+08:00",
		"2020-09-15T23:59:60+08:00",  "2020-09-15T9:00:00+08:00",
		"2020-09-15T09+08:00",        "2020-09-15T09:0+08:00",
		"2020-09-15T09:00:00+8:00",   "2020-09-15T09:00:00+08:60",
		"2020-09-15T09:00:00+24:00",  "2020-09-15T09:00:00+08:00x",
		"2020-09-15T09:00:00 +08:00", "2020-09-15T09:00:00Zjunk",
		"2020-09-15T09:00:00.5Z",     "2020-09-15T09:00:00+",
		"2020-09-15T09:00:00*08:00",  "2020-09-15T24:00",
	};

	expect_instants_refused(bad, sizeof(bad) / sizeof(bad[0]));
}

static void format_instant_shanghai(void **state)
{
	(void)state;
	char buf[64];
	int64_t t;

	calendar_format_instant(T_2020_09_16, buf, sizeof(buf));
	assert_string_equal(buf, "2020-09-16T00:00:00+08:00");
	calendar_format_instant(T_2021_01_01 - 1, buf, sizeof(buf));
	assert_string_equal(buf, "2020-12-31T23:59:59+08:00");
	calendar_format_instant(L(D(5, 6), 9, 5, 7), buf, sizeof(buf));
	assert_string_equal(buf, "2020-05-06T09:05:07+08:00");
	/* what is formatted parses back to the same instant, strictly */
	assert_int_equal(calendar_parse_instant(buf, true, &t), 0);
	assert_int_equal(t, L(D(5, 6), 9, 5, 7));

	calendar_format_day(D(9, 15), buf, sizeof(buf));
	assert_string_equal(buf, "2020-09-15");
	calendar_format_day(JAN1_2021, buf, sizeof(buf));
	assert_string_equal(buf, "2021-01-01");
}

static void format_instant_other_zones(void **state)
{
	(void)state;
	char err[256], utc[64], ny[64];

	int r1 = calendar_set_timezone("UTC", err, sizeof(err));
	calendar_format_instant(T_2020_09_16, utc, sizeof(utc));
	int r2 = calendar_set_timezone("America/New_York", err, sizeof(err));
	calendar_format_instant(T_2020_09_16, ny, sizeof(ny));
	int restored = calendar_set_timezone("Asia/Shanghai", err, sizeof(err));
	assert_int_equal(restored, 0);
	assert_int_equal(r1, 0);
	assert_int_equal(r2, 0);
	assert_string_equal(utc, "2020-09-15T16:00:00+00:00");
	assert_string_equal(ny, "2020-09-15T12:00:00-04:00");
}

static void parse_day(void **state)
{
	(void)state;
	int32_t d = 4242;

	assert_int_equal(calendar_parse_day("09-15", 2020, &d), 0);
	assert_int_equal(d, D(9, 15));
	assert_int_equal(calendar_parse_day("2020-09-15", 2019, &d), 0);
	assert_int_equal(d, D(9, 15));
	assert_int_equal(calendar_parse_day("01-01", 2021, &d), 0);
	assert_int_equal(d, JAN1_2021);
	assert_int_equal(calendar_parse_day("02-29", 2020, &d), 0);
	assert_int_equal(d, D(2, 29));

	static const char *const bad[] = { "02-29",      "02-30",     "13-01",
					   "00-01",      "04-31",     "09-00",
					   "9-15",       "09-15 ",    "0915",
					   "09/15",      "",          "2019-02-29",
					   "2020-02-30", "2020-9-15", "2020-09-15T00:00" };
	d = 4242;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (calendar_parse_day(bad[i], 2019, &d) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
	}
	assert_int_equal(d, 4242);
}

/* ------------------------------------------------------------------ */
/* slots and durations */

static void parse_slot_valid(void **state)
{
	(void)state;
	struct slot_spec sp;
	char err[256];

	assert_int_equal(calendar_parse_slot("-7d@09:00", &sp, err, sizeof(err)), 0);
	assert_int_equal(sp.offset, -7 * 86400);
	assert_int_equal(sp.tod, 9 * H);
	assert_string_equal(sp.text, "-7d@09:00");

	assert_int_equal(calendar_parse_slot("-30s", &sp, err, sizeof(err)), 0);
	assert_int_equal(sp.offset, -30);
	assert_int_equal(sp.tod, -1);
	assert_string_equal(sp.text, "-30s");

	assert_int_equal(calendar_parse_slot("+1d@09:00", &sp, err, sizeof(err)), 0);
	assert_int_equal(sp.offset, 86400);
	assert_int_equal(sp.tod, 9 * H);

	assert_int_equal(calendar_parse_slot("0d@09:00", &sp, err, sizeof(err)), 0);
	assert_int_equal(sp.offset, 0);
	assert_int_equal(sp.tod, 9 * H);

	assert_int_equal(calendar_parse_slot("-2h", &sp, err, sizeof(err)), 0);
	assert_int_equal(sp.offset, -2 * H);
	assert_int_equal(sp.tod, -1);

	assert_int_equal(calendar_parse_slot("15m", &sp, err, sizeof(err)), 0);
	assert_int_equal(sp.offset, 15 * 60);
	assert_int_equal(sp.tod, -1);

	assert_int_equal(calendar_parse_slot("-1d@23:59", &sp, err, sizeof(err)), 0);
	assert_int_equal(sp.offset, -86400);
	assert_int_equal(sp.tod, 23 * H + 59 * 60);

	/* 24 hours are a whole day */
	assert_int_equal(calendar_parse_slot("-24h@09:00", &sp, err, sizeof(err)), 0);
	assert_int_equal(sp.offset, -86400);
	assert_int_equal(sp.tod, 9 * H);
}

static void parse_slot_bad(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"d",
		"-d",
		"7",
		"-7",
		"-7x",
		"-7d@9:00",
		"-7d@24:00",
		"-7d@09:60",
		"-7d@09:00x",
		"-7d09:00",
		"--7d",
		"-7d@",
		"-7 d",
		"+-7d",
		"-7d@09",
		"-7d@09:0",
		"-1000000d",
		"-7d@09:00@10:00",
		"abcdefghijklmnopqrstuvwxyz0123456789",
	};
	struct slot_spec sp;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (calendar_parse_slot(bad[i], &sp, err, sizeof(err)) != -1)
			fail_msg("slot \"%s\" was accepted", bad[i]);
		if (err[0] == '\0')
			fail_msg("slot \"%s\": no message", bad[i]);
	}
}

static void parse_slot_time_of_day_needs_whole_days(void **state)
{
	(void)state;
	struct slot_spec sp;
	char err[256];

	err[0] = '\0';
	assert_int_equal(calendar_parse_slot("-12h@09:00", &sp, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "whole days"));
	assert_int_equal(calendar_parse_slot("-90m@09:00", &sp, err, sizeof(err)), -1);
	assert_int_equal(calendar_parse_slot("-30s@09:00", &sp, err, sizeof(err)), -1);
	assert_int_equal(calendar_parse_slot("+25h@09:00", &sp, err, sizeof(err)), -1);
	/* without a time of day any unit is fine */
	assert_int_equal(calendar_parse_slot("-12h", &sp, err, sizeof(err)), 0);
	assert_int_equal(sp.offset, -12 * H);
}

static void parse_duration(void **state)
{
	(void)state;
	int64_t v = 0;

	assert_int_equal(calendar_parse_duration("3d", &v), 0);
	assert_int_equal(v, 3 * 86400);
	assert_int_equal(calendar_parse_duration("30d", &v), 0);
	assert_int_equal(v, 30 * 86400);
	assert_int_equal(calendar_parse_duration("30s", &v), 0);
	assert_int_equal(v, 30);
	assert_int_equal(calendar_parse_duration("90m", &v), 0);
	assert_int_equal(v, 5400);
	assert_int_equal(calendar_parse_duration("2h", &v), 0);
	assert_int_equal(v, 7200);

	static const char *const bad[] = { "0d",  "0s", "-3d", "+3d", "3",    "d",  "",
					   "3dd", "3x", "3 d", " 3d", "1.5d", "3D", "3d@09:00" };
	v = 4242;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (calendar_parse_duration(bad[i], &v) != -1)
			fail_msg("duration \"%s\" was accepted", bad[i]);
	}
	assert_int_equal(v, 4242);
}

/* ------------------------------------------------------------------ */
/* the 2020 calendar, set up by hand from plan-2020.md */

static struct slot_spec spec(int days, int hh, int mm, const char *text)
{
	struct slot_spec s;
	memset(&s, 0, sizeof(s));
	s.offset = (int64_t)days * 86400;
	s.tod = hh < 0 ? -1 : hh * H + mm * 60;
	snprintf(s.text, sizeof(s.text), "%s", text);
	return s;
}

static void set_range(struct calendar *c, int m1, int d1, int m2, int d2, bool working)
{
	for (int32_t d = D(m1, d1); d <= D(m2, d2); d++)
		calendar_set_workday(c, d, working);
}

/* In force 05-01..12-31, the default reminder policy, quarter-end close. */
static void cal2020(struct calendar *c)
{
	calendar_init(c, 2020);
	set_range(c, 1, 1, 1, 1, false);
	set_range(c, 1, 24, 2, 2, false);
	set_range(c, 4, 4, 4, 6, false);
	set_range(c, 5, 1, 5, 5, false);
	set_range(c, 6, 25, 6, 27, false);
	set_range(c, 10, 1, 10, 8, false);
	static const int work[][2] = { { 1, 19 }, { 4, 26 }, { 5, 9 },
				       { 6, 28 }, { 9, 27 }, { 10, 10 } };
	for (size_t i = 0; i < 6; i++)
		calendar_set_workday(c, D(work[i][0], work[i][1]), true);

	c->first_day = D(5, 1);
	c->last_day = D(12, 31);
	c->in_force_start = L(D(5, 1), 0, 0, 0);
	c->close = CLOSE_QUARTER_END;

	struct reminder_policy *p = &c->reminders;
	p->before = calloc(3, sizeof(*p->before));
	p->before[0] = spec(-7, 9, 0, "-7d@09:00");
	p->before[1] = spec(-3, 9, 0, "-3d@09:00");
	p->before[2] = spec(-1, 9, 0, "-1d@09:00");
	p->nbefore = 3;
	p->due = calloc(1, sizeof(*p->due));
	p->due[0] = spec(0, 9, 0, "0d@09:00");
	p->ndue = 1;
	p->overdue_first = spec(1, 9, 0, "+1d@09:00");
	p->has_overdue = true;
	p->overdue_every = 3 * 86400;
	p->record = calloc(1, sizeof(*p->record));
	p->record[0] = spec(0, 9, 0, "0d@09:00");
	p->nrecord = 1;
	p->escalate = true;
	p->shift_to_workdays = true;
	p->not_before_in_force = true;
}

/* A full year in force, weekends off, no holidays. */
static void cal_plain(struct calendar *c, int year)
{
	calendar_init(c, year);
}

static void cal_in_force(struct calendar *c, int m1, int d1, int m2, int d2)
{
	c->first_day = D(m1, d1);
	c->last_day = D(m2, d2);
	c->in_force_start = L(c->first_day, 0, 0, 0);
}

static void init_defaults(void **state)
{
	(void)state;
	struct calendar c;

	calendar_init(&c, 2020);
	assert_int_equal(c.year, 2020);
	assert_int_equal(c.year_first, D(1, 1));
	assert_int_equal(c.first_day, D(1, 1));
	assert_int_equal(c.last_day, D(12, 31));
	assert_int_equal(c.in_force_start, L(D(1, 1), 0, 0, 0));
	assert_int_equal(c.close, CLOSE_QUARTER_END);
	/* weekdays work, weekends do not */
	assert_true(calendar_is_workday(&c, D(5, 1)));   /* Friday */
	assert_false(calendar_is_workday(&c, D(5, 9)));  /* Saturday */
	assert_false(calendar_is_workday(&c, D(5, 10))); /* Sunday */
	assert_true(calendar_is_workday(&c, D(5, 11)));  /* Monday */
	assert_true(calendar_is_workday(&c, D(12, 31))); /* Thursday */
	calendar_free(&c);
}

static void workdays_2020(void **state)
{
	(void)state;
	struct calendar c;

	cal2020(&c);
	/* holidays on weekdays */
	assert_false(calendar_is_workday(&c, D(1, 1)));  /* Wednesday */
	assert_false(calendar_is_workday(&c, D(5, 1)));  /* Friday */
	assert_false(calendar_is_workday(&c, D(5, 5)));  /* Tuesday */
	assert_false(calendar_is_workday(&c, D(6, 25))); /* Thursday */
	assert_false(calendar_is_workday(&c, D(10, 1))); /* Thursday */
	assert_false(calendar_is_workday(&c, D(10, 8))); /* Thursday */
	/* working weekend days */
	assert_true(calendar_is_workday(&c, D(5, 9)));   /* Saturday */
	assert_true(calendar_is_workday(&c, D(6, 28)));  /* Sunday */
	assert_true(calendar_is_workday(&c, D(9, 27)));  /* Sunday */
	assert_true(calendar_is_workday(&c, D(10, 10))); /* Saturday */
	/* 02-01 stopped being a working day with the extension */
	assert_false(calendar_is_workday(&c, D(2, 1)));
	/* ordinary days */
	assert_true(calendar_is_workday(&c, D(5, 6)));    /* Wednesday */
	assert_true(calendar_is_workday(&c, D(10, 9)));   /* Friday */
	assert_false(calendar_is_workday(&c, D(5, 16)));  /* Saturday */
	assert_false(calendar_is_workday(&c, D(10, 11))); /* Sunday */
	calendar_free(&c);
}

static void set_workday_toggles(void **state)
{
	(void)state;
	struct calendar c;

	cal_plain(&c, 2020);
	assert_true(calendar_is_workday(&c, D(9, 15))); /* Tuesday */
	calendar_set_workday(&c, D(9, 15), false);
	assert_false(calendar_is_workday(&c, D(9, 15)));
	assert_true(calendar_is_workday(&c, D(9, 14))); /* neighbours untouched */
	assert_true(calendar_is_workday(&c, D(9, 16)));
	assert_false(calendar_is_workday(&c, D(9, 19))); /* Saturday */
	calendar_set_workday(&c, D(9, 19), true);
	assert_true(calendar_is_workday(&c, D(9, 19)));
	assert_false(calendar_is_workday(&c, D(9, 20)));
	calendar_set_workday(&c, D(9, 15), true);
	assert_true(calendar_is_workday(&c, D(9, 15)));
	calendar_free(&c);
}

static void workdays_outside_the_year(void **state)
{
	(void)state;
	struct calendar c;

	cal2020(&c);
	int32_t d2019_12_31 = D(1, 1) - 1; /* Tuesday */
	assert_true(calendar_is_workday(&c, d2019_12_31));
	assert_false(calendar_is_workday(&c, d2019_12_31 - 3)); /* Saturday 12-28 */
	assert_true(calendar_is_workday(&c, JAN1_2021));        /* Friday */
	assert_false(calendar_is_workday(&c, JAN1_2021 + 1));   /* Saturday */
	assert_true(calendar_is_workday(&c, JAN1_2021 + 3));    /* Monday */
	assert_false(c.next_known);
	assert_true(calendar_covers(&c, D(12, 31)));
	assert_false(calendar_covers(&c, JAN1_2021));
	/* The next year's days are held too (its closes and overdue notices) */
	calendar_set_workday(&c, JAN1_2021 + 3, false);
	assert_false(calendar_is_workday(&c, JAN1_2021 + 3));
	int32_t d2021_12_31 = calendar_days_from_civil(2021, 12, 31); /* Friday */
	calendar_set_workday(&c, d2021_12_31, false);
	assert_false(calendar_is_workday(&c, d2021_12_31));
	c.next_known = true;
	assert_true(calendar_covers(&c, d2021_12_31));
	/* a day before the plan year or after the next does nothing */
	calendar_set_workday(&c, d2021_12_31 + 3, false); /* Monday 2022-01-03 */
	assert_true(calendar_is_workday(&c, d2021_12_31 + 3));
	assert_false(calendar_covers(&c, d2021_12_31 + 3));
	calendar_set_workday(&c, d2019_12_31, false);
	assert_true(calendar_is_workday(&c, d2019_12_31));
	assert_false(calendar_covers(&c, d2019_12_31));
	calendar_free(&c);
}

static void set_workday_after_in_force_end(void **state)
{
	(void)state;
	struct calendar c;

	/* The plan year is 2020 whatever the period in force: a holiday after
	 * the last day in force still decides where an overdue notice goes. */
	cal_plain(&c, 2020);
	cal_in_force(&c, 5, 1, 9, 30);
	calendar_set_workday(&c, D(10, 5), false); /* Monday */
	calendar_set_workday(&c, D(10, 10), true); /* Saturday */
	assert_false(calendar_is_workday(&c, D(10, 5)));
	assert_true(calendar_is_workday(&c, D(10, 10)));
	calendar_free(&c);
}

/* ------------------------------------------------------------------ */
/* expansion and quarters */

static void expect_days(const int32_t *got, int n, const int (*want)[2], int nwant)
{
	assert_int_equal(n, nwant);
	for (int i = 0; i < nwant; i++) {
		int y, m, d;
		calendar_civil_from_days(got[i], &y, &m, &d);
		if (got[i] != D(want[i][0], want[i][1]))
			fail_msg("day %d: got %04d-%02d-%02d, expected 2020-%02d-%02d", i, y, m, d,
				 want[i][0], want[i][1]);
	}
}

/* C expands SPEC to the NWANT days of 2020 WANT. */
static void expect_expand(const struct calendar *c, const char *spec, const int (*want)[2],
			  int nwant)
{
	int32_t *days = NULL;
	int n = calendar_expand(c, spec, &days);
	expect_days(days, n, want, nwant);
	free(days);
}

static void expand_quarterly_skips_march(void **state)
{
	(void)state;
	struct calendar c;
	static const int want[][2] = { { 6, 20 }, { 9, 20 }, { 12, 20 } };

	cal2020(&c);
	expect_expand(&c, "quarterly:20", want, 3);
	calendar_free(&c);

	/* with the whole year in force, 03-20 exists */
	static const int want_all[][2] = { { 3, 20 }, { 6, 20 }, { 9, 20 }, { 12, 20 } };
	cal_plain(&c, 2020);
	expect_expand(&c, "quarterly:20", want_all, 4);
	calendar_free(&c);
}

static void expand_quarterly_clamps(void **state)
{
	(void)state;
	struct calendar c;
	static const int want[][2] = { { 3, 31 }, { 6, 30 }, { 9, 30 }, { 12, 31 } };

	cal_plain(&c, 2020);
	expect_expand(&c, "quarterly:31", want, 4);
	calendar_free(&c);
}

static void expand_monthly_clamps_to_month_ends(void **state)
{
	(void)state;
	struct calendar c;
	int32_t *days = NULL;
	static const int want[][2] = { { 5, 31 }, { 6, 30 },  { 7, 31 },  { 8, 31 },
				       { 9, 30 }, { 10, 31 }, { 11, 30 }, { 12, 31 } };

	cal2020(&c);
	expect_expand(&c, "monthly:31", want, 8);
	calendar_free(&c);

	/* the whole of 2020: February has 29 days */
	cal_plain(&c, 2020);
	int n = calendar_expand(&c, "monthly:30", &days);
	assert_int_equal(n, 12);
	assert_int_equal(days[0], D(1, 30));
	assert_int_equal(days[1], D(2, 29));
	assert_int_equal(days[2], D(3, 30));
	assert_int_equal(days[11], D(12, 30));
	free(days);
	calendar_free(&c);

	/* 2021: 28 */
	cal_plain(&c, 2021);
	n = calendar_expand(&c, "monthly:29", &days);
	assert_int_equal(n, 12);
	assert_int_equal(days[1], calendar_days_from_civil(2021, 2, 28));
	assert_int_equal(days[2], calendar_days_from_civil(2021, 3, 29));
	free(days);
	calendar_free(&c);
}

static void expand_monthly_in_force(void **state)
{
	(void)state;
	struct calendar c;
	int32_t *days = NULL;
	static const int want[][2] = { { 5, 22 }, { 6, 22 },  { 7, 22 },  { 8, 22 },
				       { 9, 22 }, { 10, 22 }, { 11, 22 }, { 12, 22 } };

	cal2020(&c);
	expect_expand(&c, "monthly:22", want, 8);
	/* 05-01 itself is in force */
	int n = calendar_expand(&c, "monthly:1", &days);
	assert_int_equal(n, 8);
	assert_int_equal(days[0], D(5, 1));
	assert_int_equal(days[7], D(12, 1));
	free(days);
	calendar_free(&c);
}

static void expand_quarter_end(void **state)
{
	(void)state;
	struct calendar c;
	static const int want[][2] = { { 6, 30 }, { 9, 30 }, { 12, 31 } };

	cal2020(&c);
	expect_expand(&c, "quarter-end", want, 3);
	calendar_free(&c);

	static const int want_all[][2] = { { 3, 31 }, { 6, 30 }, { 9, 30 }, { 12, 31 } };
	cal_plain(&c, 2020);
	expect_expand(&c, "quarter-end", want_all, 4);
	calendar_free(&c);
}

static void expand_nothing_in_force(void **state)
{
	(void)state;
	struct calendar c;
	int32_t *days = NULL;

	cal_plain(&c, 2020);
	cal_in_force(&c, 5, 1, 5, 31);
	assert_int_equal(calendar_expand(&c, "quarterly:20", &days), 0);
	free(days);
	assert_int_equal(calendar_expand(&c, "quarter-end", &days), 0);
	free(days);
	assert_int_equal(calendar_expand(&c, "monthly:22", &days), 1);
	assert_int_equal(days[0], D(5, 22));
	free(days);
	calendar_free(&c);
}

static void expand_bad_specs(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"quarterly",
		"quarterly:",
		"quarterly:0",
		"quarterly:32",
		"quarterly:2x",
		"quarterly:-1",
		"quarterly:020",
		"quarterly: 5",
		"monthly:",
		"monthly:99",
		"monthly:0",
		"weekly:1",
		"quarter-end ",
		"Quarterly:20",
		"09-15",
		"quarter_end",
		"yearly:10",
	};
	struct calendar c;

	cal2020(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int32_t *days = NULL;
		int n = calendar_expand(&c, bad[i], &days);
		free(days);
		if (n != -1)
			fail_msg("spec \"%s\" gave %d", bad[i], n);
	}
	calendar_free(&c);
}

static void quarters_in_force_2020(void **state)
{
	(void)state;
	struct calendar c;
	struct quarter q[4];

	cal2020(&c);
	size_t n = calendar_quarters(&c, q);
	assert_int_equal(n, 3);
	assert_string_equal(q[0].period, "2020-Q2");
	assert_int_equal(q[0].at, L(D(7, 1), 0, 0, 0));
	assert_string_equal(q[1].period, "2020-Q3");
	assert_int_equal(q[1].at, L(D(10, 1), 0, 0, 0));
	assert_string_equal(q[2].period, "2020-Q4");
	assert_int_equal(q[2].at, T_2021_01_01);
	calendar_free(&c);
}

static void quarters_other_periods(void **state)
{
	(void)state;
	struct calendar c;
	struct quarter q[4];

	cal_plain(&c, 2020);
	assert_int_equal(calendar_quarters(&c, q), 4);
	assert_string_equal(q[0].period, "2020-Q1");
	assert_int_equal(q[0].at, L(D(4, 1), 0, 0, 0));
	assert_int_equal(q[3].at, T_2021_01_01);

	/* from 07-01: Q2 ends the moment the plan starts, it is not in force */
	cal_in_force(&c, 7, 1, 12, 31);
	assert_int_equal(calendar_quarters(&c, q), 2);
	assert_string_equal(q[0].period, "2020-Q3");
	assert_string_equal(q[1].period, "2020-Q4");

	/* 05-01..08-15: Q2 and Q3 */
	cal_in_force(&c, 5, 1, 8, 15);
	assert_int_equal(calendar_quarters(&c, q), 2);
	assert_string_equal(q[0].period, "2020-Q2");
	assert_string_equal(q[1].period, "2020-Q3");
	assert_int_equal(q[1].at, L(D(10, 1), 0, 0, 0));
	calendar_free(&c);
}

static void quarter_end_of_days(void **state)
{
	(void)state;
	assert_int_equal(calendar_quarter_end(D(1, 1)), L(D(4, 1), 0, 0, 0));
	assert_int_equal(calendar_quarter_end(D(3, 31)), L(D(4, 1), 0, 0, 0));
	assert_int_equal(calendar_quarter_end(D(4, 1)), L(D(7, 1), 0, 0, 0));
	assert_int_equal(calendar_quarter_end(D(6, 30)), L(D(7, 1), 0, 0, 0));
	assert_int_equal(calendar_quarter_end(D(9, 15)), L(D(10, 1), 0, 0, 0));
	assert_int_equal(calendar_quarter_end(D(10, 1)), T_2021_01_01);
	assert_int_equal(calendar_quarter_end(D(12, 31)), T_2021_01_01);
}

/* ------------------------------------------------------------------ */
/* deadlines and closes */

static struct schedule due_on(const struct calendar *c, int m, int d)
{
	struct schedule s;
	memset(&s, 0, sizeof(s));
	s.due_day = D(m, d);
	calendar_schedule(c, &s);
	return s;
}

static void schedule_date_due(void **state)
{
	(void)state;
	struct calendar c;

	cal2020(&c);
	struct schedule s = due_on(&c, 9, 15);
	assert_int_equal(s.deadline, T_2020_09_16);
	assert_int_equal(s.close, L(D(10, 1), 0, 0, 0));
	assert_int_equal(s.due_day, D(9, 15));

	s = due_on(&c, 5, 6);
	assert_int_equal(s.deadline, L(D(5, 7), 0, 0, 0));
	assert_int_equal(s.close, L(D(7, 1), 0, 0, 0));

	s = due_on(&c, 12, 10);
	assert_int_equal(s.deadline, L(D(12, 11), 0, 0, 0));
	assert_int_equal(s.close, T_2021_01_01);

	/* the first day of a quarter belongs to that quarter */
	s = due_on(&c, 7, 1);
	assert_int_equal(s.deadline, L(D(7, 2), 0, 0, 0));
	assert_int_equal(s.close, L(D(10, 1), 0, 0, 0));
	s = due_on(&c, 10, 1);
	assert_int_equal(s.close, T_2021_01_01);
	calendar_free(&c);
}

static void schedule_due_on_quarter_last_day(void **state)
{
	(void)state;
	struct calendar c;

	cal2020(&c);
	struct schedule s = due_on(&c, 6, 30);
	assert_int_equal(s.deadline, L(D(7, 1), 0, 0, 0));
	assert_int_equal(s.close, L(D(7, 1), 0, 0, 0));

	s = due_on(&c, 12, 31);
	assert_int_equal(s.deadline, T_2021_01_01);
	assert_int_equal(s.close, T_2021_01_01);
	calendar_free(&c);
}

static void schedule_timed_due(void **state)
{
	(void)state;
	struct calendar c;
	struct schedule s;

	cal2020(&c);
	memset(&s, 0, sizeof(s));
	s.due_day = D(9, 15);
	s.timed = true;
	s.due_at = L(D(9, 15), 18, 0, 0);
	calendar_schedule(&c, &s);
	assert_int_equal(s.deadline, L(D(9, 15), 18, 0, 0));
	assert_int_equal(s.close, L(D(10, 1), 0, 0, 0));
	calendar_free(&c);
}

static void schedule_close_year_end(void **state)
{
	(void)state;
	struct calendar c;

	cal2020(&c);
	c.close = CLOSE_YEAR_END;
	struct schedule s = due_on(&c, 9, 15);
	assert_int_equal(s.deadline, T_2020_09_16);
	assert_int_equal(s.close, T_2021_01_01);
	s = due_on(&c, 5, 6);
	assert_int_equal(s.close, T_2021_01_01);

	/* a due moved past the year's end: close never precedes the deadline */
	memset(&s, 0, sizeof(s));
	s.due_day = JAN1_2021 + 4;
	calendar_schedule(&c, &s);
	assert_int_equal(s.deadline, L(JAN1_2021 + 5, 0, 0, 0));
	assert_true(s.close >= s.deadline);
	calendar_free(&c);
}

static void schedule_close_after(void **state)
{
	(void)state;
	struct calendar c;
	struct schedule s;

	cal2020(&c);
	c.close = CLOSE_AFTER;
	c.close_after = 30 * 86400;
	s = due_on(&c, 9, 15);
	assert_int_equal(s.deadline, T_2020_09_16);
	assert_int_equal(s.close, L(D(10, 16), 0, 0, 0));

	memset(&s, 0, sizeof(s));
	s.due_day = D(9, 15);
	s.timed = true;
	s.due_at = L(D(9, 15), 18, 0, 0);
	calendar_schedule(&c, &s);
	assert_int_equal(s.deadline, L(D(9, 15), 18, 0, 0));
	assert_int_equal(s.close, L(D(10, 15), 18, 0, 0));

	/* past the year's end, unlike quarter-end */
	s = due_on(&c, 12, 20);
	assert_int_equal(s.close, L(JAN1_2021 + 19, 0, 0, 0)); /* 12-21 + 30d = 2021-01-20 */
	calendar_free(&c);
}

/* ------------------------------------------------------------------ */
/* reminder slots */

struct want_slot {
	int m, d, hh, mm;
	enum slot_kind kind;
	const char *key; /* NULL: not checked */
};

#define B(m, d, key)                         \
	{                                    \
		m, d, 9, 0, SLOT_BEFORE, key \
	}
#define DUE(m, d)                                \
	{                                        \
		m, d, 9, 0, SLOT_DUE, "0d@09:00" \
	}
#define OV(m, d)                               \
	{                                      \
		m, d, 9, 0, SLOT_OVERDUE, NULL \
	}

static const char *kind_name(enum slot_kind k)
{
	switch (k) {
	case SLOT_BEFORE: return "before";
	case SLOT_DUE: return "due";
	case SLOT_OVERDUE: return "overdue";
	case SLOT_RECORD: return "record";
	}
	return "?";
}

static void dump_slots(const struct slot *v, size_t n)
{
	char buf[64];
	for (size_t i = 0; i < n; i++) {
		calendar_format_instant(v[i].at, buf, sizeof(buf));
		print_message("  slot %zu: %s %s %s\n", i, buf, kind_name(v[i].kind), v[i].key);
	}
}

/* Compare the slots with WANT; print them all on a mismatch. */
static void check_slots(const struct slot *v, size_t n, const struct want_slot *want, size_t nwant)
{
	bool ok = n == nwant;
	for (size_t i = 0; ok && i < nwant; i++) {
		const struct want_slot *w = &want[i];
		if (v[i].at != L(D(w->m, w->d), w->hh, w->mm, 0) || v[i].kind != w->kind ||
		    (w->key && strcmp(v[i].key, w->key) != 0)) {
			print_error("slot %zu differs: expected 2020-%02d-%02dT%02d:%02d %s %s\n",
				    i, w->m, w->d, w->hh, w->mm, kind_name(w->kind),
				    w->key ? w->key : "*");
			ok = false;
		}
	}
	if (!ok) {
		print_error("got %zu slots, expected %zu:\n", n, nwant);
		dump_slots(v, n);
		fail();
	}
}

/* No two slots at one instant, sorted, keys distinct. */
static void check_slots_sane(const struct slot *v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		assert_true(v[i - 1].at < v[i].at);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(v[i].key, v[j].key) == 0)
				fail_msg("slots %zu and %zu share the key \"%s\"", i, j, v[i].key);
}

/* The first NHEAD of the N slots V are HEAD. */
static void check_slots_head(const struct slot *v, size_t n, const struct want_slot *head,
			     size_t nhead)
{
	if (n < nhead) {
		dump_slots(v, n);
		fail_msg("only %zu slots", n);
	}
	check_slots(v, nhead, head, nhead);
}

/*
 * The slots of an occurrence due on 2020-M-D (RECORD: a record one) are
 * WANT; with SANE they also pass check_slots_sane.
 */
static void expect_slots(const struct calendar *c, int m, int d, bool record,
			 const struct want_slot *want, size_t nwant, bool sane)
{
	struct slot *v = NULL;
	struct schedule s = due_on(c, m, d);
	size_t n = calendar_slots(c, &s, record, &v);
	check_slots(v, n, want, nwant);
	if (sane)
		check_slots_sane(v, n);
	free(v);
}

static void slots_row_16a_due_0506(void **state)
{
	(void)state;
	struct calendar c;

	/* 05-06 Wednesday. -7d: 04-29, before the plan. -3d: 05-03 and -1d:
	 * 05-05 fall in the May holiday and move back to 04-30, before the
	 * plan too. Overdue every 3 days from 05-07 while before 07-01, moved
	 * forward off weekends and 06-25..06-27. */
	static const struct want_slot want[] = {
		DUE(5, 6), OV(5, 7),  OV(5, 11),                       /* 05-10 Sunday */
		OV(5, 13), OV(5, 18),                                  /* 05-16 Saturday */
		OV(5, 19), OV(5, 22), OV(5, 25), OV(5, 28), OV(6, 1),  /* 05-31 Sunday */
		OV(6, 3),  OV(6, 8),                                   /* 06-06 Saturday */
		OV(6, 9),  OV(6, 12), OV(6, 15), OV(6, 18), OV(6, 22), /* 06-21 Sunday */
		OV(6, 24), OV(6, 28), /* 06-27 holiday, 06-28 a working Sunday */
		OV(6, 30),
		/* 07-03 is past close */
	};
	cal2020(&c);
	expect_slots(&c, 5, 6, false, want, sizeof(want) / sizeof(want[0]), true);
	calendar_free(&c);
}

static void slots_row_14_due_0515(void **state)
{
	(void)state;
	struct calendar c;

	/* 05-15 Friday: every pre-due slot is on a working day. */
	static const struct want_slot want[] = {
		B(5, 8, "-7d@09:00"),
		B(5, 12, "-3d@09:00"),
		B(5, 14, "-1d@09:00"),
		DUE(5, 15),
		OV(5, 18), /* 05-16 Saturday */
		OV(5, 19),
		OV(5, 22),
		OV(5, 25),
		OV(5, 28),
		OV(6, 1),
		OV(6, 3),
		OV(6, 8),
		OV(6, 9),
		OV(6, 12),
		OV(6, 15),
		OV(6, 18),
		OV(6, 22),
		OV(6, 24),
		OV(6, 28),
		OV(6, 30),
	};
	cal2020(&c);
	expect_slots(&c, 5, 15, false, want, sizeof(want) / sizeof(want[0]), true);
	calendar_free(&c);
}

static void slots_due_on_working_sunday(void **state)
{
	(void)state;
	struct calendar c;

	/* 06-28 is a working Sunday. -7d 06-21 Sunday -> 06-19 Friday;
	 * -3d 06-25 and -1d 06-27 (holidays) both -> 06-24, sent once as the
	 * nearer -1d; due on 06-28 itself; one overdue 06-29 before 07-01. */
	static const struct want_slot want[] = {
		B(6, 19, "-7d@09:00"),
		B(6, 24, "-1d@09:00"),
		DUE(6, 28),
		OV(6, 29),
	};
	cal2020(&c);
	assert_int_equal(due_on(&c, 6, 28).deadline, L(D(6, 29), 0, 0, 0));
	expect_slots(&c, 6, 28, false, want, sizeof(want) / sizeof(want[0]), false);
	calendar_free(&c);
}

static void slots_national_day_collision(void **state)
{
	(void)state;
	struct calendar c;

	/* 10-09 Friday. -7d 10-02, -3d 10-06 and -1d 10-08 are all in the
	 * National Day holiday: all move back to 09-30 and are sent once.
	 * Overdue from 10-10 (a working Saturday) every 3 days to year end. */
	static const struct want_slot want[] = {
		B(9, 30, "-1d@09:00"),
		DUE(10, 9),
		OV(10, 10),
		OV(10, 13),
		OV(10, 16),
		OV(10, 19),
		OV(10, 22),
		OV(10, 26), /* 10-25 Sunday */
		OV(10, 28),
		OV(11, 2), /* 10-31 Saturday */
		OV(11, 3),
		OV(11, 6),
		OV(11, 9),
		OV(11, 12),
		OV(11, 16), /* 11-15 Sunday */
		OV(11, 18),
		OV(11, 23), /* 11-21 Saturday */
		OV(11, 24),
		OV(11, 27),
		OV(11, 30),
		OV(12, 3),
		OV(12, 7), /* 12-06 Sunday */
		OV(12, 9),
		OV(12, 14), /* 12-12 Saturday */
		OV(12, 15),
		OV(12, 18),
		OV(12, 21),
		OV(12, 24),
		OV(12, 28), /* 12-27 Sunday */
		OV(12, 30),
		/* 2021-01-02 is past close */
	};
	cal2020(&c);
	assert_int_equal(due_on(&c, 10, 9).close, T_2021_01_01);
	expect_slots(&c, 10, 9, false, want, sizeof(want) / sizeof(want[0]), true);
	calendar_free(&c);
}

static void slots_due_kind_wins_collision(void **state)
{
	(void)state;
	struct calendar c;

	/* 05-16 Saturday: the due slot moves back to Friday 05-15 where -1d
	 * already is: sent once, as due. -7d 05-09 is a working Saturday. */
	static const struct want_slot want[] = {
		B(5, 9, "-7d@09:00"),
		B(5, 13, "-3d@09:00"),
		DUE(5, 15),
		OV(5, 18), /* 05-17 Sunday */
		OV(5, 20),
		OV(5, 25), /* 05-23 Saturday */
		OV(5, 26),
		OV(5, 29),
		OV(6, 1),
		OV(6, 4),
		OV(6, 8),
		OV(6, 10),
		OV(6, 15),
		OV(6, 16),
		OV(6, 19),
		OV(6, 22),
		OV(6, 28), /* 06-25 holiday .. 06-28 working Sunday */
			   /* 06-28 raw collides; 07-01 is close */
	};
	cal2020(&c);
	expect_slots(&c, 5, 16, false, want, sizeof(want) / sizeof(want[0]), true);
	calendar_free(&c);
}

static void slots_due_in_holiday(void **state)
{
	(void)state;
	struct calendar c;
	struct slot *v = NULL;

	/* 10-04 Sunday in the holiday: -7d 09-27 is a working Sunday; -3d,
	 * -1d and due all move back to 09-30, sent once as due. The first
	 * overdue (10-05) and the second (10-08) both move to 10-09. */
	cal2020(&c);
	struct schedule s = due_on(&c, 10, 4);
	size_t n = calendar_slots(&c, &s, false, &v);
	static const struct want_slot head[] = {
		B(9, 27, "-7d@09:00"), DUE(9, 30), OV(10, 9), OV(10, 12), OV(10, 14),
	};
	check_slots_head(v, n, head, 5);
	/* overdue raw days 10-05 + 3k while before 2021-01-01: k = 0..29;
	 * the first two share 10-09, the rest are distinct */
	assert_int_equal(n, 2 + 30 - 1);
	check_slots_sane(v, n);
	assert_int_equal(v[n - 1].at, L(D(12, 31), 9, 0, 0));
	free(v);
	calendar_free(&c);
}

static void slots_overdue_shift_over_national_day(void **state)
{
	(void)state;
	struct calendar c;
	struct slot *v = NULL;

	/* 09-29 Tuesday with close at year end: overdue raw 09-30, 10-03,
	 * 10-06, 10-09, 10-12 ... ; 10-03 and 10-06 move forward to 10-09 and
	 * collide there with the third: one notice. */
	cal2020(&c);
	c.close = CLOSE_YEAR_END;
	struct schedule s = due_on(&c, 9, 29);
	size_t n = calendar_slots(&c, &s, false, &v);
	static const struct want_slot head[] = {
		B(9, 22, "-7d@09:00"),
		B(9, 25, "-3d@09:00"),
		B(9, 28, "-1d@09:00"),
		DUE(9, 29),
		OV(9, 30),
		OV(10, 9),
		OV(10, 12),
		OV(10, 15),
		OV(10, 19), /* 10-18 Sunday */
	};
	check_slots_head(v, n, head, 9);
	/* raw 09-30 + 3k, k = 0..30 (12-29 is the last before 2021-01-01);
	 * three of them share 10-09 */
	assert_int_equal(n, 4 + 31 - 2);
	check_slots_sane(v, n);
	for (size_t i = 0; i < n; i++) {
		int32_t day = calendar_day_of(v[i].at, NULL);
		assert_true(day < D(10, 1) || day > D(10, 8));
	}
	free(v);
	calendar_free(&c);
}

static void slots_none_at_or_after_close(void **state)
{
	(void)state;
	struct calendar c;
	struct slot *v = NULL;

	cal2020(&c);
	/* 06-30: deadline == close == 07-01: no overdue slot at all */
	static const struct want_slot w0630[] = {
		B(6, 23, "-7d@09:00"),
		B(6, 24, "-3d@09:00"),
		B(6, 29, "-1d@09:00"),
		DUE(6, 30),
	};
	expect_slots(&c, 6, 30, false, w0630, 4, false);

	/* 09-28: one overdue 09-29; 10-02 is past close */
	static const struct want_slot w0928[] = {
		B(9, 21, "-7d@09:00"),
		B(9, 25, "-3d@09:00"),
		B(9, 27, "-1d@09:00"),
		DUE(9, 28),
		OV(9, 29),
	};
	expect_slots(&c, 9, 28, false, w0928, 5, false);

	/* 09-30 with close 3 days after the deadline (10-04 00:00): the one
	 * overdue raw slot, 10-01, moves to 10-09, past close: dropped. */
	c.close = CLOSE_AFTER;
	c.close_after = 3 * 86400;
	static const struct want_slot w0930[] = {
		B(9, 23, "-7d@09:00"),
		B(9, 27, "-3d@09:00"),
		B(9, 29, "-1d@09:00"),
		DUE(9, 30),
	};
	struct schedule s = due_on(&c, 9, 30);
	assert_int_equal(s.close, L(D(10, 4), 0, 0, 0));
	size_t n = calendar_slots(&c, &s, false, &v);
	check_slots(v, n, w0930, 4);
	for (size_t i = 0; i < n; i++)
		assert_true(v[i].at < s.close);
	free(v);
	calendar_free(&c);
}

static void slots_record(void **state)
{
	(void)state;
	struct calendar c;

	cal2020(&c);
	/* row 18's quarter ends */
	static const struct want_slot w0630[] = { { 6, 30, 9, 0, SLOT_RECORD, "0d@09:00" } };
	expect_slots(&c, 6, 30, true, w0630, 1, false);

	static const struct want_slot w1231[] = { { 12, 31, 9, 0, SLOT_RECORD, "0d@09:00" } };
	expect_slots(&c, 12, 31, true, w1231, 1, false);

	/* on a holiday: back to the previous working day */
	static const struct want_slot w1004[] = { { 9, 30, 9, 0, SLOT_RECORD, "0d@09:00" } };
	expect_slots(&c, 10, 4, true, w1004, 1, false);

	/* 05-03 moves back to 04-30, before the plan: nothing */
	struct schedule s = due_on(&c, 5, 3);
	static struct slot sentinel;
	struct slot *v = &sentinel; /* must be reset to NULL */
	size_t n = calendar_slots(&c, &s, true, &v);
	assert_int_equal(n, 0);
	assert_null(v);
	calendar_free(&c);
}

static void slots_not_before_in_force_off(void **state)
{
	(void)state;
	struct calendar c;
	struct slot *v = NULL;

	cal2020(&c);
	c.reminders.not_before_in_force = false;
	struct schedule s = due_on(&c, 5, 6);
	size_t n = calendar_slots(&c, &s, false, &v);
	/* -7d 04-29 stays; -3d and -1d meet on 04-30: once, as -1d */
	static const struct want_slot head[] = {
		B(4, 29, "-7d@09:00"),
		B(4, 30, "-1d@09:00"),
		DUE(5, 6),
		OV(5, 7),
	};
	check_slots_head(v, n, head, 4);
	assert_int_equal(n, 3 + 19);
	free(v);
	calendar_free(&c);
}

static void slots_without_shift(void **state)
{
	(void)state;
	struct calendar c;
	struct slot *v = NULL;

	cal2020(&c);
	c.reminders.shift_to_workdays = false;
	struct schedule s = due_on(&c, 10, 9);
	size_t n = calendar_slots(&c, &s, false, &v);
	static const struct want_slot head[] = {
		B(10, 2, "-7d@09:00"),
		B(10, 6, "-3d@09:00"),
		B(10, 8, "-1d@09:00"),
		DUE(10, 9),
		OV(10, 10),
		OV(10, 13),
		OV(10, 16),
	};
	check_slots_head(v, n, head, 7);
	/* raw 10-10 + 3k, k = 0..27 (12-30 the last) */
	assert_int_equal(n, 4 + 28);
	assert_int_equal(v[n - 1].at, L(D(12, 30), 9, 0, 0));
	check_slots_sane(v, n);
	free(v);
	calendar_free(&c);
}

static void slots_timed_due(void **state)
{
	(void)state;
	struct calendar c;
	struct slot *v = NULL;
	struct schedule s;

	cal2020(&c);
	/* before: the day before at 09:00 and 2 hours and 30 seconds before
	 * the due instant */
	free(c.reminders.before);
	c.reminders.before = calloc(3, sizeof(*c.reminders.before));
	c.reminders.before[0] = spec(-1, 9, 0, "-1d@09:00");
	c.reminders.before[1] = spec(0, -1, 0, "-2h");
	c.reminders.before[1].offset = -2 * H;
	c.reminders.before[2] = spec(0, -1, 0, "-30s");
	c.reminders.before[2].offset = -30;
	c.reminders.nbefore = 3;

	memset(&s, 0, sizeof(s));
	s.due_day = D(9, 15);
	s.timed = true;
	s.due_at = L(D(9, 15), 18, 0, 0);
	calendar_schedule(&c, &s);
	size_t n = calendar_slots(&c, &s, false, &v);
	bool ok = n == 9;
	struct {
		int64_t at;
		enum slot_kind kind;
	} want[] = {
		{ L(D(9, 14), 9, 0, 0), SLOT_BEFORE },
		{ L(D(9, 15), 9, 0, 0), SLOT_DUE },
		{ L(D(9, 15), 16, 0, 0), SLOT_BEFORE },
		{ L(D(9, 15), 17, 59, 30), SLOT_BEFORE },
		{ L(D(9, 16), 9, 0, 0), SLOT_OVERDUE },
		{ L(D(9, 21), 9, 0, 0), SLOT_OVERDUE }, /* 09-19 Saturday */
		{ L(D(9, 22), 9, 0, 0), SLOT_OVERDUE },
		{ L(D(9, 25), 9, 0, 0), SLOT_OVERDUE },
		{ L(D(9, 28), 9, 0, 0), SLOT_OVERDUE },
	};
	for (size_t i = 0; ok && i < 9; i++)
		ok = v[i].at == want[i].at && v[i].kind == want[i].kind;
	if (!ok) {
		dump_slots(v, n);
		fail_msg("timed due 2020-09-15T18:00: unexpected slots");
	}
	assert_string_equal(v[2].key, "-2h");
	assert_string_equal(v[3].key, "-30s");
	free(v);

	/* due at 08:00: the 09:00 due slot would be late, it is dropped */
	s.due_at = L(D(9, 15), 8, 0, 0);
	calendar_schedule(&c, &s);
	n = calendar_slots(&c, &s, false, &v);
	assert_true(n >= 3);
	assert_int_equal(v[0].at, L(D(9, 14), 9, 0, 0));
	assert_int_equal(v[1].at, L(D(9, 15), 6, 0, 0));
	assert_int_equal(v[1].kind, SLOT_BEFORE);
	assert_int_equal(v[2].at, L(D(9, 15), 7, 59, 30));
	assert_int_equal(v[3].at, L(D(9, 16), 9, 0, 0));
	assert_int_equal(v[3].kind, SLOT_OVERDUE);
	for (size_t i = 0; i < n; i++)
		assert_int_not_equal(v[i].kind, SLOT_DUE);
	free(v);

	/* due Sunday 09-20 at 10:00: "-2h" falls on Sunday 08:00 and moves
	 * back to Friday 09-18 08:00 */
	s.due_day = D(9, 20);
	s.due_at = L(D(9, 20), 10, 0, 0);
	calendar_schedule(&c, &s);
	n = calendar_slots(&c, &s, false, &v);
	bool found = false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].key, "-2h") == 0) {
			assert_int_equal(v[i].at, L(D(9, 18), 8, 0, 0));
			found = true;
		}
	assert_true(found);
	free(v);
	calendar_free(&c);
}

static void slots_overdue_without_time_of_day(void **state)
{
	(void)state;
	struct calendar c;
	struct slot *v = NULL;
	struct schedule s;

	/* overdue 30 minutes after a timed due, then every day */
	cal2020(&c);
	c.reminders.overdue_first = spec(0, -1, 0, "+30m");
	c.reminders.overdue_first.offset = 30 * 60;
	c.reminders.overdue_every = 86400;
	memset(&s, 0, sizeof(s));
	s.due_day = D(9, 28); /* Monday */
	s.timed = true;
	s.due_at = L(D(9, 28), 18, 0, 0);
	calendar_schedule(&c, &s);
	size_t n = calendar_slots(&c, &s, false, &v);
	static const struct want_slot want[] = {
		B(9, 21, "-7d@09:00"),
		B(9, 25, "-3d@09:00"),
		B(9, 27, "-1d@09:00"), /* a working Sunday */
		DUE(9, 28),
		{ 9, 28, 18, 30, SLOT_OVERDUE, NULL },
		{ 9, 29, 18, 30, SLOT_OVERDUE, NULL },
		{ 9, 30, 18, 30, SLOT_OVERDUE, NULL },
		/* 10-01 18:30 is past close */
	};
	check_slots(v, n, want, sizeof(want) / sizeof(want[0]));
	check_slots_sane(v, n);
	free(v);
	calendar_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(civil_known_days),
		cmocka_unit_test(civil_round_trip),
		cmocka_unit_test(weekday_known),
		cmocka_unit_test(month_days_and_leap_years),
		cmocka_unit_test(timezone_known_and_unknown),
		cmocka_unit_test(timezone_directory_is_not_a_zone),
		cmocka_unit_test(instant_and_day_of),
		cmocka_unit_test(parse_instant_with_offset),
		cmocka_unit_test(parse_instant_z),
		cmocka_unit_test(parse_instant_local),
		cmocka_unit_test(parse_instant_date_only),
		cmocka_unit_test(parse_instant_strict_needs_offset),
		cmocka_unit_test(parse_instant_invalid_dates),
		cmocka_unit_test(parse_instant_bad_times),
		cmocka_unit_test(format_instant_shanghai),
		cmocka_unit_test(format_instant_other_zones),
		cmocka_unit_test(parse_day),
		cmocka_unit_test(parse_slot_valid),
		cmocka_unit_test(parse_slot_bad),
		cmocka_unit_test(parse_slot_time_of_day_needs_whole_days),
		cmocka_unit_test(parse_duration),
		cmocka_unit_test(init_defaults),
		cmocka_unit_test(workdays_2020),
		cmocka_unit_test(set_workday_toggles),
		cmocka_unit_test(workdays_outside_the_year),
		cmocka_unit_test(set_workday_after_in_force_end),
		cmocka_unit_test(expand_quarterly_skips_march),
		cmocka_unit_test(expand_quarterly_clamps),
		cmocka_unit_test(expand_monthly_clamps_to_month_ends),
		cmocka_unit_test(expand_monthly_in_force),
		cmocka_unit_test(expand_quarter_end),
		cmocka_unit_test(expand_nothing_in_force),
		cmocka_unit_test(expand_bad_specs),
		cmocka_unit_test(quarters_in_force_2020),
		cmocka_unit_test(quarters_other_periods),
		cmocka_unit_test(quarter_end_of_days),
		cmocka_unit_test(schedule_date_due),
		cmocka_unit_test(schedule_due_on_quarter_last_day),
		cmocka_unit_test(schedule_timed_due),
		cmocka_unit_test(schedule_close_year_end),
		cmocka_unit_test(schedule_close_after),
		cmocka_unit_test(slots_row_16a_due_0506),
		cmocka_unit_test(slots_row_14_due_0515),
		cmocka_unit_test(slots_due_on_working_sunday),
		cmocka_unit_test(slots_national_day_collision),
		cmocka_unit_test(slots_due_kind_wins_collision),
		cmocka_unit_test(slots_due_in_holiday),
		cmocka_unit_test(slots_overdue_shift_over_national_day),
		cmocka_unit_test(slots_none_at_or_after_close),
		cmocka_unit_test(slots_record),
		cmocka_unit_test(slots_not_before_in_force_off),
		cmocka_unit_test(slots_without_shift),
		cmocka_unit_test(slots_timed_due),
		cmocka_unit_test(slots_overdue_without_time_of_day),
	};
	return cmocka_run_group_tests(tests, shanghai_group_setup, NULL);
}
