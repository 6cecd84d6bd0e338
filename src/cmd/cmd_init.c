/*
 * cmd_init.c: `berth init`: detect the mode and the obvious services from the
 * files present (Procfile, Rails, Django, package.json scripts, compose file),
 * suggest the dependency install of a lockfile as post_create, write
 * .berth.ini, add .berth/ to .gitignore. Never overwrites without --yes (or a
 * yes at the prompt on a terminal; --json never prompts). With --json, what
 * it detected and wrote is one document on stdout (docs/json.md).
 */
#include "util/common.h"

#include <ctype.h>
#include <fcntl.h>
#include <jansson.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "docker/compose.h"
#include "cmd/output.h"
#include "util/fsutil.h"
#include "util/parse.h"

struct detected {
	enum config_mode mode;
	const char *why;
	const char *compose;
	bool dockerfile;        /* a Dockerfile at the root */
	unsigned expose;        /* its first EXPOSE port, 0 if none */
	const char *pm;         /* the JavaScript package manager: npm, pnpm, yarn, bun */
	struct strbuf services; /* INI text of the [service] sections */
	struct strvec names;
	struct strvec lockfiles;       /* the lockfiles behind the install suggestion */
	struct strvec installs;        /* their install commands, one per ecosystem */
	json_t *found;                 /* the services for --json: [{name, run, command, ...}] */
	struct strvec warnings, hints; /* said on stderr, and for --json */
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

/* Lockfiles and the command that installs exactly what they pin. One
 * suggestion per ecosystem: the first file present of its group wins. */
enum { ECO_JS, ECO_RUBY, ECO_PYTHON, ECO_PHP, ECO_COUNT };
static const struct {
	const char *file;
	int eco;
	const char *pm; /* JavaScript: the package manager the lockfile belongs to */
	const char *install;
} lockfiles[] = {
	{"Gemfile.lock", ECO_RUBY, NULL, "bundle install"},
	{"poetry.lock", ECO_PYTHON, NULL, "poetry install"},
	{"uv.lock", ECO_PYTHON, NULL, "uv sync"},
	{"Pipfile.lock", ECO_PYTHON, NULL, "pipenv sync"},
	{"requirements.txt", ECO_PYTHON, NULL, "pip install -r requirements.txt"},
	{"composer.lock", ECO_PHP, NULL, "composer install"},
	{"pnpm-lock.yaml", ECO_JS, "pnpm", "pnpm install --frozen-lockfile"},
	{"yarn.lock", ECO_JS, "yarn", "yarn install --frozen-lockfile"},
	{"bun.lockb", ECO_JS, "bun", "bun install --frozen-lockfile"},
	{"bun.lock", ECO_JS, "bun", "bun install --frozen-lockfile"},
	{"package-lock.json", ECO_JS, "npm", "npm ci"},
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

/* A warning (hint false) or a hint on stderr, kept for --json. */
static void __attribute__((format(printf, 3, 4)))
say(struct detected *d, bool hint, const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	if (hint)
		out_hint("%s", text);
	else
		out_warn("%s", text);
	strvec_push_owned(hint ? &d->hints : &d->warnings, text);
}

/* Append a [service] section. ready NULL: the default (port with a
 * base_port), or none for a native service without one. note: a comment line
 * above the section, or NULL. from: the file it was found in. */
static void add_service(struct detected *d, const char *name, const char *command,
			unsigned base_port, const char *run, const char *ready, const char *note,
			const char *from)
{
	strbuf_addch(&d->services, '\n');
	if (note)
		strbuf_addf(&d->services, "; %s\n", note);
	strbuf_addf(&d->services, "[service \"%s\"]\n", name);
	if (run)
		strbuf_addf(&d->services, "run = %s\n", run);
	if (command)
		strbuf_addf(&d->services, "command = %s\n", command);
	if (base_port)
		strbuf_addf(&d->services, "base_port = %u\n", base_port);
	if (ready)
		strbuf_addf(&d->services, "ready = %s\n", ready);
	else if (!base_port && !run)
		strbuf_adds(&d->services, "ready = none\n");
	strvec_push(&d->names, name);
	json_array_append_new(d->found, json_pack("{s:s, s:s, s:o, s:o, s:s}", "name", name, "run",
						  run ? run : "native", "command",
						  out_json_text(command), "base_port",
						  base_port ? json_integer(base_port) : json_null(),
						  "from", from));
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
				add_service(d, name, cmd, next_port, NULL, NULL, NULL, files[f]);
				next_port += 100;
			} else {
				add_service(d, name, cmd, 0, NULL, NULL, NULL, files[f]);
			}
			any = true;
		}
		free(text);
		if (any)
			return true;
	}
	return false;
}

/* The lockfiles present: the package manager, and one install command per
 * ecosystem. */
static void detect_lockfiles(struct detected *d, const char *root)
{
	bool seen[ECO_COUNT] = {false};

	d->pm = "npm";
	for (size_t i = 0; i < ARRAY_SIZE(lockfiles); i++) {
		char *path = path_join(root, lockfiles[i].file);
		bool present = path_exists(path) && !path_is_dir(path);

		free(path);
		if (!present || seen[lockfiles[i].eco])
			continue;
		seen[lockfiles[i].eco] = true;
		if (lockfiles[i].pm)
			d->pm = lockfiles[i].pm;
		strvec_push(&d->lockfiles, lockfiles[i].file);
		strvec_push(&d->installs, lockfiles[i].install);
	}
}

/* The first word of a shell command is word, followed by the end or a blank. */
static bool first_word_is(const char *cmd, const char *word)
{
	size_t n = strlen(word);

	while (*cmd == ' ' || *cmd == '\t')
		cmd++;
	return !strncmp(cmd, word, n) && (!cmd[n] || cmd[n] == ' ' || cmd[n] == '\t');
}

/* The word after the first one, or "" ("next dev" gives "dev"). */
static const char *second_word(const char *cmd, size_t *ret_len)
{
	const char *p = cmd + strspn(cmd, " \t");

	p += strcspn(p, " \t");
	p += strspn(p, " \t");
	*ret_len = strcspn(p, " \t");
	return p;
}

/* The script already chooses its port: berth must not add a second flag. */
static bool sets_port(const char *cmd)
{
	return strstr(cmd, "--port") || strstr(cmd, " -p ") || strstr(cmd, " -p=") ||
	       strstr(cmd, "PORT=");
}

/* A service for the `dev` script of package.json, else its `start` script.
 * A dev server whose port flag is known (vite, next) gets $PORT through it. */
static void detect_package_json(struct detected *d, const char *root)
{
	char *text = read_root_file(root, "package.json"), *cmd;
	const char *script = NULL, *body = NULL, *args = NULL, *ready = NULL, *note = NULL;
	const char *word;
	unsigned base_port = 3000;
	json_t *doc, *scripts;
	json_error_t err;
	size_t n;

	if (!text)
		return;
	doc = json_loads(text, 0, &err);
	free(text);
	if (!doc) {
		say(d, false,
		    "package.json does not parse (line %d: %s); its scripts were not read",
		    err.line, err.text);
		return;
	}
	scripts = json_object_get(doc, "scripts");
	if ((body = json_string_value(json_object_get(scripts, "dev"))))
		script = "dev";
	else if ((body = json_string_value(json_object_get(scripts, "start"))))
		script = "start";
	if (!script || strvec_find(&d->names, "web") >= 0)
		goto out;
	word = second_word(body, &n);
	if (first_word_is(body, "vite") && !sets_port(body) &&
	    (!n || word[0] == '-' || (n == 3 && !strncmp(word, "dev", 3)) ||
	     (n == 5 && !strncmp(word, "serve", 5)))) {
		args = "--port $PORT --strictPort";
		base_port = 5173;
		ready = "port";
	} else if (first_word_is(body, "next") && !sets_port(body) &&
		   ((n == 3 && !strncmp(word, "dev", 3)) ||
		    (n == 5 && !strncmp(word, "start", 5)))) {
		args = "-p $PORT";
		ready = "port";
	} else {
		note = "berth gives the service its port as $PORT: the server must listen on it";
	}
	/* npm passes arguments to the script only after --; pnpm, yarn and bun pass
	 * them as they are (pnpm would hand the -- itself to the script). */
	if (args)
		cmd = xasprintf("%s run %s%s %s", d->pm, script, strcmp(d->pm, "npm") ? "" : " --",
				args);
	else
		cmd = xasprintf("%s run %s", d->pm, script);
	add_service(d, "web", cmd, base_port, NULL, ready, note, "package.json");
	free(cmd);
out:
	json_decref(doc);
}

/* A Rails app (bin/rails, and a Gemfile that names rails) or a Django project
 * (manage.py): their development servers, on $PORT. */
static void detect_framework(struct detected *d, const char *root)
{
	char *gemfile, *path;
	bool rails = false, django;

	if (strvec_find(&d->names, "web") >= 0)
		return;
	path = path_join(root, "bin/rails");
	if (path_exists(path) && (gemfile = read_root_file(root, "Gemfile"))) {
		rails = strstr(gemfile, "gem \"rails\"") || strstr(gemfile, "gem 'rails'");
		free(gemfile);
	}
	free(path);
	if (rails) {
		add_service(d, "web", "bin/rails server -p $PORT", 3000, NULL, "port", NULL,
			    "bin/rails");
		return;
	}
	path = path_join(root, "manage.py");
	django = path_exists(path) && !path_is_dir(path);
	free(path);
	if (django)
		add_service(d, "web", "python3 manage.py runserver 127.0.0.1:$PORT", 8000, NULL,
			    "port", NULL, "manage.py");
}

/* The first EXPOSE port of the Dockerfile, 0 if none. */
static unsigned dockerfile_expose(const char *root)
{
	char *text = read_root_file(root, "Dockerfile"), *line, *save = NULL;
	unsigned port = 0;

	if (!text)
		return 0;
	for (line = strtok_r(text, "\n", &save); line && !port;
	     line = strtok_r(NULL, "\n", &save)) {
		char *p = line + strspn(line, " \t");
		uint64_t v;

		if (strncasecmp(p, "EXPOSE", 6) || (p[6] != ' ' && p[6] != '\t'))
			continue;
		p += 6 + strspn(p + 6, " \t");
		p[strcspn(p, " \t/\r")] = '\0';
		if (parse_u64(p, 1, 65535, &v) >= 0)
			port = (unsigned)v;
	}
	free(text);
	return port;
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
				add_service(d, names.v[i], NULL, data_images[k].port, "docker",
					    NULL, NULL, file);
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
	detect_lockfiles(d, root);
	if (!detect_procfile(d, root)) {
		detect_framework(d, root);
		detect_package_json(d, root);
	}
	path = path_join(root, "Dockerfile");
	d->dockerfile = path_exists(path);
	free(path);
	if (d->dockerfile)
		d->expose = dockerfile_expose(root);
	if (d->compose) {
		detect_compose(d, root, d->compose);
		d->mode = MODE_HYBRID;
		d->why = "a compose file is present: data services in docker, the app native";
	} else if (d->dockerfile && !d->names.n) {
		/* mode container runs a compose file: without one it could not start. */
		d->mode = MODE_HOST;
		d->why = "a Dockerfile but no compose file, which mode container needs";
	} else {
		d->mode = MODE_HOST;
		d->why = "no compose file: everything runs natively";
	}
}

/* Add a line .berth/ to .gitignore unless one is there, creating the file
 * when there is none (*ret_created). The file is only appended to: a
 * .gitignore that cannot be read is never rewritten. */
static int ensure_gitignore(const char *root, bool *ret_added, bool *ret_created)
{
	char *path = path_join(root, ".gitignore"), *text = NULL;
	bool created = false;
	size_t len = 0;
	int fd, r;

	*ret_added = *ret_created = false;
	r = read_file(path, 16 << 20, &text, &len);
	if (r == -ENOENT) {
		text = xstrdup("");
		len = 0;
		created = true;
	} else if (r < 0) {
		goto out;
	}
	r = 0;
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
		*ret_added = true;
		*ret_created = created;
	}
out:
	free(text);
	free(path);
	return r;
}

/* The lockfiles ("a, b and c") and their install commands joined with &&. */
static void install_suggestion(const struct detected *d, char **ret_files, char **ret_cmd)
{
	struct strbuf files = STRBUF_INIT, cmd = STRBUF_INIT;

	for (size_t i = 0; i < d->installs.n; i++) {
		strbuf_addf(&files, "%s%s", i ? (i + 1 == d->installs.n ? " and " : ", ") : "",
			    d->lockfiles.v[i]);
		strbuf_addf(&cmd, "%s%s", i ? " && " : "", d->installs.v[i]);
	}
	*ret_files = strbuf_detach(&files);
	*ret_cmd = strbuf_detach(&cmd);
}

/* What to write when no service was found: an example, and with a Dockerfile
 * the way to mode container. */
static void write_no_service(const struct detected *d, struct strbuf *out)
{
	strbuf_adds(out, "\n; No service was detected (no Procfile, no dev or start script in\n"
			 "; package.json, no Rails or Django app). Add one section per process to\n"
			 "; run (docs/config.md describes every key), for example:\n"
			 "; [service \"web\"]\n"
			 "; command = ./bin/server --port $PORT\n"
			 "; base_port = 3000\n");
	if (!d->dockerfile || d->compose)
		return;
	strbuf_addf(out,
		    ";\n"
		    "; A Dockerfile is present but no compose file, which mode container\n"
		    "; runs. To run the app in docker: write docker-compose.yml with a\n"
		    "; service \"app\" built from the Dockerfile (build: .),%s\n"
		    "; and declare its container port here:\n"
		    "; [service \"app\"]\n"
		    "; run = docker\n"
		    "; base_port = %u\n",
		    d->mode == MODE_CONTAINER ? "" : " set mode = container in [berth],",
		    d->expose ? d->expose : 3000);
}

/* {"file", "replaced", "mode", "mode_reason", "runner", "compose_file",
 * "dockerfile", "services", "lockfiles", "post_create", "gitignore",
 * "warnings", "hints"} (docs/json.md). */
static json_t *init_json(struct detected *d, const char *path, bool replaced,
			 enum config_runner runner, const char *install, const char *gitignore)
{
	json_t *doc = json_object();

	json_object_set_new(doc, "file", out_json_text(path));
	json_object_set_new(doc, "replaced", json_boolean(replaced));
	json_object_set_new(doc, "mode", json_string(config_mode_name(d->mode)));
	json_object_set_new(doc, "mode_reason", json_string(d->why));
	json_object_set_new(doc, "runner", json_string(config_runner_name(runner)));
	json_object_set_new(doc, "compose_file", out_json_text(d->compose));
	json_object_set_new(doc, "dockerfile", json_boolean(d->dockerfile));
	json_object_set_new(doc, "services", json_incref(d->found));
	json_object_set_new(doc, "lockfiles", out_json_strvec(&d->lockfiles));
	json_object_set_new(doc, "post_create", out_json_text(install));
	json_object_set_new(doc, "gitignore", json_string(gitignore));
	json_object_set_new(doc, "warnings", out_json_strvec(&d->warnings));
	json_object_set_new(doc, "hints", out_json_strvec(&d->hints));
	return doc;
}

static int cmd_init_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	const char *mode_arg = cmdopt_value(ctx->args, "mode");
	const char *runner_arg = cmdopt_value(ctx->args, "runner");
	const char *gitignore;
	struct detected d = {0};
	struct strbuf out = STRBUF_INIT;
	struct config check;
	enum config_mode mode;
	enum config_runner runner = RUNNER_PROCESS;
	bool yes = cmdopt_has(ctx->args, "yes"), forced_mode = mode_arg != NULL, added, created;
	bool json = cmdopt_has(ctx->args, "json"), replaced;
	char *path, *cause = NULL, *install = NULL, *locks = NULL;
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
	d.found = json_array();
	path = path_join(ctx->root, CONFIG_FILE);
	replaced = path_exists(path);
	/* --json never prompts: its reader is a program */
	if (replaced && !yes &&
	    (json || !cmd_confirm("berth: .berth.ini exists; overwrite it?", NULL))) {
		out_error("init: '%s' already exists; pass --yes to overwrite it", path);
		code = EXIT_BUSY;
		goto out;
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
		write_no_service(&d, &out);
	if (d.installs.n) {
		/* Commented out: an install can be slow or need the network; the
		 * user decides whether every new session pays for it. */
		install_suggestion(&d, &locks, &install);
		strbuf_addf(&out,
			    "\n; Lockfile%s: %s. To install the dependencies in each new\n"
			    "; session's worktree, uncomment these two lines:\n"
			    "; [hooks]\n"
			    "; post_create = %s\n",
			    d.installs.n > 1 ? "s" : "", locks, install);
	}
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
	r = ensure_gitignore(ctx->root, &added, &created);
	gitignore = r < 0 ? "failed" : created ? "created" : added ? "added" : "present";
	if (r < 0)
		say(&d, false, "cannot update .gitignore: %s; add the line .berth/ yourself",
		    strerror(-r));
	if (!json) {
		out_line(stdout, "wrote %s (mode %s: %s)\n", path, config_mode_name(d.mode), d.why);
		if (d.names.n) {
			printf("services:");
			for (size_t i = 0; i < d.names.n; i++)
				out_line(stdout, " %s", d.names.v[i]);
			printf("\n");
		}
		if (created)
			printf("created .gitignore with the line .berth/\n");
		else if (added)
			printf("added .berth/ to .gitignore\n");
	}
	if (d.mode != MODE_HOST && !d.compose)
		say(&d, false,
		    "mode %s runs a compose file and there is none here; `berth validate` "
		    "fails until you write docker-compose.yml (or set compose_file)",
		    config_mode_name(d.mode));
	if (!d.names.n && d.dockerfile && !d.compose)
		say(&d, true,
		    "a Dockerfile but no compose file: to run the app in docker, write "
		    "docker-compose.yml with a service built from it and follow the comment "
		    "at the end of .berth.ini");
	else if (!d.names.n)
		say(&d, true,
		    "no service was detected; add a [service \"NAME\"] section with its "
		    "command and base_port to .berth.ini (docs/config.md)");
	if (install)
		say(&d, true,
		    "%s found; to run \"%s\" in each new worktree, uncomment [hooks] and "
		    "post_create at the end of .berth.ini",
		    locks, install);
	if (json)
		out_json(init_json(&d, path, replaced, runner, install, gitignore));
	else
		printf("next: review it, `berth validate`, then `berth up <branch>`\n");
out:
	strbuf_release(&out);
	strbuf_release(&d.services);
	strvec_clear(&d.names);
	strvec_clear(&d.lockfiles);
	strvec_clear(&d.installs);
	strvec_clear(&d.warnings);
	strvec_clear(&d.hints);
	free(install);
	free(locks);
	free(path);
	json_decref(d.found);
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
			{"json", 0, NULL,
			 "what was detected and written, as JSON on stdout (docs/json.md)",
			 COMPLETE_NONE, NULL},
			{0},
		},
	.summary = "write .berth.ini for this repository (detects mode and services)",
	.help = "Mode: a compose file means hybrid (its data services run in docker),\n"
		"otherwise host (a Dockerfile alone too: container runs a compose file; the\n"
		"written file then says how to get there). Services come from Procfile.dev /\n"
		"Procfile, a Rails app (bin/rails), a Django app (manage.py), or the dev, else\n"
		"start, script of package.json; vite and next get $PORT through their port\n"
		"flag. A lockfile's install command is suggested, commented out, as the\n"
		"post_create hook. Adds .berth/ to .gitignore (creating it). An existing\n"
		".berth.ini is never overwritten without --yes (or a yes at the prompt on a\n"
		"terminal; --json never prompts). docs/commands.md has the details.\n",
	.flags = CMD_REPO,
	.exec = cmd_init_exec,
};
