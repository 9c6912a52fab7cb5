/*
 * provider_wecom — the WeCom (企业微信) group robot: a "text" message
 * that mentions the liaisons by mobile, or with format = "markdown" a
 * "markdown" one.  The robot's key is part of its URL; there is no
 * secret.  Its answer carries errcode and errmsg.
 */
#include <string.h>

#include "kaohe/provider.h"

/* What a WeCom channel says beside every channel's settings. */
struct wecom_settings {
	bool markdown; /* markdown messages instead of text */
};

static void wecom_load(struct config_reader *r, struct channel *c)
{
	struct wecom_settings *s = xcalloc(1, sizeof(*s));
	c->priv = s;
	/* Read, so that a file that cannot be read is reported as such. */
	char *secret = config_reader_secret(r, "secret", false);
	if (secret) {
		config_reader_error(r, "secret_file",
				    "a WeCom robot has no secret: its key is part of the url");
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	const char *format = config_reader_string(r, "format", "text");
	if (format && strcmp(format, "markdown") == 0)
		s->markdown = true;
	else if (format && strcmp(format, "text") != 0)
		config_reader_error(r, "format", "format \"%s\" is not text or markdown", format);
}

static void wecom_free(void *priv)
{
	free(priv);
}

/*
 * WeCom's markdown documents no escape syntax, so characters that would
 * start markup (*bold*, `code`, [links], <font>/<@mention> tags, "> "
 * quotes, "# " headings at a line start) become their full-width forms,
 * which Chinese text uses anyway and which read the same.
 */
static void md_escape(struct sbuf *out, const char *s)
{
	bool bol = true;
	for (; *s; s++) {
		switch (*s) {
		case '*': SBUF_LIT(out, "＊"); break;
		case '`': SBUF_LIT(out, "｀"); break;
		case '[': SBUF_LIT(out, "［"); break;
		case ']': SBUF_LIT(out, "］"); break;
		case '<': SBUF_LIT(out, "＜"); break;
		case '>': SBUF_LIT(out, "＞"); break;
		case '#':
			if (bol)
				SBUF_LIT(out, "＃");
			else
				SBUF_LIT(out, "#");
			break;
		default: sbuf_add(out, s, 1);
		}
		if (*s == '\n')
			bol = true;
		else if (*s != ' ' && *s != '\t')
			bol = false;
	}
}

#define WECOM_TEXT_MAX     2048
#define WECOM_MARKDOWN_MAX 4096

/* The markdown content: the subject in bold, the text, the mobiles. */
static void markdown_content(const struct notify_message *m, const char *subject, const char *text,
			     struct sbuf *content)
{
	struct sbuf head, tail, t;

	sbuf_init(&head);
	sbuf_init(&tail);
	sbuf_init(&t);
	provider_add_trimmed(&t, text);
	SBUF_LIT(&head, "**");
	md_escape(&head, subject);
	SBUF_LIT(&head, "**\n");
	md_escape(&head, t.buf);
	/* Markdown cannot mention by mobile: the numbers are at least shown. */
	provider_add_mentions_line(m, &tail);
	provider_fit(content, &head, &tail, WECOM_MARKDOWN_MAX);
	sbuf_free(&t);
	sbuf_free(&head);
	sbuf_free(&tail);
}

int provider_wecom_body(bool markdown, const struct notify_message *m, const char *subject,
			const char *text, struct sbuf *body)
{
	struct sbuf content;
	json_t *o = json_object(), *inner = json_object();
	int bad = 0;

	sbuf_init(&content);
	if (markdown) {
		markdown_content(m, subject, text, &content);
	} else {
		struct sbuf head, tail;
		sbuf_init(&head);
		sbuf_init(&tail);
		provider_add_subject_text(&head, subject, text);
		provider_fit(&content, &head, &tail, WECOM_TEXT_MAX);
		sbuf_free(&head);
		sbuf_free(&tail);
	}
	bad |= json_object_set_new(o, "msgtype", json_string(markdown ? "markdown" : "text"));
	bad |= json_object_set_new(inner, "content", json_string(content.buf));
	if (!markdown)
		bad |= json_object_set_new(inner, "mentioned_mobile_list",
					   provider_json_mobiles(m, &bad));
	bad |= json_object_set_new(o, markdown ? "markdown" : "text", inner);
	sbuf_free(&content);
	return provider_json_dump(o, bad, body);
}

static int wecom_request(const struct channel *c, const struct provider_message *pm,
			 struct provider_request *req)
{
	const struct wecom_settings *s = c->priv;
	int rc = provider_wecom_body(s->markdown, pm->m, pm->subject, pm->text, req->body);
	provider_json_headers(req, pm->m->id);
	return rc;
}

/*
 * The codes each robot API documents as passing (rate limits, a busy
 * system) are retried; the ones that say the robot is set up wrongly
 * (URL, signature, keywords, IP list) cannot succeed by retrying.  An
 * unlisted non-zero code is permanent: retrying an unknown refusal would
 * only repeat it until the tries run out.
 */
static const struct provider_code wecom_codes[] = {
	{ -1, PROVIDER_RETRY, -1, "system busy" },
	/* The robot's limit is 20 messages a minute. */
	{ 45009, PROVIDER_RETRY, 60, "api freq out of limit" },
	{ 93000, PROVIDER_PERMANENT, -1, "invalid webhook url" },
	{ 0, 0, 0, NULL },
};

static const struct provider_answer wecom_answer = {
	.label = "errcode",
	.code_key = { "errcode" },
	.msg_key = { "errmsg" },
	.codes = wecom_codes,
};

static void wecom_classify(const struct transfer_result *r, struct provider_outcome *out)
{
	provider_classify_http("wecom", &wecom_answer, r, out);
}

static size_t wecom_text_max(const struct channel *c)
{
	const struct wecom_settings *s = c->priv;
	return s && s->markdown ? WECOM_MARKDOWN_MAX : WECOM_TEXT_MAX;
}

static const char *const wecom_schemes[] = { "https://", "http://", NULL };
static const char *const wecom_keys[] = { "secret_file", "format", NULL };

const struct provider provider_wecom = {
	.name = "wecom",
	.schemes = wecom_schemes,
	.keys = wecom_keys,
	/* 20 messages a minute per robot. */
	.rates = { { 20, 60000 } },
	.nrates = 1,
	.load = wecom_load,
	.free = wecom_free,
	.request = wecom_request,
	.classify = wecom_classify,
	.text_max = wecom_text_max,
};
