/*
 * test_pathrules.c - normalisation, homework dirs and argv source rules.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pathrules.h"
#include "testlib.h"

/* path_normalize() into a roomy buffer; NULL when it failed. */
static const char *norm(const char *path)
{
	static char buf[512];

	return path_normalize(path, buf, sizeof(buf)) == 0 ? buf : NULL;
}

static const char *resolve(const char *cwd, const char *path)
{
	static char buf[512];

	return path_resolve(cwd, path, buf, sizeof(buf)) == 0 ? buf : NULL;
}

static void test_normalize(void)
{
	CHECK_STR(norm("/"), "/");
	CHECK_STR(norm("//"), "/");
	CHECK_STR(norm("/a/b"), "/a/b");
	CHECK_STR(norm("/a/b/"), "/a/b");
	CHECK_STR(norm("//a///b//"), "/a/b");
	CHECK_STR(norm("/a/./b/."), "/a/b");
	CHECK_STR(norm("/a/b/.."), "/a");
	CHECK_STR(norm("/a/b/../../.."), "/");
	CHECK_STR(norm("/../../x"), "/x");
	CHECK_STR(norm("/.."), "/");
	CHECK_STR(norm("/a/../b/../c/./d/.."), "/c");
	CHECK_STR(norm("/a/...b/..."), "/a/...b/...");
	CHECK_STR(norm("/a/.b/..c"), "/a/.b/..c");
	CHECK_STR(norm("/a\nb/c"), "/a\nb/c");
	CHECK_STR(norm("/\xff\xfe/../\xc0\xaf"), "/\xc0\xaf");
	CHECK_STR(norm(""), NULL);
	CHECK_STR(norm("a/b"), NULL);
	CHECK_STR(norm("./a"), NULL);
	CHECK_STR(norm(NULL), NULL);
}

static void test_normalize_sizes(void)
{
	char out[8], big[300];

	CHECK_INT(path_normalize("/abcdef", out, sizeof(out)), 0);     /* 7 + NUL */
	CHECK_STR(out, "/abcdef");
	CHECK_INT(path_normalize("/abcdefg", out, sizeof(out)), -ENAMETOOLONG);
	CHECK_INT(path_normalize("/abcdefg/..", out, sizeof(out)), 0);
	CHECK_STR(out, "/");
	CHECK_INT(path_normalize("//////////a", out, sizeof(out)), 0); /* fits once collapsed */
	CHECK_STR(out, "/a");
	CHECK_INT(path_normalize("/", out, 2), 0);
	CHECK_INT(path_normalize("/", out, 1), -ENAMETOOLONG);
	CHECK_INT(path_normalize("/", out, 0), -ENAMETOOLONG);

	/* a long detour that comes back fits; a long result does not */
	memset(big, 'x', sizeof(big));
	big[0] = '/';
	memcpy(big + sizeof(big) - 5, "/..", 4);
	CHECK_INT(path_normalize(big, out, sizeof(out)), 0);
	CHECK_STR(out, "/");
	big[sizeof(big) - 5] = '\0';
	CHECK_INT(path_normalize(big, out, sizeof(out)), -ENAMETOOLONG);
}

static void test_resolve(void)
{
	char out[16];

	CHECK_STR(resolve("/home/coder/project/hw1", "../hw2/./x.c"), "/home/coder/project/hw2/x.c");
	CHECK_STR(resolve("/home/coder/project/hw1", "main.c"), "/home/coder/project/hw1/main.c");
	CHECK_STR(resolve("/home/coder/project/hw1/", "./src//a.c"), "/home/coder/project/hw1/src/a.c");
	CHECK_STR(resolve("/home/coder/project/hw1", "/tmp/../etc/x.c"), "/etc/x.c");
	CHECK_STR(resolve("/", "../../../a"), "/a");
	CHECK_STR(resolve("/a", ".."), "/");
	CHECK_STR(resolve("/a", "."), "/a");
	CHECK_STR(resolve("/a", "b\nc.c"), "/a/b\nc.c");
	CHECK_STR(resolve("/\xff", "\xfe.c"), "/\xff/\xfe.c");
	/* absolute path wins even without a usable cwd */
	CHECK_STR(resolve(NULL, "/x/y"), "/x/y");
	CHECK_STR(resolve("", "/x/y"), "/x/y");
	CHECK_STR(resolve("relative", "x.c"), NULL);
	CHECK_STR(resolve("", "x.c"), NULL);
	CHECK_STR(resolve(NULL, "x.c"), NULL);
	CHECK_STR(resolve("/a", ""), NULL);
	CHECK_STR(resolve("/a", NULL), NULL);

	CHECK_INT(path_resolve("/home/coder/project", "hw1/main.c", out, sizeof(out)), -ENAMETOOLONG);
	CHECK_INT(path_resolve("/aaaaaaaaaaaaaaaaaaaaaaaaaa", "../b", out, sizeof(out)), 0);
	CHECK_STR(out, "/b");
}

static void test_homework_component(void)
{
	CHECK_INT(homework_component("hw0", 3, 20), 0);
	CHECK_INT(homework_component("hw1", 3, 20), 1);
	CHECK_INT(homework_component("hw20", 4, 20), 20);
	CHECK_INT(homework_component("hw21", 4, 20), -EINVAL);
	CHECK_INT(homework_component("hw21", 4, 30), 21);
	CHECK_INT(homework_component("hw2x", 4, 20), -EINVAL);
	CHECK_INT(homework_component("hw", 2, 20), -EINVAL);
	CHECK_INT(homework_component("HW1", 3, 20), -EINVAL);
	CHECK_INT(homework_component("hw01", 4, 20), -EINVAL);
	CHECK_INT(homework_component("hw00", 4, 20), -EINVAL);
	CHECK_INT(homework_component("hw-1", 4, 20), -EINVAL);
	CHECK_INT(homework_component("hw+1", 4, 20), -EINVAL);
	CHECK_INT(homework_component("hw 1", 4, 20), -EINVAL);
	CHECK_INT(homework_component("hw1", 3, 0), -EINVAL);
	CHECK_INT(homework_component("hw0", 3, 0), 0);
	CHECK_INT(homework_component("hw0", 3, -1), -EINVAL);
	CHECK_INT(homework_component("hw5", 3, 4), -EINVAL);
	CHECK_INT(homework_component("hw99999999999999999999", 22, 2147483647), -EINVAL);
	CHECK_INT(homework_component("hw2147483647", 12, 2147483647), 2147483647);
	CHECK_INT(homework_component("hw2147483648", 12, 2147483647), -EINVAL);
	/* only len bytes count: "hw1" out of "hw12/..." */
	CHECK_INT(homework_component("hw12/a.c", 3, 20), 1);
	CHECK_INT(homework_component("hw12/a.c", 4, 20), 12);
	CHECK_INT(homework_component("hw1\n", 4, 20), -EINVAL);
	CHECK_INT(homework_component("hw\xd9\xa1", 4, 20), -EINVAL);
	CHECK_INT(homework_component("", 0, 20), -EINVAL);
	CHECK_INT(homework_component(NULL, 3, 20), -EINVAL);
}

static int hw_of(const char *path, bool child, const char *want_name)
{
	char hw[16] = "untouched";
	int n = path_homework(path, PATHRULES_HW_MAX_DEFAULT, child, hw, sizeof(hw));

	if (n >= 0)
		CHECK_STR(hw, want_name);
	return n;
}

static void test_path_homework(void)
{
	char small[5];

	CHECK_INT(hw_of("/home/coder/project/hw1/a.c", true, "hw1"), 1);
	CHECK_INT(hw_of("/home/coder/project/hw20/a.c", true, "hw20"), 20);
	CHECK_INT(hw_of("/home/coder/project/hw0/src/util/a.c", true, "hw0"), 0);
	CHECK_INT(hw_of("/home/coder/project/hw1/sub/hw9/a.c", true, "hw1"), 1);
	CHECK_INT(hw_of("/home/coder/project/x/hw1/a.c", true, NULL), -ENOENT);
	CHECK_INT(hw_of("/home/coder/projectX/hw1/a.c", true, NULL), -ENOENT);
	CHECK_INT(hw_of("/home/coder/project/hw21/a.c", true, NULL), -ENOENT);
	CHECK_INT(hw_of("/home/coder/project/hw01/a.c", true, NULL), -ENOENT);
	CHECK_INT(hw_of("/home/coder/project/a.c", true, NULL), -ENOENT);
	CHECK_INT(hw_of("/home/coder/project", false, NULL), -ENOENT);
	CHECK_INT(hw_of("/home/coder/project/", false, NULL), -ENOENT);
	CHECK_INT(hw_of("/home/coder/hw1/a.c", true, NULL), -ENOENT);
	CHECK_INT(hw_of("/tmp/hw1/a.c", true, NULL), -ENOENT);

	/* the homework dir itself: a cwd, not a file */
	CHECK_INT(hw_of("/home/coder/project/hw3", false, "hw3"), 3);
	CHECK_INT(hw_of("/home/coder/project/hw3", true, NULL), -ENOENT);
	CHECK_INT(hw_of("/home/coder/project/hw3/", true, NULL), -ENOENT);
	CHECK_INT(hw_of("/home/coder/project/hw3/a", false, "hw3"), 3);

	/* normalised first: no stepping out, no spelling tricks */
	CHECK_INT(hw_of("/home/coder/project/hw1/../../../etc/x.c", true, NULL), -ENOENT);
	CHECK_INT(hw_of("/home/coder/project/hw1/..", false, NULL), -ENOENT);
	CHECK_INT(hw_of("//home/coder//project/./hw2//a.c", true, "hw2"), 2);
	CHECK_INT(hw_of("/home/coder/project/x/../hw4/a.c", true, "hw4"), 4);
	CHECK_INT(hw_of("home/coder/project/hw1/a.c", true, NULL), -EINVAL);
	CHECK_INT(hw_of("", true, NULL), -EINVAL);
	CHECK_INT(hw_of(NULL, true, NULL), -EINVAL);

	/* host-side workspace */
	CHECK_INT(hw_of("/workspace/os-1-202012345/hw5/main.c", true, "hw5"), 5);
	CHECK_INT(hw_of("/workspace/os-1-202012345/hw5", false, "hw5"), 5);
	CHECK_INT(hw_of("/workspace/os-1-202012345/x/hw5/a.c", true, NULL), -ENOENT);
	CHECK_INT(hw_of("/workspace/os-1-2020x/hw5/a.c", true, NULL), -ENOENT);
	CHECK_INT(hw_of("/workspace/os-1-202012345-abc/hw5/a.c", true, NULL), -ENOENT);
	CHECK_INT(hw_of("/workspace/hw5/a.c", true, NULL), -ENOENT);
	CHECK_INT(hw_of("/workspace/os-1-2/hw5/a.c", true, "hw5"), 5);
	CHECK_INT(hw_of("/workspacex/os-1-2/hw5/a.c", true, NULL), -ENOENT);
	CHECK_INT(hw_of("/workspace", false, NULL), -ENOENT);
	CHECK_INT(hw_of("/workspace/os-1-2", false, NULL), -ENOENT);

	/* bytes are bytes */
	CHECK_INT(hw_of("/home/coder/project/hw1/a\nb.c", true, "hw1"), 1);
	CHECK_INT(hw_of("/home/coder/project/hw1/\xff\xfe.c", true, "hw1"), 1);
	CHECK_INT(hw_of("/home/coder/project/hw1\n/a.c", true, NULL), -ENOENT);

	/* custom hw_max, NULL and small output */
	CHECK_INT(path_homework("/home/coder/project/hw25/a.c", 30, true, NULL, 0), 25);
	CHECK_INT(path_homework("/home/coder/project/hw25/a.c", 20, true, NULL, 0), -ENOENT);
	CHECK_INT(path_homework("/home/coder/project/hw25/a.c", 30, true, small, sizeof(small)), 25);
	CHECK_STR(small, "hw25");
	CHECK_INT(path_homework("/home/coder/project/hw125/a.c", 200, true, small, sizeof(small)), -ENOSPC);
	CHECK_INT(path_homework("/home/coder/project/hw1/a.c", 20, true, NULL, 8), -ENOSPC);
	CHECK_INT(path_homework("/home/coder/project/hw20/a.c", 20, true, small, 4), -ENOSPC);
}


static const struct identity STUDENT = {
	.subject = "os", .division = "1", .student_id = "202012345", .class_div = "os-1",
};

/* path_homework_in() with roots r and identity id; checks hw when found. */
static int hw_in(const struct workspace_roots *r, const struct identity *id, const char *path,
		 bool child, const char *want_name)
{
	char hw[16] = "untouched";
	int n = path_homework_in(r, id, path, PATHRULES_HW_MAX_DEFAULT, child, hw, sizeof(hw));

	if (n >= 0)
		CHECK_STR(hw, want_name);
	else
		CHECK_STR(hw, "untouched");
	return n;
}

/* Issue #7: the workspace roots are configuration; templated roots name
 * the student the event belongs to. */
static void test_roots_default(void)
{
	struct workspace_roots *r = workspace_roots_default();

	CHECK(r != NULL);
	/* linuxserver/code-server */
	CHECK_INT(hw_in(r, &STUDENT, "/config/workspace/hw1/main.c", true, "hw1"), 1);
	CHECK_INT(hw_in(r, &STUDENT, "/config/workspace/hw1", false, "hw1"), 1);
	CHECK_INT(hw_in(r, &STUDENT, "/config/workspace/hw1", true, NULL), -ENOENT);
	CHECK_INT(hw_in(r, &STUDENT, "/config/workspaceX/hw1/a.c", true, NULL), -ENOENT);
	CHECK_INT(hw_in(r, &STUDENT, "/config/hw1/a.c", true, NULL), -ENOENT);
	CHECK_INT(hw_in(r, NULL, "/config/workspace/hw2/a.c", true, "hw2"), 2);
	/* codercom/code-server */
	CHECK_INT(hw_in(r, &STUDENT, "/home/coder/project/hw3/a.c", true, "hw3"), 3);
	CHECK_INT(hw_in(r, &STUDENT, "/home/coder/project/x/hw3/a.c", true, NULL), -ENOENT);
	/* the templated root: this student's own workspace */
	CHECK_INT(hw_in(r, &STUDENT, "/workspace/os-1-202012345/hw5/a.c", true, "hw5"), 5);
	CHECK_INT(hw_in(r, &STUDENT, "/workspace/os-1-202012345/hw5", false, "hw5"), 5);
	CHECK_INT(hw_in(r, &STUDENT, "/workspace/os-1-202012345/x/hw5/a.c", true, NULL), -ENOENT);
	CHECK_INT(hw_in(r, &STUDENT, "/workspace/os-1-202012345/hw21/a.c", true, NULL), -ENOENT);
	CHECK_INT(hw_in(r, &STUDENT, "/workspace/os-1-202012345-x/hw5/a.c", true, NULL), -ENOENT);
	CHECK_INT(hw_in(r, &STUDENT, "/workspace/os-1-2020123456/hw5/a.c", true,
			NULL), PATH_HW_OTHER_STUDENT);
	/* ... and another student's: never reported as this one's */
	CHECK_INT(hw_in(r, &STUDENT, "/workspace/os-1-202099999/hw1/a.c", true, NULL),
		  PATH_HW_OTHER_STUDENT);
	CHECK_INT(hw_in(r, &STUDENT, "/workspace/os-2-202012345/hw1/a.c", true, NULL),
		  PATH_HW_OTHER_STUDENT);
	CHECK_INT(hw_in(r, &STUDENT, "/workspace/ai-1-202012345/hw1", false, NULL),
		  PATH_HW_OTHER_STUDENT);
	CHECK_INT(hw_in(r, &STUDENT, "/workspace/os-1-202099999/../os-1-202012345/hw1/a.c", true,
			"hw1"), 1);
	CHECK_INT(hw_in(r, &STUDENT, "/workspace/os-1-202012345/../os-1-202099999/hw1/a.c", true,
			NULL), PATH_HW_OTHER_STUDENT);
	/* another student's workspace but not a homework path: just outside */
	CHECK_INT(hw_in(r, &STUDENT, "/workspace/os-1-202099999/notes/a.c", true, NULL), -ENOENT);
	CHECK_INT(hw_in(r, &STUDENT, "/workspace/os-1-202099999/hw1", true, NULL), -ENOENT);
	CHECK_INT(hw_in(r, &STUDENT, "/workspace/os-1-2x/hw1/a.c", true, NULL), -ENOENT);
	CHECK_INT(hw_in(r, &STUDENT, "/workspace/os-1/hw1/a.c", true, NULL), -ENOENT);
	/* no identity to check: any valid workspace name, as filemon sees them */
	CHECK_INT(hw_in(r, NULL, "/workspace/os-1-202099999/hw1/a.c", true, "hw1"), 1);
	CHECK_INT(hw_in(r, NULL, "/workspace/os-1-202099999-x/hw1/a.c", true, NULL), -ENOENT);
	CHECK_INT(hw_in(NULL, &STUDENT, "/home/coder/project/hw3/a.c", true, NULL), -EINVAL);
	CHECK_INT(hw_in(r, &STUDENT, "home/coder/project/hw3/a.c", true, NULL), -EINVAL);
	CHECK_INT(hw_in(r, &STUDENT, NULL, true, NULL), -EINVAL);
	workspace_roots_free(r);
	workspace_roots_free(NULL);
}

static void test_roots_custom(void)
{
	const char *roots[] = { "/srv/{student_id}/code", "/data/{subject}{division}/{student_id}",
				"/w/{division}{student_id}", "/opt/ws" };
	const struct identity ai = {
		.subject = "ai", .division = "12", .student_id = "7", .class_div = "ai-12",
	};
	struct workspace_roots *r = workspace_roots_create(roots, 4, NULL, 0);

	CHECK(r != NULL);
	CHECK_INT(hw_in(r, &ai, "/srv/7/code/hw0/a.py", true, "hw0"), 0);
	CHECK_INT(hw_in(r, &ai, "/srv/8/code/hw0/a.py", true, NULL), PATH_HW_OTHER_STUDENT);
	CHECK_INT(hw_in(r, &ai, "/srv/x/code/hw0/a.py", true, NULL), -ENOENT);
	CHECK_INT(hw_in(r, &ai, "/data/ai12/7/hw4/a.c", true, "hw4"), 4);
	CHECK_INT(hw_in(r, &ai, "/data/ai1/27/hw4/a.c", true, NULL), PATH_HW_OTHER_STUDENT);
	CHECK_INT(hw_in(r, &ai, "/w/127/hw4/a.c", true, "hw4"), 4);
	/* "12" + "70" or "1" + "270": another student either way */
	CHECK_INT(hw_in(r, &ai, "/w/1270/hw4/a.c", true, NULL), PATH_HW_OTHER_STUDENT);
	CHECK_INT(hw_in(r, &ai, "/w/1/hw4/a.c", true, NULL), -ENOENT);	/* needs two numbers */
	CHECK_INT(hw_in(r, NULL, "/w/1270/hw4/a.c", true, "hw4"), 4);
	CHECK_INT(hw_in(r, &ai, "/opt/ws/hw2/x.c", true, "hw2"), 2);
	CHECK_INT(hw_in(r, &ai, "/home/coder/project/hw2/x.c", true, NULL), -ENOENT);
	workspace_roots_free(r);

	/* nested roots: the first that yields a homework dir wins */
	{
		const char *nested[] = { "/home/coder", "/home/coder/project" };

		r = workspace_roots_create(nested, 2, NULL, 0);
		CHECK_INT(hw_in(r, &STUDENT, "/home/coder/project/hw1/a.c", true, "hw1"), 1);
		CHECK_INT(hw_in(r, &STUDENT, "/home/coder/hw2/a.c", true, "hw2"), 2);
		workspace_roots_free(r);
	}
}

static void test_roots_errors(void)
{
	const char *bad[] = { "relative", "/", "/a/", "/a//b", "/a/./b", "/a/../b", "/{user}",
			      "/{subject}/{subject}", "/a}", "/{subject", "" };
	char err[128];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK(workspace_roots_create(&bad[i], 1, err, sizeof(err)) == NULL);
		CHECK(err[0] != '\0');
	}
	CHECK(workspace_roots_create((const char *[]){ NULL }, 1, err, sizeof(err)) == NULL);
	CHECK_STR(err, "\"\" is not an absolute, normalised directory");
	CHECK(workspace_roots_create(&bad[6], 1, err, sizeof(err)) == NULL);
	CHECK_STR(err, "\"/{user}\": placeholders are {subject}, {division}, {student_id}, each at most once");
	CHECK(workspace_roots_create(&bad[0], 1, NULL, 0) == NULL);
	/* an empty list is valid and matches nothing */
	{
		struct workspace_roots *r = workspace_roots_create(NULL, 0, err, sizeof(err));

		CHECK(r != NULL);
		CHECK_INT(hw_in(r, &STUDENT, "/home/coder/project/hw1/a.c", true, NULL), -ENOENT);
		workspace_roots_free(r);
	}
}

/* A hostile path cannot make the template matcher blow up. */
static void test_roots_hostile(void)
{
	const char *roots[] = { "/w/{subject}{division}{student_id}x" };
	struct workspace_roots *r = workspace_roots_create(roots, 1, NULL, 0);
	char path[256];

	memset(path, '1', sizeof(path));
	memcpy(path, "/w/", 3);
	memcpy(path + sizeof(path) - 8, "/hw1/a", 7);
	CHECK_INT(hw_in(r, &STUDENT, path, true, NULL), -ENOENT);
	CHECK_INT(hw_in(r, NULL, path, true, NULL), -ENOENT);
	CHECK_INT(hw_in(r, NULL, "/w/a12x/hw1/a", true, "hw1"), 1);
	CHECK_INT(hw_in(r, &STUDENT, "/w/a12x/hw1/a", true, NULL), PATH_HW_OTHER_STUDENT);
	CHECK_INT(hw_in(r, &STUDENT, "/w/os1202012345x/hw1/a", true, "hw1"), 1);
	workspace_roots_free(r);
}

/* The homework directory's own path, as a prefix of a target's. */
static void test_homework_prefix(void)
{
	const char *roots[] = { "/srv/hw1/code", "/workspace/{subject}-{division}-{student_id}" };
	struct workspace_roots *r = workspace_roots_create(roots, 2, NULL, 0);
	struct workspace_roots *d = workspace_roots_default();

	CHECK_INT(path_homework_prefix(d, &STUDENT, "/home/coder/project/hw1/src/a.c", 20),
		  strlen("/home/coder/project/hw1"));
	CHECK_INT(path_homework_prefix(d, NULL, "/config/workspace/hw12/a.c", 20),
		  strlen("/config/workspace/hw12"));
	/* "hw1" inside the root is not the homework directory. */
	CHECK_INT(path_homework_prefix(r, &STUDENT, "/srv/hw1/code/hw2/a.c", 20),
		  strlen("/srv/hw1/code/hw2"));
	CHECK_INT(path_homework_prefix(r, &STUDENT, "/workspace/os-1-202012345/hw3/x/y.c", 20),
		  strlen("/workspace/os-1-202012345/hw3"));
	CHECK_INT(path_homework_prefix(r, &STUDENT, "/workspace/os-1-202099999/hw3/y.c", 20),
		  PATH_HW_OTHER_STUDENT);
	CHECK_INT(path_homework_prefix(d, &STUDENT, "/home/coder/project/hw1", 20), -ENOENT);
	CHECK_INT(path_homework_prefix(d, &STUDENT, "/tmp/hw1/a.c", 20), -ENOENT);
	CHECK_INT(path_homework_prefix(d, &STUDENT, "relative/hw1/a.c", 20), -EINVAL);
	CHECK_INT(path_homework_prefix(NULL, &STUDENT, "/home/coder/project/hw1/a.c", 20), -EINVAL);
	workspace_roots_free(r);
	workspace_roots_free(d);
}

#define ARGV(...) ((char *const[]){ __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ __VA_ARGS__ }) / sizeof(char *)))
#define CSRC(...) argv_compiler_source(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))
#define PYSRC(...) argv_python_script(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

static void test_compiler_source(void)
{
	char *const argv[] = { "gcc", "-c", "a.c", NULL };

	CHECK_STR(CSRC("gcc", "-o", "main", "main.c"), "main.c");
	CHECK_STR(CSRC("gcc", "-Wall", "-I", "inc", "-o", "out", "src/a.c", "b.c"), "src/a.c");
	CHECK_STR(CSRC("g++", "-c", "x.cpp"), "x.cpp");
	CHECK_STR(CSRC("gcc", "-x", "c", "-"), NULL);
	CHECK_STR(CSRC("clang", "-MF", "dep.d", "main.cc"), "main.cc");
	CHECK_STR(CSRC("gcc", "-oprog.c", "main.c"), "main.c");
	CHECK_STR(CSRC("gcc", "-o", "prog.c", "main.c"), "main.c");
	CHECK_STR(CSRC("gcc", "-I", "x.c", "-include", "y.c", "-D", "z.c", "-U", "w.c", "m.c"), "m.c");
	CHECK_STR(CSRC("gcc", "-MT", "a.c", "-MQ", "b.c", "-isystem", "c.c", "-iquote", "d.c", "e.cxx"), "e.cxx");
	CHECK_STR(CSRC("gcc", "-idirafter", "a.c", "-imacros", "b.c", "-iprefix", "c.c", "f.c++"), "f.c++");
	CHECK_STR(CSRC("gcc", "-L", "a.c", "-Xlinker", "b.c", "-Xassembler", "c.c", "g.C"), "g.C");
	CHECK_STR(CSRC("gcc", "-Xpreprocessor", "a.c", "-T", "b.c", "-u", "c.c", "-z", "d.c", "h.c"), "h.c");
	CHECK_STR(CSRC("gcc", "--param", "a.c", "-aux-info", "b.c", "i.c"), "i.c");
	CHECK_STR(CSRC("gcc", "-I/x.c", "-DX=y.c", "j.c"), "j.c");
	CHECK_STR(CSRC("gcc", "--", "-weird.c"), "-weird.c");
	CHECK_STR(CSRC("gcc", "-weird.c", "ok.c"), "ok.c");
	CHECK_STR(CSRC("gcc", "main.o", "util.h", "lib.a", "k.c"), "k.c");
	CHECK_STR(CSRC("gcc", "a.cp", "b.CPP", "c.cc.o", "d.c.bak"), NULL);
	CHECK_STR(CSRC("gcc", "main.c", "other.c"), "main.c");
	CHECK_STR(CSRC("gcc", "-o"), NULL);
	CHECK_STR(CSRC("gcc", "-o", "a.c"), NULL);
	CHECK_STR(CSRC("gcc"), NULL);
	CHECK_STR(CSRC("gcc", ""), NULL);
	CHECK_STR(CSRC("gcc", "hw1/a\nb.c"), "hw1/a\nb.c");
	CHECK_STR(CSRC("gcc", "\xff\xfe.c"), "\xff\xfe.c");
	CHECK_STR(CSRC("gcc", "-", "x.c"), "x.c");
	CHECK_STR(argv_compiler_source(0, argv), NULL);
	CHECK_STR(argv_compiler_source(-1, argv), NULL);
	CHECK_STR(argv_compiler_source(1, argv), NULL);
	CHECK_STR(argv_compiler_source(2, argv), NULL);
	CHECK_STR(argv_compiler_source(3, argv), "a.c");
	CHECK_STR(argv_compiler_source(99, argv), "a.c");   /* stops at the NULL */
	CHECK_STR(argv_compiler_source(3, NULL), NULL);
}

static void test_python_script(void)
{
	char *const argv[] = { "python3", "s.py", NULL };

	CHECK_STR(PYSRC("python3", "-u", "hw2/script.py", "arg"), "hw2/script.py");
	CHECK_STR(PYSRC("python3", "-m", "pytest", "t.py"), NULL);
	CHECK_STR(PYSRC("python3", "-mpytest", "t.py"), NULL);
	CHECK_STR(PYSRC("python3", "-um", "pytest", "t.py"), NULL);
	CHECK_STR(PYSRC("python3", "-c", "import x", "t.py"), NULL);
	CHECK_STR(PYSRC("python3", "-W", "ignore", "s.py"), "s.py");
	CHECK_STR(PYSRC("python3", "-W", "x.py", "s.py"), "s.py");
	CHECK_STR(PYSRC("python3", "-Wignore", "s.py"), "s.py");
	CHECK_STR(PYSRC("python3", "-uW", "x.py", "s.py"), "s.py");
	CHECK_STR(PYSRC("python3", "-X", "dev", "s.py"), "s.py");
	CHECK_STR(PYSRC("python3", "-Xdev", "s.py"), "s.py");
	CHECK_STR(PYSRC("python3", "--check-hash-based-pycs", "a.py", "s.py"), "s.py");
	CHECK_STR(PYSRC("python3", "-B", "-O", "-I", "s.py"), "s.py");
	CHECK_STR(PYSRC("python3", "--", "s.py"), "s.py");
	CHECK_STR(PYSRC("python3", "--", "-m.py"), "-m.py");
	/* options after the script are the script's own */
	CHECK_STR(PYSRC("python3", "s.py", "-m", "x"), "s.py");
	CHECK_STR(PYSRC("python3", "s.py", "t.py"), "s.py");
	/* stdin, and a script that is not a .py file: no script we track */
	CHECK_STR(PYSRC("python3", "-", "s.py"), NULL);
	CHECK_STR(PYSRC("python3", "tool", "s.py"), NULL);
	CHECK_STR(PYSRC("python3", "--", "-"), NULL);
	CHECK_STR(PYSRC("python3", "-u"), NULL);
	CHECK_STR(PYSRC("python3", "-W"), NULL);
	CHECK_STR(PYSRC("python3", "--"), NULL);
	CHECK_STR(PYSRC("python3", ""), NULL);
	CHECK_STR(PYSRC("python3"), NULL);
	CHECK_STR(PYSRC("python3", "a\nb.py"), "a\nb.py");
	CHECK_STR(PYSRC("python3", "\xff.py"), "\xff.py");
	CHECK_STR(argv_python_script(0, argv), NULL);
	CHECK_STR(argv_python_script(1, argv), NULL);
	CHECK_STR(argv_python_script(2, argv), "s.py");
	CHECK_STR(argv_python_script(7, argv), "s.py");
	CHECK_STR(argv_python_script(2, NULL), NULL);
}

static void check_join(int argc, char *const argv[], const char *want)
{
	char *s = argv_join(argc, argv);

	CHECK(s != NULL);
	CHECK_STR(s, want);
	free(s);
}

static void test_join(void)
{
	char *const argv[] = { "gcc", "-o", "main", "main.c", NULL };
	char *const odd[] = { "a", "", "b c", "\xff\n", NULL };

	check_join(4, argv, "gcc -o main main.c");
	check_join(1, argv, "gcc");
	check_join(0, argv, "");
	check_join(-3, argv, "");
	check_join(9, argv, "gcc -o main main.c");
	check_join(2, NULL, "");
	check_join(4, odd, "a  b c \xff\n");
}

int main(void)
{
	RUN(test_normalize);
	RUN(test_normalize_sizes);
	RUN(test_resolve);
	RUN(test_homework_component);
	RUN(test_path_homework);
	RUN(test_roots_default);
	RUN(test_roots_custom);
	RUN(test_roots_errors);
	RUN(test_roots_hostile);
	RUN(test_homework_prefix);
	RUN(test_compiler_source);
	RUN(test_python_script);
	RUN(test_join);
	return TEST_DONE();
}
