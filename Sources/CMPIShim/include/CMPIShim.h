#ifndef C_MPI_SHIM_H
#define C_MPI_SHIM_H

#include <stddef.h>
#include <stdint.h>

// The few MPI calls the cluster backend makes, with plain C types: MPI's handle types and
// constants differ between Open MPI and MPICH and do not import into Swift. Every function is
// called by one thread at a time (MPI_THREAD_SERIALIZED; with only MPI_THREAD_FUNNELED, by the
// one that called cmp_mpi_init). Functions
// return 0 or an MPI error code unless they say otherwise. Built empty without the package's MPI
// trait.

/// Which MPI the shim was built against: 1 Open MPI, 2 MPICH, 3 another, 0 none (no trait).
int cmp_mpi_implementation(void);

/// MPI_Init_thread (SERIALIZED) with errors returned, not fatal; the rank and the world's size,
/// and whether threads other than the calling one may make MPI calls (one at a time).
int cmp_mpi_init(int *rank, int *size, int *serialized);

/// MPI_Get_processor_name into `name` (at most `capacity` bytes, NUL-terminated).
void cmp_mpi_processor_name(char *name, int capacity);

/// MPI_Iprobe from any rank with any tag: 1 and the message's source, tag and byte count if
/// one is there, 0 if none, -1 on error.
int cmp_mpi_probe_any(int *source, int *tag, int *bytes);

/// MPI_Recv of a message already probed (it completes at once).
int cmp_mpi_receive(void *buffer, int bytes, int source, int tag);

/// MPI_Isend; `*request` is an opaque handle for cmp_mpi_test. The buffer must stay as it is
/// until the send completes.
int cmp_mpi_start_send(const void *buffer, int bytes, int destination, int tag, void **request);

/// MPI_Test: 1 when the send completed (the handle is freed), 0 if not yet, -1 on error (freed).
int cmp_mpi_test(void *request);

/// Gives up on a send that may never complete (its peer is gone); the handle is freed.
void cmp_mpi_abandon(void *request);

/// MPI_Abort of the whole job.
void cmp_mpi_abort(int code);

/// MPI_Finalize.
int cmp_mpi_finalize(void);

/// Waits until one of `descriptors` is readable, at most
/// `timeout_ns`: the number readable, 0 on timeout, -errno on error. Not an MPI call: the
/// transport's thread waits so for its rank's own workers, whose pipes the kernel can wake it on.
int cmp_mpi_wait_readable(const int *descriptors, int count, long timeout_ns);

/// Lets the calling thread's timed waits end close to their time rather than within the
/// kernel's default slack: the transport's thread takes very short sleeps.
void cmp_mpi_precise_timers(void);

#endif
