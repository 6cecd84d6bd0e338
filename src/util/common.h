/*
 * common.h: the one header every berth .c file includes first. System headers
 * used everywhere, the allocation and string helpers, and banned.h last.
 */
#ifndef BERTH_COMMON_H
#define BERTH_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "util/xmalloc.h"
#include "util/strbuf.h"
#include "util/strvec.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define UNUSED __attribute__((unused))

#include "util/banned.h"

#endif
