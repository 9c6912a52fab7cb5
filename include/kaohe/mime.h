/*
 * mime — the pieces of an Internet message that the RFCs define: an
 * address as configured (RFC 5322), header lines folded to their
 * lengths, display names and subjects as RFC 2047 encoded-words (UTF-8,
 * base64, split on character boundaries), the Date: line, and a text
 * part's base64 body (RFC 2045).  The email provider puts them together.
 */
#ifndef KAOHE_MIME_H
#define KAOHE_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "kaohe/util.h"

/*
 * Split an address as configured ("Name <a@b>" or "a@b") into its
 * display name (may come out "") and address.  0, or -1 if malformed.
 */
int mime_address_parse(const char *s, char *name, size_t namelen, char *addr, size_t addrlen);

/* A header line being written into OUT; COL counts the characters on its current line. */
struct mime_header {
	struct sbuf *out;
	size_t col;
};

/* Start header NAME ("Name:") in OUT. */
void mime_header_start(struct mime_header *h, struct sbuf *out, const char *name);
/*
 * "Name <addr>" (NAME NULL or "": "<addr>"): the name as atoms, a
 * quoted-string or, when it is not ASCII, encoded-words.
 */
void mime_header_mailbox(struct mime_header *h, const char *name, const char *addr);
/*
 * An unstructured value (a subject): words folded at spaces, or
 * encoded-words when it is not printable ASCII, holds "=?", or has a
 * word too long to fold.  Unfolding gives back S exactly.
 */
void mime_header_text(struct mime_header *h, const char *s);
/* End the header line. */
void mime_header_end(struct mime_header *h);

/* "Date: …\r\n" for instant T in the process's time zone.  0, or -1 if T cannot be shown. */
int mime_date(struct sbuf *out, int64_t t);

/* The base64 of S in canonical form (CRLF line ends), in lines of 76 each ending CRLF. */
void mime_base64_body(struct sbuf *out, const char *s);

#endif
