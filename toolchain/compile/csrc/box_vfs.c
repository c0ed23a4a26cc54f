/* A read-only file system linked into a box: the packed files (the standard library, gems'
 * Ruby files, the app) served from a data segment written at pack time.
 *
 * wasi-libc turns every path into (preopened directory fd, relative path) and every file
 * operation into a __wasi_* call. The box is linked with --wrap for those calls: a call on
 * one of this file system's descriptors is answered here, any other goes to the host's WASI
 * unchanged. The image is mounted at / as a preopened directory, so wasi-libc resolves paths
 * into it as into any preopen (the longest matching prefix wins: a directory the host grants,
 * such as /work, is the host's). Its descriptors start at VFS_FD_BASE, far above the
 * descriptors a host hands out. Nothing here writes: opening for writing, creating,
 * renaming or removing inside it fails with EROFS.
 *
 * The image (toolchain/compile/box.py writes it; all integers little-endian):
 *   header:   "RBOXVFS1", u32 entry count, u32 children offset, u32 names offset, u32 data
 *             offset, u64 mtime (ns) of every entry
 *   entries:  per entry: u32 name offset, u32 name length, u32 kind (3 dir, 4 file),
 *             u32 parent, u64 data offset (file) or first child (dir), u64 size or child count
 *   children: u32 entry indexes, each directory's children together and sorted by name
 * Entry 0 is the root directory.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

extern const uint8_t rb_box_image[];

#define VFS_FD_BASE 0x100000u
#define KIND_DIR __WASI_FILETYPE_DIRECTORY
#define KIND_FILE __WASI_FILETYPE_REGULAR_FILE
#define DEVICE 0x52425846u /* "RBXF": this file system's st_dev */

typedef struct {
    uint32_t name, name_len, kind, parent;
    uint64_t first, size;
} entry_t;

typedef struct {
    bool used;
    uint32_t entry;
    uint64_t offset;
} open_file_t;

static open_file_t *open_files;
static uint32_t open_capacity;

static const entry_t *entries(void) { return (const entry_t *)(rb_box_image + 32); }
static uint32_t image_u32(size_t at) { uint32_t n; memcpy(&n, rb_box_image + at, 4); return n; }
static uint64_t image_mtime(void) { uint64_t t; memcpy(&t, rb_box_image + 24, 8); return t; }
static const uint32_t *children(void) { return (const uint32_t *)(rb_box_image + image_u32(12)); }
static const char *entry_name(const entry_t *e) { return (const char *)rb_box_image + image_u32(16) + e->name; }
static const uint8_t *file_data(const entry_t *e) { return rb_box_image + image_u32(20) + e->first; }

static __wasi_rights_t const READ_RIGHTS =
    __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_SEEK | __WASI_RIGHTS_FD_TELL | __WASI_RIGHTS_FD_ADVISE |
    __WASI_RIGHTS_FD_FILESTAT_GET | __WASI_RIGHTS_FD_READDIR | __WASI_RIGHTS_PATH_OPEN |
    __WASI_RIGHTS_PATH_FILESTAT_GET | __WASI_RIGHTS_PATH_READLINK | __WASI_RIGHTS_POLL_FD_READWRITE;
/* What wasi-libc asks for only when a file is opened for writing (O_WRONLY, O_RDWR). */
static __wasi_rights_t const WRITE_RIGHTS =
    __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_DATASYNC | __WASI_RIGHTS_FD_ALLOCATE | __WASI_RIGHTS_FD_FILESTAT_SET_SIZE;

/* --- descriptors ------------------------------------------------------------------------ */

static bool is_vfs_fd(__wasi_fd_t fd) {
    uint32_t slot = (uint32_t)fd - VFS_FD_BASE;
    return (uint32_t)fd >= VFS_FD_BASE && slot < open_capacity && open_files[slot].used;
}
static open_file_t *vfs_file(__wasi_fd_t fd) { return &open_files[fd - VFS_FD_BASE]; }
static const entry_t *fd_entry(__wasi_fd_t fd) { return &entries()[vfs_file(fd)->entry]; }

static __wasi_errno_t allocate_fd(uint32_t entry, __wasi_fd_t *fd) {
    uint32_t slot = 0;
    while (slot < open_capacity && open_files[slot].used) slot++;
    if (slot == open_capacity) {
        uint32_t capacity = open_capacity ? open_capacity * 2 : 16;
        open_file_t *grown = realloc(open_files, capacity * sizeof *grown);
        if (!grown) return __WASI_ERRNO_NOMEM;
        memset(grown + open_capacity, 0, (capacity - open_capacity) * sizeof *grown);
        open_files = grown;
        open_capacity = capacity;
    }
    open_files[slot] = (open_file_t){ .used = true, .entry = entry, .offset = 0 };
    *fd = VFS_FD_BASE + slot;
    return __WASI_ERRNO_SUCCESS;
}

/* --- paths ------------------------------------------------------------------------------ */

/* The child of dir named name[0..len), or -1: a binary search of its sorted children. */
static int64_t find_child(uint32_t dir, const char *name, size_t len) {
    const entry_t *d = &entries()[dir];
    const uint32_t *kids = children() + d->first;
    uint64_t low = 0, high = d->size;
    while (low < high) {
        uint64_t mid = (low + high) / 2;
        const entry_t *e = &entries()[kids[mid]];
        size_t common = e->name_len < len ? e->name_len : len;
        int order = memcmp(entry_name(e), name, common);
        if (order == 0) order = (e->name_len > len) - (e->name_len < len);
        if (order == 0) return kids[mid];
        if (order < 0) low = mid + 1; else high = mid;
    }
    return -1;
}

/* Resolves path relative to the directory entry dir: "." and ".." as a kernel does (the
 * image is mounted at /, so the root is its own parent); a trailing slash only on a directory. */
static __wasi_errno_t resolve(uint32_t dir, const char *path, size_t path_len, uint32_t *found) {
    uint32_t at = dir;
    size_t i = 0;
    if (path_len == 0) return __WASI_ERRNO_NOENT;
    while (i < path_len) {
        size_t start = i;
        while (i < path_len && path[i] != '/') i++;
        size_t len = i - start;
        bool more = i < path_len;
        while (i < path_len && path[i] == '/') i++;
        if (len == 0 || (len == 1 && path[start] == '.')) {
            if (entries()[at].kind != KIND_DIR) return __WASI_ERRNO_NOTDIR;
            continue;
        }
        if (entries()[at].kind != KIND_DIR) return __WASI_ERRNO_NOTDIR;
        if (len == 2 && path[start] == '.' && path[start + 1] == '.') {
            at = entries()[at].parent; /* the root's parent is the root, as at / */
            continue;
        }
        int64_t child = find_child(at, path + start, len);
        if (child < 0) return __WASI_ERRNO_NOENT;
        at = (uint32_t)child;
        if (more && entries()[at].kind != KIND_DIR) return __WASI_ERRNO_NOTDIR;
    }
    *found = at;
    return __WASI_ERRNO_SUCCESS;
}

static __wasi_errno_t resolve_at(__wasi_fd_t fd, const char *path, uint32_t *found) {
    if (entries()[vfs_file(fd)->entry].kind != KIND_DIR) return __WASI_ERRNO_NOTDIR;
    return resolve(vfs_file(fd)->entry, path, strlen(path), found);
}

static void fill_filestat(uint32_t index, __wasi_filestat_t *stat) {
    const entry_t *e = &entries()[index];
    uint64_t mtime = image_mtime();
    *stat = (__wasi_filestat_t){
        .dev = DEVICE, .ino = index + 1, .filetype = (__wasi_filetype_t)e->kind, .nlink = 1,
        .size = e->kind == KIND_FILE ? e->size : 4096, .atim = mtime, .mtim = mtime, .ctim = mtime,
    };
}

/* --- mounting: the image's root is preopened at / ---------------------------------------- */

int __wasilibc_register_preopened_fd(int fd, const char *prefix);

void rb_box_vfs_mount(void) {
    __wasi_fd_t root;
    if (open_capacity == 0 && allocate_fd(0, &root) == __WASI_ERRNO_SUCCESS)
        __wasilibc_register_preopened_fd((int)root, "/");
}

/* --- the wrapped calls ------------------------------------------------------------------ */

#define REAL(name) __real___wasi_##name
#define WRAP(name) __wrap___wasi_##name

__wasi_errno_t REAL(path_open)(__wasi_fd_t, __wasi_lookupflags_t, const char *, __wasi_oflags_t,
                               __wasi_rights_t, __wasi_rights_t, __wasi_fdflags_t, __wasi_fd_t *);
__wasi_errno_t WRAP(path_open)(__wasi_fd_t fd, __wasi_lookupflags_t dirflags, const char *path,
                               __wasi_oflags_t oflags, __wasi_rights_t base, __wasi_rights_t inheriting,
                               __wasi_fdflags_t fdflags, __wasi_fd_t *opened) {
    if (!is_vfs_fd(fd)) return REAL(path_open)(fd, dirflags, path, oflags, base, inheriting, fdflags, opened);
    uint32_t found;
    __wasi_errno_t error = resolve_at(fd, path, &found);
    if (error == __WASI_ERRNO_NOENT && (oflags & __WASI_OFLAGS_CREAT)) return __WASI_ERRNO_ROFS;
    if (error) return error;
    if ((oflags & __WASI_OFLAGS_CREAT) && (oflags & __WASI_OFLAGS_EXCL)) return __WASI_ERRNO_EXIST;
    if ((oflags & __WASI_OFLAGS_DIRECTORY) && entries()[found].kind != KIND_DIR) return __WASI_ERRNO_NOTDIR;
    if ((oflags & __WASI_OFLAGS_TRUNC) || (base & WRITE_RIGHTS) || (fdflags & __WASI_FDFLAGS_APPEND))
        return entries()[found].kind == KIND_DIR ? __WASI_ERRNO_ISDIR : __WASI_ERRNO_ROFS;
    return allocate_fd(found, opened);
}

__wasi_errno_t REAL(fd_close)(__wasi_fd_t);
__wasi_errno_t WRAP(fd_close)(__wasi_fd_t fd) {
    if (!is_vfs_fd(fd)) return REAL(fd_close)(fd);
    if (fd == VFS_FD_BASE) return __WASI_ERRNO_NOTSUP; /* the mount itself stays */
    vfs_file(fd)->used = false;
    return __WASI_ERRNO_SUCCESS;
}

static size_t read_at(__wasi_fd_t fd, uint64_t offset, const __wasi_iovec_t *iovs, size_t iovs_len) {
    const entry_t *e = fd_entry(fd);
    size_t total = 0;
    for (size_t i = 0; i < iovs_len && offset < e->size; i++) {
        size_t n = iovs[i].buf_len;
        if (n > e->size - offset) n = (size_t)(e->size - offset);
        memcpy(iovs[i].buf, file_data(e) + offset, n);
        offset += n;
        total += n;
    }
    return total;
}

__wasi_errno_t REAL(fd_read)(__wasi_fd_t, const __wasi_iovec_t *, size_t, __wasi_size_t *);
__wasi_errno_t WRAP(fd_read)(__wasi_fd_t fd, const __wasi_iovec_t *iovs, size_t iovs_len, __wasi_size_t *nread) {
    if (!is_vfs_fd(fd)) return REAL(fd_read)(fd, iovs, iovs_len, nread);
    if (fd_entry(fd)->kind == KIND_DIR) return __WASI_ERRNO_ISDIR;
    *nread = (__wasi_size_t)read_at(fd, vfs_file(fd)->offset, iovs, iovs_len);
    vfs_file(fd)->offset += *nread;
    return __WASI_ERRNO_SUCCESS;
}

__wasi_errno_t REAL(fd_pread)(__wasi_fd_t, const __wasi_iovec_t *, size_t, __wasi_filesize_t, __wasi_size_t *);
__wasi_errno_t WRAP(fd_pread)(__wasi_fd_t fd, const __wasi_iovec_t *iovs, size_t iovs_len,
                              __wasi_filesize_t offset, __wasi_size_t *nread) {
    if (!is_vfs_fd(fd)) return REAL(fd_pread)(fd, iovs, iovs_len, offset, nread);
    if (fd_entry(fd)->kind == KIND_DIR) return __WASI_ERRNO_ISDIR;
    *nread = (__wasi_size_t)read_at(fd, offset, iovs, iovs_len);
    return __WASI_ERRNO_SUCCESS;
}

__wasi_errno_t REAL(fd_seek)(__wasi_fd_t, __wasi_filedelta_t, __wasi_whence_t, __wasi_filesize_t *);
__wasi_errno_t WRAP(fd_seek)(__wasi_fd_t fd, __wasi_filedelta_t delta, __wasi_whence_t whence,
                             __wasi_filesize_t *position) {
    if (!is_vfs_fd(fd)) return REAL(fd_seek)(fd, delta, whence, position);
    if (fd_entry(fd)->kind == KIND_DIR) return __WASI_ERRNO_ISDIR;
    int64_t base = whence == __WASI_WHENCE_SET ? 0
                 : whence == __WASI_WHENCE_CUR ? (int64_t)vfs_file(fd)->offset
                 : (int64_t)fd_entry(fd)->size;
    if (whence > __WASI_WHENCE_END || base + delta < 0) return __WASI_ERRNO_INVAL;
    vfs_file(fd)->offset = (uint64_t)(base + delta);
    *position = vfs_file(fd)->offset;
    return __WASI_ERRNO_SUCCESS;
}

__wasi_errno_t REAL(fd_tell)(__wasi_fd_t, __wasi_filesize_t *);
__wasi_errno_t WRAP(fd_tell)(__wasi_fd_t fd, __wasi_filesize_t *position) {
    if (!is_vfs_fd(fd)) return REAL(fd_tell)(fd, position);
    *position = vfs_file(fd)->offset;
    return __WASI_ERRNO_SUCCESS;
}

__wasi_errno_t REAL(fd_filestat_get)(__wasi_fd_t, __wasi_filestat_t *);
__wasi_errno_t WRAP(fd_filestat_get)(__wasi_fd_t fd, __wasi_filestat_t *stat) {
    if (!is_vfs_fd(fd)) return REAL(fd_filestat_get)(fd, stat);
    fill_filestat(vfs_file(fd)->entry, stat);
    return __WASI_ERRNO_SUCCESS;
}

__wasi_errno_t REAL(fd_fdstat_get)(__wasi_fd_t, __wasi_fdstat_t *);
__wasi_errno_t WRAP(fd_fdstat_get)(__wasi_fd_t fd, __wasi_fdstat_t *stat) {
    if (!is_vfs_fd(fd)) return REAL(fd_fdstat_get)(fd, stat);
    bool dir = fd_entry(fd)->kind == KIND_DIR;
    *stat = (__wasi_fdstat_t){
        .fs_filetype = (__wasi_filetype_t)fd_entry(fd)->kind, .fs_flags = 0,
        /* wasi-libc asks a directory's inheriting rights for what it may request: all of
         * them, so that an open for writing says so (and is refused) rather than opening read-only */
        .fs_rights_base = READ_RIGHTS, .fs_rights_inheriting = dir ? ~(__wasi_rights_t)0 : 0,
    };
    return __WASI_ERRNO_SUCCESS;
}

/* Directory entries from cookie on: ".", "..", then the children, as many as fit; the last
 * one cut off where the buffer ends, as WASI specifies. */
__wasi_errno_t REAL(fd_readdir)(__wasi_fd_t, uint8_t *, __wasi_size_t, __wasi_dircookie_t, __wasi_size_t *);
__wasi_errno_t WRAP(fd_readdir)(__wasi_fd_t fd, uint8_t *buf, __wasi_size_t buf_len,
                                __wasi_dircookie_t cookie, __wasi_size_t *used) {
    if (!is_vfs_fd(fd)) return REAL(fd_readdir)(fd, buf, buf_len, cookie, used);
    uint32_t dir = vfs_file(fd)->entry;
    const entry_t *d = &entries()[dir];
    if (d->kind != KIND_DIR) return __WASI_ERRNO_NOTDIR;
    *used = 0;
    for (uint64_t at = cookie; at < d->size + 2 && *used < buf_len; at++) {
        uint32_t index = at == 0 ? dir : at == 1 ? d->parent : children()[d->first + at - 2];
        const char *name = at == 0 ? "." : at == 1 ? ".." : entry_name(&entries()[index]);
        uint32_t name_len = at == 0 ? 1 : at == 1 ? 2 : entries()[index].name_len;
        __wasi_dirent_t dirent = { .d_next = at + 1, .d_ino = index + 1, .d_namlen = name_len,
                                   .d_type = (__wasi_filetype_t)entries()[index].kind };
        size_t n = sizeof dirent < buf_len - *used ? sizeof dirent : buf_len - *used;
        memcpy(buf + *used, &dirent, n);
        *used += n;
        n = name_len < buf_len - *used ? name_len : buf_len - *used;
        memcpy(buf + *used, name, n);
        *used += n;
    }
    return __WASI_ERRNO_SUCCESS;
}

__wasi_errno_t REAL(path_filestat_get)(__wasi_fd_t, __wasi_lookupflags_t, const char *, __wasi_filestat_t *);
__wasi_errno_t WRAP(path_filestat_get)(__wasi_fd_t fd, __wasi_lookupflags_t flags, const char *path,
                                       __wasi_filestat_t *stat) {
    if (!is_vfs_fd(fd)) return REAL(path_filestat_get)(fd, flags, path, stat);
    uint32_t found;
    __wasi_errno_t error = resolve_at(fd, path, &found);
    if (!error) fill_filestat(found, stat);
    return error;
}

__wasi_errno_t REAL(path_readlink)(__wasi_fd_t, const char *, uint8_t *, __wasi_size_t, __wasi_size_t *);
__wasi_errno_t WRAP(path_readlink)(__wasi_fd_t fd, const char *path, uint8_t *buf, __wasi_size_t len,
                                   __wasi_size_t *used) {
    if (!is_vfs_fd(fd)) return REAL(path_readlink)(fd, path, buf, len, used);
    uint32_t found;
    __wasi_errno_t error = resolve_at(fd, path, &found);
    return error ? error : __WASI_ERRNO_INVAL; /* the image holds no symbolic links */
}

/* Calls that would change the image: refused on its descriptors, the host's otherwise. */
#define READ_ONLY_FD_CALL(name, error, params, args)                                  \
    __wasi_errno_t REAL(name) params;                                                 \
    __wasi_errno_t WRAP(name) params {                                                \
        return is_vfs_fd(fd) ? (error) : REAL(name) args;                             \
    }

READ_ONLY_FD_CALL(fd_write, __WASI_ERRNO_BADF,
                  (__wasi_fd_t fd, const __wasi_ciovec_t *iovs, size_t n, __wasi_size_t *written),
                  (fd, iovs, n, written))
READ_ONLY_FD_CALL(fd_pwrite, __WASI_ERRNO_BADF,
                  (__wasi_fd_t fd, const __wasi_ciovec_t *iovs, size_t n, __wasi_filesize_t at, __wasi_size_t *written),
                  (fd, iovs, n, at, written))
READ_ONLY_FD_CALL(fd_allocate, __WASI_ERRNO_BADF,
                  (__wasi_fd_t fd, __wasi_filesize_t at, __wasi_filesize_t len), (fd, at, len))
READ_ONLY_FD_CALL(fd_filestat_set_size, __WASI_ERRNO_BADF, (__wasi_fd_t fd, __wasi_filesize_t size), (fd, size))
READ_ONLY_FD_CALL(fd_filestat_set_times, __WASI_ERRNO_ROFS,
                  (__wasi_fd_t fd, __wasi_timestamp_t a, __wasi_timestamp_t m, __wasi_fstflags_t f), (fd, a, m, f))
READ_ONLY_FD_CALL(fd_sync, __WASI_ERRNO_SUCCESS, (__wasi_fd_t fd), (fd))
READ_ONLY_FD_CALL(fd_datasync, __WASI_ERRNO_SUCCESS, (__wasi_fd_t fd), (fd))
READ_ONLY_FD_CALL(fd_advise, __WASI_ERRNO_SUCCESS,
                  (__wasi_fd_t fd, __wasi_filesize_t at, __wasi_filesize_t len, __wasi_advice_t advice),
                  (fd, at, len, advice))
READ_ONLY_FD_CALL(fd_fdstat_set_flags, (flags & __WASI_FDFLAGS_APPEND) ? __WASI_ERRNO_BADF : __WASI_ERRNO_SUCCESS,
                  (__wasi_fd_t fd, __wasi_fdflags_t flags), (fd, flags))
READ_ONLY_FD_CALL(path_create_directory, __WASI_ERRNO_ROFS, (__wasi_fd_t fd, const char *path), (fd, path))
READ_ONLY_FD_CALL(path_remove_directory, __WASI_ERRNO_ROFS, (__wasi_fd_t fd, const char *path), (fd, path))
READ_ONLY_FD_CALL(path_unlink_file, __WASI_ERRNO_ROFS, (__wasi_fd_t fd, const char *path), (fd, path))
READ_ONLY_FD_CALL(path_filestat_set_times, __WASI_ERRNO_ROFS,
                  (__wasi_fd_t fd, __wasi_lookupflags_t l, const char *path, __wasi_timestamp_t a,
                   __wasi_timestamp_t m, __wasi_fstflags_t f),
                  (fd, l, path, a, m, f))
READ_ONLY_FD_CALL(path_symlink, __WASI_ERRNO_ROFS, (const char *target, __wasi_fd_t fd, const char *path),
                  (target, fd, path))

/* Two descriptors: refused if either is the image's. */
__wasi_errno_t REAL(path_rename)(__wasi_fd_t, const char *, __wasi_fd_t, const char *);
__wasi_errno_t WRAP(path_rename)(__wasi_fd_t fd, const char *old, __wasi_fd_t new_fd, const char *new_path) {
    if (is_vfs_fd(fd) || is_vfs_fd(new_fd)) return is_vfs_fd(fd) && is_vfs_fd(new_fd) ? __WASI_ERRNO_ROFS : __WASI_ERRNO_XDEV;
    return REAL(path_rename)(fd, old, new_fd, new_path);
}

__wasi_errno_t REAL(path_link)(__wasi_fd_t, __wasi_lookupflags_t, const char *, __wasi_fd_t, const char *);
__wasi_errno_t WRAP(path_link)(__wasi_fd_t fd, __wasi_lookupflags_t flags, const char *old, __wasi_fd_t new_fd,
                               const char *new_path) {
    if (is_vfs_fd(fd) || is_vfs_fd(new_fd)) return is_vfs_fd(fd) && is_vfs_fd(new_fd) ? __WASI_ERRNO_ROFS : __WASI_ERRNO_XDEV;
    return REAL(path_link)(fd, flags, old, new_fd, new_path);
}

__wasi_errno_t REAL(fd_renumber)(__wasi_fd_t, __wasi_fd_t);
__wasi_errno_t WRAP(fd_renumber)(__wasi_fd_t fd, __wasi_fd_t to) {
    if (is_vfs_fd(fd) || is_vfs_fd(to)) return __WASI_ERRNO_NOTSUP;
    return REAL(fd_renumber)(fd, to);
}

/* Waiting on descriptors (IO.select, IO#wait_readable): the image's files are always ready, as a
 * host's regular files are, reading up to their end and writing to an error. Their events are
 * answered here; the other subscriptions go to the host, which is told not to wait when an image
 * file is ready already. */
#define READY_NOW ((__wasi_userdata_t)0x626f782d766673ull) /* the zero-timeout clock added for that */

static __wasi_event_t vfs_event(const __wasi_subscription_t *sub) {
    __wasi_event_t event = { .userdata = sub->userdata, .error = __WASI_ERRNO_SUCCESS, .type = sub->u.tag };
    if (sub->u.tag == __WASI_EVENTTYPE_FD_READ) {
        const open_file_t *file = vfs_file(sub->u.u.fd_read.file_descriptor);
        const entry_t *e = &entries()[file->entry];
        event.fd_readwrite.nbytes = e->kind == KIND_FILE && file->offset < e->size ? e->size - file->offset : 0;
    }
    return event;
}

static bool vfs_subscription(const __wasi_subscription_t *sub) {
    return (sub->u.tag == __WASI_EVENTTYPE_FD_READ && is_vfs_fd(sub->u.u.fd_read.file_descriptor)) ||
           (sub->u.tag == __WASI_EVENTTYPE_FD_WRITE && is_vfs_fd(sub->u.u.fd_write.file_descriptor));
}

__wasi_errno_t REAL(poll_oneoff)(const __wasi_subscription_t *, __wasi_event_t *, __wasi_size_t, __wasi_size_t *);
__wasi_errno_t WRAP(poll_oneoff)(const __wasi_subscription_t *in, __wasi_event_t *out, __wasi_size_t n,
                                 __wasi_size_t *nevents) {
    __wasi_size_t ready = 0;
    for (__wasi_size_t i = 0; i < n; i++) ready += vfs_subscription(&in[i]);
    if (ready == 0) return REAL(poll_oneoff)(in, out, n, nevents);
    __wasi_subscription_t *host = malloc(sizeof(*host) * (n - ready + 1));
    __wasi_event_t *answered = malloc(sizeof(*answered) * (n - ready + 1));
    if (!host || !answered) {
        free(host), free(answered);
        return __WASI_ERRNO_NOMEM;
    }
    __wasi_size_t asked = 0, count = 0;
    for (__wasi_size_t i = 0; i < n; i++) {
        if (vfs_subscription(&in[i])) out[count++] = vfs_event(&in[i]);
        else host[asked++] = in[i];
    }
    /* what else is ready at this moment, without waiting */
    host[asked++] = (__wasi_subscription_t){ .userdata = READY_NOW, .u = { .tag = __WASI_EVENTTYPE_CLOCK,
        .u.clock = { .id = __WASI_CLOCKID_MONOTONIC, .timeout = 0, .precision = 0, .flags = 0 } } };
    __wasi_size_t got = 0;
    __wasi_errno_t error = REAL(poll_oneoff)(host, answered, asked, &got);
    for (__wasi_size_t i = 0; !error && i < got; i++) {
        if (!(answered[i].type == __WASI_EVENTTYPE_CLOCK && answered[i].userdata == READY_NOW)) out[count++] = answered[i];
    }
    free(host), free(answered);
    *nevents = count;
    return error;
}
