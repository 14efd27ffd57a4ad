/* The data plane's config agent: a bus service thread that keeps the data plane in step with
 * configd (see server.h). */
#ifndef DWAAR_CORE_AGENT_H
#define DWAAR_CORE_AGENT_H

#include "snapshot.h"
#include <dwaar/core/server.h>

typedef struct dw_agent dw_agent_t;

typedef struct dw_agent_cbs {
    /* A new snapshot compiled (ownership passes). Runs on the agent thread. */
    void (*apply)(void *arg, dw_snapshot_t *snap, uint64_t generation);
    /* A snapshot received did not compile (message text). Runs on the agent thread. */
    void (*failed)(void *arg, const char *message);
    void *arg;
} dw_agent_cbs_t;

dw_agent_t *dw_agent_start(const dw_server_opts_t *opts, const dw_agent_cbs_t *cbs, char *err,
                           size_t errlen);
/* Fetch the current snapshot again (SIGHUP in the data role). Any thread. */
void dw_agent_resync(dw_agent_t *a);
void dw_agent_stop(dw_agent_t *a);

#endif
