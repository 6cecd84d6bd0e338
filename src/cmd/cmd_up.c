/*
 * cmd_up.c: `berth up`: reserve a slot as pending, create or adopt the
 * worktree, probe and allocate ports, write .env.berth, finalize only while
 * still owning the session; roll back everything this run created on any
 * failure or Ctrl-C.
 */
#include "util/common.h"

#include <signal.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/cmd_db.h"
#include "config/envfile.h"
#include "cmd/output.h"
#include "probe/probe.h"
#include "proc/run.h"
#include "store/session.h"
#include "store/slot.h"
#include "store/slug.h"
#include "util/fsutil.h"
#include "util/testpoint.h"
#include "util/hash.h"
#include "util/parse.h"
#include "watch/activity.h"
#include "watch/lock.h"

extern char **environ;

struct up_opts {
	const char *arg;
	const char *branch;
	bool json;
	bool quiet;
	bool reuse_worktree;
	bool no_inherit_env;
	bool force;
	struct port_rec *pins;
	size_t n_pins, pins_alloc;
	struct strvec services;
	struct strvec skip;
};

/* What this run created, so that a failure undoes exactly that. */
struct up_run {
	struct session s;
	struct op_rec op;
	bool reserved;
	bool is_new;
	bool created_worktree;
	bool recorded_ports;
	struct port_rec *prev_ports; /* a resumed session's ports before this run */
	size_t n_prev_ports;
	bool have_svc;
	struct svc_env svc;
	struct strvec started; /* services whose shims this run started */
	bool service_failed;
	bool docker_started; /* the session's compose project was started */
	bool db_created;     /* the session's database was created by this run */
	int sigfd;
};

static struct port_rec *ports_copy(const struct port_rec *v, size_t n)
{
	struct port_rec *c = xcalloc(n ? n : 1, sizeof(*c));

	for (size_t i = 0; i < n; i++) {
		c[i].name = xstrdup(v[i].name);
		c[i].port = v[i].port;
		c[i].slug = xstrdup(v[i].slug);
	}
	return c;
}

static int parse_pin(const char *arg, struct up_opts *o)
{
	const char *eq = strchr(arg, '=');
	uint64_t port;

	if (!eq || eq == arg)
		return cmd_usage_error(&cmd_up_entry, "--port expects NAME=PORT, got '%s'", arg);
	if (parse_u64(eq + 1, 1, 65535, &port) < 0)
		return cmd_usage_error(&cmd_up_entry,
				       "--port %s: '%s' is not a port number from 1 to 65535", arg,
				       eq + 1);
	XGROW(o->pins, o->pins_alloc, o->n_pins + 1);
	o->pins[o->n_pins].name = xstrndup(arg, (size_t)(eq - arg));
	o->pins[o->n_pins].port = (unsigned)port;
	o->pins[o->n_pins].slug = NULL;
	o->n_pins++;
	return 0;
}

static int parse_opts(const struct cmd_args *a, struct up_opts *o)
{
	int code;

	for (size_t i = 0; i < a->n_given; i++) {
		const char *name = a->given[i].opt->name, *v = a->given[i].value;

		if (!strcmp(name, "branch")) {
			o->branch = v;
		} else if (!strcmp(name, "port")) {
			code = parse_pin(v, o);
			if (code)
				return code;
		} else if (!strcmp(name, "services")) {
			cmd_split_list(v, &o->services);
		} else if (!strcmp(name, "skip")) {
			cmd_split_list(v, &o->skip);
		}
	}
	o->json = cmdopt_has(a, "json");
	o->quiet = a->quiet;
	o->reuse_worktree = cmdopt_has(a, "reuse-worktree");
	o->no_inherit_env = cmdopt_has(a, "no-inherit-env");
	o->force = cmdopt_has(a, "force");
	if (a->argc > 1)
		o->arg = a->argv[1];
	if (a->argc > 2)
		return cmd_usage_error(&cmd_up_entry, "unexpected argument '%s'", a->argv[2]);
	return 0;
}

/* Decide slug, branch and worktree path from the argument or the current
 * directory. Prints errors; returns an exit code or 0. */
static int resolve_target(struct cmd_ctx *ctx, const struct up_opts *o, char **ret_slug,
			  char **ret_branch, char **ret_path, bool *ret_explicit)
{
	const char *arg = o->arg ? o->arg : o->branch;
	const char *branch = o->branch;
	char *cause = NULL, *slug = NULL, *wtdir;
	int r;

	if (!arg) {
		struct session *v = NULL;
		size_t n = 0;

		/* Inside a session's worktree: resume it. */
		if (state_sessions_list(ctx->state, &v, &n) >= 0) {
			const struct session *here = cmd_session_at(ctx->cwd, v, n);

			if (here) {
				*ret_slug = xstrdup(here->slug);
				*ret_branch = xstrdup(here->branch);
				*ret_path = xstrdup(here->worktree);
				*ret_explicit = false;
				sessions_free(v, n);
				return 0;
			}
			sessions_free(v, n);
		}
		if (!ctx->loc.in_linked) {
			out_error(
				"up: no name given; run `berth up <branch>` (a new worktree is "
				"created under %s), or run `berth up` inside a linked worktree to "
				"adopt it",
				ctx->config.worktree_dir);
			return EXIT_USAGE;
		}
		/* Inside a linked worktree that berth does not know: adopt it. */
		if (!ctx->loc.current_branch) {
			out_error("up: the worktree '%s' has a detached HEAD; check out a branch "
				  "or pass a name: `berth up <branch>`",
				  ctx->loc.current);
			return EXIT_USAGE;
		}
		branch = ctx->loc.current_branch;
		r = worktree_branch_check(branch, &cause);
		if (r == 0)
			r = slug_from_branch(branch, &slug, &cause);
		if (r < 0) {
			out_error("up: %s", cause);
			free(cause);
			return r == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
		}
		*ret_slug = slug;
		*ret_branch = xstrdup(branch);
		*ret_path = xstrdup(ctx->loc.current);
		*ret_explicit = true;
		return 0;
	}
	if (!branch)
		branch = arg;
	r = worktree_branch_check(branch, &cause);
	if (r < 0) {
		out_error("up: %s", cause);
		free(cause);
		/* a bad name, or no libgit2 to check it with */
		return r == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
	}
	if (slug_check(arg, &cause) == 0) {
		slug = xstrdup(arg);
	} else {
		free(cause);
		cause = NULL;
		if (slug_from_branch(arg, &slug, &cause) < 0) {
			out_error("up: %s", cause);
			free(cause);
			return EXIT_USAGE;
		}
	}
	wtdir = path_join(ctx->root, ctx->config.worktree_dir);
	*ret_path = path_join(wtdir, slug);
	free(wtdir);
	/* `up feat-foo` names a session: it resumes feat-foo whatever its branch
	 * (feat/Foo). A branch that is not itself the slug (`up feat/Foo`), or
	 * --branch, must match the session's branch. */
	*ret_explicit = o->branch != NULL || strcmp(slug, arg) != 0;
	*ret_slug = slug;
	*ret_branch = xstrdup(branch);
	return 0;
}

static int check_service_names(struct cmd_ctx *ctx, const struct strvec *names, const char *opt)
{
	for (size_t i = 0; i < names->n; i++) {
		if (!config_service(&ctx->config, names->v[i])) {
			struct strbuf all = STRBUF_INIT;

			for (size_t j = 0; j < ctx->config.n_services; j++)
				strbuf_addf(&all, "%s%s", j ? ", " : "",
					    ctx->config.services[j].name);
			out_error("up: %s: no service '%s' in %s; its services are: %s", opt,
				  names->v[i], CONFIG_FILE, all.len ? all.buf : "(none)");
			strbuf_release(&all);
			return EXIT_NOTFOUND;
		}
	}
	return 0;
}

/* Record the step this run is about to start (NULL: none in flight). */
static int set_step(struct cmd_ctx *ctx, struct up_run *run, const char *step)
{
	int r;

	free(run->op.step);
	run->op.step = step ? xstrdup(step) : NULL;
	r = session_op_update(ctx->state, run->s.slug, &run->op);
	if (r < 0 && r != -ESTALE)
		out_error("up: cannot record the step of session '%s': %s", run->s.slug,
			  state_errmsg(ctx->state));
	return r;
}

/* The mark that a worktree's post_create hook is due: made before the
 * worktree is created, removed once the hook succeeded, so a run killed or
 * failed anywhere in between leaves it for the next `up`. */
static char *post_create_mark(struct cmd_ctx *ctx, const char *slug)
{
	char *dir = services_run_dir(ctx->berth_dir, slug);
	char *path = path_join(dir, "post_create.pending");

	free(dir);
	return path;
}

static int mark_post_create(struct cmd_ctx *ctx, const char *slug)
{
	char *dir = services_run_dir(ctx->berth_dir, slug), *path = post_create_mark(ctx, slug);
	int r = mkdir_p(dir, 0755);

	if (r == 0)
		r = write_file_atomic_nosync(path, "", 0, 0644);
	if (r < 0)
		out_error("up: cannot write '%s': %s", path, strerror(-r));
	free(dir);
	free(path);
	return r;
}

/* post_create: once per worktree berth created, before docker services and
 * pre_spawn, with the session's environment; due while its mark is there. */
static int run_post_create(struct cmd_ctx *ctx, struct up_run *run)
{
	char *mark = post_create_mark(ctx, run->s.slug);
	int r = 0;

	if (!ctx->config.hooks.post_create || !path_exists(mark))
		goto out;
	r = set_step(ctx, run, OP_STEP_POST_CREATE);
	if (r < 0)
		goto out;
	r = cmd_run_hook(ctx, "up", "post_create", run->s.slug, run->s.worktree, run->svc.envp,
			 run->sigfd);
	if (r < 0)
		goto out;
	if (unlink(mark) < 0 && errno != ENOENT) {
		out_error("up: cannot remove '%s': %s", mark, strerror(errno));
		r = -errno;
		goto out;
	}
	r = set_step(ctx, run, NULL);
out:
	free(mark);
	return r;
}

/* Create or reuse the session's worktree. */
static int ensure_worktree(struct cmd_ctx *ctx, const struct up_opts *o, struct up_run *run)
{
	enum worktree_origin origin;
	char *cause = NULL;
	int r;

	if (path_exists(run->s.worktree)) {
		if (!worktree_is_linked(ctx->root, run->s.worktree)) {
			out_error("up: '%s' exists but is not a worktree of this repository; move "
				  "it away and run the command again",
				  run->s.worktree);
			return -EEXIST;
		}
		if (run->is_new && run->s.owns_worktree && !o->reuse_worktree) {
			out_error("up: the worktree '%s' already exists; pass --reuse-worktree to "
				  "use it for session '%s'",
				  run->s.worktree, run->s.slug);
			return -EEXIST;
		}
		out_step("using the worktree %s", run->s.worktree);
		return 0;
	}
	if (!run->is_new && !run->s.owns_worktree) {
		out_error("up: the worktree '%s' of session '%s' is gone; run `berth down %s` to "
			  "clear the session, then `berth up` again",
			  run->s.worktree, run->s.slug, run->s.slug);
		return -ENOENT;
	}
	out_step("creating the worktree %s (branch %s)", run->s.worktree, run->s.branch);
	/* Recorded before the step: a kill inside it leaves the record of
	 * what was half done, and of the branch it was making. */
	if (!run->op.branch_at &&
	    worktree_branch_plan(ctx->root, run->s.branch, &run->op.branch_at, &cause) < 0) {
		out_error("up: %s", cause);
		free(cause);
		return -EIO;
	}
	r = set_step(ctx, run, OP_STEP_WORKTREE_CREATE);
	if (r < 0)
		return r;
	if (ctx->config.hooks.post_create) {
		r = mark_post_create(ctx, run->s.slug);
		if (r < 0)
			return r;
	}
	out_progress_begin("checking out %s", run->s.branch);
	r = worktree_create(ctx->root, run->s.worktree, run->s.slug, run->s.branch, &origin,
			    &cause);
	out_progress_end();
	if (r < 0) {
		out_error("up: cannot create the worktree: %s", cause);
		free(cause);
		return r;
	}
	run->created_worktree = true;
	r = set_step(ctx, run, NULL);
	if (r < 0)
		return r;
	test_pause("worktree");
	switch (origin) {
	case WT_NEW_BRANCH:
		out_step("new branch %s from the main checkout's HEAD", run->s.branch);
		break;
	case WT_LOCAL_BRANCH:
		out_step("checked out the existing branch %s", run->s.branch);
		break;
	case WT_REMOTE_BRANCH:
		out_step("branch %s created tracking origin/%s", run->s.branch, run->s.branch);
		break;
	}
	return 0;
}

/* A port that is not its nominal one was bumped (a pin is its own): say
 * who holds the nominal one, so that nobody wonders why the port moved. */
static void say_bumped(struct cmd_ctx *ctx, const struct up_run *run, const struct port_rec *ports,
		       size_t n_ports, struct probe *probe)
{
	struct port_want *w;
	size_t n;

	slot_port_wants(&ctx->config, &w, &n);
	for (size_t i = 0; i < n; i++) {
		unsigned nominal = config_port(&ctx->config, w[i].base, run->s.slot);
		const struct port_rec *p = NULL;
		const struct port_rec *was = NULL;
		struct port_holder h = {0};
		char *who;

		for (size_t j = 0; j < n_ports; j++)
			if (!strcmp(ports[j].name, w[i].name))
				p = &ports[j];
		for (size_t j = 0; j < run->n_prev_ports; j++)
			if (!strcmp(run->prev_ports[j].name, w[i].name))
				was = &run->prev_ports[j];
		/* a resumed session keeps its ports: told when they were chosen */
		if (!p || !nominal || p->port == nominal || (was && was->port == p->port))
			continue;
		if (probe_port(probe, (uint16_t)nominal, NULL, 0, &h) < 0 ||
		    h.kind == HOLDER_FREE) {
			port_holder_finish(&h);
			continue; /* recorded by another session, or pinned */
		}
		who = slot_holder_text(&h, NULL);
		out_step("%s: %u is held by %s; using %u", w[i].name, nominal, who, p->port);
		free(who);
		port_holder_finish(&h);
	}
	port_wants_free(w, n);
}

static int allocate_ports(struct cmd_ctx *ctx, const struct up_opts *o, struct up_run *run)
{
	struct port_rec *ports = NULL, *all = NULL;
	size_t n_ports = 0, n_all = 0;
	struct probe probe = {0};
	bool cause_printed = false;
	char *cause = NULL, *root_id = hash_root_id(ctx->root);
	int r;

	r = probe_init(&probe);
	if (r < 0) {
		out_error("up: cannot list the listening sockets: %s", strerror(-r));
		free(root_id);
		return r;
	}
	/* Another `up` may record a port between our read and our write: the
	 * store's UNIQUE constraint catches it, and we allocate again. */
	for (int attempt = 0; attempt < 5; attempt++) {
		struct port_alloc_input in = {
			.config = &ctx->config,
			.slot = run->s.slot,
			.slug = run->s.slug,
			.pins = o->pins,
			.n_pins = o->n_pins,
			.previous = run->s.ports,
			.n_previous = run->s.n_ports,
			.root_id = root_id,
		};

		r = state_ports_all(ctx->state, &all, &n_all);
		if (r < 0)
			break;
		in.recorded = all;
		in.n_recorded = n_all;
		r = slot_alloc_ports(&in, &probe, &ports, &n_ports, &cause);
		ports_free(all, n_all);
		if (r < 0) {
			out_error("up: %s", cause);
			free(cause);
			cause_printed = true;
			break;
		}
		r = session_record_ports(ctx->state, run->s.slug, run->op.id, ports, n_ports);
		if (r != -EADDRINUSE)
			break;
		ports_free(ports, n_ports);
		ports = NULL;
	}
	if (r >= 0)
		say_bumped(ctx, run, ports, n_ports, &probe);
	probe_finish(&probe);
	free(root_id);
	if (r < 0) {
		ports_free(ports, n_ports);
		if (r == -ESTALE)
			; /* the caller stands down and says so */
		else if (r == -EADDRINUSE && !cause_printed)
			out_error("up: other sessions kept taking the same ports; run the command "
				  "again");
		else if (!cause_printed)
			out_error("up: cannot record the ports: %s", state_errmsg(ctx->state));
		return r;
	}
	ports_free(run->s.ports, run->s.n_ports);
	run->s.ports = ports;
	run->s.n_ports = n_ports;
	run->recorded_ports = true;
	return 0;
}

static int write_envfile(struct cmd_ctx *ctx, struct up_run *run)
{
	struct envmap env = {0};
	char *path = path_join(run->s.worktree, ENVFILE_NAME);
	int r;

	cmd_session_env(ctx, &run->s, &env);
	r = envfile_write(path, &env);
	if (r < 0)
		out_error("up: cannot write '%s': %s", path, strerror(-r));
	envmap_finish(&env);
	free(path);
	return r;
}

/* The native services this run starts, in dependency order. */
static size_t pick_services(struct cmd_ctx *ctx, const struct up_opts *o, struct up_run *run,
			    const size_t *order, size_t n, size_t *pick, struct strvec *restart,
			    struct strvec *lost)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const struct service_config *svc = &ctx->config.services[order[i]];
		struct svc_view v;

		if (svc->run != RUN_NATIVE || !svc->command)
			continue;
		if ((o->services.n && strvec_find(&o->services, svc->name) < 0) ||
		    strvec_find(&o->skip, svc->name) >= 0)
			continue;
		if (services_view(ctx->berth_dir, run->s.slug, svc->name, &v) == 0 &&
		    v.live == SVC_LIVE_RUNNING) {
			if (!o->force) {
				out_step("%s: already running (pid %d)", svc->name, (int)v.st.pid);
				continue;
			}
			strvec_push(restart, svc->name);
		} else if (v.live == SVC_LIVE_LOST ||
			   (v.live == SVC_LIVE_ENDED && v.service_alive)) {
			/* its shim is gone: what it ran may still run, unsupervised;
			 * it is stopped first, so that exactly one copy runs */
			strvec_push(lost, svc->name);
		}
		pick[k++] = order[i];
	}
	return k;
}

/* Start the session's native services and wait until each is ready. */
static int start_services(struct cmd_ctx *ctx, const struct up_opts *o, struct up_run *run)
{
	struct strvec restart = STRVEC_INIT, lost = STRVEC_INIT;
	size_t *order = NULL, *pick, k;
	int n, r;

	n = config_service_order(&ctx->config, &order);
	if (n <= 0) {
		free(order);
		return 0; /* a cycle is reported by validation before we get here */
	}
	pick = xcalloc((size_t)n, sizeof(*pick));
	k = pick_services(ctx, o, run, order, (size_t)n, pick, &restart, &lost);
	r = 0;
	if (lost.n) {
		out_step("stopping what %zu lost supervisor%s left running", lost.n,
			 lost.n == 1 ? "" : "s");
		r = cmd_stop_services(&run->svc, &lost, run->sigfd, "up");
	}
	if (r >= 0 && restart.n) {
		out_step("--force: stopping %zu running service%s", restart.n,
			 restart.n == 1 ? "" : "s");
		r = cmd_stop_services(&run->svc, &restart, run->sigfd, "up");
	}
	if (r >= 0 && k) {
		r = cmd_launch(&run->svc, pick, k, run->sigfd, &run->started, "up", NULL);
		run->service_failed = r == -EIO;
	}
	strvec_clear(&restart);
	strvec_clear(&lost);
	free(pick);
	free(order);
	return r;
}

/* The session's environment for hooks and services, once .env.berth is written. */
static int prepare_services(struct cmd_ctx *ctx, struct up_run *run)
{
	if (cmd_svc_init(ctx, &run->s, true, &run->svc))
		return -ENOEXEC;
	run->have_svc = true;
	return 0;
}

/* pre_up: before the worktree exists, in the main root, with the caller's
 * environment and the session's name and slot. */
static int run_pre_up(struct cmd_ctx *ctx, struct up_run *run)
{
	struct strvec env = STRVEC_INIT;
	int r;

	if (!ctx->config.hooks.pre_up)
		return 0;
	for (char **p = environ; *p; p++)
		strvec_push(&env, *p);
	strvec_pushf(&env, "BERTH_SLUG=%s", run->s.slug);
	strvec_pushf(&env, "BERTH_SLOT=%u", run->s.slot);
	r = cmd_run_hook(ctx, "up", "pre_up", run->s.slug, ctx->root, strvec_argv(&env),
			 run->sigfd);
	strvec_clear(&env);
	return r;
}

/* Resuming a session whose `up` crashed: what its hooks left still runs
 * (a pre_spawn's children...): it is stopped before anything runs again. */
static void stop_crash_leftovers(struct cmd_ctx *ctx, struct up_run *run)
{
	char *root_id = hash_root_id(ctx->root);
	unsigned n = services_stop_hooks(ctx->berth_dir, root_id, run->s.slug,
					 ctx->config.stop_grace_ms, run->sigfd);

	if (n)
		out_step("stopped %u process%s the crashed run's hooks left", n,
			 n == 1 ? "" : "es");
	free(root_id);
}

/* Undo what this run created, newest first. */
static void rollback(struct cmd_ctx *ctx, struct up_run *run)
{
	char *cause = NULL;
	bool docker_left = false;
	int r;

	if (run->have_svc && run->is_new) {
		/* everything of the session: services and what hooks left behind */
		if (run->started.n)
			out_step("rollback: stopping %zu service%s", run->started.n,
				 run->started.n == 1 ? "" : "s");
		cmd_stop_services(&run->svc, NULL, run->sigfd, "rollback");
	} else if (run->started.n) {
		out_step("rollback: stopping %zu service%s", run->started.n,
			 run->started.n == 1 ? "" : "s");
		cmd_stop_services(&run->svc, &run->started, run->sigfd, "rollback");
	}
	/* The compose project: a new session's goes with its volumes; a resumed
	 * one keeps its data. */
	if (run->docker_started && cmd_docker_down(ctx, &run->s, run->svc.envp, !run->is_new) < 0) {
		/* Containers may still run: the session stays so that `down` can
		 * remove them once docker answers. */
		docker_left = true;
		out_error("rollback: session '%s' is kept (stopped) because its docker project "
			  "could not be removed; `berth down %s` removes it once docker answers",
			  run->s.slug, run->s.slug);
	}
	/* A database this run created goes; one kept from before stays. */
	if (run->db_created && cmd_db_drop(ctx, "rollback", run->s.slug)) {
		docker_left = true;
		out_error("rollback: session '%s' is kept (stopped) because its database could not "
			  "be dropped; `berth down %s` drops it once the server answers",
			  run->s.slug, run->s.slug);
	}
	if (run->is_new) {
		cmd_ingest_journal(ctx, run->s.slug);
		services_clear(ctx->berth_dir, run->s.slug, false);
	}

	if (run->created_worktree) {
		r = worktree_remove(ctx->root, run->s.worktree, &cause);
		if (r < 0) {
			out_warn("rollback: cannot remove the worktree '%s': %s", run->s.worktree,
				 cause);
			free(cause);
		} else if (run->op.branch_at &&
			   worktree_branch_drop(ctx->root, run->s.branch, run->op.branch_at,
						&cause) < 0) {
			out_warn("rollback: cannot delete the branch '%s': %s", run->s.branch,
				 cause);
			free(cause);
		}
	}
	/* A resumed session gets its ports (and the env file showing them) back. */
	if (run->reserved && !run->is_new && run->recorded_ports) {
		r = session_record_ports(ctx->state, run->s.slug, run->op.id, run->prev_ports,
					 run->n_prev_ports);
		if (r < 0 && r != -ESTALE)
			out_warn("rollback: cannot restore the ports of '%s': %s", run->s.slug,
				 strerror(-r));
		ports_free(run->s.ports, run->s.n_ports);
		run->s.ports = ports_copy(run->prev_ports, run->n_prev_ports);
		run->s.n_ports = run->n_prev_ports;
		if (!run->created_worktree && path_is_dir(run->s.worktree))
			write_envfile(ctx, run);
	}
	if (run->reserved) {
		r = session_release(
			ctx->state, run->s.slug, run->op.id, run->is_new && !docker_left,
			run->op.had_prev && !docker_left ? run->op.prev : SESSION_STOPPED);
		if (r < 0 && r != -ESTALE)
			out_warn("rollback: cannot release session '%s': %s", run->s.slug,
				 strerror(-r));
		session_event(ctx->state, run->s.slug, "up-failed", "rolled back");
	}
}

static void print_result(struct cmd_ctx *ctx, const struct up_run *run, bool json)
{
	if (json) {
		out_json(cmd_session_json(ctx, &run->s));
		return;
	}
	printf("session '%s' is up (slot %u)\n", run->s.slug, run->s.slot);
	cmd_print_session_summary(&run->s);
}

/* [watch] autostart: `berth watch --daemon` when no watcher runs. The
 * daemon says it holds its lock before this returns; a failure is a
 * warning (the session is up either way). */
static void start_watcher(struct cmd_ctx *ctx)
{
	char *self, *why = NULL, watch[] = "watch", daemon[] = "--daemon";

	if (watch_running(ctx->berth_dir, NULL))
		return;
	self = realpath("/proc/self/exe", NULL);
	if (!self)
		return;
	char *const argv[] = {self, watch, daemon, NULL};
	struct spawn_opts o = {
		.path = self,
		.argv = argv,
		.cwd = ctx->root,
		.stdin_fd = -1,
		.stdout_fd = -1,
		.stderr_fd = -1,
	};
	if (spawn_run_checked(&o, 10000, NULL, &why) < 0 && !watch_running(ctx->berth_dir, NULL))
		out_warn("cannot start the watcher ([watch] autostart): %s", why);
	else
		out_step("started the watcher ([watch] autostart)");
	free(why);
	free(self);
}

static int cmd_up_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct up_opts o = {0};
	struct up_run run = {.sigfd = -1};
	struct reserve_req req = {0};
	char *slug = NULL, *branch = NULL, *path = NULL, *cause = NULL, *wtdir;
	sigset_t old;
	bool explicit_branch = false;
	int code, r;

	code = parse_opts(ctx->args, &o);
	if (code)
		goto out;
	out_set_quiet(o.json || o.quiet);
	code = cmd_check_config(ctx, false);
	if (code)
		goto out;
	/* A name the config does not have is not found (4), as a service in
	 * --services/--skip is; a malformed --port was a usage error above. */
	if (slot_check_pins(&ctx->config, o.pins, o.n_pins, &cause) < 0) {
		out_error("up: %s", cause);
		code = EXIT_NOTFOUND;
		free(cause);
		cause = NULL;
		goto out;
	}
	code = check_service_names(ctx, &o.services, "--services");
	if (!code)
		code = check_service_names(ctx, &o.skip, "--skip");
	if (code)
		goto out;
	if (o.services.n) {
		size_t named = o.services.n;

		/* what they depend on comes too (--skip still wins) */
		config_with_deps(&ctx->config, &o.services);
		for (size_t i = named; i < o.services.n; i++)
			out_step("--services: %s comes too (a dependency)", o.services.v[i]);
	}
	code = resolve_target(ctx, &o, &slug, &branch, &path, &explicit_branch);
	if (code)
		goto out;

	/* Ctrl-C, TERM and HUP become checks between steps: the run rolls back.
	 * While services start they are an fd in the event loop. */
	cmd_signals_block(&old);
	run.sigfd = cmd_signalfd();

	wtdir = path_join(ctx->root, ctx->config.worktree_dir);
	req.slug = slug;
	req.branch = branch;
	req.branch_explicit = explicit_branch;
	req.worktree = path;
	req.mode = config_mode_name(ctx->config.mode);
	req.owns_worktree = path_is_inside(path, wtdir);
	req.max_slots = ctx->config.max_slots;
	free(wtdir);
	if (session_op_new(&run.op, "up") < 0) {
		out_error("up: cannot read this process's start time from /proc; berth needs "
			  "/proc mounted");
		code = EXIT_FAIL;
		goto out_signals;
	}
	r = session_reserve(ctx->state, &req, &run.op, &run.s, &run.is_new, &cause);
	if (r < 0) {
		if (cause)
			out_error("up: %s", cause);
		else
			out_error("up: cannot reserve session '%s': %s", slug,
				  state_errmsg(ctx->state));
		free(cause);
		code = cmd_exit_for(r);
		goto out_signals;
	}
	run.reserved = true;
	cmd_own_adopt(ctx, slug, &run.op);
	if (run.op.recovering) {
		if (run.op.crashed_step)
			out_step("recovering session '%s': a crashed command was in step %s",
				 run.s.slug, run.op.crashed_step);
		stop_crash_leftovers(ctx, &run);
	}
	cmd_recover_worktree(ctx, &run.s, run.op.branch_at, "up");
	run.prev_ports = ports_copy(run.s.ports, run.s.n_ports);
	run.n_prev_ports = run.s.n_ports;
	if (run.is_new) {
		/* A new session's logs are its own: those a rolled-back `up` of
		 * this name left (its report named them, `berth logs` showed them)
		 * go, so that no line of that attempt reads as this one's. */
		char *logs = services_log_dir(ctx->berth_dir, run.s.slug);

		rm_rf(logs);
		free(logs);
		out_step("reserved slot %u for session '%s'", run.s.slot, run.s.slug);
	} else
		out_step("resuming session '%s' (slot %u)", run.s.slug, run.s.slot);
	test_pause("reserve");

	r = cmd_interrupted();
	if (r >= 0)
		r = run_pre_up(ctx, &run);
	if (r >= 0)
		r = ensure_worktree(ctx, &o, &run);
	if (r >= 0 && !o.no_inherit_env && ctx->config.inherit_env.n) {
		r = worktree_inherit_env(ctx->root, run.s.worktree, &ctx->config.inherit_env,
					 ctx->config.inherit_env_mode == INHERIT_COPY, &cause);
		if (r < 0) {
			out_error("up: %s", cause);
			free(cause);
		}
	}
	if (r >= 0)
		r = cmd_interrupted();
	if (r >= 0)
		r = allocate_ports(ctx, &o, &run);
	test_pause("ports");
	if (r >= 0)
		r = cmd_interrupted();
	/* berth's own database server first: its port is in the environment */
	if (r >= 0 && (code = cmd_db_server(ctx, "up", run.sigfd)))
		r = -EIO;
	if (r >= 0)
		r = write_envfile(ctx, &run);
	test_pause("envfile");
	if (r >= 0)
		r = cmd_interrupted();
	if (r >= 0 && ctx->config.database.enabled &&
	    (code = cmd_db_create(ctx, "up", run.s.slug, run.sigfd, &run.db_created)))
		r = code == EXIT_INTERRUPTED ? -EINTR : -EIO;
	test_pause("database");
	if (r >= 0)
		r = cmd_interrupted();
	if (r >= 0)
		r = prepare_services(ctx, &run);
	if (r >= 0) {
		r = cmd_docker_up(ctx, &run.svc, run.sigfd, &run.docker_started);
		if (r == -EIO)
			run.service_failed = true;
	}
	if (r >= 0)
		r = run_post_create(ctx, &run);
	if (r >= 0)
		r = cmd_run_hook(ctx, "up", "pre_spawn", run.s.slug, run.s.worktree, run.svc.envp,
				 run.sigfd);
	if (r >= 0)
		r = start_services(ctx, &o, &run);
	test_pause("services");
	if (r >= 0)
		r = cmd_run_hook(ctx, "up", "post_up", run.s.slug, run.s.worktree, run.svc.envp,
				 run.sigfd);
	if (r >= 0)
		r = cmd_interrupted();
	if (r >= 0) {
		r = session_finalize(ctx->state, &run.s, run.op.id, SESSION_ACTIVE);
		if (r == 0) {
			/* what the store now holds: active, no operation */
			run.s.status = SESSION_ACTIVE;
			run.s.has_op = false;
		} else if (r != -ESTALE)
			out_error("up: cannot finalize session '%s': %s", run.s.slug,
				  state_errmsg(ctx->state));
	}
	if (r < 0 && cmd_own_lost(ctx)) {
		/* Another command (a `down`) took the session: it removes what is
		 * to be removed, once we are gone. We stop only what we started. */
		if (run.started.n)
			cmd_stop_services(&run.svc, &run.started, -1, "up");
		code = cmd_stand_down(ctx);
		goto out_signals;
	}
	if (r < 0) {
		if (r == -EINTR)
			out_error("up: interrupted; rolling back session '%s' (Ctrl-C again: kill "
				  "at once)",
				  run.s.slug);
		else if (run.service_failed)
			out_step("rolling back session '%s'", run.s.slug);
		rollback(ctx, &run);
		cmd_own_release(ctx);
		if (!code) /* a database step set its own */
			code = run.service_failed ? EXIT_UNHEALTHY : cmd_exit_for(r);
		goto out_signals;
	}
	cmd_own_release(ctx);
	session_event(ctx->state, run.s.slug, "up", "slot %u, branch %s", run.s.slot, run.s.branch);
	activity_touch(ctx->berth_dir, run.s.slug);
	if (ctx->config.watch.autostart)
		start_watcher(ctx);
	print_result(ctx, &run, o.json);
	code = EXIT_OK;
out_signals:
	if (run.sigfd >= 0)
		close(run.sigfd);
	cmd_signals_restore(&old);
out:
	if (run.have_svc)
		svc_env_finish(&run.svc);
	strvec_clear(&run.started);
	session_finish(&run.s);
	op_rec_finish(&run.op);
	ports_free(run.prev_ports, run.n_prev_ports);
	ports_free(o.pins, o.n_pins);
	strvec_clear(&o.services);
	strvec_clear(&o.skip);
	free(slug);
	free(branch);
	free(path);
	return code;
}

const struct cmd_entry cmd_up_entry = {
	.name = "up",
	.args = "[<slug-or-branch>]",
	.complete = COMPLETE_SESSION,
	.opts =
		(const struct cmd_opt[]){
			{"branch", 0, "B", "use branch B (default: the name given)", COMPLETE_NONE,
			 NULL},
			{"port", 'p', "NAME=PORT",
			 "pin a port for this run (NAME: a service, or "
			 "service.extra)",
			 COMPLETE_NONE, NULL},
			{"reuse-worktree", 0, NULL,
			 "use an existing worktree directory at the session's path", COMPLETE_NONE,
			 NULL},
			{"no-inherit-env", 0, NULL,
			 "do not link the inherit_env files into the worktree", COMPLETE_NONE,
			 NULL},
			{"services", 0, "a,b",
			 "start only these services (and what they depend on)", COMPLETE_SERVICE,
			 NULL},
			{"skip", 0, "a,b", "do not start these services", COMPLETE_SERVICE, NULL},
			{"force", 'f', NULL, "restart services that already run", COMPLETE_NONE,
			 NULL},
			{"json", 0, NULL, "print the session as JSON on stdout (docs/json.md)",
			 COMPLETE_NONE, NULL},
			{0},
		},
	.summary = "create or resume a session: slot, worktree, ports, env file",
	.help = "Without a name inside a linked worktree, adopts that worktree; inside a "
		"session's worktree, resumes it.\n"
		"A branch name becomes the session name by lowercasing and mapping other "
		"characters to '-'.\n",
	.flags = CMD_CONFIG | CMD_STATE | CMD_GIT,
	.owner = OWNER_RESERVE,
	.exec = cmd_up_exec,
};
