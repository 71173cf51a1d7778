/*
 * insight.c - see insight.h.
 */
#include "insight.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pathrules.h"

char *insight_diag_path(const char *file, const char *cwd, const char *hwdir, size_t hwdir_len)
{
	size_t len = (cwd ? strlen(cwd) : 0) + strlen(file) + 2;
	char *abs;

	if (file[0] == '<' || !cwd || cwd[0] != '/')
		return strdup(file);
	abs = malloc(len);
	if (!abs)
		return NULL;
	if (path_resolve(cwd, file, abs, len) < 0) {
		free(abs);
		return strdup(file);
	}
	if (hwdir && hwdir_len && strncmp(abs, hwdir, hwdir_len) == 0 && abs[hwdir_len] == '/')
		memmove(abs, abs + hwdir_len + 1, strlen(abs + hwdir_len + 1) + 1);
	return abs;
}

static int relative_paths(struct diag_list *l, const struct insight_input *in)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		char *p;

		if (!l->v[i].file)
			continue;
		p = insight_diag_path(l->v[i].file, in->proc->cwd, in->homework_dir,
				      in->homework_dir_len);
		if (!p)
			return -ENOMEM;
		free(l->v[i].file);
		l->v[i].file = p;
	}
	return 0;
}

static int take_stderr(const struct insight_input *in, struct insight *out)
{
	if (capture_buf_text(in->err, &out->stderr_text, &out->stderr_len) < 0)
		return -ENOMEM;
	out->has_stderr = true;
	out->stderr_cut = in->err->cut || in->kernel_cut;
	return 0;
}

static int build(const struct insight_input *in, struct insight *out)
{
	int rc;

	out->has_args = true;
	rc = compile_args_parse(in->proc->argc, in->proc->argv, in->proc->cwd, &out->args);
	if (rc == -EINVAL) {	/* a cwd that is not absolute: argv only */
		out->has_args = false;
		rc = 0;
	}
	if (rc < 0 || !in->err)
		return rc;
	rc = take_stderr(in, out);
	if (rc < 0)
		return rc;
	out->has_diagnostics = true;
	rc = diag_parse(out->stderr_text, out->stderr_len, &out->diags);
	return rc < 0 ? rc : relative_paths(&out->diags, in);
}

static int python(const struct insight_input *in, struct insight *out)
{
	int rc;

	if (!in->err)
		return 0;
	rc = take_stderr(in, out);
	if (rc < 0)
		return rc;
	out->has_exception = true;
	rc = diag_python_exception(out->stderr_text, out->stderr_len, out->exception,
				   sizeof(out->exception));
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		out->exception[0] = '\0';	/* none, or a name too long to be real */
	return 0;
}

/* A program's stderr is its own business unless it crashed or reported
 * an assertion or a sanitizer finding: only then is it sent. */
static int binary(const struct insight_input *in, struct insight *out)
{
	int rc;

	out->is_binary = true;
	out->built_by = in->built_by;
	if (!in->err)
		return 0;
	rc = take_stderr(in, out);
	if (rc < 0)
		return rc;
	if (in->proc->signal || diag_crash_report(out->stderr_text, out->stderr_len))
		return 0;
	free(out->stderr_text);
	out->stderr_text = NULL;
	out->stderr_len = 0;
	out->has_stderr = out->stderr_cut = false;
	return 0;
}

int insight_build(const struct insight_input *in, struct insight *out)
{
	*out = (struct insight){ 0 };
	if (process_type_is_compiler(in->type))
		return build(in, out);
	if (in->type == PROCESS_PYTHON)
		return python(in, out);
	return binary(in, out);
}

void insight_free(struct insight *in)
{
	free(in->stderr_text);
	diag_list_free(&in->diags);
	compile_args_free(&in->args);
	*in = (struct insight){ 0 };
}
