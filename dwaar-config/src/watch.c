/* The config watcher (see watch.h): inotify on the Dwaarfile's directory and every directory
 * below it (at most MAX_DIRS), new directories added as they appear, events debounced by a
 * timer that each event restarts. */
#include <dwaar/config/watch.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DIRS 1024

#define DIR_MASK                                                                                   \
    (IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |            \
     IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)

typedef struct wdir {
    int wd;
    char *path;
} wdir_t;

struct dw_cfg_watch {
    int fd;
    dw_io_t *io;
    dw_timer_t *timer;
    unsigned debounce_ms;
    dw_loop_cb cb;
    void *arg;
    char *root;
    wdir_t dirs[MAX_DIRS];
    size_t ndirs;
};

static wdir_t *find_wd(dw_cfg_watch_t *w, int wd)
{
    for (size_t i = 0; i < w->ndirs; i++)
        if (w->dirs[i].wd == wd) return &w->dirs[i];
    return NULL;
}

static void forget_wd(dw_cfg_watch_t *w, int wd)
{
    wdir_t *d = find_wd(w, wd);
    if (!d) return;
    free(d->path);
    *d = w->dirs[--w->ndirs];
}

/* Stops watching path and every directory below it (moved out of the tree, or elsewhere in
 * it: then its new name is added again). */
static void drop_tree(dw_cfg_watch_t *w, const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < w->ndirs;) {
        const char *p = w->dirs[i].path;
        if (strncmp(p, path, n) == 0 && (p[n] == '\0' || p[n] == '/')) {
            inotify_rm_watch(w->fd, w->dirs[i].wd); /* its IN_IGNORED then finds nothing */
            free(w->dirs[i].path);
            w->dirs[i] = w->dirs[--w->ndirs];
        } else {
            i++;
        }
    }
}

/* Adds one directory; 0 when watched (already or now), -1 when not (full, gone, no access). */
static int add_dir(dw_cfg_watch_t *w, const char *path)
{
    int wd = inotify_add_watch(w->fd, path, DIR_MASK);
    if (wd < 0) return -1;
    wdir_t *d = find_wd(w, wd);
    if (d) { /* the same directory under another name (or again): keep the newest name */
        char *p = strdup(path);
        if (p) {
            free(d->path);
            d->path = p;
        }
        return 0;
    }
    char *p = w->ndirs < MAX_DIRS ? strdup(path) : NULL;
    if (!p) { /* full (or out of memory): the new watch goes again */
        inotify_rm_watch(w->fd, wd);
        return -1;
    }
    w->dirs[w->ndirs++] = (wdir_t){wd, p};
    return 0;
}

/* Adds path and the directories below it, breadth first with an explicit queue (no
 * recursion), until MAX_DIRS are watched. Symbolic links are not followed. */
static void add_tree(dw_cfg_watch_t *w, const char *path)
{
    char **queue = malloc(MAX_DIRS * sizeof(*queue));
    if (!queue) return;
    size_t head = 0, tail = 0;
    queue[tail++] = strdup(path);
    while (head < tail) {
        char *dir = queue[head++];
        if (!dir || add_dir(w, dir) != 0) {
            free(dir);
            continue;
        }
        DIR *dh = opendir(dir);
        struct dirent *e;
        while (dh && (e = readdir(dh))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            if (tail >= MAX_DIRS) break;
            char sub[PATH_MAX];
            if (snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name) >= (int)sizeof(sub)) continue;
            struct stat st;
            bool isdir = e->d_type == DT_DIR;
            if (e->d_type == DT_UNKNOWN) isdir = lstat(sub, &st) == 0 && S_ISDIR(st.st_mode);
            if (isdir) queue[tail++] = strdup(sub);
        }
        if (dh) closedir(dh);
        free(dir);
    }
    for (; head < tail; head++) free(queue[head]);
    free(queue);
}

/* Reads every pending event; true when any of them is a change. New directories get watched
 * as they are seen. */
static bool drain(dw_cfg_watch_t *w)
{
    _Alignas(struct inotify_event) char buf[16384];
    bool any = false, rescan = false;
    for (;;) {
        ssize_t n = read(w->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
            off += (ssize_t)sizeof(*ev) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) { /* events were lost: assume anything happened */
                any = rescan = true;
                continue;
            }
            if (ev->mask & IN_IGNORED) { /* the watch is gone (directory deleted) */
                forget_wd(w, ev->wd);
                continue;
            }
            any = true;
            wdir_t *d = (ev->mask & IN_ISDIR) && ev->len ? find_wd(w, ev->wd) : NULL;
            char sub[PATH_MAX];
            if (!d || snprintf(sub, sizeof(sub), "%s/%s", d->path, ev->name) >= (int)sizeof(sub))
                continue;
            if (ev->mask & IN_MOVED_FROM) drop_tree(w, sub);
            /* what was written into a new directory before its watch: this event already
             * counts as the change */
            if (ev->mask & (IN_CREATE | IN_MOVED_TO)) add_tree(w, sub);
        }
    }
    if (rescan) add_tree(w, w->root); /* directories created while events were lost */
    return any;
}

static void on_timer(void *arg)
{
    dw_cfg_watch_t *w = arg;
    /* events not read yet (the loop ran the timer first): the burst is not over */
    if (drain(w)) {
        dw_timer_start(w->timer, w->debounce_ms);
        return;
    }
    /* the watched directory itself was removed or renamed: watch it again once it is back */
    if (w->ndirs == 0) add_tree(w, w->root);
    w->cb(w->arg);
}

static void on_events(int fd, int events, void *arg)
{
    (void)fd, (void)events;
    dw_cfg_watch_t *w = arg;
    if (drain(w)) dw_timer_start(w->timer, w->debounce_ms);
}

dw_cfg_watch_t *dw_cfg_watch_new(dw_loop_t *loop, const char *config_path, unsigned debounce_ms,
                                 dw_loop_cb cb, void *arg, char *err, size_t errlen)
{
    dw_cfg_watch_t *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->fd = -1;
    w->debounce_ms = debounce_ms;
    w->cb = cb;
    w->arg = arg;
    char *copy = strdup(config_path);
    char *slash = copy ? strrchr(copy, '/') : NULL;
    if (slash == copy) /* "/Dwaarfile" */
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    const char *dir = !copy ? NULL : slash ? copy : ".";
    w->root = dir ? realpath(dir, NULL) : NULL;
    if (!w->root) {
        snprintf(err, errlen, "cannot watch the directory of '%s': %s", config_path,
                 copy ? strerror(errno) : "out of memory");
        free(copy);
        dw_cfg_watch_free(w);
        return NULL;
    }
    free(copy);
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) {
        snprintf(err, errlen, "inotify: %s", strerror(errno));
        dw_cfg_watch_free(w);
        return NULL;
    }
    add_tree(w, w->root);
    if (w->ndirs == 0) {
        snprintf(err, errlen, "cannot watch '%s': %s", w->root, strerror(errno));
        dw_cfg_watch_free(w);
        return NULL;
    }
    w->io = dw_io_new(loop, w->fd, on_events, w);
    w->timer = dw_timer_new(loop, on_timer, w);
    if (!w->io || !w->timer) {
        snprintf(err, errlen, "out of memory");
        dw_cfg_watch_free(w);
        return NULL;
    }
    dw_io_want(w->io, true, false);
    return w;
}

void dw_cfg_watch_free(dw_cfg_watch_t *w)
{
    if (!w) return;
    if (w->io) dw_io_free(w->io);
    if (w->timer) dw_timer_free(w->timer);
    if (w->fd >= 0) close(w->fd);
    for (size_t i = 0; i < w->ndirs; i++) free(w->dirs[i].path);
    free(w->root);
    free(w);
}
