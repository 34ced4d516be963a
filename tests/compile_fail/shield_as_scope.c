/* Must not compile: a shield ended as a deadline scope (it would leave the task ignoring
 * cancellation). ctest's shield_type_check expects the compiler to reject it. */
#include "tide.h"

void shield_as_scope(void) {
    tide_shield_t sh;
    tide_shield_begin(&sh);
    tide_scope_end(&sh);
}
