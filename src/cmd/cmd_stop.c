/*
 * cmd_stop.c: `berth stop`: stop services in place. Named services: each
 * whole tree (what a killed shim left included), the session stays active.
 * No service named: every service of the session, docker ones too; the
 * session is `stopped`, keeping its worktree, slot and ports (`berth up`
 * resumes it). --if-idle: only when the session shows no activity for that
 * long, checked under the session's token (the watcher's idle stop).
 */
#include "util/common.h"

#include <signal.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/output.h"
#include "store/session.h"
#include "util/parse.h"
#include "util/timeutil.h"
#include "watch/activity.h"

/* A service whose shim was killed has a status file that says it runs:
 * once what it left is stopped, the record says how it ended. */
static void record_lost(struct cmd_ctx *ctx, const char *slug, const char *service,
			const struct svc_view *before)
{
	struct svc_status st = before->st;
	char *path = services_status_path(ctx->berth_dir, slug, service);

	st.state = SVC_FAILED;
	snprintf(st.error, sizeof(st.error),
		 "its supervisor berth-shim (pid %d) was killed; what it left was stopped",
		 (int)before->st.shim_pid);
	st.since_ms = time_wall_ms();
	svc_status_write(path, &st);
	free(path);
}

/* --if-idle: is the session idle for idle_ms, under our token? Says why not. */
static bool still_idle(struct cmd_ctx *ctx, const struct session *s, struct svc_env *svc,
		       uint64_t idle_ms)
{
	int64_t since = time_wall_ms() - (int64_t)idle_ms;
	struct activity a;
	bool idle;

	activity_find(ctx->berth_dir, s, svc->tmux, since, &a);
	idle = !a.doubt && a.last_ms <= since;
	if (a.doubt) {
		out_error("stop: session '%s' is not stopped: cannot tell whether it is idle (%s)",
			  s->slug, a.doubt);
	} else if (!idle) {
		char *age = time_format_age((time_wall_ms() - a.last_ms) / 1000);

		out_error("stop: session '%s' is not idle: %s %s ago", s->slug, a.what, age);
		free(age);
	}
	activity_finish(&a);
	return idle;
}

static int cmd_stop_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	const char *if_idle = cmdopt_value(ctx->args, "if-idle");
	struct strvec names = STRVEC_INIT, docker = STRVEC_INIT;
	struct session s = {0}, owned = {0};
	struct svc_env svc = {0};
	struct svc_view *before = NULL;
	bool have_svc = false, whole, docker_failed = false;
	uint64_t idle_ms = 0;
	sigset_t old;
	int code, first, r, sigfd;

	if (if_idle && (parse_duration_ms(if_idle, &idle_ms) < 0 || !idle_ms))
		return cmd_usage_error(&cmd_stop_entry,
				       "--if-idle expects a duration like 48h, got '%s'", if_idle);
	code = cmd_session_then_services(ctx, argc, argv, 1, &s, &first);
	if (code)
		goto out;
	whole = first == argc;
	if (idle_ms && !whole) {
		code = cmd_usage_error(&cmd_stop_entry, "--if-idle stops a whole session: name no "
							"service");
		goto out;
	}
	code = cmd_named_services(ctx, "stop", argv, first, argc, &names, &docker);
	if (code)
		goto out;
	if (s.status == SESSION_STOPPED && whole) {
		if (cmdopt_has(ctx->args, "json"))
			out_json(json_pack("{s:s, s:s, s:[]}", "slug", s.slug, "status", "stopped",
					   "stopped"));
		else
			out_line(stdout, "session '%s' is already stopped\n", s.slug);
		goto out;
	}
	if (s.status != SESSION_ACTIVE) {
		out_error("stop: session '%s' is %s; `berth down %s` ends it", s.slug,
			  session_display_status(&s), s.slug);
		code = EXIT_BUSY;
		goto out;
	}
	/* The token: no command changes the session while we stop it, and a
	 * live one that owns it makes us refuse (exit 5). */
	code = cmd_own_session(ctx, s.slug, &owned);
	if (code)
		goto out;
	code = cmd_svc_init(ctx, &owned, false, &svc);
	if (code)
		goto out;
	have_svc = true;
	if (idle_ms && !still_idle(ctx, &owned, &svc, idle_ms)) {
		code = EXIT_BUSY;
		goto out; /* cmd_own_finish gives the session back as it was */
	}
	before = xcalloc(names.n ? names.n : 1, sizeof(*before));
	for (size_t i = 0; i < names.n; i++)
		services_view(ctx->berth_dir, s.slug, names.v[i], &before[i]);
	cmd_signals_block(&old);
	sigfd = cmd_signalfd();
	r = whole || names.n ? cmd_stop_services(&svc, whole ? NULL : &names, sigfd, "stop") : 0;
	/* Named docker services: their containers (cmd_docker.c), the
	 * signals still blocked (compose stop is bounded by stop_grace). */
	if (r >= 0 && docker.n)
		docker_failed = cmd_docker_stop(ctx, &owned, &docker, svc.envp, "stop") < 0;
	if (sigfd >= 0)
		close(sigfd);
	cmd_signals_restore(&old);
	if (r < 0) {
		out_error(
			"stop: processes of session '%s' survived; stop them, then run `berth stop "
			"%s` again",
			s.slug, s.slug);
		code = EXIT_FAIL;
		goto out;
	}
	for (size_t i = 0; i < names.n; i++)
		if (before[i].live == SVC_LIVE_LOST)
			record_lost(ctx, s.slug, names.v[i], &before[i]);
	if (docker_failed) {
		code = EXIT_FAIL;
		goto out;
	}
	if (whole && cmd_docker_down(ctx, &owned, svc.envp, true) < 0) {
		out_error("stop: the session's docker services were not stopped; once docker "
			  "answers, run `berth stop %s` again",
			  s.slug);
		code = EXIT_FAIL;
		goto out;
	}
	r = session_finalize(ctx->state, &owned, ctx->own.id,
			     whole ? SESSION_STOPPED : SESSION_ACTIVE);
	if (r == -ESTALE) {
		code = cmd_stand_down(ctx);
		goto out;
	}
	cmd_own_release(ctx);
	if (cmdopt_has(ctx->args, "json"))
		out_json(cmd_outcome_json(s.slug, whole ? "stopped" : "active", "stopped", &names,
					  &docker));
	if (whole) {
		session_event(ctx->state, s.slug, idle_ms ? "idle-stop" : "stopped", "slot %u",
			      s.slot);
		if (!cmdopt_has(ctx->args, "json"))
			out_line(stdout,
				 "session '%s' is stopped; slot %u, its ports and its worktree are "
				 "kept; `berth up %s` resumes it\n",
				 s.slug, s.slot, s.slug);
	} else {
		size_t k = names.n + docker.n;

		session_event(ctx->state, s.slug, "stopped", "%zu service%s", k, k == 1 ? "" : "s");
		if (!cmdopt_has(ctx->args, "json"))
			out_line(stdout, "stopped %zu service%s of session '%s'\n", k,
				 k == 1 ? "" : "s", s.slug);
	}
	code = svc.unvouched ? EXIT_FAIL : EXIT_OK;
out:
	if (have_svc)
		svc_env_finish(&svc);
	free(before);
	strvec_clear(&names);
	strvec_clear(&docker);
	session_finish(&s);
	session_finish(&owned);
	return code;
}

const struct cmd_entry cmd_stop_entry = {
	.name = "stop",
	.args = "[<slug>] [service...]",
	.complete = COMPLETE_SESSION,
	.opts =
		(const struct cmd_opt[]){
			{"if-idle", 0, "DURATION",
			 "only when the session had no activity for DURATION (48h); else exit 5",
			 COMPLETE_NONE, NULL},
			{"json", 0, NULL, "the outcome as JSON on stdout (docs/json.md)",
			 COMPLETE_NONE, NULL},
			{0},
		},
	.summary = "stop services in place, keeping the session (worktree, slot, ports)",
	.help = "Named services: each whole process tree is stopped (TERM, then KILL at\n"
		"stop_grace); the session stays active and `berth restart` starts them again.\n"
		"A docker service named: its container is stopped (compose stop), and kept.\n"
		"No service named: every service of the session, docker ones too; the session\n"
		"becomes stopped and `berth up` resumes it. A session a running command owns\n"
		"is refused (exit 5). Activity for --if-idle: a berth command on the session,\n"
		"output from its services, a change in its worktree, a tmux client attached.\n",
	.flags = CMD_CONFIG | CMD_STATE,
	.owner = OWNER_IDLE,
	.exec = cmd_stop_exec,
};
