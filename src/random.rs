//! Randomness is injected like the clock. Production uses [`OsRandom`]: the
//! operating system's CSPRNG, stretched per thread by ChaCha20; tests may
//! substitute a deterministic source.

use std::cell::RefCell;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

pub trait Random: Send + Sync + 'static {
    fn fill(&self, buf: &mut [u8]);
}

/// The process's randomness: ChaCha20 (RFC 8439's cipher as a stream
/// generator, `rand_chacha`), one instance per thread, keyed with 256 bits
/// from the operating system (`getrandom`) and rekeyed from it after
/// [`RESEED_AFTER`] bytes and in a child process after a `fork`.
///
/// Why not OpenSSL's `RAND_bytes` on every draw, as before: OpenSSL's DRBG
/// calls `getpid` on every draw to notice a fork, a system call that cost
/// more than the rest of a small request on this machine's VM (docs/design.md,
/// "The HTTP stack's cost per request"). Here a draw is a thread-local
/// lookup, one atomic load and the cipher. A fork is noticed without a system
/// call: `pthread_atfork` bumps a counter in the child, and a thread whose
/// generator was keyed under an older count rekeys before its next draw, so a
/// parent and child never share a stream.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

/// Bytes a thread's generator hands out before it is rekeyed from the
/// operating system (the figure `rand`'s `ThreadRng` uses): it bounds how
/// much output a leaked generator state would expose. One rekey per 64 KiB
/// is one `getrandom` call per about 2,000 tokens.
const RESEED_AFTER: usize = 64 * 1024;

/// Forks seen by this process (children count theirs from the parent's).
static FORKS: AtomicU64 = AtomicU64::new(0);
static WATCH_FORKS: Once = Once::new();

extern "C" fn after_fork_in_child() {
    // Async-signal-safe: one atomic add, no allocation, no lock.
    FORKS.fetch_add(1, Ordering::Relaxed);
}

struct ThreadGenerator {
    rng: ChaCha20Rng,
    /// Bytes left before the next rekey.
    budget: usize,
    /// `FORKS` when it was keyed.
    forks: u64,
}

impl ThreadGenerator {
    fn keyed() -> Self {
        WATCH_FORKS.call_once(|| {
            // SAFETY: registers a handler that only increments an atomic,
            // which is allowed in a child between fork and exec.
            let rc = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
            // Without the handler a forked child would repeat its parent's
            // stream; issuing predictable tokens would be worse than stopping.
            assert_eq!(rc, 0, "pthread_atfork failed");
        });
        // Read before keying: a fork in between rekeys once more, never less.
        let forks = FORKS.load(Ordering::Relaxed);
        // The OS random source only fails when it is gone; issuing
        // predictable tokens would be worse than stopping.
        let rng =
            ChaCha20Rng::try_from_os_rng().expect("the operating system's random source failed");
        ThreadGenerator {
            rng,
            budget: RESEED_AFTER,
            forks,
        }
    }
}

thread_local! {
    static GENERATOR: RefCell<Option<ThreadGenerator>> = const { RefCell::new(None) };
}

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        GENERATOR.with(|cell| {
            let mut slot = cell.borrow_mut();
            let stale = slot
                .as_ref()
                .is_none_or(|g| g.budget < buf.len() || g.forks != FORKS.load(Ordering::Relaxed));
            if stale {
                *slot = Some(ThreadGenerator::keyed());
            }
            let g = slot.as_mut().expect("keyed above");
            g.rng.fill_bytes(buf);
            g.budget = g.budget.saturating_sub(buf.len());
        });
    }
}

/// 256 bits, base64url: authorization codes, opaque tokens, cookies.
pub fn secret_token(rng: &dyn Random) -> String {
    let mut buf = [0u8; 32];
    rng.fill(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// 128 bits, base64url: identifiers that need to be unguessable but not secret
/// (user ids, `sid`, `jti`, interaction ids, key ids).
pub fn identifier(rng: &dyn Random) -> String {
    let mut buf = [0u8; 16];
    rng.fill(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = secret_token(&OsRandom);
        let b = secret_token(&OsRandom);
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(identifier(&OsRandom).len(), 22);
    }

    #[test]
    fn threads_draw_distinct_streams() {
        let here = secret_token(&OsRandom);
        let there = std::thread::spawn(|| secret_token(&OsRandom))
            .join()
            .unwrap();
        assert_ne!(here, there);
    }

    #[test]
    fn the_generator_is_rekeyed_when_its_budget_is_spent() {
        let mut big = vec![0u8; RESEED_AFTER + 1];
        // More than one budget in one draw: served by a fresh key, never
        // an underflow.
        OsRandom.fill(&mut big);
        let budget = GENERATOR.with(|c| c.borrow().as_ref().map(|g| g.budget));
        assert_eq!(budget, Some(0));
        OsRandom.fill(&mut [0u8; 1]);
        let budget = GENERATOR.with(|c| c.borrow().as_ref().map(|g| g.budget));
        assert_eq!(budget, Some(RESEED_AFTER - 1));
    }

    #[test]
    fn a_forked_child_does_not_repeat_its_parents_stream() {
        // Key this thread's generator, then fork: without the fork handler
        // both processes would draw the same next bytes from the copied state.
        OsRandom.fill(&mut [0u8; 1]);
        let mut fds = [0i32; 2];
        // SAFETY: a pipe for the child's 32 bytes; the child only draws,
        // writes and leaves with `_exit` (no destructors, no allocation).
        unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            let pid = libc::fork();
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                let mut drawn = [0u8; 32];
                OsRandom.fill(&mut drawn);
                libc::write(fds[1], drawn.as_ptr().cast(), drawn.len());
                libc::_exit(0);
            }
            let mut parent = [0u8; 32];
            OsRandom.fill(&mut parent);
            let mut child = [0u8; 32];
            let n = libc::read(fds[0], child.as_mut_ptr().cast(), child.len());
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
            libc::close(fds[0]);
            libc::close(fds[1]);
            assert_eq!(n, 32);
            assert_ne!(parent, child);
        }
    }
}
