/*
 * A disk that fails on cue, for the storage-fault tests: loaded into the job with LD_PRELOAD,
 * it makes chosen write, fsync, fdatasync and rename calls fail the way a failing disk makes
 * them fail (EIO; ENOSPC for writes), before they reach the file. Nothing of the job is
 * changed or mocked: its real calls to the C library fail.
 *
 * EMBERFLOW_FAIL=<call>:<path part>:<n>:<count>[,<rule>...]
 *   call       write | fsync | rename  (fsync covers fdatasync)
 *   path part  only calls on a path containing it count (rename: either path)
 *   n          the n-th such call (from 1) fails ...
 *   count      ... and the count-1 after it; 0: every one from the n-th on
 * EMBERFLOW_FAIL_LOG=<file>: one line per failed call, "<call> <path>".
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_RULES 8

struct rule {
    char call[16];
    char part[256];
    long from;
    long count;
    atomic_long seen;
};

static struct rule rules[MAX_RULES];
static int nrules = -1;
static __thread int inside;

static void parse(void) {
    nrules = 0;
    const char *spec = getenv("EMBERFLOW_FAIL");
    if (!spec) return;
    char buf[2048];
    strncpy(buf, spec, sizeof buf - 1);
    buf[sizeof buf - 1] = 0;
    char *save = NULL;
    for (char *r = strtok_r(buf, ",", &save); r && nrules < MAX_RULES; r = strtok_r(NULL, ",", &save)) {
        struct rule *x = &rules[nrules];
        char call[16] = {0}, part[256] = {0};
        long from = 0, count = 0;
        if (sscanf(r, "%15[^:]:%255[^:]:%ld:%ld", call, part, &from, &count) == 4) {
            strcpy(x->call, call);
            strcpy(x->part, part);
            x->from = from;
            x->count = count;
            atomic_init(&x->seen, 0);
            nrules++;
        }
    }
}

static void note(const char *call, const char *path) {
    const char *log = getenv("EMBERFLOW_FAIL_LOG");
    if (!log) return;
    static int (*real_open)(const char *, int, ...);
    static ssize_t (*real_write)(int, const void *, size_t);
    if (!real_open) real_open = dlsym(RTLD_NEXT, "open");
    if (!real_write) real_write = dlsym(RTLD_NEXT, "write");
    int fd = real_open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return;
    char line[600];
    int n = snprintf(line, sizeof line, "%s %s\n", call, path);
    if (n > 0) real_write(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    close(fd);
}

/* Whether this call on `path` (or `other`) is one to fail. */
static int should_fail(const char *call, const char *path, const char *other) {
    if (inside) return 0;
    if (nrules < 0) parse();
    for (int i = 0; i < nrules; i++) {
        struct rule *r = &rules[i];
        if (strcmp(r->call, call) != 0) continue;
        if (!(path && strstr(path, r->part)) && !(other && strstr(other, r->part))) continue;
        long k = atomic_fetch_add(&r->seen, 1) + 1;
        if (k >= r->from && (r->count == 0 || k < r->from + r->count)) {
            inside = 1;
            note(call, path);
            inside = 0;
            return 1;
        }
    }
    return 0;
}

static int fd_path(int fd, char *out, size_t len) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, len - 1);
    if (n < 0) return 0;
    out[n] = 0;
    return 1;
}

static int fd_fails(const char *call, int fd) {
    if (inside) return 0;
    if (nrules < 0) parse();
    if (nrules == 0) return 0;
    char path[1024];
    if (!fd_path(fd, path, sizeof path)) return 0;
    return should_fail(call, path, NULL);
}

ssize_t write(int fd, const void *buf, size_t n) {
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = dlsym(RTLD_NEXT, "write");
    if (fd > 2 && fd_fails("write", fd)) {
        errno = ENOSPC;
        return -1;
    }
    return real(fd, buf, n);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fsync");
    if (fd_fails("fsync", fd)) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fdatasync");
    if (fd_fails("fsync", fd)) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

int rename(const char *from, const char *to) {
    static int (*real)(const char *, const char *);
    if (!real) real = dlsym(RTLD_NEXT, "rename");
    if (should_fail("rename", from, to)) {
        errno = EIO;
        return -1;
    }
    return real(from, to);
}
