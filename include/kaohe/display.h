/*
 * display — the width of text on a terminal, as wcwidth(3) counts it (a
 * Chinese character takes two columns), and text cut to a width with
 * "…".  kaohectl's tables are laid out with it.  Needs an LC_CTYPE whose
 * codeset is UTF-8 (kaohectl sets C.UTF-8 when the caller's is not).
 */
#ifndef KAOHE_DISPLAY_H
#define KAOHE_DISPLAY_H

#include <stddef.h>

/*
 * The columns UTF-8 text S takes: wcwidth() of each character, a
 * character wcwidth() has no width for (combining, zero-width) counting
 * 0 and a byte that is not UTF-8 counting 1.
 */
int display_width(const char *s);
/* The first N bytes of S, up to a character boundary, in display columns. */
int display_width_n(const char *s, size_t n);
/*
 * S fitted to at most MAX columns, in a new string: S itself when it
 * fits, else its longest beginning that fits in MAX - 1 columns followed
 * by "…" (one column); "" when MAX < 1.  NULL only when out of memory.
 */
char *display_fit(const char *s, int max);

#endif
