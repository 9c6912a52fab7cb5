/*
 * Unit tests of notify: the default and custom templates, template
 * checks, an office's digest of several units, and the HTML alternative.
 * What the providers make of a message is tested in test_provider_*.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/notify.h"
#include "kaohe/util.h"
#include "support.h"

static void kind_names(void **state)
{
	(void)state;
	for (int k = 0; k < NOTIFY_NKINDS; k++)
		assert_int_equal(notify_kind_find(notify_kind_name((enum notify_kind)k)), k);
	assert_string_equal(notify_kind_name(NOTIFY_ESCALATION), "escalation");
	assert_int_equal(notify_kind_find("dead"), NOTIFY_DEAD);
	assert_int_equal(notify_kind_find("later"), -1);
	assert_int_equal(notify_kind_find(NULL), -1);
}

static void default_before_reads_well(void **state)
{
	struct notify_message m = sample_message(NOTIFY_BEFORE);
	struct sbuf s, t;

	(void)state;
	sample_render(NULL, &m, &s, &t);
	/* The subject names the earliest deadline of the digest, the due day included. */
	assert_string_equal(s.buf, "【考核提醒】八一路：3项材料请于12月8日（含）前报送");
	assert_contains(t.buf, "八一路街道联络员：");
	/* What to submit, to whom, by when and at what cost. */
	assert_contains(t.buf, "- 年度工作总结（第2c项）：请于12月10日（含）前报送"
			       "（逾期扣0.5分，未报送扣1分）\n"
			       "  报送内容：报送年度业主委员会工作总结；报送至：区住建局\n");
	assert_contains(t.buf, "请于12月8日（含）前报送（逾期扣0.2分，未报送扣2分）");
	assert_contains(t.buf, "请于12月15日（含）前报送（逾期不扣分，未报送扣1分）");
	/* Without a submit text, the title says what to submit. */
	assert_contains(t.buf, "报送内容：小区巡查台账；报送至：区住建局");
	assert_contains(t.buf, "于2020年12月8日 09:00自动发送");
	assert_lacks(t.buf, "T09:00");
	assert_contains(t.buf, "编号42");
	/* Items in the given order, one line each. */
	const char *a = strstr(t.buf, "年度工作总结"), *b = strstr(t.buf, "物业企业"),
		   *c = strstr(t.buf, "小区巡查台账");
	assert_true(a && b && c && a < b && b < c);
	assert_non_null(strstr(t.buf, "区住建局\n- 物业企业"));
	sbuf_free(&s);
	sbuf_free(&t);
}

static void default_every_kind_names_rows(void **state)
{
	static const char *const states[] = { "未报送", "已逾期未报送", "逾期报送" };
	static const char *const days[] = { "12月10日（含）", "12月8日（含）", "12月15日（含）" };
	static const char *const stakes[] = {
		"逾期扣0.5分，未报送扣1分",
		"逾期扣0.2分，未报送扣2分",
		"逾期不扣分，未报送扣1分",
	};
	(void)state;
	for (int k = NOTIFY_BEFORE; k <= NOTIFY_RECORD; k++) {
		struct notify_message m = sample_message((enum notify_kind)k);
		struct sbuf s, t;
		sample_render(NULL, &m, &s, &t);
		assert_true(s.len > 0);
		assert_null(strchr(s.buf, '\n'));
		assert_contains(s.buf, "3项");
		for (size_t i = 0; i < SAMPLE_NITEMS; i++) {
			assert_contains(t.buf, sample_items[i].title);
			assert_contains(t.buf, days[i]);
			assert_lacks(t.buf, sample_items[i].due);
			/* A record reminder asks for an entry, without stakes or states. */
			if (k == NOTIFY_RECORD) {
				assert_contains(t.buf, "前录入");
				continue;
			}
			assert_contains(t.buf, sample_items[i].dept);
			if (k == NOTIFY_OVERDUE || k == NOTIFY_ESCALATION) {
				assert_contains(t.buf, states[i]);
				assert_contains(t.buf, "补报截止时间");
			} else {
				assert_contains(t.buf, stakes[i]);
			}
		}
		assert_true(util_utf8_valid(t.buf, t.len));
		sbuf_free(&s);
		sbuf_free(&t);
	}
}

static void default_kind_wording(void **state)
{
	struct sbuf s, t;
	struct notify_message m;

	(void)state;
	m = sample_message(NOTIFY_DUE);
	sample_render(NULL, &m, &s, &t);
	assert_string_equal(s.buf, "【考核提醒】八一路：3项材料今日到期，请于12月8日（含）前报送");
	sbuf_free(&s);
	sbuf_free(&t);

	m = sample_message(NOTIFY_OVERDUE);
	sample_render(NULL, &m, &s, &t);
	assert_string_equal(s.buf, "【逾期提醒】八一路：3项材料已逾期未报送");
	assert_contains(t.buf, "已超过报送期限");
	/* The close: until when a late submission still avoids the miss. */
	assert_contains(t.buf, "- 年度工作总结（第2c项）：报送期限12月10日（含）已过，未报送；"
			       "补报截止时间12月25日（含），此前补报扣0.5分，此后仍未报送扣1分");
	sbuf_free(&s);
	sbuf_free(&t);

	m = sample_message(NOTIFY_ESCALATION);
	m.recipient = "八一路街道分管副主任";
	sample_render(NULL, &m, &s, &t);
	assert_string_equal(s.buf, "【逾期抄送】八一路：3项材料已逾期未报送");
	assert_contains(t.buf, "八一路街道分管副主任：");
	assert_contains(t.buf, "抄送");
	assert_contains(t.buf, "督促");
	sbuf_free(&s);
	sbuf_free(&t);

	m = sample_message(NOTIFY_RECORD);
	m.recipient = "区住建局物业科";
	sample_render(NULL, &m, &s, &t);
	assert_string_equal(s.buf, "【录入提醒】区住建局：3项考核事项请于12月8日（含）前录入");
	assert_contains(t.buf, "检查结果或指标数据");
	sbuf_free(&s);
	sbuf_free(&t);

	m = sample_message(NOTIFY_SNAPSHOT);
	m.recipient = "考核办";
	sample_render(NULL, &m, &s, &t);
	assert_string_equal(s.buf, "【考核排名】2020-Q3考核排名已生成");
	assert_contains(t.buf, "1. 八一路 96.5\n2. 白云 95");
	assert_contains(t.buf, "已于2020年12月8日 09:00生成");
	sbuf_free(&s);
	sbuf_free(&t);

	m = sample_message(NOTIFY_DEAD);
	m.recipient = "考核办";
	sample_render(NULL, &m, &s, &t);
	assert_string_equal(s.buf, "【系统告警】考核通知投递失败");
	assert_contains(t.buf, "SMTP 550 mailbox unavailable");
	sbuf_free(&s);
	sbuf_free(&t);
}

static void state_words(void **state)
{
	static const struct {
		const char *state, *words;
	} cases[] = {
		{ "pending", "未报送" },
		{ "on-time", "已按时报送" },
		{ "late", "逾期报送" },
		{ "overdue", "已逾期未报送" },
		{ "missing", "未报送（已截止）" },
	};
	struct notify_templates t = { .item = "[{state}]" };

	(void)state;
	t.body[NOTIFY_DUE] = "{items}";
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct notify_item it = sample_items[0];
		struct notify_message m = sample_message(NOTIFY_DUE);
		struct sbuf s, x;
		char want[64];
		it.state = cases[i].state;
		m.items = &it;
		m.nitems = 1;
		sample_render(&t, &m, &s, &x);
		snprintf(want, sizeof(want), "[%s]", cases[i].words);
		assert_string_equal(x.buf, want);
		sbuf_free(&s);
		sbuf_free(&x);
	}
}

static void stake_without_deductions(void **state)
{
	struct notify_templates t = { .item = "{stake}|{late}|{missing}" };
	struct notify_item it = sample_items[0];
	struct notify_message m = sample_message(NOTIFY_BEFORE);
	struct sbuf s, x;

	(void)state;
	t.body[NOTIFY_BEFORE] = "{items}";
	it.late = it.missing = 0;
	m.items = &it;
	m.nitems = 1;
	sample_render(&t, &m, &s, &x);
	assert_string_equal(x.buf, "不扣分|0|0");
	sbuf_free(&s);
	sbuf_free(&x);
}

/* A due given as a date-time at midnight is that instant, not the whole day. */
static void due_at_midnight(void **state)
{
	struct notify_templates t = { .item = "{due}|{deadline}" };
	struct notify_item it = sample_items[0];
	struct notify_message m = sample_message(NOTIFY_BEFORE);
	struct sbuf s, x;

	(void)state;
	t.body[NOTIFY_BEFORE] = "{items}";
	/* moved to 2020-12-10T00:00:00+08:00: on time means by the end of the 9th */
	it.deadline_at = INT64_C(1607529600);
	m.items = &it;
	m.nitems = 1;
	sample_render(&t, &m, &s, &x);
	assert_string_equal(x.buf, "12月10日 00:00|12月9日（含）");
	sbuf_free(&s);
	sbuf_free(&x);
}

static void custom_templates(void **state)
{
	struct notify_templates t = { .item = "{seq}/{row}/{occurrence}/{department}/{deadline}/"
					      "{close}/{late}/{missing}/{due_iso}/{deadline_iso}/"
					      "{close_iso}/{submit}" };
	struct notify_message m = sample_message(NOTIFY_ESCALATION);
	struct sbuf s, x;

	(void)state;
	t.subject[NOTIFY_ESCALATION] = "{{{unit_id}}} {count} {due} {due_iso} {deadline_iso}";
	t.body[NOTIFY_ESCALATION] = "{recipient}|{unit}|{units}|{department}|{at}|{at_iso}|"
				    "{delivery}|{mentions}|{period}|{detail}\n{items}\n}}{{";
	sample_render(&t, &m, &s, &x);
	assert_string_equal(s.buf, "{bayilu} 3 12月8日 2020-12-08 2020-12-09T00:00:00+08:00");
	assert_string_equal(x.buf,
			    "八一路街道联络员|八一路|八一路|区住建局|2020年12月8日 09:00|"
			    "2020-12-08T09:00:00+08:00|42|@13800000000 @13900000001||\n"
			    "2/2c/2c@2020-12-10/区住建局/12月10日（含）/12月25日（含）/0.5/1/"
			    "2020-12-10/2020-12-11T00:00:00+08:00/2020-12-26T00:00:00+08:00/"
			    "报送年度业主委员会工作总结\n"
			    "7/7d/7d@2020-12-08/区城管执法局/12月8日（含）/12月23日（含）/0.2/2/"
			    "2020-12-08/2020-12-09T00:00:00+08:00/2020-12-24T00:00:00+08:00/"
			    "物业企业信用评价<script>alert('x')</script> & \"整改\"\n"
			    "/7a/7a@2020-12-15/区住建局/12月15日（含）/12月30日（含）/0/1/"
			    "2020-12-15/2020-12-16T00:00:00+08:00/2020-12-31T00:00:00+08:00/"
			    "小区巡查台账\n}{");
	sbuf_free(&s);
	sbuf_free(&x);

	/* Members left NULL keep their defaults; output is appended. */
	struct notify_templates only_item = { .item = "* {title}" };
	m = sample_message(NOTIFY_BEFORE);
	sbuf_init(&s);
	sbuf_init(&x);
	SBUF_LIT(&s, "S:");
	SBUF_LIT(&x, "T:");
	notify_render(&only_item, &m, &s, &x);
	assert_string_equal(s.buf, "S:【考核提醒】八一路：3项材料请于12月8日（含）前报送");
	assert_true(starts_with(x.buf, "T:八一路街道联络员："));
	assert_contains(x.buf, "* 年度工作总结\n* 物业企业");
	sbuf_free(&s);
	sbuf_free(&x);
}

static void subject_stays_one_line(void **state)
{
	struct notify_templates t = { .item = "{title}" };
	struct notify_message m = sample_message(NOTIFY_BEFORE);
	struct sbuf s, x;

	(void)state;
	t.subject[NOTIFY_BEFORE] = "{items}";
	sample_render(&t, &m, &s, &x);
	assert_null(strchr(s.buf, '\n'));
	assert_contains(s.buf, "年度工作总结 物业企业");
	sbuf_free(&s);
	sbuf_free(&x);
}

static void expect_check_error(const char *tmpl, bool item, const char *want)
{
	char err[256] = "";
	if (notify_template_check(tmpl, item, err, sizeof(err)) != -1)
		fail_msg("template \"%s\" passed", tmpl);
	if (!strstr(err, want))
		fail_msg("template \"%s\": error \"%s\" lacks \"%s\"", tmpl, err, want);
}

static void template_check_accepts(void **state)
{
	char err[256];
	(void)state;
	assert_int_equal(notify_template_check(NULL, false, err, sizeof(err)), 0);
	assert_int_equal(notify_template_check("", true, err, sizeof(err)), 0);
	assert_int_equal(notify_template_check("【提醒】{unit}{{字面}}{count}项{due}", false, err,
					       sizeof(err)),
			 0);
	assert_int_equal(notify_template_check("{recipient}{unit}{unit_id}{department}{count}"
					       "{items}{at}{period}{detail}{delivery}{mentions}",
					       false, err, sizeof(err)),
			 0);
	assert_int_equal(notify_template_check("{seq}{row}{occurrence}{title}{department}{due}"
					       "{deadline}{close}{late}{missing}{stake}{state}}}",
					       true, err, sizeof(err)),
			 0);
}

static void template_check_rejects(void **state)
{
	(void)state;
	expect_check_error("你好{foo}", false, "unknown placeholder {foo}");
	expect_check_error("{Unit}", false, "unknown placeholder {Unit}");
	expect_check_error("abc {unit", false, "unterminated placeholder at byte 4");
	expect_check_error("a}b", false, "unbalanced '}' at byte 1");
	expect_check_error("{un{it}", false, "unbalanced '{' at byte 0");
	expect_check_error("x{}", true, "empty placeholder {} at byte 1");
	/* Each kind of template has its own placeholders. */
	expect_check_error("{title}", false, "{title}");
	expect_check_error("{stake}", false, "item template");
	expect_check_error("- {items}", true, "{items}");
	expect_check_error("- {recipient}", true, "message template");
	expect_check_error("\xe4\xb8", false, "UTF-8");
}

static void default_office_digest_wording(void **state)
{
	struct notify_item its[SAMPLE_NITEMS];
	struct notify_message m = sample_office_digest(its);
	struct sbuf s, t;

	(void)state;
	sample_render(NULL, &m, &s, &t);
	assert_string_equal(s.buf, "【逾期抄送】区住建局考核事项：3项材料已逾期未报送");
	assert_true(
		starts_with(t.buf, "住建局办公室：\n\n现将区住建局考核事项的逾期情况抄送如下。"));
	assert_contains(t.buf,
			"\n\n【八一路】- 年度工作总结（第2c项）：报送期限12月10日（含）已过，"
			"未报送；补报截止时间12月25日（含），此前补报扣0.5分，"
			"此后仍未报送扣1分\n  报送内容：报送年度业主委员会工作总结；"
			"报送至：区住建局\n【白云】- 物业企业");
	assert_contains(t.buf, "\n【八一路】- 小区巡查台账（第7a项");
	assert_contains(t.buf, "各单位");
	/* nothing reads as if one unit were meant */
	assert_lacks(t.buf, "该单位");
	assert_lacks(t.buf, "现将考核材料");
	sbuf_free(&s);
	sbuf_free(&t);

	/* The leader's copy is about one unit: the unit's words, no labels. */
	m = sample_message(NOTIFY_ESCALATION);
	sample_render(NULL, &m, &s, &t);
	assert_string_equal(s.buf, "【逾期抄送】八一路：3项材料已逾期未报送");
	assert_lacks(t.buf, "【八一路】");
	sbuf_free(&s);
	sbuf_free(&t);
}

/* A template of one's own still gets the labels, and is used as it stands. */
static void custom_office_digest(void **state)
{
	struct notify_templates t = { .item = "{title}" };
	struct notify_item its[SAMPLE_NITEMS];
	struct notify_message m = sample_office_digest(its);
	struct sbuf s, x;

	(void)state;
	t.subject[NOTIFY_ESCALATION] = "[{unit}] {department} {count}";
	t.body[NOTIFY_ESCALATION] = "{items}";
	sample_render(&t, &m, &s, &x);
	assert_string_equal(s.buf, "[] 区住建局 3");
	assert_string_equal(x.buf,
			    "【八一路】年度工作总结\n"
			    "【白云】物业企业信用评价<script>alert('x')</script> & \"整改\"\n"
			    "【八一路】小区巡查台账");
	sbuf_free(&s);
	sbuf_free(&x);
}

/* The HTML alternative on its own: paragraphs, line breaks, the items' table, all escaped. */
static void html_document(void **state)
{
	struct notify_message m = sample_message(NOTIFY_BEFORE);
	struct sbuf out;

	(void)state;
	sbuf_init(&out);
	notify_render_html(&m, "主题<b>", "第一段\n第二行\r\n\n\n第二段 & <i>", &out);
	assert_true(starts_with(out.buf, "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n"));
	assert_contains(out.buf, "<title>主题&lt;b&gt;</title>");
	assert_contains(out.buf, "<h3>主题&lt;b&gt;</h3>");
	assert_contains(out.buf, "<p>第一段<br>\n第二行</p>\n<p>第二段 &amp; &lt;i&gt;</p>\n");
	assert_contains(
		out.buf,
		"<td>物业企业信用评价&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; "
		"&amp; &quot;整改&quot;</td><td>7d</td><td>物业企业信用评价&lt;script&gt;"
		"alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;整改&quot;</td>"
		"<td>区城管执法局</td><td>请于12月8日（含）前报送（逾期扣0.2分，未报送扣2分）"
		"</td><td>已逾期未报送</td>");
	assert_lacks(out.buf, "<script>");
	assert_true(ends_with(out.buf, "</tbody>\n</table>\n</body>\n</html>\n"));
	sbuf_free(&out);

	/* No items: no table. */
	m = sample_message(NOTIFY_SNAPSHOT);
	sbuf_init(&out);
	notify_render_html(&m, "s", "t", &out);
	assert_lacks(out.buf, "<table");
	assert_true(ends_with(out.buf, "<p>t</p>\n</body>\n</html>\n"));
	sbuf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kind_names),
		cmocka_unit_test(default_before_reads_well),
		cmocka_unit_test(default_every_kind_names_rows),
		cmocka_unit_test(default_kind_wording),
		cmocka_unit_test(state_words),
		cmocka_unit_test(stake_without_deductions),
		cmocka_unit_test(due_at_midnight),
		cmocka_unit_test(custom_templates),
		cmocka_unit_test(subject_stays_one_line),
		cmocka_unit_test(template_check_accepts),
		cmocka_unit_test(template_check_rejects),
		cmocka_unit_test(default_office_digest_wording),
		cmocka_unit_test(custom_office_digest),
		cmocka_unit_test(html_document),
	};
	return cmocka_run_group_tests(tests, shanghai_group_setup, NULL);
}
