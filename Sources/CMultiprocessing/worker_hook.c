#define _GNU_SOURCE
#include "CMultiprocessing.h"
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Defined in Swift (Worker/WorkerEntry.swift). Weak so that a link without the Swift side still loads.
extern void swift_multiprocessing_worker_main(void) __attribute__((weak));
// From the Swift runtime: only its address is taken, to see which object holds the runtime.
extern void *swift_retain(void *) __attribute__((weak));
// The linker's bounds of the executable's Swift entry-point records (the same ones the Swift
// runtime's own start-up object refers to); absent in an image without them.
extern const char __start_swift5_entry[] __attribute__((weak, visibility("hidden")));
extern const char __stop_swift5_entry[] __attribute__((weak, visibility("hidden")));

static void cmp_divert_worker_process(void);

static volatile int cmp_worker_started = 0;

void cmp_worker_did_start(void) {
    cmp_worker_started = 1;
}

int cmp_program_entry_kind(void) {
    if (__start_swift5_entry == NULL || __stop_swift5_entry - __start_swift5_entry < 8) return -1;
    // A record is a relative pointer to `main` and a word of flags, bit 0 set for an `@main` type.
    uint32_t flags;
    memcpy(&flags, __start_swift5_entry + 4, sizeof flags);
    return (flags & 1) ? 1 : 0;
}

int cmp_is_test_runner(void) {
    static const char *const libraries[] = { "libXCTest.so", "libTesting.so" };
    for (size_t i = 0; i < sizeof libraries / sizeof libraries[0]; i++) {
        void *handle = dlopen(libraries[i], RTLD_LAZY | RTLD_NOLOAD);
        if (handle != NULL) {
            dlclose(handle);
            return 1;
        }
    }
    return 0;
}

// Whether the Swift runtime was linked into the program itself (`--static-swift-stdlib`).
// There the initialisers of the program and of the runtime's libraries (libdispatch's among
// them) run in link order, this hook's first: a worker diverted here would wait forever for a
// runtime that is not ready to run its serve loop. With shared libraries, theirs run first.
int cmp_swift_runtime_is_static(void) {
    Dl_info runtime, program;
    if (swift_retain == NULL) return 0;
    if (dladdr((void *)swift_retain, &runtime) == 0 || dladdr((void *)cmp_divert_worker_process, &program) == 0) return 0;
    return runtime.dli_fbase == program.dli_fbase;
}

int cmp_symbol_is_defined(const char *name) {
    return dlsym(RTLD_DEFAULT, name) != NULL;
}

// Runs at exit in a worker that was left to start in `main`: if it never got there, says why
// (the parent reports the exit status as the worker's failure to start).
static void cmp_worker_start_missed(void) {
    if (cmp_worker_started) return;
    static const char message[] =
        "swift-multiprocessing: a worker process ran this program's main to its end without reaching "
        "Multiprocessing.bootstrap() or a pool's creation; call try Multiprocessing.bootstrap() in main, "
        "below the top-level code workers need and above the code only the parent must run\n";
    ssize_t ignored = write(STDERR_FILENO, message, sizeof message - 1);
    (void)ignored;
    _exit(CMP_WORKER_EXIT_NO_START_POINT);
}

// Runs in every process that links the library, before the program's or the test runner's
// `main`. A worker whose parent asked for it ("load": test runners, and `@main` programs that
// never call `bootstrap()`) serves tasks here and exits. Any other worker runs `main` until
// `bootstrap()` or a pool's creation diverts it, so that top-level code above that point has
// run, as Python's spawn re-runs the main module; so does every worker of a program with the
// Swift runtime linked statically, where this hook runs before the runtime is ready.
__attribute__((constructor))
static void cmp_divert_worker_process(void) {
    const char *marker = getenv(CMP_WORKER_MARKER);
    if (marker == NULL || marker[0] == '\0' || swift_multiprocessing_worker_main == NULL) return;
    // Die with the parent from the start, not only once serving: a worker that starts in `main`
    // first runs the program's top-level code, which may take long or never end.
    (void)cmp_set_parent_death_signal(SIGKILL);
    const char *parent = getenv(CMP_WORKER_PARENT_PID);
    if (parent != NULL && (pid_t)strtol(parent, NULL, 10) != getppid()) _exit(0);
    const char *start = getenv(CMP_WORKER_START);
    int at_load = start == NULL || strcmp(start, "load") == 0;
    if (at_load && !cmp_swift_runtime_is_static()) swift_multiprocessing_worker_main();
    atexit(cmp_worker_start_missed);
}
