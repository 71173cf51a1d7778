/*
 * bench_filemon.c - 100 students x 10 saves against an in-process receiver.
 *
 * A writer thread plays the students: each saves hw1/main.c once a second
 * (slower than the debounce window, so every save is its own snapshot),
 * students staggered across the second.  The main thread runs the agent's
 * loop (filemon + sender).  Reported: save -> record-arrival latency
 * (median, p99, max; it includes the debounce window by design) and the
 * CPU time of the loop thread (filemon and the sender's HTTP work).
 *
 * usage: bench_filemon [window_ms (600)] [students (100)] [saves (10)]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "filemon.h"
#include "log.h"
#include "loop.h"
#include "metrics_testing.h"
#include "receiver.h"
#include "sender.h"
#include "support.h"

#define ID_BASE 202000000L
#define GAP_S 1.0		/* between one student's saves */
#define FILE_BYTES 2048

struct save {
	double at;		/* planned, then actual (support_now) */
	int student;
};

static char tmp[128], root[192];
static int nstudents = 100, nsaves = 10;
static struct save *plan;
static double **saved_at;	/* [student][k] */

/* A filemon counter for the printout: none counted yet (no series) is 0;
 * a name filemon does not know is -1, so a typo shows. */
static double counted(const char *name, const char *labels)
{
	double v = metrics_sample(SERVICE_FILEMON, name, labels);

	if (!isnan(v))
		return v;
	return metrics_known(name) ? 0 : -1;
}

static int cmp_save(const void *a, const void *b)
{
	const struct save *x = a, *y = b;

	return (x->at > y->at) - (x->at < y->at);
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void write_save(int student, int k)
{
	char path[512], body[FILE_BYTES];
	FILE *f;

	memset(body, ' ', sizeof(body));
	snprintf(body, sizeof(body), "/* student %d save %d */\nint main(void) { return %d; }\n",
		 student, k, k);
	body[strlen(body)] = ' ';
	snprintf(path, sizeof(path), "%s/os-1-%ld/hw1/main.c", root, ID_BASE + student);
	f = fopen(path, "w");
	if (!f)
		return;
	fwrite(body, 1, sizeof(body), f);
	fclose(f);
}

static void *writer(void *arg)
{
	int *count = calloc((size_t)nstudents, sizeof(int));
	size_t n = (size_t)nstudents * (size_t)nsaves;

	for (size_t i = 0; count && i < n; i++) {
		double wait = plan[i].at - support_now();
		int s = plan[i].student;

		if (wait > 0)
			usleep((useconds_t)(wait * 1e6));
		write_save(s, count[s]);
		saved_at[s][count[s]++] = support_now();
	}
	free(count);
	return NULL;
}

static void make_tree(void)
{
	char p[512];

	snprintf(tmp, sizeof(tmp), "/tmp/bench_filemon.XXXXXX");
	if (!mkdtemp(tmp))
		exit(1);
	snprintf(root, sizeof(root), "%s/codes", tmp);
	mkdir(root, 0755);
	for (int s = 0; s < nstudents; s++) {
		snprintf(p, sizeof(p), "%s/os-1-%ld", root, ID_BASE + s);
		mkdir(p, 0755);
		snprintf(p, sizeof(p), "%s/os-1-%ld/hw1", root, ID_BASE + s);
		mkdir(p, 0755);
	}
}

static void make_plan(double start)
{
	size_t i = 0;

	plan = calloc((size_t)nstudents * (size_t)nsaves, sizeof(*plan));
	saved_at = calloc((size_t)nstudents, sizeof(*saved_at));
	srand(42);
	for (int s = 0; s < nstudents; s++) {
		double offset = (rand() % 1000) / 1000.0;

		saved_at[s] = calloc((size_t)nsaves, sizeof(double));
		for (int k = 0; k < nsaves; k++)
			plan[i++] = (struct save){ .at = start + offset + k * GAP_S, .student = s };
	}
	qsort(plan, i, sizeof(*plan), cmp_save);
}

static double rusage_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* Latency of every record: the k-th record of a student answers its k-th save. */
static size_t latencies(struct receiver *rx, double *lat)
{
	int *k = calloc((size_t)nstudents, sizeof(int));
	size_t n = 0, total = receiver_count(rx);

	for (size_t i = 0; k && i < total; i++) {
		struct received rc;
		long id;
		int s;

		if (receiver_get(rx, i, &rc) < 0)
			continue;
		if (sscanf(rc.url, "/api/os-1/hw1/%ld/", &id) == 1) {
			s = (int)(id - ID_BASE);
			if (s >= 0 && s < nstudents && k[s] < nsaves)
				lat[n++] = rc.at - saved_at[s][k[s]++];
		}
		received_free(&rc);
	}
	free(k);
	return n;
}

/* Saves that came within one window of the same student's previous save
 * (the writer thread was held up) are merged by the debounce, by design:
 * they get no record of their own. */
static size_t merged_saves(long window)
{
	size_t merged = 0;

	for (int s = 0; s < nstudents; s++)
		for (int k = 1; k < nsaves; k++)
			if (saved_at[s][k] - saved_at[s][k - 1] < window / 1000.0 + 0.05)
				merged++;
	return merged;
}

int main(int argc, char **argv)
{
	long window = argc > 1 ? atol(argv[1]) : 600;
	struct filemon_config cfg = { .max_file_size = 65536, .debounce_window_ms = window,
				      .debounce_max_wait_ms = 3000, .hw_max = 20 };
	struct sender_config sc = { .timeout_ms = 20000 };
	size_t total, n;
	double cpu0, cpu, t0, deadline, *lat;
	struct receiver *rx;
	struct filemon *fm;
	struct loop *loop;
	struct sender *snd;
	char url[64], snap[256], err[256];
	pthread_t th;

	if (argc > 2)
		nstudents = atoi(argv[2]);
	if (argc > 3)
		nsaves = atoi(argv[3]);
	total = (size_t)nstudents * (size_t)nsaves;
	log_set_level(LOG_WARN);
	make_tree();
	snprintf(snap, sizeof(snap), "%s/snapshots", tmp);
	cfg.watch_root = root;
	cfg.snapshot_base = snap;
	loop = loop_create();
	rx = receiver_start(0);
	if (!loop || !rx)
		return 1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", receiver_port(rx));
	sc.api_server = url;
	snd = sender_create(loop, &sc);
	fm = snd ? filemon_start(loop, &cfg, snd, err, sizeof(err)) : NULL;
	if (!fm) {
		fprintf(stderr, "start: %s\n", snd ? err : "sender");
		return 1;
	}
	t0 = support_now();
	make_plan(t0 + 0.2);
	cpu0 = rusage_s();
	pthread_create(&th, NULL, writer, NULL);
	deadline = t0 + nsaves * GAP_S + 60;
	while (receiver_count(rx) < total && support_now() < deadline) {
		loop_run_once(loop, 50);
		/* Once the writer is done, stop waiting for merged saves. */
		if (support_now() > t0 + nsaves * GAP_S + 2 &&
		    receiver_count(rx) >= total - merged_saves(window))
			break;
	}
	cpu = rusage_s() - cpu0;
	pthread_join(th, NULL);

	lat = calloc(total, sizeof(double));
	n = latencies(rx, lat);
	qsort(lat, n, sizeof(double), cmp_dbl);
	printf("bench_filemon: %d students x %d saves, debounce window %ld ms\n",
	       nstudents, nsaves, window);
	printf("  records      %zu / %zu  (snapshots written %.0f; %zu saves came within one "
	       "window of the previous one and were merged)\n", receiver_count(rx), total,
	       counted("filemon_snapshots_total", ""), merged_saves(window));
	if (n)
		printf("  latency      median %.1f ms  p99 %.1f ms  max %.1f ms  (save -> record "
		       "arrival, window included)\n", lat[n / 2] * 1e3, lat[n * 99 / 100] * 1e3,
		       lat[n - 1] * 1e3);
	printf("  loop CPU     %.3f s over %.1f s wall (filemon + sender), %.0f us per save\n",
	       cpu, support_now() - t0, total ? cpu / (double)total * 1e6 : 0);
	printf("  skipped      size %.0f, unstable %.0f, not regular %.0f, error %.0f\n",
	       counted("filemon_skipped_total", "reason=\"size\""),
	       counted("filemon_skipped_total", "reason=\"unstable\""),
	       counted("filemon_skipped_total", "reason=\"not_regular\""),
	       counted("filemon_skipped_total", "reason=\"error\""));
	printf("  inotify events %.0f, watches %zu\n",
	       counted("filemon_events_total", ""), filemon_watch_count(fm));

	filemon_stop(fm);
	sender_drain(snd, 2000);
	sender_destroy(snd);
	receiver_stop(rx);
	loop_destroy(loop);
	support_rm_rf(tmp);
	free(lat);
	return n == total ? 0 : 1;
}
