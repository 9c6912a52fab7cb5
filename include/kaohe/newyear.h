/*
 * newyear — next year's plan file from this year's: the same text with
 * the new year and the official calendar, and `# REVIEW:` comments on
 * what a person must look at before installing it (the title and
 * document number, which name the old year; every due that falls on a
 * day off of the new year's calendar; full dates of another year).
 */
#ifndef KAOHE_NEWYEAR_H
#define KAOHE_NEWYEAR_H

#include <stddef.h>

#include "kaohe/config.h"
#include "kaohe/util.h"

/*
 * The plan file of year YEAR made from the file of CFG's latest plan,
 * appended to OUT; the count of REVIEW comments in *REVIEWS.  0, or -1
 * with a message in ERR (no official calendar of YEAR installed, a file
 * that cannot be read).
 */
int newyear_text(const struct config *cfg, int year, struct sbuf *out, int *reviews, char *err,
		 size_t errlen);

#endif
