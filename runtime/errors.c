/* tide_strerror: errno text, plus tide's own meanings where they differ from libc's. */
#include <limits.h>
#include <string.h>

#include "tide/core.h"

const char *tide_strerror(int err) {
    if (err == INT_MIN) return "unknown error"; /* -INT_MIN does not exist */
    if (err < 0) err = -err;
    switch (err) {
    case 0: return "success";
    case ECANCELED: return "operation cancelled";
    case ETIMEDOUT: return "deadline expired";
    case EPIPE: return "closed (channel or connection)";
    case ESHUTDOWN: return "runtime is shutting down";
    case ESRCH: return "no such task (handle already joined or detached)";
    case EPERM: return "not allowed here (a task-only call outside a task?)";
    case EDEADLK: return "would deadlock (waiting on itself)";
    default: return strerror(err);
    }
}
