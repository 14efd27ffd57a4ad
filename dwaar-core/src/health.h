/* The active health-check service (spec 20 §3.3): one thread for the process, probing every
 * pool that has a health_uri; results land in the backends' atomics, which workers read. */
#ifndef DWAAR_CORE_HEALTH_H
#define DWAAR_CORE_HEALTH_H

#include "snapshot.h"

typedef struct dw_health dw_health_t;

/* Starts the service on snap (it takes its own reference). */
dw_health_t *dw_health_start(dw_snapshot_t *snap);
/* Switches to a newly published snapshot (called from the publishing thread). */
void dw_health_set_snapshot(dw_health_t *h, dw_snapshot_t *snap);
void dw_health_stop(dw_health_t *h);

#endif
