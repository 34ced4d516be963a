/* Compiled (never linked) by tests/layering/check.cmake with the include path of a layer
 * above runtime/: including a runtime/ header must fail there, and the headers a layer may
 * use must compile. */
#ifdef TIDE_PROBE_ALLOWED
#include "list.h"
#include "platform.h"
#include "tide.h"
#include "tide/ext.h"
#else
#include "scheduler.h"
#endif
int tide_layering_probe;
