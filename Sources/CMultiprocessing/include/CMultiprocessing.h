#ifndef C_MULTIPROCESSING_H
#define C_MULTIPROCESSING_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>
#include <spawn.h>

/// Creates a close-on-exec AF_UNIX stream socket pair. Returns 0 or -errno.
int cmp_socketpair(int fds[2]);

/// Spawns `path` with `argv`/`envp`; each of the `count` (at most 8) descriptors `fds[i]`
/// becomes descriptor `targets[i]` in the child (2, standard error, among them if asked),
/// standard input reads /dev/null, standard output and error are otherwise inherited, and every
/// other descriptor is closed (inherited ones without close-on-exec included, where the C
/// library can). Signal mask and dispositions are reset. Returns 0 or an errno value.
int cmp_spawn(const char *path, char *const argv[], char *const envp[],
              const int *fds, const int *targets, int count, pid_t *pid_out);

/// Adds to `actions` the closing of every descriptor from `lowest` up, where the C library can
/// (glibc 2.34 and later; elsewhere nothing is added). Returns 0 or an errno value.
int cmp_spawn_actions_close_from(posix_spawn_file_actions_t *actions, int lowest);

/// A close-on-exec pipe for a worker's answers: `fds[0]`, the parent's end, is O_NONBLOCK;
/// `fds[1]`, the worker's, blocks, and is made to hold 1 MiB where the system allows. Returns 0
/// or -errno.
int cmp_answer_pipe(int fds[2]);

/// A close-on-exec pipe for a worker's standard error: `fds[0]`, the parent's end, is
/// O_NONBLOCK; `fds[1]` becomes the worker's descriptor 2. Returns 0 or -errno.
int cmp_output_pipe(int fds[2]);

/// write(2) that never raises SIGPIPE: a pipe whose reader is gone gives -1 and EPIPE, on any
/// thread (SIGPIPE is blocked around the write and a SIGPIPE it caused is taken back).
ssize_t cmp_write_without_sigpipe(int fd, const void *buf, size_t len);

/// Whether `fd` is a socket.
int cmp_is_socket(int fd);

/// pidfd_open(2), or -errno.
int cmp_pidfd_open(pid_t pid);

/// pidfd_send_signal(2): signals exactly this process even if its pid was reused; 0 or -errno.
int cmp_pidfd_send_signal(int pidfd, int sig);

/// prctl(PR_SET_PDEATHSIG, sig); 0 or -errno.
int cmp_set_parent_death_signal(int sig);

/// prctl(PR_SET_NAME): the name `ps` and `top` show (15 bytes kept).
void cmp_set_thread_name(const char *name);

/// send(2) with MSG_NOSIGNAL (and MSG_DONTWAIT when `nonblocking`): a dead peer gives EPIPE, not SIGPIPE.
ssize_t cmp_send(int fd, const void *buf, size_t len, int nonblocking);

/// shutdown(fd, SHUT_WR).
int cmp_shutdown_write(int fd);

/// shutdown(fd, SHUT_RDWR).
int cmp_shutdown_both(int fd);

/// Wait-status decoding (the macros do not import into Swift).
int cmp_wifexited(int status);
int cmp_wexitstatus(int status);
int cmp_wifsignaled(int status);
int cmp_wtermsig(int status);

/// poll(2) for readability on one descriptor; returns >0 ready, 0 timeout, -errno.
int cmp_poll_readable(int fd, int timeout_ms);

/// poll(2) for readability on two descriptors (a negative one is ignored): a mask of those
/// ready (1 the first, 2 the second; hang-ups and errors count), 0 on timeout, or -errno.
int cmp_poll_readable_either(int first, int second, int timeout_ms);

/// Whether a socket's stream has ended or failed (a peek without waiting finds end of file or
/// an error); 0 while it may still bring data.
int cmp_socket_has_ended(int fd);

/// poll(2) for POLLOUT on one descriptor: >0 writable (or hung up/failed), 0 timeout, -errno.
int cmp_poll_writable(int fd, int timeout_ms);

/// CPUs this process may run on (sched_getaffinity), at least 1.
int cmp_available_cpus(void);

/// Makes malloc keep large freed blocks for reuse (mmap threshold 32 MiB, trim threshold
/// 256 MiB) unless the user tuned malloc through MALLOC_* variables. glibc only; no-op elsewhere.
void cmp_tune_malloc_for_large_payloads(void);

/// Puts every thread of this process under SCHED_BATCH (threads made later inherit it).
/// Returns 0, or the errno of the first thread that could not be changed. Linux only;
/// ENOSYS elsewhere.
int cmp_use_batch_scheduling(void);

/// The job list of the pool reader thread this is, or NULL on any other thread.
void *cmp_thread_reader_jobs(void);
void cmp_set_thread_reader_jobs(void *jobs);

/// Reads what is there, waiting for input like a blocking read(2) (returns the same), but
/// waits in poll(2) for POLLIN only. A thread blocked in read(2) on a socket is also woken each
/// time the peer reads what this side sent (the "write space" wake-up shares the wait queue),
/// which on a channel used both ways is a wasted context switch per message. `is_socket`: read
/// with recv(MSG_DONTWAIT); otherwise with read(2), on a descriptor that must be O_NONBLOCK.
/// `likely_ready`: try to read before waiting (one system call when input is there);
/// otherwise wait first (one system call before sleeping).
ssize_t cmp_read_waiting_for_input(int fd, void *buf, size_t len, int likely_ready, int is_socket);

/// Reads what the descriptor has at once (-1 and EAGAIN when nothing is there): recv(2) with
/// MSG_DONTWAIT on a socket, read(2) on an O_NONBLOCK descriptor otherwise.
ssize_t cmp_read_available(int fd, void *buf, size_t len, int is_socket);

/// CLOCK_MONOTONIC in nanoseconds.
uint64_t cmp_monotonic_ns(void);

/// errno of the calling thread.
int cmp_errno(void);

/// The name of the environment variable that marks a process as a pool worker.
#define CMP_WORKER_MARKER "SWIFT_MULTIPROCESSING_WORKER"

/// The name of the environment variable that gives a worker its parent's pid.
#define CMP_WORKER_PARENT_PID "SWIFT_MULTIPROCESSING_PARENT_PID"

/// The name of the environment variable that tells a worker where it starts serving: "load"
/// (the load-time hook, before `main`) or "main" (where its run of `main` first reaches
/// `Multiprocessing.bootstrap()` or a pool's creation, top-level code above it having run).
#define CMP_WORKER_START "SWIFT_MULTIPROCESSING_START"

/// The exit status of a worker whose run of `main` ended before it reached its start point.
#define CMP_WORKER_EXIT_NO_START_POINT 70

/// Marks this worker as started (its serve loop is about to run): from now on its exit is the
/// serve loop's, not a `main` that never reached `bootstrap()`.
void cmp_worker_did_start(void);

/// How this program's entry point was written, read from the Swift entry-point record the
/// compiler emits in the executable: 1 for an `@main` type, 0 for top-level code (`main.swift`),
/// -1 when there is no record to read.
int cmp_program_entry_kind(void);

/// Whether a test library (XCTest or swift-testing) is loaded: the program is a test runner,
/// whose `main` a worker must never run.
int cmp_is_test_runner(void);


// The wake board: shared pages per pool. An idle worker sleeps on a futex in them instead
// of in `poll` on its socket, so the parent can send several workers their chunks and then wake
// them all with one system call (see `WakeBoard.swift`). Word 0 is the futex, counting rings;
// word CMP_WAKE_BOARD_FIRST_STATE + s is slot s's state, 1 while its worker sleeps; word
// CMP_WAKE_BOARD_FIRST_RUNG + s counts the rings for slot s. Words CMP_WAKE_BOARD_FIRST_CLAIM
// on are claim words: 0 while a chunk offered to several workers is free, then the claimant's
// slot + 1 (see `ChunkGroup.swift`). Word CMP_WAKE_BOARD_FIRST_TAKEN + s counts the chunks slot
// s's worker has taken to run (a group's excepted): the parent tells from it, after the
// worker's death, the chunks it had started from those it never read. Past the words, each slot
// has a shelf of CMP_WAKE_BOARD_SHELF_BYTES where its worker keeps the answers it holds back
// (see `AnswerShelf.swift`): a 32-bit length, then that many bytes of answer frames from byte 8.

/// How many worker slots a board has.
#define CMP_WAKE_BOARD_SLOTS 1000
#define CMP_WAKE_BOARD_FIRST_STATE 16
#define CMP_WAKE_BOARD_FIRST_RUNG 1024
#define CMP_WAKE_BOARD_FIRST_CLAIM 2048
#define CMP_WAKE_BOARD_CLAIMS 2048
#define CMP_WAKE_BOARD_FIRST_TAKEN 4096
#define CMP_WAKE_BOARD_FIRST_SHELF_BYTE 20480
#define CMP_WAKE_BOARD_SHELF_BYTES 4096
#define CMP_WAKE_BOARD_BYTES (CMP_WAKE_BOARD_FIRST_SHELF_BYTE + CMP_WAKE_BOARD_SLOTS * CMP_WAKE_BOARD_SHELF_BYTES)
/// The claim a parent takes to withdraw a chunk (no slot has it).
#define CMP_WAKE_BOARD_PARENT_CLAIM 0xFFFFFFFFu

/// A close-on-exec memfd of CMP_WAKE_BOARD_BYTES zero bytes, or -errno (Linux only).
int cmp_wake_board_create(void);

/// Maps a board's memfd shared, read-write; NULL on failure.
void *cmp_wake_board_map(int fd);

/// Unmaps a board.
void cmp_wake_board_unmap(void *board);

/// A close-on-exec memfd of `bytes` zero bytes that can be sealed, for a shared array; -errno on
/// failure (Linux only).
int cmp_shared_create(size_t bytes);

/// Reopens another process's descriptor through /proc (`/proc/PID/fd/FD`), read-write or
/// read-only, close-on-exec, and checks that it is the file with inode `inode` and `bytes`
/// bytes; the new descriptor, or -errno (-ESTALE when it is another file).
int cmp_shared_open(int pid, int fd, uint64_t inode, size_t bytes, int writable);

/// The inode number of `fd`'s file, or 0 if fstat fails.
uint64_t cmp_shared_inode(int fd);

/// Maps `bytes` of `fd` shared, read-write or read-only; NULL on failure (errno set). A zero
/// byte count maps one page.
void *cmp_shared_map(int fd, size_t bytes, int writable);

/// Replaces the read-write mapping at `base` with a read-only one of the same file at the same
/// address, then seals the file against writes and resizing (F_SEAL_WRITE, F_SEAL_SHRINK,
/// F_SEAL_GROW, F_SEAL_SEAL); 0, or -errno (-EBUSY: another process still maps it writable; the
/// mapping is then read-write again).
int cmp_shared_freeze(int fd, void *base, size_t bytes);

/// Whether `fd` carries F_SEAL_WRITE.
int cmp_shared_is_sealed(int fd);

/// A number that differs between machines and between pid namespaces of one machine: a hash of
/// the kernel's boot id and of this process's pid namespace (a handle's pid and descriptor mean
/// something only where both are the same); 0 if neither can be read.
uint64_t cmp_shared_machine(void);

/// Whether process `pid` still holds, as descriptor `fd`, the file with inode `inode`.
int cmp_shared_still_held(int pid, int fd, uint64_t inode);

/// Unmaps what `cmp_shared_map` mapped.
void cmp_shared_unmap(void *base, size_t bytes);

/// The offset of the first occurrence of `needle` in `haystack` at or after `from`, or -1
/// (glibc's `memmem`, which Swift's Glibc module does not export).
long cmp_find_bytes(const void *haystack, size_t count, size_t from, const void *needle, size_t needle_count);

/// For slot `slot`'s worker: returns once `fd` is readable (data, end of stream or error).
/// Between checks it sleeps on the board's futex, marked asleep, for at most `timeout_ms`: a
/// ring it missed would cost that long, never a hang. `*unrung` (start at -1) carries, from a
/// sleep that ended by timeout with data waiting, the slot's ring count then; returns 1 if no
/// ring for the slot came since (the parent missed one), else 0. A ring that comes late (its
/// sender was not run for `timeout_ms`) is not a missed one.
int cmp_wake_board_sleep_until_readable(void *board, int slot, int fd, int timeout_ms, int64_t *unrung);

/// Whether slot `slot`'s worker is asleep on the board (after a full fence, so a send made
/// before the call is visible to a worker that marks itself asleep after it).
int cmp_wake_board_is_asleep(void *board, int slot);

/// Marks slot `slot` awake with no chunk taken and an empty shelf (a new worker takes a slot
/// left by a dead one).
void cmp_wake_board_reset(void *board, int slot);

/// Wakes the workers of these slots, counting a ring for each: one system call for them all
/// (workers sharing a bit, slot % 32, wake each other for nothing).
void cmp_wake_board_ring(void *board, const int32_t *slots, int count);

/// How many rings slot `slot` has had.
uint32_t cmp_wake_board_rings(void *board, int slot);

/// For slot `slot`'s worker: counts one more chunk taken to run (or skip), before it starts.
void cmp_wake_board_count_taken(void *board, int slot);

/// Slot `slot`'s shelf: its length word, then its bytes from byte 8.
void *cmp_wake_board_shelf(void *board, int slot);

/// How many bytes a shelf holds (acquire: its bytes are visible).
uint32_t cmp_shelf_length(const void *shelf);

/// Sets how many bytes a shelf holds (release: its bytes are written first).
void cmp_shelf_set_length(void *shelf, uint32_t length);

/// How many chunks slot `slot`'s worker has taken since the slot was reset.
uint32_t cmp_wake_board_taken(void *board, int slot);

/// Sets claim words [first, first + count) free, before their chunks are offered.
void cmp_wake_board_free_claims(void *board, int first, int count);

/// Takes claim word `index` for `claimant` if it is free: 1 if taken, 0 if someone has it.
int cmp_wake_board_claim(void *board, int index, uint32_t claimant);

/// Who holds claim word `index` (0: nobody).
uint32_t cmp_wake_board_claimant(void *board, int index);

/// Whether the Swift runtime is linked into the program itself (`--static-swift-stdlib`) rather
/// than loaded from shared libraries.
int cmp_swift_runtime_is_static(void);

/// Whether a symbol of that name is defined in the program or a shared library it has loaded,
/// as `dlsym` sees them (a statically linked program's own symbols are not exported).
int cmp_symbol_is_defined(const char *name);

#endif
