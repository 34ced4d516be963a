/* The HTTP client's two halves (internal): io/http_loop.c drives one curl multi handle per
 * runtime on the I/O driver's libuv loop; io/http.c builds requests and reads responses on
 * the calling task. */
#ifndef TIDE_IO_HTTP_INTERNAL_H
#define TIDE_IO_HTTP_INTERNAL_H

#include <curl/curl.h>

#include "driver.h"

typedef struct tide__http tide__http_t;

/* One transfer in flight, in the calling task's frame for the length of tide_http_fetch. */
typedef struct tide__http_xfer {
    tide__io_op_t op;   /* first: the driver hands us back this pointer */
    tide__http_t *http; /* the runtime's multi handle */
    CURL *easy;         /* set up by the task; added to and removed from the multi on the
                           driver */
    CURLcode code;      /* driver: how the transfer ended (valid when op completed with 0) */
    bool added;         /* driver only: in the multi handle now */
} tide__http_xfer_t;

/* The calling runtime's HTTP state, made on first use; NULL if out of memory. io is the
 * runtime's driver (the multi handle lives on its loop). */
tide__http_t *tide__http_get(tide_runtime_t *rt, tide__io_t *io);

/* Run x on the driver until the transfer ends (op result 0, outcome in x->code) or the
 * caller's deadline or cancel withdraws it (-ETIMEDOUT, -ECANCELED), or it could not start
 * (-ENOMEM). */
int tide__http_run(tide__http_xfer_t *x);

/* Resume a transfer whose write callback paused it (CURL_WRITEFUNC_PAUSE), on the driver;
 * a no-op if it has ended. Waits for the driver: 0, or -ENOMEM. */
int tide__http_unpause(tide__http_xfer_t *x);

/* libcurl's process-wide initialisation, once. */
void tide__http_global_init(void);

#endif
