/*
 * planfile: the text of a plan file with its units list cut into batches.
 *
 * libconfig builds the tree of a whole file before anything of it can be
 * read: for a plan of 40,000 units that tree is about 70 MB, held while the
 * plan is checked, once per plan year.  A plan file is therefore read in
 * two parts: the file with the elements of plan.units cut out (every line
 * kept, so that libconfig's line numbers stay those of the file), and the
 * elements themselves, a batch at a time, each batch padded to its own
 * lines.  A file whose units list cannot be found with certainty (an
 * @include, a list not directly in the plan group, an array [ … ],
 * unbalanced brackets, an empty element) is left to be read whole, as
 * before.
 */
#ifndef KAOHE_PLANFILE_H
#define KAOHE_PLANFILE_H

#include <stddef.h>

/* Units per batch: a tree of about 2 MB. */
#define PLANFILE_BATCH 1000

struct planfile_elem {
	size_t off, len; /* the element's text in the file */
	int line;        /* the line it starts on */
};

struct planfile {
	char *text; /* the whole file, NUL-terminated */
	size_t len;
	char *rest;    /* the file without the units' elements, lines kept */
	int list_line; /* the line of the list's opening bracket */
	struct planfile_elem *el;
	size_t nel;
};

/*
 * Read the file PATH and find the elements of plan.units.  0 when they
 * were found (PF->rest and PF->el are filled); 1 when the file is to be
 * read whole (PF is empty), also when it cannot be read here: libconfig
 * then reads it and says why it cannot.
 */
int planfile_read(const char *path, struct planfile *pf);

/*
 * Find the elements of plan.units in TEXT (LEN bytes, NUL-terminated).
 * As planfile_read() (PF->text is TEXT, taken over by PF on 0), without
 * reading a file: 0 found, 1 to be read whole.
 */
int planfile_scan(char *text, size_t len, struct planfile *pf);

/*
 * The libconfig text of N elements from FIRST: "units = ( … );", padded
 * with newlines so that the first element is on its line of the file.
 * Free it.
 */
char *planfile_batch(const struct planfile *pf, size_t first, size_t n);

void planfile_free(struct planfile *pf);

#endif
