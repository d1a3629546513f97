/* A probe run inside test containers: makes each system call named on its command line
 * and prints "<name> ok" or "<name> <ERRNO>", so that tests see exactly what the seccomp
 * filter and the kernel decided. Compiled statically (gcc -static) into a busybox rootfs.
 *
 *   probe keyctl personality:0x40000 clone_newuser ...
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif

/* unshare() in a child, so that the probe itself keeps its namespaces and capabilities. */
static long unshare_in_child(int flags) {
    pid_t child = fork();
    if (child < 0)
        return -1;
    if (child == 0)
        _exit(unshare(flags) < 0 ? errno : 0);
    int status;
    if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    errno = WEXITSTATUS(status);
    return errno ? -1 : 0;
}

static long fork_with(unsigned long flags) {
    long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    return pid < 0 ? -1 : 0;
}

/* A child that becomes another user and execs sleep, then PTRACE_SEIZE on it: the
 * kernel lets only CAP_SYS_PTRACE trace a process of another user. */
static long ptrace_other_user(void) {
    int ready[2];
    if (pipe(ready) < 0)
        return -1;
    pid_t child = fork();
    if (child < 0)
        return -1;
    if (child == 0) {
        close(ready[0]);
        if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
            _exit(99);
        /* The pipe closes on exec: the parent reads EOF once the child runs sleep. */
        if (fcntl(ready[1], F_SETFD, FD_CLOEXEC) < 0)
            _exit(98);
        execl("/bin/sleep", "sleep", "5", (char *)NULL);
        _exit(97);
    }
    close(ready[1]);
    char byte;
    while (read(ready[0], &byte, 1) > 0) {
    }
    close(ready[0]);
    usleep(50000);
    long result = ptrace(PTRACE_SEIZE, child, 0, 0);
    int saved = errno;
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    errno = saved;
    return result;
}

static long probe(const char *name, const char *arg) {
    unsigned long value = arg ? strtoul(arg, NULL, 0) : 0;
    if (!strcmp(name, "keyctl")) /* KEYCTL_GET_KEYRING_ID of the session keyring */
        return syscall(SYS_keyctl, 0, -3, 0);
    if (!strcmp(name, "add_key"))
        return syscall(SYS_add_key, "user", "capsa-probe", "x", 1, -2 /* process keyring */);
    if (!strcmp(name, "personality")) {
        long old = personality(value);
        if (old != -1)
            personality(old);
        return old == -1 ? -1 : 0;
    }
    if (!strcmp(name, "clone"))
        return fork_with(0);
    if (!strcmp(name, "clone_newuser"))
        return fork_with(CLONE_NEWUSER);
    if (!strcmp(name, "clone_newns"))
        return fork_with(CLONE_NEWNS);
    if (!strcmp(name, "clone3")) /* size 0: EINVAL from a kernel that lets it through */
        return syscall(SYS_clone3, NULL, 0);
    if (!strcmp(name, "unshare_user"))
        return unshare_in_child(CLONE_NEWUSER);
    if (!strcmp(name, "unshare_net"))
        return unshare_in_child(CLONE_NEWNET);
    if (!strcmp(name, "mount")) {
        long result = mount("capsa-probe", "/dev/shm", "tmpfs", 0, NULL);
        if (result == 0)
            umount("/dev/shm");
        return result;
    }
    if (!strcmp(name, "swapon"))
        return swapon("/nonexistent-swap-file", 0);
    if (!strcmp(name, "reboot")) /* bad magic: EINVAL from a kernel that lets it through */
        return syscall(SYS_reboot, 0, 0, 0, NULL);
    if (!strcmp(name, "kcmp")) /* KCMP_FILE of fd 0 with itself */
        return syscall(SYS_kcmp, getpid(), getpid(), 0, 0, 0);
    if (!strcmp(name, "pidfd_getfd")) {
        long pidfd = syscall(SYS_pidfd_open, getpid(), 0);
        if (pidfd < 0)
            return -1;
        return syscall(SYS_pidfd_getfd, pidfd, 0, 0);
    }
    if (!strcmp(name, "process_vm_readv"))
        return syscall(SYS_process_vm_readv, getpid(), NULL, 0, NULL, 0, 0);
    if (!strcmp(name, "ptrace_other_user"))
        return ptrace_other_user();
    if (!strcmp(name, "socket"))
        return socket((int)value, value == 38 ? SOCK_SEQPACKET : SOCK_STREAM, 0);
    if (!strcmp(name, "chroot"))
        return chroot("/");
    fprintf(stderr, "probe: unknown probe %s\n", name);
    exit(2);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s", argv[i]);
        char *arg = strchr(name, ':');
        if (arg)
            *arg++ = '\0';
        errno = 0;
        long result = probe(name, arg);
        if (result < 0)
            printf("%s %s\n", argv[i], strerrorname_np(errno));
        else
            printf("%s ok\n", argv[i]);
        fflush(stdout);
    }
    return 0;
}
