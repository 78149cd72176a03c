// SPDX-License-Identifier: Apache-2.0
// The OpenAI-compatible HTTP server (`fdeploy serve`) over one engine.
// Layer: server — uses the engine and the model, never the reverse.
#ifndef FD_SERVER_SERVER_H
#define FD_SERVER_SERVER_H

#include <stddef.h>

#include "fdeploy/engine.h"
#include "fdeploy/model.h"

typedef struct fd_server_config {
    const char *host;        // address to bind ("127.0.0.1", "0.0.0.0", "::")
    int port;                // 0: any free port (the URL printed says which)
    const char *api_key;     // NULL: no authentication
    const char *model_id;    // the id /v1/models lists and requests must name
    size_t max_body_bytes;   // 0: 4 MiB
    double shutdown_grace_s; // on SIGINT/SIGTERM: wait this long for requests, then abort them
} fd_server_config;

// Serves until SIGINT or SIGTERM, then shuts down gracefully: stops accepting,
// lets in-flight requests finish for shutdown_grace_s, aborts the rest. Prints
// "fdeploy: listening on http://HOST:PORT" on stdout once it accepts. Borrows
// the engine and the model.
fd_status fd_server_run(fd_engine *e, fd_model *m, const fd_server_config *cfg);

#endif
