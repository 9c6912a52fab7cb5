/*
 * json — JSON output.  A streaming writer appends one document to a
 * struct sbuf and owns its nesting, its commas and its escaping: no
 * caller writes a comma or a quote.  Beside it, the jansson values of the
 * same types (points, metric values, instants) and the one way of dumping
 * a jansson tree, which print exactly as the writer does, so that an
 * answer reads the same whichever way it was built.  Output built for
 * speed (standings, simulate's lines, webhook bodies) goes through the
 * writer; jansson parses, and builds the small answers as trees.
 */
#ifndef KAOHE_JSON_H
#define KAOHE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kaohe/util.h"

/* How deep containers may nest; the deepest document today has four levels. */
#define JSON_MAX_DEPTH 8

/*
 * One document being written.  Level 0 is the document itself, which
 * takes one value; level N is the Nth open container.
 */
struct json_writer {
	struct sbuf *sb;
	int depth;
	bool object[JSON_MAX_DEPTH + 1]; /* the container at that level is an object */
	bool more[JSON_MAX_DEPTH + 1];   /* a value was written there: the next takes a comma */
};

/*
 * Every json_do_* call but start, finish, end and splice writes one
 * value.  NAME is its member name inside an object and must be NULL
 * elsewhere (in an array, or as the document).  A name is copied as it
 * is: it is the program's own word or a plan id (letters, digits, '-'
 * and '_').  Strings are copied with the escapes jansson writes (\" \\
 * \b \f \n \r \t, other control characters as \u00XX in capitals);
 * every other byte passes as it is, so the caller sees to it that
 * strings are UTF-8.
 *
 * Misuse is a programming error, caught by assert(): a member without a
 * name in an object, a name outside one, a name that would need an
 * escape, a second value for the document, containers nested deeper
 * than JSON_MAX_DEPTH, an end with nothing open, a splice outside an
 * object or of something not an object, a finish with a container open
 * or no value written.
 */

/* Start a document appended to SB, which keeps what it holds. */
void json_do_start(struct json_writer *w, struct sbuf *sb);
/* The document is complete: asserts that one value was written and every container ended. */
void json_do_finish(const struct json_writer *w);
/* Open an object or an array; json_do_end() closes the innermost one. */
void json_do_object(struct json_writer *w, const char *name);
void json_do_array(struct json_writer *w, const char *name);
void json_do_end(struct json_writer *w);

/* A string (S not NULL), an integer, true or false, null. */
void json_do_string(struct json_writer *w, const char *name, const char *s);
void json_do_int(struct json_writer *w, const char *name, int64_t v);
void json_do_bool(struct json_writer *w, const char *name, bool v);
void json_do_null(struct json_writer *w, const char *name);
/* Points in hundredths, as json_new_points() prints: 14, 96.5, -0.05. */
void json_do_points(struct json_writer *w, const char *name, int64_t hundredths);
/* An instant as an ISO-8601 string with the plan's offset. */
void json_do_instant(struct json_writer *w, const char *name, int64_t t);
/*
 * Add the members of OBJ (LEN bytes), a whole object a json_writer
 * wrote before ("{" … "}"), to the object open in W: a fragment kept as
 * text to be reused costs one copy.
 */
void json_do_splice(struct json_writer *w, const char *obj, size_t len);

/*
 * jansson values of the project's types.  Points (hundredths) and
 * metric values (ten-thousandths) are integers when whole, else reals;
 * json_dump_compact() prints those reals shortest, as the writer does.
 */
json_t *json_new_points(int64_t hundredths);
json_t *json_new_metric(int64_t ten_thousandths);
/* An instant as an ISO-8601 string with the plan's offset. */
json_t *json_new_instant(int64_t t);
/*
 * J on one line, compact, members in the order they were set, reals
 * with 15 significant digits (exact for every value with at most four
 * decimals below 10^11); NULL when a string is not UTF-8.  The caller
 * frees.
 */
char *json_dump_compact(const json_t *j);

#endif
