/*
 * cmdline.h: a command line a shell would run as one program with fixed
 * words, split into those words, so that it can be exec'd directly rather
 * than through `/bin/sh -c` (no shell process in between; a missing program
 * is then the exec's own error, known at once).
 */
#ifndef BERTH_CMDLINE_H
#define BERTH_CMDLINE_H

#include <stdbool.h>

#include "util/strvec.h"

/* True when sh would run cmd, in the environment envp, as one program whose
 * words are known now; they are appended to argv then (nothing is appended
 * otherwise). The words are separated by blanks and made of:
 * - bytes no shell reads as syntax (letters, digits, "-_./:=,+@%");
 * - 'single-quoted' text;
 * - "double-quoted" text without '\' or '`', where $NAME and ${NAME} are
 *   the variable's value in envp (it must be set);
 * - $NAME and ${NAME} unquoted, when the value is set, not empty, and holds
 *   no blank, newline, glob or parenthesis (so that sh would neither split
 *   nor expand it).
 * The program is the first word, or the second after a first `exec`; it is
 * plain bytes, not an assignment, and no shell keyword or builtin (dash's
 * or bash's). Variables the shell sets itself (PWD, PPID, IFS...) are left
 * to the shell, as is everything when envp is NULL or holds what changes
 * how bash run as sh reads a command (exported functions, SHELLOPTS,
 * BASHOPTS). */
bool cmdline_split_simple(const char *cmd, char *const *envp, struct strvec *argv);

#endif
