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
#include <sched.h>
#include <signal.h>
#include <spawn.h>
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

int cmp_answer_pipe(int fds[2]) {
    if (pipe2(fds, O_CLOEXEC) != 0) return -errno;
    // The parent reads without waiting (a caller of apply must never block in read); the
    // worker writes whole frames with blocking writes.
    int flags = fcntl(fds[0], F_GETFL);
    if (flags < 0 || fcntl(fds[0], F_SETFL, flags | O_NONBLOCK) != 0) {
        int error = errno;
        close(fds[0]);
        close(fds[1]);
        return -error;
    }
    // Room for a whole 1 MiB result, so a worker writing one rarely waits for the reader.
    (void)fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
    return 0;
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
