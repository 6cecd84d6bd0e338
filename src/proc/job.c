/*
 * job.c: a child with its stderr kept and its end told once (see job.h).
 */
#include "util/common.h"

#include <ev.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc/child.h"
#include "proc/job.h"

struct job {
	struct ev_loop *loop;
	pid_t pid;
	struct reaper_child *child; /* until it was reaped */
	int err_fd;
	ev_io err_io;
	struct strbuf err;
	size_t keep;
	job_done_fn cb;
	void *data;
};

/* Read what the job wrote to stderr, keeping its tail; false at its end (or
 * an error). */
static bool read_err(struct job *j)
{
	char buf[1024];
	ssize_t k;

	while ((k = read(j->err_fd, buf, sizeof(buf))) > 0) {
		strbuf_add(&j->err, buf, (size_t)k);
		if (j->err.len > j->keep) {
			size_t cut = j->err.len - j->keep;

			memmove(j->err.buf, j->err.buf + cut, j->keep);
			j->err.len = j->keep;
			j->err.buf[j->err.len] = '\0';
		}
	}
	return k < 0 && errno == EAGAIN;
}

static void on_err(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)revents;
	if (!read_err(io->data))
		ev_io_stop(loop, io); /* at its end a pipe stays readable */
}

static void close_err(struct job *j)
{
	if (j->err_fd < 0)
		return;
	ev_io_stop(j->loop, &j->err_io);
	close(j->err_fd);
	j->err_fd = -1;
}

static void on_exit_(struct reaper_child *c, int wstatus, void *data)
{
	struct job *j = data;
	int code = WIFEXITED(wstatus)     ? WEXITSTATUS(wstatus)
		   : WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus)
					  : 1;

	(void)c;
	j->child = NULL;
	/* what it wrote before it ended (a daemon it left may hold the pipe:
	 * what is there now is read, no more) */
	if (j->err_fd >= 0)
		read_err(j);
	close_err(j);
	j->cb(j, code, j->data);
}

int job_start(struct ev_loop *loop, struct reaper *r, const struct spawn_opts *o, size_t keep,
	      job_done_fn cb, void *data, struct job **ret, char **ret_why)
{
	struct job *j = xcalloc(1, sizeof(*j));
	struct spawn_opts so = *o;
	struct spawn_error err = {0};
	struct reaper_child *c = NULL;
	int pipefd[2], rr;

	j->loop = loop;
	j->keep = keep ? keep : 1;
	j->cb = cb;
	j->data = data;
	j->err_fd = -1;
	/* non-blocking on our end only: the flag is the open file's, and the
	 * child's stderr (and its hooks' and compose's) must block */
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		rr = -errno;
		*ret_why = xasprintf("cannot make a pipe: %s", strerror(-rr));
		free(j);
		return rr;
	}
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	so.stderr_fd = pipefd[1];
	rr = child_start(r, &so, on_exit_, j, &c, &err);
	close(pipefd[1]);
	if (rr < 0) {
		close(pipefd[0]);
		*ret_why = spawn_error_text(&so, &err);
		free(j);
		return rr;
	}
	j->child = c;
	j->pid = reaper_child_pid(c);
	j->err_fd = pipefd[0];
	ev_io_init(&j->err_io, on_err, j->err_fd, EV_READ);
	j->err_io.data = j;
	ev_io_start(loop, &j->err_io);
	*ret = j;
	return 0;
}

pid_t job_pid(const struct job *j)
{
	return j->pid;
}

int job_signal(struct job *j, int sig, bool group)
{
	return j->child ? reaper_signal(j->child, sig, group) : -ESRCH;
}

void job_last_line(const struct job *j, struct strbuf *out)
{
	const struct strbuf *s = &j->err;
	size_t end = s->len;

	while (end && (s->buf[end - 1] == '\n' || s->buf[end - 1] == ' '))
		end--;
	for (size_t i = end; i > 0; i--)
		if (s->buf[i - 1] == '\n') {
			strbuf_add(out, s->buf + i, end - i);
			return;
		}
	if (end)
		strbuf_add(out, s->buf, end);
}

void job_destroy(struct job *j)
{
	if (!j)
		return;
	close_err(j);
	strbuf_release(&j->err);
	free(j);
}
