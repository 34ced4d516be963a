/* tide — a multi-threaded, work-stealing async runtime for C.
 *
 * One header for everything: the runtime core (tasks, time, deadlines), wakers and watchers
 * (for primitives of your own), the sync primitives and the I/O layer. See README.md for a
 * tour and docs/api.md for the reference (a section per header). */
#ifndef TIDE_H
#define TIDE_H

#include "tide/core.h"
#include "tide/waker.h"
#include "tide/net.h"
#include "tide/sync.h"
#include "tide/fs.h"
#include "tide/signal.h"
#include "tide/process.h"
#include "tide/http.h"
#include "tide/tls.h"
#include "tide/serve.h"

#endif
