/* Stack overflow reporting: a fault in a task's guard page, or a damaged canary, stops the
 * process with a message naming the task, never silent corruption. */
#ifndef TIDE_RUNTIME_OVERFLOW_H
#define TIDE_RUNTIME_OVERFLOW_H

struct tide__worker;
struct tide__task;

/* Install the SIGSEGV/SIGBUS handler once per process (chaining to the previous one). */
void tide__overflow_install(void);
/* Give the worker thread an alternate signal stack (a task that overflowed has none left). */
void tide__overflow_thread_init(struct tide__worker *w);
void tide__overflow_thread_fini(struct tide__worker *w);
/* Report an overflow of t and abort. */
__attribute__((noreturn)) void tide__overflow_die(struct tide__task *t);

#endif
