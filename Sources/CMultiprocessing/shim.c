#define _GNU_SOURCE
#include "CMultiprocessing.h"

#include <dirent.h>
#include <errno.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <limits.h>
#if defined(__linux__)
#include <linux/futex.h>
#endif
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int cmp_socketpair(int fds[2]) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return -errno;
    return 0;
}

int cmp_spawn_actions_close_from(posix_spawn_file_actions_t *actions, int lowest) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
#else
    (void)actions;
    (void)lowest;
    return 0;
#endif
}

int cmp_spawn(const char *path, char *const argv[], char *const envp[],
              const int *fds, const int *targets, int count, pid_t *pid_out) {
    // Every source is first moved above every target: a dup2 onto a number that is still some
    // other source's would lose it, and one onto the same number would keep FD_CLOEXEC.
    int highest = 0;
    for (int i = 0; i < count; i++) if (targets[i] > highest) highest = targets[i];
    int moved[8];
    if (count > 8) return EINVAL;
    int rc = 0;
    int made = 0;
    for (; made < count; made++) {
        moved[made] = fcntl(fds[made], F_DUPFD_CLOEXEC, highest + 1);
        if (moved[made] < 0) { rc = errno; goto out_moved; }
    }
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) goto out_moved;
    for (int i = 0; i < count; i++) {
        rc = posix_spawn_file_actions_adddup2(&actions, moved[i], targets[i]);
        if (rc != 0) goto out_actions;
    }
    // A worker must not read what the user types to the parent, as in Python's workers.
    rc = posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (rc != 0) goto out_actions;
    // Descriptors the parent inherited without close-on-exec (a shell's, say) would otherwise
    // pass into every worker and on to the processes its tasks start.
    rc = cmp_spawn_actions_close_from(&actions, highest + 1);
    if (rc != 0) goto out_actions;
    rc = posix_spawnattr_init(&attr);
    if (rc != 0) goto out_actions;
    sigset_t empty, all;
    sigemptyset(&empty);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawn(pid_out, path, &actions, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
out_actions:
    posix_spawn_file_actions_destroy(&actions);
out_moved:
    for (int i = 0; i < made; i++) close(moved[i]);
    return rc;
}

/// A close-on-exec pipe whose read end never blocks; -errno on failure, nothing left open.
static int pipe_with_nonblocking_reads(int fds[2]) {
    if (pipe2(fds, O_CLOEXEC) != 0) return -errno;
    int flags = fcntl(fds[0], F_GETFL);
    if (flags < 0 || fcntl(fds[0], F_SETFL, flags | O_NONBLOCK) != 0) {
        int error = errno;
        close(fds[0]);
        close(fds[1]);
        return -error;
    }
    return 0;
}

int cmp_answer_pipe(int fds[2]) {
    // The parent reads without waiting (a caller of apply must never block in read); the
    // worker writes whole frames with blocking writes.
    int rc = pipe_with_nonblocking_reads(fds);
    if (rc != 0) return rc;
    // Room for a whole 1 MiB result, so a worker writing one rarely waits for the reader.
    (void)fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
    return 0;
}

int cmp_output_pipe(int fds[2]) {
    // One thread reads every worker's pipe in turn: a read must never wait.
    return pipe_with_nonblocking_reads(fds);
}

ssize_t cmp_write_without_sigpipe(int fd, const void *buf, size_t len) {
    sigset_t pipe_only, old, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    // A SIGPIPE already pending for this thread or the process is not ours to take back.
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    ssize_t written = write(fd, buf, len);
    int error = errno;
    if (written < 0 && error == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_only, NULL, &zero) < 0 && errno == EINTR) {}
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = error;
    return written;
}

int cmp_is_socket(int fd) {
    struct stat info;
    return fstat(fd, &info) == 0 && S_ISSOCK(info.st_mode);
}

int cmp_pidfd_open(pid_t pid) {
    long fd = syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) return -errno;
    return (int)fd;
}

int cmp_pidfd_send_signal(int pidfd, int sig) {
    if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) != 0) return -errno;
    return 0;
}

int cmp_set_parent_death_signal(int sig) {
    if (prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0) != 0) return -errno;
    return 0;
}

void cmp_set_thread_name(const char *name) {
    prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}

ssize_t cmp_send(int fd, const void *buf, size_t len, int nonblocking) {
    return send(fd, buf, len, MSG_NOSIGNAL | (nonblocking ? MSG_DONTWAIT : 0));
}

int cmp_shutdown_write(int fd) { return shutdown(fd, SHUT_WR); }
int cmp_shutdown_both(int fd) { return shutdown(fd, SHUT_RDWR); }

int cmp_wifexited(int status) { return WIFEXITED(status); }
int cmp_wexitstatus(int status) { return WEXITSTATUS(status); }
int cmp_wifsignaled(int status) { return WIFSIGNALED(status); }
int cmp_wtermsig(int status) { return WTERMSIG(status); }

int cmp_poll_readable(int fd, int timeout_ms) {
    struct pollfd p = { .fd = fd, .events = POLLIN, .revents = 0 };
    int rc = poll(&p, 1, timeout_ms);
    if (rc < 0) return -errno;
    return rc;
}

int cmp_poll_readable_either(int first, int second, int timeout_ms) {
    struct pollfd p[2] = {
        { .fd = first, .events = POLLIN, .revents = 0 },
        { .fd = second, .events = POLLIN, .revents = 0 },
    };
    int rc = poll(p, 2, timeout_ms);
    if (rc < 0) return -errno;
    return (p[0].revents != 0 ? 1 : 0) | (p[1].revents != 0 ? 2 : 0);
}

int cmp_socket_has_ended(int fd) {
    char byte;
    for (;;) {
        ssize_t count = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (count > 0) return 0;
        if (count == 0) return 1;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : 1;
    }
}

int cmp_poll_writable(int fd, int timeout_ms) {
    struct pollfd p = { .fd = fd, .events = POLLOUT, .revents = 0 };
    int rc = poll(&p, 1, timeout_ms);
    if (rc < 0) return -errno;
    return rc;
}

int cmp_available_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int count = CPU_COUNT(&set);
        if (count > 0) return count;
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

void cmp_tune_malloc_for_large_payloads(void) {
#if defined(__GLIBC__)
    if (getenv("MALLOC_MMAP_THRESHOLD_") == NULL) mallopt(M_MMAP_THRESHOLD, 32 << 20);
    if (getenv("MALLOC_TRIM_THRESHOLD_") == NULL) mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

int cmp_use_batch_scheduling(void) {
#if defined(__linux__)
    DIR *tasks = opendir("/proc/self/task");
    if (tasks == NULL) return errno;
    int rc = 0;
    struct sched_param param = { .sched_priority = 0 };
    struct dirent *entry;
    while ((entry = readdir(tasks)) != NULL) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        pid_t tid = (pid_t)atoi(entry->d_name);
        if (sched_setscheduler(tid, SCHED_BATCH, &param) != 0 && rc == 0) rc = errno;
    }
    closedir(tasks);
    return rc;
#else
    return ENOSYS;
#endif
}

int cmp_errno(void) { return errno; }

static _Thread_local void *reader_jobs = NULL;
void *cmp_thread_reader_jobs(void) { return reader_jobs; }
void cmp_set_thread_reader_jobs(void *jobs) { reader_jobs = jobs; }

uint64_t cmp_monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/// A read that does not wait: recv(MSG_DONTWAIT) on a socket; plain read(2) otherwise, where
/// the descriptor is expected to be O_NONBLOCK.
static ssize_t read_now(int fd, void *buf, size_t len, int is_socket) {
    return is_socket ? recv(fd, buf, len, MSG_DONTWAIT) : read(fd, buf, len);
}

ssize_t cmp_read_waiting_for_input(int fd, void *buf, size_t len, int likely_ready, int is_socket) {
    int wait_first = !likely_ready;
    for (;;) {
        if (wait_first) {
            struct pollfd waiting = { .fd = fd, .events = POLLIN, .revents = 0 };
            if (poll(&waiting, 1, -1) < 0 && errno != EINTR) return -1;
        }
        ssize_t count = read_now(fd, buf, len, is_socket);
        if (count >= 0) return count;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        wait_first = 1;
    }
}

ssize_t cmp_read_available(int fd, void *buf, size_t len, int is_socket) {
    return read_now(fd, buf, len, is_socket);
}

#if defined(__linux__)
/// A memfd of `bytes` zeroed bytes; -errno on failure, nothing left open.
static int memfd_of_size(const char *name, unsigned int flags, size_t bytes) {
    int fd = memfd_create(name, flags);
    if (fd < 0) return -errno;
    if (ftruncate(fd, (off_t)bytes) != 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}
#endif

int cmp_wake_board_create(void) {
#if defined(__linux__)
    return memfd_of_size("swift-multiprocessing-wake-board", MFD_CLOEXEC, CMP_WAKE_BOARD_BYTES);
#else
    return -ENOSYS;
#endif
}

void *cmp_wake_board_map(int fd) {
    void *board = mmap(NULL, CMP_WAKE_BOARD_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return board == MAP_FAILED ? NULL : board;
}

void cmp_wake_board_unmap(void *board) {
    if (board != NULL) munmap(board, CMP_WAKE_BOARD_BYTES);
}

int cmp_shared_create(size_t bytes) {
#if defined(__linux__)
    return memfd_of_size("swift-multiprocessing-shared-array", MFD_CLOEXEC | MFD_ALLOW_SEALING, bytes);
#else
    (void)bytes;
    return -ENOSYS;
#endif
}

uint64_t cmp_shared_inode(int fd) {
    struct stat info;
    if (fstat(fd, &info) != 0) return 0;
    return (uint64_t)info.st_ino;
}

int cmp_shared_open(int pid, int fd, uint64_t inode, size_t bytes, int writable) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, fd);
    int opened;
    do { opened = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC); } while (opened < 0 && errno == EINTR);
    if (opened < 0) return -errno;
    struct stat info;
    if (fstat(opened, &info) != 0 || (uint64_t)info.st_ino != inode || (size_t)info.st_size != bytes) {
        close(opened);
        return -ESTALE;
    }
    return opened;
}

void *cmp_shared_map(int fd, size_t bytes, int writable) {
    void *base = mmap(NULL, bytes == 0 ? 1 : bytes, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
    return base == MAP_FAILED ? NULL : base;
}

int cmp_shared_freeze(int fd, void *base, size_t bytes) {
#if defined(__linux__)
    size_t length = bytes == 0 ? 1 : bytes;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    // A read-only descriptor's shared mapping does not count as writable, so the seal can apply.
    int readonly = open(path, O_RDONLY | O_CLOEXEC);
    if (readonly < 0) return -errno;
    void *again = mmap(base, length, PROT_READ, MAP_SHARED | MAP_FIXED, readonly, 0);
    int error = again == MAP_FAILED ? errno : 0;
    close(readonly);
    if (error != 0) return -error;
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        error = errno;
        mmap(base, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
        return -error;
    }
    return 0;
#else
    return -ENOSYS;
#endif
}

int cmp_shared_is_sealed(int fd) {
#if defined(__linux__)
    int seals = fcntl(fd, F_GET_SEALS);
    return seals >= 0 && (seals & F_SEAL_WRITE) != 0;
#else
    return 0;
#endif
}

uint64_t cmp_shared_machine(void) {
    uint64_t hash = 14695981039346656037ull;  // FNV-1a
    char boot[64] = {0};
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t got = read(fd, boot, sizeof boot - 1);
        close(fd);
        for (ssize_t i = 0; i < got; i++) hash = (hash ^ (unsigned char)boot[i]) * 1099511628211ull;
    }
    struct stat info;
    if (stat("/proc/self/ns/pid", &info) == 0) {
        uint64_t ino = (uint64_t)info.st_ino;
        for (int i = 0; i < 8; i++) hash = (hash ^ ((ino >> (8 * i)) & 0xff)) * 1099511628211ull;
    }
    return hash;
}

int cmp_shared_still_held(int pid, int fd, uint64_t inode) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, fd);
    struct stat info;
    return stat(path, &info) == 0 && (uint64_t)info.st_ino == inode;
}

void cmp_shared_unmap(void *base, size_t bytes) {
    if (base != NULL) munmap(base, bytes == 0 ? 1 : bytes);
}

long cmp_find_bytes(const void *haystack, size_t count, size_t from, const void *needle, size_t needle_count) {
    if (haystack == NULL || from >= count) return -1;
    const char *start = (const char *)haystack;
    const char *found = memmem(start + from, count - from, needle, needle_count);
    return found == NULL ? -1 : (long)(found - start);
}

static uint32_t *board_word(void *board, int index) { return (uint32_t *)board + index; }

static int readable_now(int fd) {
    struct pollfd entry = { .fd = fd, .events = POLLIN, .revents = 0 };
    int ready;
    do { ready = poll(&entry, 1, 0); } while (ready < 0 && errno == EINTR);
    return ready != 0;  // an error counts: the caller's read reports it
}

int cmp_wake_board_sleep_until_readable(void *board, int slot, int fd, int timeout_ms, int64_t *unrung) {
#if defined(__linux__)
    uint32_t *rings = board_word(board, 0);
    uint32_t *state = board_word(board, CMP_WAKE_BOARD_FIRST_STATE + slot);
    uint32_t *rung = board_word(board, CMP_WAKE_BOARD_FIRST_RUNG + slot);
    int missed = *unrung >= 0 && __atomic_load_n(rung, __ATOMIC_SEQ_CST) == (uint32_t)*unrung;
    *unrung = -1;
    for (;;) {
        // Asleep first, then the ring count, then the socket: a parent that sent after our
        // check sees us asleep and rings, which changes the count the futex compares against.
        __atomic_store_n(state, 1, __ATOMIC_SEQ_CST);
        uint32_t seen = __atomic_load_n(rings, __ATOMIC_SEQ_CST);
        if (readable_now(fd)) break;
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) { deadline.tv_sec += 1; deadline.tv_nsec -= 1000000000L; }
        long rc = syscall(SYS_futex, rings, FUTEX_WAIT_BITSET, seen, &deadline, NULL, 1u << (slot % 32));
        if (rc != 0 && errno == ETIMEDOUT && readable_now(fd)) {
            *unrung = __atomic_load_n(rung, __ATOMIC_SEQ_CST);
            break;
        }
    }
    __atomic_store_n(state, 0, __ATOMIC_SEQ_CST);
    return missed;
#else
    (void)board; (void)slot; (void)timeout_ms; (void)unrung;
    struct pollfd entry = { .fd = fd, .events = POLLIN, .revents = 0 };
    while (poll(&entry, 1, -1) < 0 && errno == EINTR) {}
    return 0;
#endif
}

int cmp_wake_board_is_asleep(void *board, int slot) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return __atomic_load_n(board_word(board, CMP_WAKE_BOARD_FIRST_STATE + slot), __ATOMIC_SEQ_CST) != 0;
}

void cmp_wake_board_reset(void *board, int slot) {
    __atomic_store_n(board_word(board, CMP_WAKE_BOARD_FIRST_STATE + slot), 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(board_word(board, CMP_WAKE_BOARD_FIRST_TAKEN + slot), 0, __ATOMIC_SEQ_CST);
    cmp_shelf_set_length(cmp_wake_board_shelf(board, slot), 0);
}

void *cmp_wake_board_shelf(void *board, int slot) {
    return (char *)board + CMP_WAKE_BOARD_FIRST_SHELF_BYTE + (size_t)slot * CMP_WAKE_BOARD_SHELF_BYTES;
}

uint32_t cmp_shelf_length(const void *shelf) {
    return __atomic_load_n((const uint32_t *)shelf, __ATOMIC_ACQUIRE);
}

void cmp_shelf_set_length(void *shelf, uint32_t length) {
    __atomic_store_n((uint32_t *)shelf, length, __ATOMIC_RELEASE);
}

void cmp_wake_board_count_taken(void *board, int slot) {
    // Only the slot's worker writes the word; the parent reads it once the worker is gone.
    uint32_t *taken = board_word(board, CMP_WAKE_BOARD_FIRST_TAKEN + slot);
    __atomic_store_n(taken, __atomic_load_n(taken, __ATOMIC_RELAXED) + 1, __ATOMIC_RELEASE);
}

uint32_t cmp_wake_board_taken(void *board, int slot) {
    return __atomic_load_n(board_word(board, CMP_WAKE_BOARD_FIRST_TAKEN + slot), __ATOMIC_ACQUIRE);
}

void cmp_wake_board_ring(void *board, const int32_t *slots, int count) {
#if defined(__linux__)
    uint32_t mask = 0;
    for (int i = 0; i < count; i++) {
        __atomic_add_fetch(board_word(board, CMP_WAKE_BOARD_FIRST_RUNG + slots[i]), 1, __ATOMIC_SEQ_CST);
        mask |= 1u << (slots[i] % 32);
    }
    if (mask == 0) return;
    uint32_t *rings = board_word(board, 0);
    __atomic_add_fetch(rings, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, rings, FUTEX_WAKE_BITSET, INT_MAX, NULL, NULL, mask);
#else
    (void)board; (void)slots; (void)count;
#endif
}

uint32_t cmp_wake_board_rings(void *board, int slot) {
    return __atomic_load_n(board_word(board, CMP_WAKE_BOARD_FIRST_RUNG + slot), __ATOMIC_SEQ_CST);
}

void cmp_wake_board_free_claims(void *board, int first, int count) {
    for (int i = first; i >= 0 && i < first + count && i < CMP_WAKE_BOARD_CLAIMS; i++) {
        __atomic_store_n(board_word(board, CMP_WAKE_BOARD_FIRST_CLAIM + i), 0, __ATOMIC_SEQ_CST);
    }
}

int cmp_wake_board_claim(void *board, int index, uint32_t claimant) {
    if (index < 0 || index >= CMP_WAKE_BOARD_CLAIMS) return 0;
    uint32_t expected = 0;
    return __atomic_compare_exchange_n(board_word(board, CMP_WAKE_BOARD_FIRST_CLAIM + index), &expected, claimant,
                                       0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

uint32_t cmp_wake_board_claimant(void *board, int index) {
    if (index < 0 || index >= CMP_WAKE_BOARD_CLAIMS) return 0;
    return __atomic_load_n(board_word(board, CMP_WAKE_BOARD_FIRST_CLAIM + index), __ATOMIC_SEQ_CST);
}
