/*
 * support — what the unit tests share: the shipped configuration and its
 * units and rows, a store synced with a plan and its outbox rows read
 * back, temporary directories, files written and read back, stderr
 * captured, the 2020 day numbers and instants, JSON readers, a sample
 * message with readers of what the providers make of it (MIME, base64,
 * answers), and the fixture of test_command and test_engine (the real
 * engine and command dispatcher over the shipped plan on an in-memory
 * store, with a sink that records what the engine reports).
 *
 * Not a test itself: the name keeps it out of the test_*.c glob, and
 * tests/CMakeLists.txt links it into every unit test executable.
 */
#ifndef KAOHE_TESTS_UNIT_SUPPORT_H
#define KAOHE_TESTS_UNIT_SUPPORT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdbool.h>

#include "kaohe/calendar.h"
#include "kaohe/command.h"
#include "kaohe/config.h"
#include "kaohe/engine.h"
#include "kaohe/notify.h"
#include "kaohe/plan.h"
#include "kaohe/provider.h"
#include "kaohe/score.h"
#include "kaohe/store.h"

#ifndef KAOHE_SOURCE_DIR
#error "KAOHE_SOURCE_DIR must be defined by the build"
#endif

#define assert_i64(a, b)                                                                         \
	do {                                                                                     \
		int64_t a_ = (a), b_ = (b);                                                      \
		if (a_ != b_)                                                                    \
			fail_msg("%s is %lld, expected %lld", #a, (long long)a_, (long long)b_); \
	} while (0)

/* ---- the shipped configuration ---------------------------------------- */

#define SHIPPED_CONF KAOHE_SOURCE_DIR "/config/kaohe.conf"

/* Its five units (ids and names) and 28 rows, in the plan's order. */
extern const char *const shipped_unit_ids[5];
extern const char *const shipped_unit_names[5];
extern const char *const shipped_row_ids[28];

/* SHIPPED_CONF loaded (for the plan's own year); NULL, the errors on stderr. */
struct config *load_shipped_config(void);

/* Group fixtures: g_cfg is the shipped configuration, logging warnings only. */
extern struct config *g_cfg;
int config_group_setup(void **state);
int config_group_teardown(void **state);

/* Group fixture: the time zone is Asia/Shanghai. */
int shanghai_group_setup(void **state);

/* What the shipped plan says of row 6c's kinds and of row 3's ranking. */
void expect_shipped_row_6c_kinds(const struct plan_row *r);
void expect_shipped_row_3_ranking(const struct plan *p, const struct plan_row *r);

/* ---- stores and files --------------------------------------------------- */

/* Sync P into ST, in a transaction of its own; fails the test if it cannot. */
void sync_plan(struct store *st, const struct plan *p);

/* The store at PATH (":memory:" for a fresh one in memory) with P synced, or fail. */
struct store *open_synced(const char *path, const struct plan *p);

/* Write TEXT to a new file at PATH, or fail. */
void write_file(const char *path, const char *text);

/* A new directory /tmp/kaohe-test-NAME-XXXXXX, its path in DIR[LEN]; or fail. */
void temp_dir(char *dir, size_t len, const char *name);

/* Remove DIR and everything under it (symbolic links are not followed). */
void remove_tree(const char *dir);

/* The whole of the file at PATH, NUL-terminated (the caller frees); its size in *LEN. */
char *read_whole(const char *path, size_t *len);

/*
 * stderr (file descriptor 2) redirected to a temporary file, so that what
 * the log writes can be read back; a file rather than a pipe, which would
 * block a writer once full.
 */
struct capture {
	int saved; /* the real stderr */
	int fd;    /* the temporary file, or -1 when not capturing */
};
void capture_begin(struct capture *c);
/* What was written to stderr since capture_begin(), NUL-terminated (the caller frees). */
char *capture_text(const struct capture *c);
/*
 * Put stderr back, and write there the last TAIL bytes of what was
 * captured (a failed test's message is among them: cmocka writes it to
 * stderr too).  Nothing when not capturing.
 */
void capture_end(struct capture *c, size_t tail);

/* How often NEEDLE occurs in HAY (non-overlapping). */
size_t count_in(const char *hay, const char *needle);

/* What an outbox row holds, copied out of a store callback (its strings are borrowed). */
struct ob {
	int64_t id, at, next_ms, since_ms, updated_at, sent_at;
	long code;
	int attempts;
	enum outbox_state state;
	char kind[16], unit[16], dept[16], subject[128], channel[32], address[64], name[96],
		mentions[128], error[64];
};
void ob_copy(struct ob *o, const struct outbox_row *r);

/* ---- 2020 days and instants -------------------------------------------- */

#define JAN1_2021    18628 /* day number of 2021-01-01 */
#define T_2021_01_01 INT64_C(1609430400)

/* Day number of 2020-M-D (2020-01-01 = 18262). */
int32_t D(int m, int d);

/* The instant of S, which carries its offset; fails the test if bad. */
int64_t T(const char *s);

/* ---- JSON -------------------------------------------------------------- */

/* The string member KEY of O, or fail. */
const char *str(json_t *o, const char *key);

/* Hundredths of the JSON number N, or fail (points have two decimals). */
int64_t hund(json_t *n);

/* ---- messages and what the providers make of them ------------------------ */

#define assert_contains(hay, needle)                                  \
	do {                                                          \
		const char *h_ = (hay), *n_ = (needle);               \
		if (!strstr(h_, n_))                                  \
			fail_msg("\"%s\" not found in:\n%s", n_, h_); \
	} while (0)

#define assert_lacks(hay, needle)                                        \
	do {                                                             \
		const char *h_ = (hay), *n_ = (needle);                  \
		if (strstr(h_, n_))                                      \
			fail_msg("\"%s\" unexpectedly in:\n%s", n_, h_); \
	} while (0)

bool starts_with(const char *s, const char *prefix);
bool ends_with(const char *s, const char *suffix);

#define AT_2020_12_08_0900 INT64_C(1607389200) /* 2020-12-08T09:00:00+08:00 */

/*
 * Three occurrences of unit 八一路 (one title full of markup, one
 * without 序号, one with a free late day), and the two mobiles of
 * sample_message's mentions.
 */
#define SAMPLE_NITEMS 3
extern const struct notify_item sample_items[SAMPLE_NITEMS];
extern const char *const sample_mobiles[2];

/*
 * Delivery 42 of KIND at 2020-12-08T09:00:00+08:00 to 八一路's liaisons:
 * the sample items (none for a snapshot or a dead notice), a department
 * for record and escalation, a period and ranking for a snapshot, a
 * failure for a dead notice.
 */
struct notify_message sample_message(enum notify_kind kind);
/*
 * An office's escalation digest of several units (ITS: its items, the
 * sample ones labelled 八一路, 白云, 八一路): no {unit}, no mentions.
 */
struct notify_message sample_office_digest(struct notify_item its[SAMPLE_NITEMS]);
/* notify_render into SUBJECT and TEXT, both initialised here. */
void sample_render(const struct notify_templates *t, const struct notify_message *m,
		   struct sbuf *subject, struct sbuf *text);

/* The cut marker the robots end a content with. */
#define CUT_MARKER "\n……（内容过长，已截断）"
/* A text of N Chinese characters after PREFIX (heap). */
char *long_text(const char *prefix, size_t n);
/* BODY parsed as JSON, or fail. */
json_t *parse_body(const struct sbuf *body);
/* Base64 of HMAC-SHA256(KEY, MSG), computed here with OpenSSL. */
void b64_hmac(const char *key, size_t klen, const char *msg, size_t mlen, char out[45]);

/*
 * What provider NAME makes of an answer: STATUS, BODY (NULL: none) and
 * RETRY_AFTER, the transfer having completed.  Fails unless the error
 * is a NUL-terminated UTF-8 string.
 */
struct provider_outcome classify_answer(const char *name, long status, const char *body,
					int64_t retry_after);
#define expect_outcome(o, v, c, ra)                                                              \
	do {                                                                                     \
		struct provider_outcome o_ = (o);                                                \
		if (o_.verdict != (v) || o_.code != (c) || o_.retry_after != (ra))               \
			fail_msg("%s: verdict %d code %ld retry_after %lld (%s)", #o,            \
				 (int)o_.verdict, o_.code, (long long)o_.retry_after, o_.error); \
	} while (0)

/* Decode base64 S (LEN chars, no line breaks) into a NUL-terminated heap string. */
char *b64decode(const char *s, size_t len, size_t *outlen);
/* The unfolded value of header NAME in the header block of MSG; heap, or NULL. */
char *mime_header_value(const char *msg, const char *name);
/*
 * The encoded-words of VALUE decoded one by one: each at most 75
 * octets, each valid UTF-8 on its own; their concatenation appended to
 * OUT.  Returns how many there were.  Whitespace between words is
 * dropped, as RFC 2047 section 6.2 says.
 */
int decode_words(const char *value, struct sbuf *out);
/* Every line end of S is CRLF, and header lines keep to HEADER_LIMIT characters. */
void expect_mime_lines(const char *s, size_t header_limit);

/* ---- the engine fixture of test_command and test_engine ------------------ */

/* Row 1: due 09-15, deadline 2020-09-16T00:00+08:00, close 2020-10-01T00:00+08:00. */
#define R1_DEADLINE "2020-09-16T00:00:00+08:00"
#define R1_CLOSE    "2020-10-01T00:00:00+08:00"

/* A deduction, reminder or snapshot the engine reported; SEQ orders them all. */
struct ded {
	int64_t at;
	int unit, row, occ;
	enum entry_type type;
	int64_t points, entry, replaces;
	int seq;
};

#define REM_OCCS 32
struct rem {
	int64_t at;
	enum slot_kind kind;
	int unit, dept;
	bool escalate;
	size_t nocc;
	char occ[REM_OCCS][40];
	int seq;
};

#define MAXU 8
#define MAXR 40
struct snap {
	int64_t at;
	char period[16];
	int64_t total[MAXU], rows[MAXU][MAXR];
	int rank[MAXU];
	int seq;
};

struct rec {
	const struct plan *p;
	struct ded *d;
	size_t nd;
	struct rem *r;
	size_t nr;
	struct snap s[16];
	size_t ns;
	int seq;
};

/*
 * The plan of g_cfg on a fresh in-memory store, the engine started at
 * the plan's issue date (2020-05-01T00:00:00+08:00) reporting into REC,
 * and an admin actor "tester".  Answers of commands are kept until the
 * teardown.
 */
struct fx {
	const struct plan *p;
	struct store *st;
	struct engine *eng;
	struct engine_sink sink;
	struct rec rec;
	struct actor actor;
	int64_t start, now;
	json_t **keep;
	size_t nkeep;
};

int fx_setup(void **state);
int fx_teardown(void **state);

/* Run the engine up to T, instant by instant, as the daemon's timer does. */
void run_to(struct fx *f, int64_t t);

/* The answer to the LEN bytes of LINE at F->now, kept by F. */
json_t *exec_n(struct fx *f, const char *line, size_t len);

/* Run a command that must succeed; its data. */
__attribute__((format(printf, 2, 3))) json_t *ok(struct fx *f, const char *fmt, ...);

/* Run a command that must fail with CODE; its message. */
__attribute__((format(printf, 3, 4))) const char *fails(struct fx *f, const char *code,
							const char *fmt, ...);

/* The index of unit ID and of row ID, or fail. */
int U(struct fx *f, const char *id);
int ROW(struct fx *f, const char *id);

/* The state of OCC in `status UNIT`. */
json_t *status_occ(struct fx *f, const char *unit, const char *occ);

/* Row ROW of UNIT in `scores --as-of AS_OF`. */
int64_t scores_as_of(struct fx *f, const char *unit, const char *row, const char *as_of);

#endif
