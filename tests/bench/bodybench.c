/*
 * bodybench — the webhook bodies of the delivery benchmark without the
 * network: N reminders (default 40,000), one per unit, each rendered
 * with the default templates and built as the generic, WeCom, DingTalk
 * and Feishu bodies, as a burst of reminders makes them.  It prints the
 * bytes built and their FNV-1a hash, which two builds must agree on;
 * time it from outside (/usr/bin/time, or against another build's
 * bodybench).
 *
 *   bodybench [N]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "kaohe/calendar.h"
#include "kaohe/notify.h"
#include "kaohe/provider.h"

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 40000;
	static const char *const mobiles[] = { "13800000001", "13900000002" };
	struct notify_item it = {
		.occ = "2c@2020-12-10",
		.row = "2c",
		.seq = "2",
		.title = "小区公共区域卫生“日清理”工作台账报送，附照片及整改说明",
		.dept = "区城市管理局",
		.due = "2020-12-10",
		.deadline = "2020-12-11T00:00:00+08:00",
		.close = "2020-12-12T00:00:00+08:00",
		.state = "pending",
		.late = 50,
		.missing = 100,
	};
	struct sbuf subject, text, body;
	char unit_id[32], unit_name[48], recipient[96];
	unsigned long long bytes = 0;
	uint64_t hash = 14695981039346656037ULL;

	if (n < 1) {
		fprintf(stderr, "usage: bodybench [N]\n");
		return 2;
	}
	char err[256];
	if (calendar_set_timezone("Asia/Shanghai", err, sizeof(err)) < 0) {
		fprintf(stderr, "bodybench: %s\n", err);
		return 1;
	}
	sbuf_init(&subject);
	sbuf_init(&text);
	sbuf_init(&body);
	for (long i = 0; i < n; i++) {
		snprintf(unit_id, sizeof(unit_id), "u%05ld", i);
		snprintf(unit_name, sizeof(unit_name), "街道%ld", i);
		snprintf(recipient, sizeof(recipient), "%s街道办事处考核联络员", unit_name);
		struct notify_message m = {
			.kind = NOTIFY_BEFORE,
			.id = i + 1,
			.at = 1607529600,
			.recipient = recipient,
			.unit_id = unit_id,
			.unit_name = unit_name,
			.items = &it,
			.nitems = 1,
			.mobiles = mobiles,
			.nmobiles = 2,
		};
		sbuf_reset(&subject);
		sbuf_reset(&text);
		notify_render(NULL, &m, &subject, &text);
		sbuf_reset(&body);
		if (provider_generic_body(&m, subject.buf, text.buf, &body) < 0 ||
		    provider_wecom_body(false, &m, subject.buf, text.buf, &body) < 0 ||
		    provider_dingtalk_body(&m, subject.buf, text.buf, &body) < 0 ||
		    provider_feishu_body(&m, subject.buf, text.buf, NULL, 0, &body) < 0) {
			fprintf(stderr, "bodybench: message %ld: a body could not be built\n", i);
			return 1;
		}
		bytes += body.len;
		for (size_t k = 0; k < body.len; k++)
			hash = (hash ^ (unsigned char)body.buf[k]) * 1099511628211ULL;
	}
	printf("%ld messages, %llu bytes of bodies, FNV-1a %016llx\n", n, bytes,
	       (unsigned long long)hash);
	sbuf_free(&subject);
	sbuf_free(&text);
	sbuf_free(&body);
	return 0;
}
