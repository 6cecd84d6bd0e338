/*
 * cmdline.h: a command line without shell syntax, split into its words, so
 * that it can be exec'd directly rather than through `/bin/sh -c` (a missing
 * program is then the exec's own error, known at once).
 */
#ifndef BERTH_CMDLINE_H
#define BERTH_CMDLINE_H

#include <stdbool.h>

#include "util/strvec.h"

/* True when cmd is plain words separated by blanks, none of which a shell
 * would read differently from its bytes: no quote, expansion, redirection,
 * operator, glob, comment or escape, no assignment before the program, and
 * a program that is not a shell keyword or builtin. The words are appended
 * to argv then (nothing is appended otherwise). */
bool cmdline_split_simple(const char *cmd, struct strvec *argv);

#endif
