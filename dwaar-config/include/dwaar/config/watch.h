/* Watching the Dwaarfile and its imports (spec 30 §8.3): the config file's directory and its
 * subdirectories are watched with inotify; modify/create/move/delete events are debounced and
 * reported once. Whether anything really changed is the caller's question (configd compares
 * dw_cfg_source_digest()). */
#ifndef DWAAR_CONFIG_WATCH_H
#define DWAAR_CONFIG_WATCH_H

#include <dwaar/base/loop.h>

typedef struct dw_cfg_watch dw_cfg_watch_t;

/* Starts watching the directory of config_path (recursively, new subdirectories included) on
 * loop; cb runs on the loop's thread debounce_ms after the last event of a burst. NULL with a
 * message in err when inotify cannot be set up. */
dw_cfg_watch_t *dw_cfg_watch_new(dw_loop_t *loop, const char *config_path, unsigned debounce_ms,
                                 dw_loop_cb cb, void *arg, char *err, size_t errlen);
void dw_cfg_watch_free(dw_cfg_watch_t *w);

#endif
