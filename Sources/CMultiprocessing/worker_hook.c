#include "CMultiprocessing.h"
#include <stdlib.h>

// Defined in Swift (Worker/WorkerEntry.swift). Weak so that a link without the Swift side still loads.
extern void swift_multiprocessing_worker_main(void) __attribute__((weak));

// Runs in every process that links the library, before the program's or the test runner's `main`:
// a process spawned as a pool worker serves tasks here and exits, so no line in `main` is needed.
__attribute__((constructor))
static void cmp_divert_worker_process(void) {
    const char *marker = getenv(CMP_WORKER_MARKER);
    if (marker != NULL && marker[0] != '\0' && swift_multiprocessing_worker_main != NULL) {
        swift_multiprocessing_worker_main();
    }
}
