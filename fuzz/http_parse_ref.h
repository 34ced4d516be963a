/* The byte-at-a-time parser the fuzz harness checks examples/http_parse.c against
 * (http_parse_ref.c): same contract as http_parse_request. */
#ifndef TIDE_FUZZ_HTTP_PARSE_REF_H
#define TIDE_FUZZ_HTTP_PARSE_REF_H

#include "http_parse.h"

long http_parse_request_ref(const char *p, size_t n, const http_limits_t *lim, http_req_t *req);

#endif
