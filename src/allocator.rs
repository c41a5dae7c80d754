//! How the process's allocator gives memory back (docs/design.md, "Memory").
//!
//! glibc's malloc serves a request of at least its mmap threshold (128 KiB
//! at start) with a mapping of its own, unmapped on free. But each free of
//! such a mapping raises the threshold to that chunk's size (up to 32 MiB)
//! and the trim threshold to twice it. After the first argon2id
//! verification (a 19 MiB working area, `crate::secrets`) every later one
//! was carved from the calling thread's arena instead, and an arena keeps a
//! free top below the raised trim threshold (38 MiB): every arena that ever
//! ran a verification kept its 19 MiB, and with up to 8 arenas per core the
//! process stayed at its peak forever (measured: 4.8 → 467 MB anonymous RSS
//! in 15 s of password sign-ins on a 2-core machine).
//!
//! Setting the threshold fixes it at that value and turns the adjustment
//! off: large, short-lived buffers go back to the system when freed, and
//! small allocations are served from the arenas as before.

/// glibc's own starting value, made fixed: allocations of at least this
/// size are mapped on their own and returned to the system on free.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Configure the allocator. Call first thing in `main`, before any thread
/// starts; a no-op where the allocator is not glibc's.
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets malloc's tuning parameters (under malloc's
    // own lock) and is called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}
