/*
 * testpoint.h: pause points the crash tests stop a command at. With
 * BERTH_TEST_PAUSE=<point> and BERTH_TEST_PAUSE_FILE=<file> in the
 * environment, test_pause(<point>) creates <file> and waits there until
 * SIGUSR1 (go on) or an interruption (SIGINT, SIGTERM, SIGHUP: left pending
 * for the command's own check) arrives; SIGKILL ends the command at exactly
 * that instant. Without them it returns at once.
 */
#ifndef BERTH_TESTPOINT_H
#define BERTH_TESTPOINT_H

void test_pause(const char *point);

#endif
