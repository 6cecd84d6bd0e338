/*
 * pq.h: libpq, loaded when a command first needs it (dlopen), so that the
 * commands that never touch a database do not pay for mapping it and its
 * dependencies. `pq` is the table of the functions berth calls; it is
 * valid after pq_load returned 0.
 */
#ifndef BERTH_DB_PQ_H
#define BERTH_DB_PQ_H

#include <libpq-fe.h>

struct pq_api {
	PGconn *(*connectdbParams)(const char *const *keywords, const char *const *values,
				   int expand_dbname);
	ConnStatusType (*status)(const PGconn *conn);
	char *(*errorMessage)(const PGconn *conn);
	void (*finish)(PGconn *conn);
	PGresult *(*exec)(PGconn *conn, const char *query);
	PGresult *(*execParams)(PGconn *conn, const char *command, int nParams,
				const Oid *paramTypes, const char *const *paramValues,
				const int *paramLengths, const int *paramFormats, int resultFormat);
	ExecStatusType (*resultStatus)(const PGresult *res);
	char *(*resultErrorField)(const PGresult *res, int fieldcode);
	char *(*resultErrorMessage)(const PGresult *res);
	void (*clear)(PGresult *res);
	int (*ntuples)(const PGresult *res);
	char *(*getvalue)(const PGresult *res, int tup_num, int field_num);
	int (*getisnull)(const PGresult *res, int tup_num, int field_num);
	char *(*escapeIdentifier)(PGconn *conn, const char *str, size_t len);
	char *(*escapeLiteral)(PGconn *conn, const char *str, size_t len);
	void (*freemem)(void *ptr);
	PQconninfoOption *(*conninfoParse)(const char *conninfo, char **errmsg);
	void (*conninfoFree)(PQconninfoOption *connOptions);
	PQnoticeProcessor (*setNoticeProcessor)(PGconn *conn, PQnoticeProcessor proc, void *arg);
};

extern struct pq_api pq;

/* Load libpq (once per process). -ENOENT with *cause (caller frees) when it
 * is not installed. */
int pq_load(char **cause);

#endif
