/*
 * sanitizer_preload.c - what an uninstrumented postgres needs, besides the
 * sanitizer runtimes themselves, to host a module built with
 * -fsanitize=address,undefined.  sanitized_regress.sh builds it with
 * -z initfirst and preloads it right after libasan.
 *
 * ASan first.  The dynamic loader runs a preloaded library's constructors
 * after those of the libraries the executable needs, so libp11-kit's
 * constructor (postgres links it through GnuTLS and LDAP) would run first
 * and call newlocale(), whose malloc() then initialises ASan while glibc
 * holds its locale lock; every PostgreSQL binary then hangs in
 * bindtextdomain() or freelocale().  This object's constructor, run before
 * all others thanks to -z initfirst, initialises ASan there instead, as an
 * instrumented executable's preinit_array would.
 *
 * UBSan options.  UBSan reads UBSAN_OPTIONS from /proc/self/environ only at
 * its first report, and by then a backend has overwritten that area with
 * its ps title, so the options would be lost (no stack trace, exit(1)
 * instead of abort).  libubsan defines __ubsan_default_options() weakly;
 * this definition, found first in the lookup order, supplies the same
 * options.  __asan_default_options() likewise, for ASan's own flags.
 */
extern void __asan_init(void);

const char *__asan_default_options(void);
const char *__ubsan_default_options(void);

const char *
__asan_default_options(void)
{
	return "detect_leaks=0:abort_on_error=1";
}

const char *
__ubsan_default_options(void)
{
	return "print_stacktrace=1:halt_on_error=1:abort_on_error=1";
}

__attribute__((constructor))
static void
sanitizer_preload_init(void)
{
	__asan_init();
}
