/*
 * cmd_init.c: `berth init`: detect the mode and the obvious services from the
 * files present, write .berth.ini, add .berth/ to .gitignore. Never
 * overwrites without --yes (or a yes at the prompt on a terminal).
 */
#include "util/common.h"

#include <ctype.h>
#include <fcntl.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "docker/compose.h"
#include "cmd/output.h"
#include "util/fsutil.h"

struct detected {
	enum config_mode mode;
	const char *why;
	const char *compose;
	struct strbuf services; /* INI text of the [service] sections */
	struct strvec names;
};

static const char *const compose_names[] = {"docker-compose.yml", "docker-compose.yaml",
					    "compose.yml", "compose.yaml"};

/* Known data-service images and their container port. */
static const struct {
	const char *image;
	unsigned port;
} data_images[] = {
	{"postgres", 5432}, {"postgis", 5432}, {"redis", 6379},         {"valkey", 6379},
	{"mysql", 3306},    {"mariadb", 3306}, {"mongo", 27017},        {"memcached", 11211},
	{"rabbitmq", 5672}, {"minio", 9000},   {"elasticsearch", 9200},
};

static char *read_root_file(const char *root, const char *name)
{
	char *path = path_join(root, name), *text = NULL;

	if (read_file(path, 1 << 20, &text, NULL) < 0)
		text = NULL;
	free(path);
	return text;
}

/* The first n bytes of s form a valid service name. */
static bool valid_name(const char *s, size_t n)
{
	char *name = xstrndup(s, n);
	bool ok = config_service_name_valid(name);

	free(name);
	return ok;
}

static void add_service(struct detected *d, const char *name, const char *command,
			unsigned base_port, const char *run)
{
	strbuf_addf(&d->services, "\n[service \"%s\"]\n", name);
	if (run)
		strbuf_addf(&d->services, "run = %s\n", run);
	if (command)
		strbuf_addf(&d->services, "command = %s\n", command);
	if (base_port)
		strbuf_addf(&d->services, "base_port = %u\n", base_port);
	else if (!run)
		strbuf_adds(&d->services, "ready = none\n");
	strvec_push(&d->names, name);
}

/* Procfile lines "name: command". */
static bool detect_procfile(struct detected *d, const char *root)
{
	const char *files[] = {"Procfile.dev", "Procfile"};
	unsigned next_port = 3000;

	for (size_t f = 0; f < ARRAY_SIZE(files); f++) {
		char *text = read_root_file(root, files[f]), *line, *save = NULL;
		bool any = false;

		if (!text)
			continue;
		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char *colon = strchr(line, ':'), *name, *cmd;

			if (line[0] == '#' || !colon)
				continue;
			*colon = '\0';
			name = line;
			cmd = colon + 1;
			while (*cmd == ' ' || *cmd == '\t')
				cmd++;
			if (!valid_name(name, strlen(name)) || !*cmd ||
			    strvec_find(&d->names, name) >= 0)
				continue;
			if (!strcmp(name, "web")) {
				add_service(d, name, cmd, next_port, NULL);
				next_port += 100;
			} else {
				add_service(d, name, cmd, 0, NULL);
			}
			any = true;
		}
		free(text);
		if (any)
			return true;
	}
	return false;
}

static void detect_package_json(struct detected *d, const char *root)
{
	char *text = read_root_file(root, "package.json"), *lock;
	const char *pm = "npm";

	if (!text)
		return;
	if (strstr(text, "\"dev\"")) {
		if ((lock = read_root_file(root, "pnpm-lock.yaml"))) {
			pm = "pnpm";
			free(lock);
		} else if ((lock = read_root_file(root, "yarn.lock"))) {
			pm = "yarn";
			free(lock);
		}
		if (strvec_find(&d->names, "web") < 0) {
			char *cmd = xasprintf("%s run dev", pm);

			add_service(d, "web", cmd, 3000, NULL);
			free(cmd);
		}
	}
	free(text);
}

/* The compose file's services and their images (compose.c, libyaml): a
 * known data image suggests a docker service. `berth validate` checks more. */
static void detect_compose(struct detected *d, const char *root, const char *file)
{
	struct strvec names = STRVEC_INIT, images = STRVEC_INIT;
	char *path = path_join(root, file), *cause = NULL;

	if (compose_services(path, &names, &images, &cause) < 0) {
		free(cause); /* an unreadable file: nothing to suggest */
		names.n = images.n = 0;
	}
	for (size_t i = 0; i < names.n && i < images.n; i++) {
		if (!valid_name(names.v[i], strlen(names.v[i])) ||
		    strvec_find(&d->names, names.v[i]) >= 0)
			continue;
		for (size_t k = 0; k < ARRAY_SIZE(data_images); k++) {
			if (strstr(images.v[i], data_images[k].image)) {
				add_service(d, names.v[i], NULL, data_images[k].port, "docker");
				break;
			}
		}
	}
	strvec_clear(&names);
	strvec_clear(&images);
	free(path);
}

static void detect(struct detected *d, const char *root)
{
	char *path;

	for (size_t i = 0; i < ARRAY_SIZE(compose_names); i++) {
		path = path_join(root, compose_names[i]);
		if (path_exists(path))
			d->compose = compose_names[i];
		free(path);
		if (d->compose)
			break;
	}
	if (!detect_procfile(d, root))
		detect_package_json(d, root);
	path = path_join(root, "Dockerfile");
	if (d->compose) {
		detect_compose(d, root, d->compose);
		d->mode = MODE_HYBRID;
		d->why = "a compose file is present: data services in docker, the app native";
	} else if (path_exists(path) && !d->names.n) {
		d->mode = MODE_CONTAINER;
		d->why = "a Dockerfile and no native app were found";
	} else {
		d->mode = MODE_HOST;
		d->why = "no compose file: everything runs natively";
	}
	free(path);
}

/* Add a line .berth/ to .gitignore unless one is there. The file is only
 * appended to: a .gitignore that cannot be read is never rewritten. */
static int ensure_gitignore(const char *root, bool *ret_added)
{
	char *path = path_join(root, ".gitignore"), *text = NULL;
	size_t len = 0;
	int fd, r;

	*ret_added = false;
	r = read_file(path, 16 << 20, &text, &len);
	if (r == -ENOENT) {
		text = xstrdup("");
		len = 0;
	} else if (r < 0) {
		goto out;
	}
	for (char *p = text; p < text + len;) {
		char *eol = memchr(p, '\n', (size_t)(text + len - p));
		size_t n = eol ? (size_t)(eol - p) : (size_t)(text + len - p);

		if ((n == 7 && !strncmp(p, ".berth/", 7)) ||
		    (n == 8 && !strncmp(p, "/.berth/", 8)) ||
		    (n == 6 && !strncmp(p, ".berth", 6)) || (n == 7 && !strncmp(p, "/.berth", 7)))
			goto out;
		p += n + 1;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if ((len && text[len - 1] != '\n' && write(fd, "\n", 1) != 1) ||
	    write(fd, ".berth/\n", 8) != 8)
		r = -errno;
	if (close(fd) < 0 && r >= 0)
		r = -errno;
	if (r >= 0) {
		r = 0;
		*ret_added = true;
	}
out:
	free(text);
	free(path);
	return r;
}

static int cmd_init_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	const char *mode_arg = cmdopt_value(ctx->args, "mode");
	const char *runner_arg = cmdopt_value(ctx->args, "runner");
	struct detected d = {0};
	struct strbuf out = STRBUF_INIT;
	struct config check;
	enum config_mode mode;
	enum config_runner runner = RUNNER_PROCESS;
	bool yes = cmdopt_has(ctx->args, "yes"), forced_mode = mode_arg != NULL, added;
	char *path, *cause = NULL;
	int r, code = EXIT_OK;

	if (mode_arg && config_mode_parse(mode_arg, &mode) < 0)
		return cmd_usage_error(&cmd_init_entry,
				       "--mode must be host, hybrid or container, not '%s'",
				       mode_arg);
	if (runner_arg && config_runner_parse(runner_arg, &runner) < 0)
		return cmd_usage_error(&cmd_init_entry,
				       "--runner must be process or tmux, not '%s'", runner_arg);
	if (argc > 1)
		return cmd_usage_error(&cmd_init_entry, "unexpected argument '%s'", argv[1]);
	path = path_join(ctx->root, CONFIG_FILE);
	if (path_exists(path) && !yes &&
	    !cmd_confirm("berth: .berth.ini exists; overwrite it?", NULL)) {
		out_error("init: '%s' already exists; pass --yes to overwrite it", path);
		free(path);
		return EXIT_BUSY;
	}
	detect(&d, ctx->root);
	if (forced_mode) {
		d.mode = mode;
		d.why = "chosen with --mode";
	}
	strbuf_addf(&out,
		    "; berth configuration: docs/config.md describes every key.\n"
		    "; Comments are whole lines starting with ';' or '#'.\n"
		    "\n[berth]\n"
		    "mode = %s\n"
		    "runner = %s\n"
		    "max_slots = 8\n",
		    config_mode_name(d.mode), config_runner_name(runner));
	if (d.compose && strcmp(d.compose, "docker-compose.yml"))
		strbuf_addf(&out, "compose_file = %s\n", d.compose);
	if (d.services.len)
		strbuf_adds(&out, d.services.buf);
	else
		strbuf_adds(&out, "\n; No service was detected. Add one, for example:\n"
				  "; [service \"web\"]\n"
				  "; command = npm run dev -- --port $PORT\n"
				  "; base_port = 3000\n");
	/* Check what we are about to write before writing it. */
	r = config_load_string(&check, ctx->root, out.buf, CONFIG_FILE, &cause);
	if (r < 0) {
		out_error("init: the detected configuration does not parse (%s); pass --mode and "
			  "write the services by hand",
			  cause);
		free(cause);
		code = EXIT_FAIL;
		goto out;
	}
	config_finish(&check);
	r = write_file_atomic(path, out.buf, out.len, 0644);
	if (r < 0) {
		out_error("init: cannot write '%s': %s", path, strerror(-r));
		code = EXIT_FAIL;
		goto out;
	}
	r = ensure_gitignore(ctx->root, &added);
	if (r < 0)
		out_warn("cannot update .gitignore: %s; add the line .berth/ yourself",
			 strerror(-r));
	out_line(stdout, "wrote %s (mode %s: %s)\n", path, config_mode_name(d.mode), d.why);
	if (d.names.n) {
		printf("services:");
		for (size_t i = 0; i < d.names.n; i++)
			out_line(stdout, " %s", d.names.v[i]);
		printf("\n");
	}
	if (added)
		printf("added .berth/ to .gitignore\n");
	printf("next: review it, `berth validate`, then `berth up <branch>`\n");
out:
	strbuf_release(&out);
	strbuf_release(&d.services);
	strvec_clear(&d.names);
	free(path);
	return code;
}

const struct cmd_entry cmd_init_entry = {
	.name = "init",
	.opts =
		(const struct cmd_opt[]){
			{"mode", 'm', "host|hybrid|container",
			 "this mode instead of the detected one", COMPLETE_WORDS,
			 "host hybrid container"},
			{"runner", 'r', "process|tmux", "how native services run (default process)",
			 COMPLETE_WORDS, "process tmux"},
			{"yes", 'y', NULL, "overwrite an existing .berth.ini", COMPLETE_NONE, NULL},
			{0},
		},
	.summary = "write .berth.ini for this repository (detects mode and services)",
	.help = "Mode: a compose file means hybrid (its data services run in docker), a\n"
		"Dockerfile alone means container, otherwise host. Services come from\n"
		"Procfile.dev / Procfile, or the `dev` script of package.json. Adds .berth/ to\n"
		".gitignore. An existing .berth.ini is never overwritten without --yes (or a yes\n"
		"at the prompt on a terminal).\n",
	.flags = CMD_REPO,
	.exec = cmd_init_exec,
};
