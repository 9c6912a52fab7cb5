/*
 * Unit tests of provider: the table is complete and consistent (every
 * provider named once, its defaults and hooks there, the email server
 * first and alone of its kind), each provider's configuration checks
 * are reached through a real configuration file, each builds its
 * request through the table, and what the providers share (reading an
 * answer, cutting a server's long words).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kaohe/config.h"
#include "kaohe/provider.h"
#include "kaohe/util.h"
#include "support.h"

static char tmpdir[] = "/tmp/kaohe-test-provider-XXXXXX";

/* ------------------------------------------------------------------ */
/* the table */

static void table_complete_and_consistent(void **state)
{
	static const char *const names[] = { "email", "generic", "wecom", "dingtalk", "feishu" };
	size_t n = provider_count();

	(void)state;
	assert_int_equal(n, sizeof(names) / sizeof(names[0]));
	assert_null(provider_at(n));
	for (size_t i = 0; i < n; i++) {
		const struct provider *p = provider_at(i);
		assert_non_null(p);
		assert_string_equal(p->name, names[i]);
		/* found by its name, and no other provider has it */
		assert_ptr_equal(provider_find(p->name), p);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(provider_at(j)->name, p->name);
		/* the email server first, and the only one configured as such */
		assert_int_equal(p->mail, i == 0);
		assert_non_null(p->schemes);
		assert_non_null(p->schemes[0]);
		for (const char *const *s = p->schemes; *s; s++)
			assert_true(ends_with(*s, "://"));
		assert_non_null(p->keys);
		assert_non_null(p->load);
		assert_non_null(p->free);
		assert_non_null(p->request);
		assert_non_null(p->classify);
		assert_true(p->nrates <= CHANNEL_MAX_RATES);
		for (size_t r = 0; r < p->nrates; r++)
			assert_true(p->rates[r].count > 0 && p->rates[r].per_ms > 0);
		for (size_t r = p->nrates; r < CHANNEL_MAX_RATES; r++)
			assert_int_equal(p->rates[r].count, 0);
	}
	assert_string_equal(provider_find("dingtalk")->name, "dingtalk");
	assert_null(provider_find("slack"));
	assert_null(provider_find(NULL));

	/* The defaults are the providers' documented limits. */
	assert_int_equal(provider_find("email")->nrates, 0);
	assert_int_equal(provider_find("generic")->nrates, 0);
	assert_int_equal(provider_find("wecom")->nrates, 1);
	assert_int_equal(provider_find("wecom")->rates[0].count, 20);
	assert_i64(provider_find("wecom")->rates[0].per_ms, 60000);
	assert_int_equal(provider_find("dingtalk")->nrates, 1);
	assert_int_equal(provider_find("dingtalk")->rates[0].count, 20);
	assert_i64(provider_find("dingtalk")->rates[0].per_ms, 60000);
	assert_int_equal(provider_find("feishu")->nrates, 2);
	assert_int_equal(provider_find("feishu")->rates[0].count, 5);
	assert_i64(provider_find("feishu")->rates[0].per_ms, 1000);
	assert_int_equal(provider_find("feishu")->rates[1].count, 100);
	assert_i64(provider_find("feishu")->rates[1].per_ms, 60000);

	struct sbuf sb;
	sbuf_init(&sb);
	provider_webhook_names(&sb);
	assert_string_equal(sb.buf, "generic, wecom, dingtalk, feishu");
	sbuf_free(&sb);
}

/* ------------------------------------------------------------------ */
/* configuration checks, through a real file */

static const char conf_head[] =
	"kaohe: { timezone = \"Asia/Shanghai\"; calendar_dir = \"" KAOHE_SOURCE_DIR
	"/config/calendars\"; };\n";

static const char conf_plan[] =
	"plan: {\n"
	"  year = 2020;\n"
	"  title = \"测试方案\";\n"
	"  document = \"测试〔2020〕1号\";\n"
	"  in_force = { from = \"05-01\"; to = \"12-31\"; };\n"
	"  total = 3;\n"
	"  close = \"quarter-end\";\n"
	"  missing_default = \"late\";\n"
	"  categories = ( { id = \"basic\"; name = \"基本工作\"; max = 3; annex = [ \"常规工作\" ]; } );\n"
	"  units = ( { id = \"ua\"; name = \"甲街道\"; } );\n"
	"  departments = ( { id = \"dep1\"; name = \"区一局\"; } );\n"
	"  rows = (\n"
	"    { id = \"r1\"; seq = \"1\"; annex_category = \"常规工作\"; category = \"basic\";"
	" department = \"dep1\"; max = 3; content = \"内容\"; standard = \"按时完成。\";"
	" scoring = \"逾期扣1分，未报送扣2分。\";"
	" deadline = { due = \"06-15\"; late = 1; missing = 2; }; }\n"
	"  );\n"
	"};\n";

struct loaded {
	struct config *cfg;
	struct sbuf err, warn;
	char *text;
};

/* The configuration with CHANNELS ("channels: { … };"), loaded from a file. */
static void load(struct loaded *l, const char *channels)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/kaohe.conf", tmpdir);
	l->text = xasprintf("%s%s%s", conf_head, channels, conf_plan);
	write_file(path, l->text);
	sbuf_init(&l->err);
	sbuf_init(&l->warn);
	l->cfg = config_load(path, 0, &l->err, &l->warn);
	assert_int_equal(unlink(path), 0);
}

static void loaded_free(struct loaded *l)
{
	config_free(l->cfg);
	sbuf_free(&l->err);
	sbuf_free(&l->warn);
	free(l->text);
}

/* The line of the first NEEDLE in TEXT. */
static int line_of(const char *text, const char *needle)
{
	const char *at = strstr(text, needle);
	int line = 1;
	assert_non_null(at);
	for (const char *p = text; p < at; p++)
		line += *p == '\n';
	return line;
}

/* CHANNELS must fail with exactly one error: MSG, at the line of AT. */
static void expect_error(const char *channels, const char *at, const char *msg)
{
	struct loaded l;
	char want[1024];

	load(&l, channels);
	if (l.cfg)
		fail_msg("loaded, expected \"%s\"", msg);
	snprintf(want, sizeof(want), "%s/kaohe.conf:%d: %s\n", tmpdir, line_of(l.text, at), msg);
	assert_string_equal(l.err.buf, want);
	loaded_free(&l);
}

#define EMAIL_OK \
	"  email = { url = \"smtp://127.0.0.1:2525\"; from = \"考核办 <kaohe@example.org>\";"
#define HOOK(type, more)                                                        \
	"channels: {\n  webhooks = (\n    { name = \"w\"; type = \"" type "\";" \
	" url = \"https://hooks.example.org/w\"; units = [ \"*\" ];\n" more " }\n  );\n};\n"

/*
 * Every provider's load hook is reached, through the table, and reports
 * what its rules refuse, at the setting, naming the channel.
 */
static void config_checks_reached(void **state)
{
	(void)state;
	/* email: the sender, and a user without a password */
	expect_error("channels: {\n  email = { url = \"smtp://127.0.0.1:2525\";\n"
		     "    from = \"not an address\"; };\n};\n",
		     "from = ",
		     "channels.email: from \"not an address\" is not an address such as "
		     "\"名称 <kaohe@example.org>\"");
	expect_error("channels: {\n" EMAIL_OK "\n    user = \"kaohe\"; };\n};\n",
		     "user = ", "channels.email: user is set but password_file is not");
	/* its keys are its own: a webhook's setting is unknown to it */
	expect_error(
		"channels: {\n" EMAIL_OK "\n    format = \"text\"; };\n};\n", "format = ",
		"unknown setting \"format\" in channels.email; known: url, ca_file, rate, from, "
		"user, password_file");
	/* the robots that sign: a secret that cannot be read, a format they lack */
	static const char *const signing[] = { "generic", "dingtalk", "feishu" };
	for (size_t i = 0; i < 3; i++) {
		char channels[512];
		snprintf(channels, sizeof(channels), HOOK("%s", "      format = \"markdown\";"),
			 signing[i]);
		expect_error(channels, "format = ",
			     "channels.webhooks \"w\": format \"markdown\" is not text");
		char want[512];
		snprintf(channels, sizeof(channels),
			 HOOK("%s", "      secret_file = \"/nonexistent/kaohe-secret\";"),
			 signing[i]);
		snprintf(want, sizeof(want),
			 "channels.webhooks \"w\": cannot read /nonexistent/kaohe-secret: "
			 "No such file or directory");
		expect_error(channels, "secret_file = ", want);
	}
	/* WeCom: no secret; text or markdown */
	char secret[600];
	snprintf(secret, sizeof(secret), "%s/robot.secret", tmpdir);
	write_file(secret, "s3cret\n");
	expect_error(HOOK("wecom", "      secret_file = \"robot.secret\";"), "secret_file = ",
		     "channels.webhooks \"w\": a WeCom robot has no secret: its key is part of "
		     "the url");
	assert_int_equal(unlink(secret), 0);
	expect_error(HOOK("wecom", "      format = \"html\";"), "format = ",
		     "channels.webhooks \"w\": format \"html\" is not text or markdown");
	/* a webhook's email-only setting is unknown; an unknown type lists the table's */
	expect_error(HOOK("generic", "      from = \"a@example.org\";"), "from = ",
		     "unknown setting \"from\" in channels.webhooks[1]; known: name, type, url, "
		     "url_file, units, departments, admins, rate, ca_file, secret_file, format");
	expect_error(HOOK("slack", ""), "type = ",
		     "channels.webhooks \"w\": type \"slack\" is not one of generic, wecom, "
		     "dingtalk, feishu");
	expect_error(HOOK("email", ""), "type = ",
		     "channels.webhooks \"w\": type \"email\" is not one of generic, wecom, "
		     "dingtalk, feishu");
}

/* ------------------------------------------------------------------ */
/* requests, through the table */

static const char all_channels[] =
	"channels: {\n" EMAIL_OK " user = \"kaohe\"; password_file = \"smtp.secret\"; };\n"
	"  webhooks = (\n"
	"    { name = \"gen\"; type = \"generic\"; url = \"https://g.example.org/h\";"
	" secret_file = \"robot.secret\"; units = [ \"*\" ]; },\n"
	"    { name = \"wc\"; type = \"wecom\"; url = \"https://q.example.org/send?key=k\";"
	" units = [ \"*\" ]; },\n"
	"    { name = \"dt\"; type = \"dingtalk\"; url = \"https://d.example.org/send?t=1\";"
	" secret_file = \"robot.secret\"; units = [ \"*\" ]; },\n"
	"    { name = \"fs\"; type = \"feishu\"; url = \"https://f.example.org/hook\";"
	" secret_file = \"robot.secret\"; units = [ \"*\" ]; }\n"
	"  );\n"
	"};\n";

#define NOW_MS INT64_C(1607389200123)

struct built {
	struct provider_request req;
	struct sbuf body, url;
};

static void build(struct built *b, const struct config *cfg, const char *channel)
{
	const struct channel *c = config_channel(cfg, channel);
	struct notify_message m = sample_message(NOTIFY_BEFORE);
	struct provider_message pm = { .m = &m,
				       .subject = "主题",
				       .text = "正文",
				       .address = c->provider->mail ? "liaison@example.org" : "",
				       .now_ms = NOW_MS };
	sbuf_init(&b->body);
	sbuf_init(&b->url);
	provider_request_init(&b->req, c, &cfg->set.delivery, &b->body, &b->url);
	assert_int_equal(provider_request(c, &pm, &b->req), 0);
	assert_ptr_equal(b->req.xfer.body, b->body.buf);
	assert_int_equal(b->req.xfer.body_len, b->body.len);
	assert_i64(b->req.xfer.timeout_ms, cfg->set.delivery.timeout_ms);
}

static void built_free(struct built *b)
{
	sbuf_free(&b->body);
	sbuf_free(&b->url);
}

static void expect_headers(const struct built *b, const char *const *want, size_t n)
{
	assert_int_equal(b->req.xfer.nheaders, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(b->req.xfer.headers[i], want[i]);
}

/* Each provider, found by its channel's name, builds what it sends. */
static void requests_through_the_table(void **state)
{
	char path[600], sig[72], want[128];
	struct loaded l;
	struct built b;

	(void)state;
	snprintf(path, sizeof(path), "%s/robot.secret", tmpdir);
	write_file(path, "s3cret\n");
	snprintf(path, sizeof(path), "%s/smtp.secret", tmpdir);
	write_file(path, "pw\n");
	load(&l, all_channels);
	if (l.cfg == NULL)
		fail_msg("%s", l.err.buf);

	/* email: the message, the envelope, STARTTLS for smtp:// */
	build(&b, l.cfg, "email");
	assert_true(
		starts_with(b.body.buf, "From: =?UTF-8?B?6ICD5qC45Yqe?= <kaohe@example.org>\r\n"));
	assert_contains(b.body.buf, "\r\nMessage-ID: <kaohe.42.1607389200@example.org>\r\n");
	assert_string_equal(b.req.xfer.url, "smtp://127.0.0.1:2525");
	assert_string_equal(b.req.xfer.mail_from, "kaohe@example.org");
	assert_int_equal(b.req.xfer.nrcpt, 1);
	assert_string_equal(b.req.xfer.rcpt[0], "liaison@example.org");
	assert_string_equal(b.req.xfer.user, "kaohe");
	assert_string_equal(b.req.xfer.password, "pw");
	assert_true(b.req.xfer.require_tls);
	assert_int_equal(b.req.xfer.nheaders, 0);
	built_free(&b);

	/* generic: timestamp, signature of the body, then what every JSON hook has */
	build(&b, l.cfg, "gen");
	assert_true(starts_with(b.body.buf, "{\"delivery\":42,"));
	provider_generic_signature("s3cret", NOW_MS / 1000, b.body.buf, b.body.len, sig);
	snprintf(want, sizeof(want), "X-Kaohe-Signature: %s", sig);
	expect_headers(&b,
		       (const char *const[]){ "X-Kaohe-Timestamp: 1607389200", want,
					      "Content-Type: application/json; charset=utf-8",
					      "X-Kaohe-Delivery: 42" },
		       4);
	assert_string_equal(b.req.xfer.url, "https://g.example.org/h");
	assert_null(b.req.xfer.mail_from);
	built_free(&b);

	/* WeCom: text, the URL as it is */
	build(&b, l.cfg, "wc");
	assert_true(starts_with(b.body.buf, "{\"msgtype\":\"text\","));
	expect_headers(&b,
		       (const char *const[]){ "Content-Type: application/json; charset=utf-8",
					      "X-Kaohe-Delivery: 42" },
		       2);
	assert_string_equal(b.req.xfer.url, "https://q.example.org/send?key=k");
	built_free(&b);

	/* DingTalk: the URL signed at the instant, in milliseconds */
	build(&b, l.cfg, "dt");
	struct sbuf url;
	sbuf_init(&url);
	provider_dingtalk_url("https://d.example.org/send?t=1", "s3cret", NOW_MS, &url);
	assert_string_equal(b.req.xfer.url, url.buf);
	assert_true(starts_with(url.buf,
				"https://d.example.org/send?t=1&timestamp=1607389200123&sign="));
	sbuf_free(&url);
	assert_true(starts_with(b.body.buf, "{\"msgtype\":\"text\","));
	assert_int_equal(b.req.xfer.nheaders, 2);
	built_free(&b);

	/* Feishu: signed in the body, in seconds */
	build(&b, l.cfg, "fs");
	assert_true(starts_with(b.body.buf, "{\"timestamp\":\"1607389200\",\"sign\":\""));
	assert_string_equal(b.req.xfer.url, "https://f.example.org/hook");
	assert_int_equal(b.req.xfer.nheaders, 2);
	built_free(&b);

	loaded_free(&l);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/robot.secret", tmpdir);
	assert_int_equal(unlink(path), 0);
}

/* ------------------------------------------------------------------ */
/* answers */

/* A transfer that got no answer at all: every webhook tries again, curl's words kept. */
static void transport_failure_is_retried(void **state)
{
	(void)state;
	for (size_t i = 0; i < provider_count(); i++) {
		const struct provider *p = provider_at(i);
		struct provider_outcome o;
		if (p->mail)
			continue;
		memset(&o, 0x55, sizeof(o));
		p->classify(&(struct transfer_result){ .curl_code = 28,
						       .retry_after = 30,
						       .error = "Operation timed out" },
			    &o);
		expect_outcome(o, PROVIDER_RETRY, 0, -1);
		assert_string_equal(o.error, "Operation timed out");
	}
}

static void classify_long_message_cut(void **state)
{
	struct sbuf b;
	(void)state;
	sbuf_init(&b);
	SBUF_LIT(&b, "{\"errcode\":40058,\"errmsg\":\"");
	for (int i = 0; i < 300; i++)
		sbuf_puts(&b, "内容");
	SBUF_LIT(&b, "\"}");
	struct provider_outcome o = classify_answer("wecom", 200, b.buf, -1);
	expect_outcome(o, PROVIDER_PERMANENT, 40058, -1);
	assert_true(starts_with(o.error, "wecom errcode 40058: 内容"));
	assert_true(strlen(o.error) < sizeof(o.error));
	assert_true(strlen(o.error) > sizeof(o.error) - 8);
	sbuf_free(&b);
}

static int setup(void **state)
{
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return shanghai_group_setup(state);
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table_complete_and_consistent),
		cmocka_unit_test(config_checks_reached),
		cmocka_unit_test(requests_through_the_table),
		cmocka_unit_test(transport_failure_is_retried),
		cmocka_unit_test(classify_long_message_cut),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
