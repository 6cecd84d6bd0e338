/*
 * banned.h: functions the project does not use. Included last by every .c file
 * through common.h, so a stray call fails to compile.
 */
#ifndef BERTH_BANNED_H
#define BERTH_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef atol
#define atol(x) BANNED(atol)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
/* object-like: any use of these names fails to compile (one owner of reaping) */
#undef system
#define system BANNED(system)
#undef popen
#define popen BANNED(popen)

#endif
