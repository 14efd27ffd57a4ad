/* Command-line parsing of the `dwaar` binary (spec 10 §9). */
#ifndef DWAAR_INGRESS_CLI_H
#define DWAAR_INGRESS_CLI_H

#include <stdbool.h>
#include <stdio.h>

typedef enum dw_cli_cmd {
    DW_CMD_RUN = 0,
    DW_CMD_VERSION,
    DW_CMD_VALIDATE,
    DW_CMD_FMT,
    DW_CMD_ADAPT,
    DW_CMD_ROUTES,
    DW_CMD_RELOAD,
    DW_CMD_CERTS,
    DW_CMD_UPGRADE,
    DW_CMD_SELF_UPDATE,
} dw_cli_cmd_t;

typedef enum dw_cli_role {
    DW_ROLE_SINGLE = 0, /* every service a thread of one process */
    DW_ROLE_CONTROL,    /* configd + admind + logd, no data plane */
    DW_ROLE_DATA,       /* data plane fed by a remote control plane */
} dw_cli_role_t;

typedef struct dw_cli {
    dw_cli_cmd_t cmd;
    const char *config;   /* -c / --config (global, or the subcommand's, which wins) */
    const char *fmt_file; /* fmt [FILE] */
    bool test;            /* -t */
    bool daemon, upgrade;
    const char *docker_socket, *admin_socket; /* NULL = off */
    const char *grpc_addr, *admin_addr;
    bool no_logging, no_plugins, no_analytics, no_geoip, no_metrics, no_cache;
    unsigned workers; /* 0 = auto */
    bool help, version;
    bool fmt_overwrite, fmt_check;
    bool self_update_force;
    const char *admin;             /* routes/reload --admin */
    const char *cert_dir;          /* certs --cert-dir */
    const char *binary, *pid_file; /* upgrade */
    /* deployment shape (docs/deployment.md) */
    dw_cli_role_t role;
    const char *control;      /* --control tcp://HOST:PORT: bind (control) / connect (data) */
    const char *ctl_endpoint; /* --ctl-endpoint: admind's dwaarctl endpoint */
    const char *node;         /* --node NAME: how a data plane names itself to configd */
} dw_cli_t;

/* Returns 0, or 2 after printing a usage error to stderr. */
int dw_cli_parse(int argc, char **argv, dw_cli_t *cli);
void dw_cli_usage(FILE *out, dw_cli_cmd_t cmd);

#endif
