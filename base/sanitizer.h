/* Which sanitizer a file is built under, detected once here for every layer and for the
 * context-switch checks that build runtime/ctx.h on its own (gcc says __SANITIZE_*__, clang
 * __has_feature). No dependencies: anything may include it. */
#ifndef TIDE_BASE_SANITIZER_H
#define TIDE_BASE_SANITIZER_H

#if defined(__SANITIZE_ADDRESS__)
#define TIDE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TIDE_ASAN 1
#endif
#endif
#if defined(TIDE_TSAN)
/* set by CMakeLists.txt in TSan builds, also for the one file built without instrumentation */
#elif defined(__SANITIZE_THREAD__)
#define TIDE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TIDE_TSAN 1
#endif
#endif

#endif
