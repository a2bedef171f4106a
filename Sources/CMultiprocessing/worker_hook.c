#define _GNU_SOURCE
#include "CMultiprocessing.h"
#include <dlfcn.h>
#include <stdlib.h>

// Defined in Swift (Worker/WorkerEntry.swift). Weak so that a link without the Swift side still loads.
extern void swift_multiprocessing_worker_main(void) __attribute__((weak));
// From the Swift runtime: only its address is taken, to see which object holds the runtime.
extern void *swift_retain(void *) __attribute__((weak));

static void cmp_divert_worker_process(void);

// Whether the Swift runtime was linked into the program itself (`--static-swift-stdlib`).
// There the initialisers of the program and of the runtime's libraries (libdispatch's among
// them) run in link order, this hook's first: a worker diverted here would wait forever for a
// runtime that is not ready to run its serve loop. With shared libraries, theirs run first.
static int cmp_swift_runtime_is_static(void) {
    Dl_info runtime, program;
    if (swift_retain == NULL) return 0;
    if (dladdr((void *)swift_retain, &runtime) == 0 || dladdr((void *)cmp_divert_worker_process, &program) == 0) return 0;
    return runtime.dli_fbase == program.dli_fbase;
}

// Runs in every process that links the library, before the program's or the test runner's `main`:
// a process spawned as a pool worker serves tasks here and exits, so no line in `main` is needed.
// In a program with the Swift runtime linked in statically it leaves the worker to
// `Multiprocessing.bootstrap()`, which must then be the first line of `main`.
__attribute__((constructor))
static void cmp_divert_worker_process(void) {
    const char *marker = getenv(CMP_WORKER_MARKER);
    if (marker != NULL && marker[0] != '\0' && swift_multiprocessing_worker_main != NULL
        && !cmp_swift_runtime_is_static()) {
        swift_multiprocessing_worker_main();
    }
}
