/*
 * provider_email — the email server: one message per recipient address,
 * sent over SMTP (smtp:// with STARTTLS required, or smtps://), from the
 * configured sender, with AUTH when a user is set.  The message is
 * RFC 5322 with a text and an HTML alternative (mime.h has the pieces).
 */
#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaohe/mime.h"
#include "kaohe/provider.h"

/* What channels.email says beside every channel's settings. */
struct email_settings {
	char *from;            /* the From address as written */
	char *user, *password; /* SMTP authentication; NULL if none */
};

static void email_load(struct config_reader *r, struct channel *c)
{
	struct email_settings *s = xcalloc(1, sizeof(*s));
	char name[256], addr[256];

	c->priv = s;
	const char *from = config_reader_string(r, "from", NULL);
	if (from && mime_address_parse(from, name, sizeof(name), addr, sizeof(addr)) < 0)
		config_reader_error(r, "from",
				    "from \"%s\" is not an address such as "
				    "\"名称 <kaohe@example.org>\"",
				    from);
	s->from = from ? xstrdup(from) : NULL;
	const char *user = config_reader_string(r, "user", "");
	s->user = user && *user ? xstrdup(user) : NULL;
	int nerr = config_reader_nerrors(r);
	s->password = config_reader_secret(r, "password", false);
	/* Not again when password_file is there but could not be read. */
	if (s->user && s->password == NULL && config_reader_nerrors(r) == nerr)
		config_reader_error(r, "user", "user is set but password_file is not");
}

static void email_free(void *priv)
{
	struct email_settings *s = priv;
	if (s == NULL)
		return;
	free(s->from);
	free(s->user);
	if (s->password)
		explicit_bzero(s->password, strlen(s->password));
	free(s->password);
	free(s);
}

/* ------------------------------------------------------------------ */
/* the message */

/* A Message-ID's right-hand side must be a dot-atom; anything else becomes "localhost". */
static const char *msgid_host(const char *host)
{
	if (!host || !*host)
		return "localhost";
	for (const char *p = host; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_')
			return "localhost";
	return host;
}

/*
 * Whether E, SUBJECT and TEXT can make a message: the sender and the
 * recipient parse (into FNAME, FADDR and TADDR, each 256 bytes), the
 * recipient's address as configured is a bare address, and no header
 * value could start a header of its own.
 */
static bool envelope_ok(const struct provider_email_envelope *e, const char *subject,
			const char *text, char *fname, char *faddr, char *taddr)
{
	char tname[256];

	if (!e->from || !e->to_addr || !subject || !text)
		return false;
	if (mime_address_parse(e->from, fname, 256, faddr, 256) < 0)
		return false;
	if (mime_address_parse(e->to_addr, tname, sizeof(tname), taddr, 256) < 0 || tname[0] ||
	    strchr(e->to_addr, '<'))
		return false;
	if (e->to_name &&
	    (strpbrk(e->to_name, "\r\n") || !util_utf8_valid(e->to_name, strlen(e->to_name))))
		return false;
	return util_utf8_valid(subject, strlen(subject)) && util_utf8_valid(text, strlen(text));
}

/* From, To, Subject, Date and the headers that name the delivery.  0, or -1 (no Date). */
static int add_headers(const struct provider_email_envelope *e, const struct notify_message *m,
		       const char *fname, const char *faddr, const char *taddr, const char *subject,
		       struct sbuf *out)
{
	struct mime_header h;

	mime_header_start(&h, out, "From");
	mime_header_mailbox(&h, fname, faddr);
	mime_header_end(&h);
	mime_header_start(&h, out, "To");
	mime_header_mailbox(&h, e->to_name, taddr);
	mime_header_end(&h);

	/* The subject as one line, whatever the caller handed in. */
	char *subj = xstrdup(subject);
	for (char *p = subj; *p; p++)
		if (*p == '\r' || *p == '\n' || *p == '\t')
			*p = ' ';
	mime_header_start(&h, out, "Subject");
	mime_header_text(&h, subj);
	mime_header_end(&h);
	free(subj);

	if (mime_date(out, e->now) < 0)
		return -1;
	sbuf_printf(out, "Message-ID: <kaohe.%lld.%lld@%s>\r\n", (long long)m->id,
		    (long long)e->now, msgid_host(e->hostname));
	sbuf_printf(out, "X-Kaohe-Delivery: %lld\r\n", (long long)m->id);
	/* RFC 3834: no vacation replies to a robot. */
	SBUF_LIT(out, "Auto-Submitted: auto-generated\r\n");
	SBUF_LIT(out, "MIME-Version: 1.0\r\n");
	return 0;
}

/* The multipart/alternative body: TEXT as text/plain, then M as HTML. */
static void add_parts(const struct provider_email_envelope *e, const struct notify_message *m,
		      const char *subject, const char *text, struct sbuf *out)
{
	/*
	 * "=_" never occurs in base64 ('=' only pads the very end), so the
	 * boundary cannot collide with the encoded parts; it is derived from
	 * the delivery so that a retry sends byte-identical mail.
	 */
	char boundary[80];
	snprintf(boundary, sizeof(boundary), "=_kaohe_%lld_%lld", (long long)m->id,
		 (long long)e->now);
	sbuf_printf(out, "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n",
		    boundary);
	SBUF_LIT(out, "This is a MIME message.\r\n\r\n");

	sbuf_printf(out, "--%s\r\n", boundary);
	SBUF_LIT(out, "Content-Type: text/plain; charset=UTF-8\r\n"
		      "Content-Transfer-Encoding: base64\r\n\r\n");
	mime_base64_body(out, text);

	struct sbuf html;
	sbuf_init(&html);
	notify_render_html(m, subject, text, &html);
	sbuf_printf(out, "\r\n--%s\r\n", boundary);
	SBUF_LIT(out, "Content-Type: text/html; charset=UTF-8\r\n"
		      "Content-Transfer-Encoding: base64\r\n\r\n");
	mime_base64_body(out, html.buf);
	sbuf_free(&html);
	sbuf_printf(out, "\r\n--%s--\r\n", boundary);
}

int provider_email_message(const struct provider_email_envelope *e, const struct notify_message *m,
			   const char *subject, const char *text, struct sbuf *out)
{
	char fname[256], faddr[256], taddr[256];
	size_t start = out->len;

	if (!envelope_ok(e, subject, text, fname, faddr, taddr))
		return -1;
	if (add_headers(e, m, fname, faddr, taddr, subject, out) < 0) {
		out->len = start;
		out->buf[start] = '\0';
		return -1;
	}
	add_parts(e, m, subject, text, out);
	return 0;
}

/* ------------------------------------------------------------------ */
/* the hooks */

/* The domain of the From address: the right-hand side of Message-ID. */
static const char *domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');
	return at && at[1] ? at + 1 : "localhost";
}

static int email_request(const struct channel *c, const struct provider_message *pm,
			 struct provider_request *req)
{
	const struct email_settings *s = c->priv;
	char name[256];

	/* The sender was checked when the configuration loaded. */
	req->mail_from[0] = '\0';
	mime_address_parse(s->from, name, sizeof(name), req->mail_from, sizeof(req->mail_from));
	struct provider_email_envelope e = { .from = s->from,
					     .to_name = pm->m->recipient,
					     .to_addr = pm->address,
					     .hostname = domain_of(req->mail_from),
					     .now = pm->now_ms / 1000 };
	int rc = provider_email_message(&e, pm->m, pm->subject, pm->text, req->body);
	req->rcpt[0] = pm->address;
	req->xfer.mail_from = req->mail_from;
	req->xfer.rcpt = req->rcpt;
	req->xfer.nrcpt = 1;
	req->xfer.user = s->user;
	req->xfer.password = s->password;
	req->xfer.require_tls = strncmp(c->url, "smtp://", 7) == 0;
	return rc;
}

static void email_classify(const struct transfer_result *r, struct provider_outcome *out)
{
	out->code = r->status;
	out->retry_after = -1;
	out->error[0] = '\0';
	if (r->curl_code == CURLE_OK) {
		out->verdict = PROVIDER_OK;
		return;
	}
	/*
	 * A server without STARTTLS, or one refusing the credentials, is a
	 * configuration to change, not a moment to wait out: said so, and
	 * final, like a 5xx reply.  A connection that failed may heal.
	 */
	if (r->curl_code == CURLE_USE_SSL_FAILED) {
		out->verdict = PROVIDER_PERMANENT;
		/* The code is the EHLO's 250: it would read as a success. */
		snprintf(out->error, sizeof(out->error),
			 "smtp: the server offers no STARTTLS: use smtps:// (TLS from the start) "
			 "if it has it, or another server; kaohe sends no password or mail in "
			 "clear");
		return;
	}
	if (r->curl_code == CURLE_LOGIN_DENIED) {
		out->verdict = PROVIDER_PERMANENT;
		snprintf(out->error, sizeof(out->error),
			 "smtp %ld: the server refused the credentials: check channels.email's "
			 "user and password_file (%s)",
			 r->status, r->error);
		return;
	}
	bool permanent = r->status >= 500 && r->status < 600;
	out->verdict = permanent ? PROVIDER_PERMANENT : PROVIDER_RETRY;
	if (r->status)
		snprintf(out->error, sizeof(out->error), "smtp %ld: %s", r->status, r->error);
	else
		snprintf(out->error, sizeof(out->error), "smtp: %s", r->error);
}

static const char *const email_schemes[] = { "smtp://", "smtps://", NULL };
static const char *const email_keys[] = { "from", "user", "password_file", NULL };

const struct provider provider_email = {
	.name = "email",
	.mail = true,
	.schemes = email_schemes,
	.keys = email_keys,
	.nrates = 0,
	.load = email_load,
	.free = email_free,
	.request = email_request,
	.classify = email_classify,
};
