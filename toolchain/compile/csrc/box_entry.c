/* The entry points of a box: `wizer.initialize`, which Wizer runs once at build time before
 * it snapshots the module's memory, and `_start`, which every run calls.
 *
 * Initialization starts Ruby as a run would (with no arguments and an empty environment),
 * loads RubyGems and the app's preloads, and stops before anything a run's arguments decide.
 * While it runs, the clocks and the random source are deterministic (seeded by the box's
 * build key), so that the snapshot, and so the box, is the same bytes on every build.
 *
 * A run of a snapshot renews what belongs to the run and not to the build: the environment
 * and the preopened directories (wasi-libc read both in its constructors, at build time),
 * the hash seed (and every table hashed with it), the random seed, the time zone, whether stdio is a terminal, RubyGems' paths when the
 * environment sets them; then it reads the run's arguments as `ruby` does.
 *
 * Linked without crt1 (-nostartfiles): this file is the module's start, so that wasm-ld does
 * not wrap `wizer.initialize` in a second round of constructors and destructors.
 */
#include <locale.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <sys/mman.h>
#include <wasi/api.h>
#include "ruby.h"
#include "ruby/io.h"
#include "wasm/fiber.h"

void __wasm_call_ctors(void);
int __original_main(void);
void __wasilibc_initialize_environ(void);
void __wasilibc_deinitialize_environ(void);
int __wasilibc_register_preopened_fd(int fd, const char *prefix);
int rb_wasm_rt_start(int (main)(int argc, char **argv), int argc, char **argv);
int ruby_box_preinit(void);
void ruby_reset_timezone(const char *);
void Init_RandomSeedCore(void);
void rb_renew_hash_tables(void);
void rb_box_vfs_mount(void);

extern const char rb_box_preload[];     /* Ruby run after start-up, before the snapshot */
extern const char rb_box_entry[];       /* the app's entry script, "" for none */
extern const uint8_t rb_box_seed[32];   /* the box's build key */

static bool preinitialized; /* true in the snapshot */
static bool initializing;   /* while Wizer runs the initialization */

/* --- determinism while initializing -------------------------------------------------------- */

static uint64_t build_clock_ns = 1000000000ull * 1700000000ull;
static uint64_t build_random_state;

static uint64_t splitmix64(void) {
    uint64_t z = (build_random_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

__wasi_errno_t __real___wasi_random_get(uint8_t *buf, __wasi_size_t len);
__wasi_errno_t __wrap___wasi_random_get(uint8_t *buf, __wasi_size_t len) {
    if (!initializing) return __real___wasi_random_get(buf, len);
    for (__wasi_size_t i = 0; i < len; i += 8) {
        uint64_t word = splitmix64();
        memcpy(buf + i, &word, len - i < 8 ? len - i : 8);
    }
    return __WASI_ERRNO_SUCCESS;
}

__wasi_errno_t __real___wasi_clock_time_get(__wasi_clockid_t id, __wasi_timestamp_t precision, __wasi_timestamp_t *time);
__wasi_errno_t __wrap___wasi_clock_time_get(__wasi_clockid_t id, __wasi_timestamp_t precision, __wasi_timestamp_t *time) {
    if (!initializing) return __real___wasi_clock_time_get(id, precision, time);
    *time = (build_clock_ns += 1000); /* every clock advances a microsecond per reading */
    return __WASI_ERRNO_SUCCESS;
}

/* --- memory layout while initializing ------------------------------------------------------- */

/* wasmtime maps a module's memory copy-on-write only when the data fills at least half of the
 * memory it spans; otherwise it copies the data into every instance (16 MB: 16 ms of a 20 ms
 * start). Ruby's VM maps zeroed memory as it starts (the shape tree, 14 MB), which WASI's
 * emulated mmap takes from malloc ahead of the heap, and writes its first entries only: the
 * heap then lay 14 MB above the static data, and malloc's top chunk header above that.
 *
 * So while initializing: a pool freed before Ruby starts (a fence keeps it from merging back
 * into malloc's top chunk) holds the heap next to the static data, and anonymous maps are grown
 * at the end of memory, above everything malloc has. Measured: 19 MB of data spanning 29 MB (4
 * of them the GC's reserve, untouched), where the heap above the map made it 43. (The fiber
 * pool, which wrote into 16 MB, is allocated on first use in a box: patches/ruby-3.3-box/0002.)
 * The grown maps are never given back, as wasm memory cannot shrink; malloc's later growth is
 * not contiguous with its heap any more, which dlmalloc handles, except that it asks to shrink
 * by a negative sbrk after a partial failure, which wasi-libc's sbrk aborts on: that request
 * fails instead. */
/* 8 MB for the heap start-up builds, and 4 MB for the memory the GC keeps in reserve for a
 * NoMemoryError's handler (patches/ruby-3.3/0020), allocated as the GC starts: without them in
 * the pool, start-up's heap outgrew it and was placed above the shape tree's map. */
#define INIT_HEAP_POOL (12u << 20)
#define WASM_PAGE 65536u
#define MAX_GROWN_MAPS 32

static struct { uint8_t *start, *end; } grown_maps[MAX_GROWN_MAPS];
static size_t grown_map_count;

/* The whole-stack unwind buffers (wasm/fiber.h) are lent small ones while initializing, where
 * stacks stay shallow, so that the snapshot holds no 32 MB of them between the static data and
 * the heap; a run allocates the full-sized ones as it resumes. */
#define INIT_STACK_BUFFER (512u << 10)
static char init_unwind_buffer[INIT_STACK_BUFFER], init_scan_buffer[INIT_STACK_BUFFER];

static void reserve_heap_pool(void) {
    void *volatile pool = malloc(INIT_HEAP_POOL); /* volatile: the calls stay */
    void *volatile fence = malloc(1);
    (void)fence;
    free(pool);
}

static bool in_grown_map(const void *address) {
    for (size_t i = 0; i < grown_map_count; i++)
        if ((const uint8_t *)address >= grown_maps[i].start && (const uint8_t *)address < grown_maps[i].end)
            return true;
    return false;
}

void *__real_mmap(void *, size_t, int, int, int, off_t);
void *__wrap_mmap(void *address, size_t length, int protection, int flags, int fd, off_t offset) {
    if (!initializing || !(flags & MAP_ANONYMOUS) || grown_map_count == MAX_GROWN_MAPS)
        return __real_mmap(address, length, protection, flags, fd, offset);
    size_t pages = (length + WASM_PAGE - 1) / WASM_PAGE;
    size_t old = __builtin_wasm_memory_grow(0, pages);
    if (old == (size_t)-1) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    uint8_t *mapped = (uint8_t *)(old * WASM_PAGE); /* grown memory is zeroed */
    grown_maps[grown_map_count].start = mapped;
    grown_maps[grown_map_count++].end = mapped + pages * WASM_PAGE;
    return mapped;
}

int __real_munmap(void *, size_t);
int __wrap_munmap(void *address, size_t length) {
    return in_grown_map(address) ? 0 : __real_munmap(address, length);
}

void *__real_sbrk(intptr_t);
void *__wrap_sbrk(intptr_t increment) {
    if (increment < 0) {
        errno = ENOMEM;
        return (void *)-1;
    }
    return __real_sbrk(increment);
}

/* --- initialization ------------------------------------------------------------------------ */

static void write_stderr(const char *text) {
    for (size_t left = strlen(text); left > 0;) { /* a write may take only part of it */
        __wasi_ciovec_t piece = { (const uint8_t *)text, left };
        __wasi_size_t written;
        if (__wasi_fd_write(2, &piece, 1, &written) != __WASI_ERRNO_SUCCESS || written == 0) return;
        text += written;
        left -= written;
    }
}

__attribute__((noreturn)) static void fail_initialization(const char *what) {
    write_stderr("box initialization failed: ");
    write_stderr(what);
    write_stderr("\n");
    __builtin_trap(); /* Wizer reports the trap and writes no module */
}

static int initialize_ruby(int argc, char **argv) {
    setlocale(LC_CTYPE, ""); /* as CRuby's main() does: wasi-libc's default is C.UTF-8 */
    ruby_sysinit(&argc, &argv);
    {
        RUBY_INIT_STACK;
        ruby_init();
    }
    if (ruby_box_preinit() != 0) fail_initialization("Ruby's start-up raised (printed above)");
    int state;
    rb_eval_string_protect(rb_box_preload, &state);
    if (state) {
        VALUE message = rb_funcall(rb_errinfo(), rb_intern("full_message"), 0);
        fail_initialization(StringValueCStr(message));
    }
    rb_gc_start();
    return 0;
}

__attribute__((export_name("wizer.initialize")))
void box_initialize(void) {
    memcpy(&build_random_state, rb_box_seed, sizeof build_random_state);
    initializing = true;
    __wasm_call_ctors();
    reserve_heap_pool();
    rb_wasm_lend_stack_buffers(init_unwind_buffer, sizeof init_unwind_buffer,
                               init_scan_buffer, sizeof init_scan_buffer);
    rb_box_vfs_mount();
    static char program[] = "ruby";
    char *argv[] = { program, NULL };
    rb_wasm_rt_start(initialize_ruby, 1, argv);
    initializing = false;
    preinitialized = true;
}

/* --- a run ---------------------------------------------------------------------------------- */

/* The host's preopened directories, registered as wasi-libc's constructor does in a fresh
 * instance: descriptors from 3 up to the first that is not one. */
static void register_host_preopens(void) {
    for (__wasi_fd_t fd = 3; fd != 0; fd++) {
        __wasi_prestat_t prestat;
        __wasi_errno_t error = __wasi_fd_prestat_get(fd, &prestat);
        if (error == __WASI_ERRNO_BADF) break;
        if (error != __WASI_ERRNO_SUCCESS || prestat.tag != __WASI_PREOPENTYPE_DIR) continue;
        char *prefix = malloc(prestat.u.dir.pr_name_len + 1);
        if (!prefix) abort();
        if (__wasi_fd_prestat_dir_name(fd, (uint8_t *)prefix, prestat.u.dir.pr_name_len) == __WASI_ERRNO_SUCCESS) {
            prefix[prestat.u.dir.pr_name_len] = '\0';
            __wasilibc_register_preopened_fd((int)fd, prefix);
        }
        free(prefix);
    }
}

/* The run's arguments, as wasi-libc's __original_main reads them. */
static int run_arguments(char ***argv_out) {
    __wasi_size_t argc, size;
    if (__wasi_args_sizes_get(&argc, &size) != __WASI_ERRNO_SUCCESS) abort();
    char **argv = calloc(argc + 3, sizeof *argv);
    char *buffer = malloc(size ? size : 1);
    if (!argv || !buffer || (argc && __wasi_args_get((uint8_t **)argv, (uint8_t *)buffer) != __WASI_ERRNO_SUCCESS))
        abort();
    *argv_out = argv;
    return (int)argc;
}

/* An app box runs its entry with the run's arguments as ARGV, unless RUBY_BOX_NO_ENTRY is set
 * (then it is the box's ruby, as a box without an app is). */
static int with_entry(int argc, char **argv) {
    if (!rb_box_entry[0] || getenv("RUBY_BOX_NO_ENTRY")) return argc;
    memmove(argv + 2, argv + 1, argc * sizeof *argv); /* argv[argc] (NULL) moves too */
    argv[1] = (char *)rb_box_entry;
    return argc + 1;
}

static VALUE renew_ruby_state(VALUE unused) {
    /* A hash seed of the run's own, from the host's random source: the snapshot's would be the
     * same in every run of the box, and readable from its file. Every table hashed with the old
     * one is hashed again (patches/ruby-3.3-box/0003). */
    Init_RandomSeedCore();
    rb_renew_hash_tables();
    ruby_reset_timezone(getenv("TZ"));
    rb_funcall(rb_cRandom, rb_intern("srand"), 0); /* a fresh seed from the host's random source */
    /* Ruby marked each stdio stream a terminal or not when it created them, at build time. The
     * fields are the public rb_io_t's, marked deprecated in 3.3 for a later accessor API. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
    VALUE stdio[] = { rb_stdin, rb_stdout, rb_stderr };
    for (int i = 0; i < 3; i++) {
        rb_io_t *fptr;
        GetOpenFile(stdio[i], fptr);
        fptr->mode &= ~(FMODE_TTY | FMODE_DUPLEX);
        if (isatty(fptr->fd)) fptr->mode |= FMODE_TTY | FMODE_DUPLEX;
    }
#pragma clang diagnostic pop
    /* RubyGems read its paths, and the home directory they derive from, at build time, from an
     * empty environment */
    return rb_eval_string("Gem.clear_paths if defined?(Gem.clear_paths) && "
                          "%w[GEM_HOME GEM_PATH GEM_SPEC_CACHE HOME].any? { |name| ENV.key?(name) }");
}

static int resume_ruby(int argc, char **argv) {
    setlocale(LC_CTYPE, "");
    ruby_sysinit(&argc, &argv);
    int state;
    rb_protect(renew_ruby_state, Qnil, &state);
    if (state) return ruby_cleanup(state);
    return ruby_run_node(ruby_options(argc, argv));
}

__attribute__((noreturn)) void _start(void) {
    if (!preinitialized) { /* not pre-initialized (Wizer has not run): a plain ruby with the image */
        __wasm_call_ctors();
        rb_box_vfs_mount();
        exit(__original_main());
    }
    __wasilibc_deinitialize_environ();
    __wasilibc_initialize_environ();
    register_host_preopens();
    char **argv;
    int argc = with_entry(run_arguments(&argv), argv);
    if (!rb_wasm_allocate_stack_buffers()) {
        fputs("[FATAL] failed to allocate memory for the stack buffers\n", stderr);
        exit(EXIT_FAILURE);
    }
    exit(rb_wasm_rt_start(resume_ruby, argc, argv));
}
