/*
 * restore — `kaohed restore BACKUP`: a backup (`kaohectl backup`) checked
 * and installed as the state directory's database, with the daemon
 * stopped.  The database it replaces is kept beside it.
 */
#ifndef KAOHE_RESTORE_H
#define KAOHE_RESTORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Install BACKUP as STATE_DIR/kaohe.db for the configured plan years
 * YEARS (NYEARS of them, ascending), at NOW: refused while a kaohed holds
 * STATE_DIR/kaohe.lock (which it then holds itself); the file copied,
 * then checked (PRAGMA integrity_check, a kaohe schema this build knows,
 * no plan year but the configured ones); the current database, if any,
 * kept as kaohe.db.before-restore-YYYYMMDDTHHMMSSZ; the copy renamed into
 * place.  What was installed is told on OUT.  0, or -1 with a message in
 * ERR and nothing changed.
 */
int restore_run(const int *years, size_t nyears, const char *state_dir, const char *backup,
		int64_t now, FILE *out, char *err, size_t errlen);

#endif
