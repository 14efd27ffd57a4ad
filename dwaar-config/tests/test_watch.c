/* The config watcher (watch.h): inotify on the Dwaarfile's directory tree, debounced. Each test
 * runs a real loop for a bounded time and counts callbacks (counts, never timings). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dwaar/config/watch.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEBOUNCE_MS 100

typedef struct fixture {
    dw_loop_t *loop;
    dw_cfg_watch_t *watch;
    char *dir;   /* watched: holds the Dwaarfile */
    char *other; /* a sibling directory nobody watches */
    int calls;
    /* scripted writes while the loop runs */
    dw_timer_t *writer;
    int writes_left;
    char write_path[1024];
} fixture_t;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static char *make_tmpdir(void)
{
    const char *tmp = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof(tmpl), "%s/dwaar-watch-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static void write_at(const char *dir, const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void on_change(void *arg)
{
    fixture_t *f = arg;
    f->calls++;
}

static void stop(void *arg)
{
    dw_loop_break(arg);
}

/* Runs the loop for ms milliseconds. */
static void run_for(fixture_t *f, unsigned ms)
{
    dw_timer_t *t = dw_timer_new(f->loop, stop, f->loop);
    assert_non_null(t);
    dw_timer_start(t, ms);
    dw_loop_run(f->loop);
    dw_timer_free(t);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->loop = dw_loop_new();
    f->dir = make_tmpdir();
    f->other = make_tmpdir();
    write_at(f->dir, "Dwaarfile", "a.example.com {\n    respond hi\n}\n");
    char path[1024], err[256] = "";
    snprintf(path, sizeof(path), "%s/Dwaarfile", f->dir);
    f->watch = dw_cfg_watch_new(f->loop, path, DEBOUNCE_MS, on_change, f, err, sizeof(err));
    if (!f->watch) fail_msg("watch: %s", err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    dw_cfg_watch_free(f->watch);
    if (f->writer) dw_timer_free(f->writer);
    dw_loop_free(f->loop);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    nftw(f->other, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f->dir);
    free(f->other);
    free(f);
    return 0;
}

static void test_CFG_watch_modify_one_callback(void **state)
{
    fixture_t *f = *state;
    run_for(f, 50);
    assert_int_equal(f->calls, 0);
    write_at(f->dir, "Dwaarfile", "a.example.com {\n    respond changed\n}\n");
    run_for(f, DEBOUNCE_MS * 4);
    assert_int_equal(f->calls, 1);
    /* nothing more happens: no more callbacks */
    run_for(f, DEBOUNCE_MS * 3);
    assert_int_equal(f->calls, 1);
}

static void write_tick(void *arg)
{
    fixture_t *f = arg;
    char text[64];
    snprintf(text, sizeof(text), "a.example.com {\n    respond %d\n}\n", f->writes_left);
    FILE *fp = fopen(f->write_path, "w");
    if (fp) {
        fputs(text, fp);
        fclose(fp);
    }
    if (--f->writes_left > 0) dw_timer_start(f->writer, DEBOUNCE_MS / 4);
}

static void test_CFG_watch_burst_one_callback(void **state)
{
    fixture_t *f = *state;
    /* ten writes, a quarter of the debounce apart: the timer restarts on each */
    snprintf(f->write_path, sizeof(f->write_path), "%s/Dwaarfile", f->dir);
    f->writes_left = 10;
    f->writer = dw_timer_new(f->loop, write_tick, f);
    dw_timer_start(f->writer, 1);
    run_for(f, 10 * DEBOUNCE_MS / 4 + DEBOUNCE_MS * 4);
    assert_int_equal(f->writes_left, 0);
    assert_int_equal(f->calls, 1);
}

static void test_CFG_watch_new_subdirectory(void **state)
{
    fixture_t *f = *state;
    char path[1024];
    snprintf(path, sizeof(path), "%s/sites", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    run_for(f, DEBOUNCE_MS * 4);
    assert_int_equal(f->calls, 1); /* the new directory itself is a change */
    /* a file in it, once its watch exists */
    write_at(f->dir, "sites/a.dwaar", "b.example.com {\n    respond b\n}\n");
    run_for(f, DEBOUNCE_MS * 4);
    assert_int_equal(f->calls, 2);
    /* a tree made at once: the scan of the new directory watches all of it */
    snprintf(path, sizeof(path), "%s/deep", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/deep/er", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    run_for(f, DEBOUNCE_MS * 4);
    assert_int_equal(f->calls, 3);
    write_at(f->dir, "deep/er/x.dwaar", "x\n");
    run_for(f, DEBOUNCE_MS * 4);
    assert_int_equal(f->calls, 4);
    /* a directory renamed inside the tree: still watched under its new name */
    char from[1024];
    snprintf(from, sizeof(from), "%s/deep", f->dir);
    snprintf(path, sizeof(path), "%s/moved", f->dir);
    assert_int_equal(rename(from, path), 0);
    run_for(f, DEBOUNCE_MS * 4);
    assert_int_equal(f->calls, 5);
    write_at(f->dir, "moved/er/y.dwaar", "y\n");
    run_for(f, DEBOUNCE_MS * 4);
    assert_int_equal(f->calls, 6);
    /* moved out of the tree: no longer watched */
    snprintf(from, sizeof(from), "%s/moved", f->dir);
    snprintf(path, sizeof(path), "%s/gone", f->other);
    assert_int_equal(rename(from, path), 0);
    run_for(f, DEBOUNCE_MS * 4);
    assert_int_equal(f->calls, 7);
    write_at(f->other, "gone/er/z.dwaar", "z\n");
    run_for(f, DEBOUNCE_MS * 4);
    assert_int_equal(f->calls, 7);
    /* removing a file is a change too */
    write_at(f->dir, "sites/x.dwaar", "x\n");
    run_for(f, DEBOUNCE_MS * 4);
    assert_int_equal(f->calls, 8);
    snprintf(path, sizeof(path), "%s/sites/x.dwaar", f->dir);
    assert_int_equal(unlink(path), 0);
    run_for(f, DEBOUNCE_MS * 4);
    assert_int_equal(f->calls, 9);
}

static void test_CFG_watch_existing_subdirectory_and_rename(void **state)
{
    fixture_t *f = *state;
    /* a directory that existed before the watcher started */
    dw_cfg_watch_free(f->watch);
    char path[1024], err[256];
    snprintf(path, sizeof(path), "%s/conf.d", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/Dwaarfile", f->dir);
    f->watch = dw_cfg_watch_new(f->loop, path, DEBOUNCE_MS, on_change, f, err, sizeof(err));
    assert_non_null(f->watch);
    write_at(f->dir, "conf.d/z.dwaar", "z\n");
    run_for(f, DEBOUNCE_MS * 4);
    assert_int_equal(f->calls, 1);
    /* an editor's save: write a temporary file, rename it over the original */
    write_at(f->dir, ".Dwaarfile.swp", "a.example.com {\n    respond saved\n}\n");
    char from[1024];
    snprintf(from, sizeof(from), "%s/.Dwaarfile.swp", f->dir);
    assert_int_equal(rename(from, path), 0);
    run_for(f, DEBOUNCE_MS * 4);
    assert_int_equal(f->calls, 2);
}

static void test_CFG_watch_unrelated_directory_quiet(void **state)
{
    fixture_t *f = *state;
    run_for(f, DEBOUNCE_MS * 3);
    assert_int_equal(f->calls, 0);
    write_at(f->other, "Dwaarfile", "elsewhere\n");
    char path[1024];
    snprintf(path, sizeof(path), "%s/sub", f->other);
    assert_int_equal(mkdir(path, 0700), 0);
    run_for(f, DEBOUNCE_MS * 4);
    assert_int_equal(f->calls, 0);
}

/* More events than the kernel queues (IN_Q_OVERFLOW): one change, and a rescan finds the
 * directory whose creation event was lost. */
static void test_CFG_watch_queue_overflow(void **state)
{
    fixture_t *f = *state;
    FILE *q = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
    unsigned max = 0;
    if (!q || fscanf(q, "%u", &max) != 1 || max > 100000) {
        if (q) fclose(q);
        skip();
    }
    fclose(q);
    char path[1024];
    snprintf(path, sizeof(path), "%s/many", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    run_for(f, DEBOUNCE_MS * 4);
    assert_int_equal(f->calls, 1);
    /* create, modify, close: three events a file, while the loop does not read */
    for (unsigned i = 0; i < max / 3 + 100; i++) {
        char name[64];
        snprintf(name, sizeof(name), "many/f%u", i);
        write_at(f->dir, name, "x");
    }
    snprintf(path, sizeof(path), "%s/late", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    run_for(f, DEBOUNCE_MS * 4);
    assert_int_equal(f->calls, 2);
    write_at(f->dir, "late/a.dwaar", "a\n");
    run_for(f, DEBOUNCE_MS * 4);
    assert_int_equal(f->calls, 3);
}

static void test_CFG_watch_errors(void **state)
{
    (void)state;
    dw_loop_t *loop = dw_loop_new();
    char err[256] = "";
    assert_null(dw_cfg_watch_new(loop, "/nonexistent/dir/Dwaarfile", 100, on_change, NULL, err,
                                 sizeof(err)));
    assert_non_null(strstr(err, "cannot watch the directory of '/nonexistent/dir/Dwaarfile'"));
    dw_cfg_watch_free(NULL);
    dw_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_CFG_watch_modify_one_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_CFG_watch_burst_one_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_CFG_watch_new_subdirectory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_CFG_watch_existing_subdirectory_and_rename, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_CFG_watch_unrelated_directory_quiet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_CFG_watch_queue_overflow, setup, teardown),
        cmocka_unit_test(test_CFG_watch_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
