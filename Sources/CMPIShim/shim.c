// ppoll: a wait for pipes shorter than poll's millisecond.
#define _GNU_SOURCE
#include "CMPIShim.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

#ifdef SWIFT_MULTIPROCESSING_MPI
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

int cmp_mpi_implementation(void) {
#if defined(OPEN_MPI)
    return 1;
#elif defined(MPICH)
    return 2;
#else
    return 3;
#endif
}

int cmp_mpi_init(int *rank, int *size, int *serialized) {
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
    if (rc != MPI_SUCCESS) return rc;
    *serialized = provided >= MPI_THREAD_SERIALIZED;
    // A failed call must come back as an error, never end the process behind the pool's back.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    rc = MPI_Comm_rank(MPI_COMM_WORLD, rank);
    if (rc != MPI_SUCCESS) return rc;
    return MPI_Comm_size(MPI_COMM_WORLD, size);
}

void cmp_mpi_processor_name(char *name, int capacity) {
    char buffer[MPI_MAX_PROCESSOR_NAME];
    int length = 0;
    if (capacity <= 0) return;
    if (MPI_Get_processor_name(buffer, &length) != MPI_SUCCESS) length = 0;
    if (length >= capacity) length = capacity - 1;
    memcpy(name, buffer, (size_t)length);
    name[length] = '\0';
}

int cmp_mpi_probe_any(int *source, int *tag, int *bytes) {
    int flag = 0;
    MPI_Status status;
    if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &status) != MPI_SUCCESS) return -1;
    if (!flag) return 0;
    *source = status.MPI_SOURCE;
    *tag = status.MPI_TAG;
    if (MPI_Get_count(&status, MPI_BYTE, bytes) != MPI_SUCCESS) return -1;
    return 1;
}

int cmp_mpi_receive(void *buffer, int bytes, int source, int tag) {
    return MPI_Recv(buffer, bytes, MPI_BYTE, source, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
}

int cmp_mpi_start_send(const void *buffer, int bytes, int destination, int tag, void **request) {
    MPI_Request *handle = malloc(sizeof *handle);
    if (handle == NULL) return MPI_ERR_NO_MEM;
    int rc = MPI_Isend(buffer, bytes, MPI_BYTE, destination, tag, MPI_COMM_WORLD, handle);
    if (rc != MPI_SUCCESS) {
        free(handle);
        return rc;
    }
    *request = handle;
    return 0;
}

int cmp_mpi_test(void *request) {
    MPI_Request *handle = request;
    int flag = 0;
    if (MPI_Test(handle, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
        free(handle);
        return -1;
    }
    if (flag) free(handle);
    return flag ? 1 : 0;
}

void cmp_mpi_abandon(void *request) {
    MPI_Request *handle = request;
    MPI_Request_free(handle);
    free(handle);
}

void cmp_mpi_abort(int code) {
    MPI_Abort(MPI_COMM_WORLD, code);
}

int cmp_mpi_finalize(void) {
    return MPI_Finalize();
}

#else

// Built without the MPI trait: the functions exist so that nothing else needs a condition, and
// say there is no MPI.
int cmp_mpi_implementation(void) { return 0; }
int cmp_mpi_init(int *rank, int *size, int *serialized) { (void)rank; (void)size; (void)serialized; return -1; }
void cmp_mpi_processor_name(char *name, int capacity) { if (capacity > 0) name[0] = '\0'; }
int cmp_mpi_probe_any(int *source, int *tag, int *bytes) { (void)source; (void)tag; (void)bytes; return -1; }
int cmp_mpi_receive(void *buffer, int bytes, int source, int tag) { (void)buffer; (void)bytes; (void)source; (void)tag; return -1; }
int cmp_mpi_start_send(const void *buffer, int bytes, int destination, int tag, void **request) {
    (void)buffer; (void)bytes; (void)destination; (void)tag; (void)request; return -1;
}
int cmp_mpi_test(void *request) { (void)request; return -1; }
void cmp_mpi_abandon(void *request) { (void)request; }
void cmp_mpi_abort(int code) { (void)code; }
int cmp_mpi_finalize(void) { return -1; }

#endif

// Not MPI calls: what the transport's thread does between them, with or without the trait.

int cmp_mpi_wait_readable(const int *descriptors, int count, long timeout_ns) {
    struct pollfd few[16];
    struct pollfd *fds = few;
    if (count > 16) {
        // A host with many CPUs: as many workers to watch.
        fds = malloc(sizeof(struct pollfd) * (size_t)count);
        if (fds == NULL) return -ENOMEM;
    }
    for (int i = 0; i < count; i++) {
        fds[i].fd = descriptors[i];
        fds[i].events = POLLIN;
        fds[i].revents = 0;
    }
    struct timespec timeout = { .tv_sec = timeout_ns / 1000000000L, .tv_nsec = timeout_ns % 1000000000L };
    int rc = ppoll(fds, (nfds_t)count, &timeout, NULL);
    int error = errno;
    if (fds != few) free(fds);
    return rc < 0 ? -error : rc;
}

void cmp_mpi_precise_timers(void) {
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
}
