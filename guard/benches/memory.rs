//! Memory held by the revocation set per 100,000 entries, measured with a
//! counting allocator (bytes live after filling minus before).
//!
//!     cargo bench -p signoff-guard --bench memory

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use signoff_guard::{Revocation, RevocationSet};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const N: usize = 100_000;

/// Identifiers as Signoff makes them: 36-character UUID-like strings.
fn id(i: usize) -> String {
    format!("{i:08x}-5a1e-4c3b-9d2f-{i:012x}")
}

fn measure(name: &str, make: impl Fn(usize) -> Revocation) {
    let before = LIVE.load(Ordering::Relaxed);
    let set = RevocationSet::new();
    for i in 0..N {
        set.apply(make(i));
    }
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    assert_eq!(set.len(), N);
    println!(
        "{name:<28} {:>7.2} MiB per 100,000 entries ({:.0} bytes each)",
        bytes as f64 / (1024.0 * 1024.0),
        bytes as f64 / N as f64
    );
    drop(set);
}

fn main() {
    let until = 2_000_000_000;
    measure("sessions (sid)", |i| Revocation::Session {
        sid: id(i),
        retain_until: until,
    });
    measure("single tokens (jti)", |i| Revocation::Token {
        jti: id(i),
        retain_until: until,
    });
    measure("user versions (sub)", |i| Revocation::UserVersion {
        sub: id(i),
        version: 1,
        retain_until: until,
    });
    measure("mix of all kinds", |i| match i % 5 {
        0 => Revocation::Session {
            sid: id(i),
            retain_until: until,
        },
        1 => Revocation::Grant {
            gid: id(i),
            retain_until: until,
        },
        2 => Revocation::Token {
            jti: id(i),
            retain_until: until,
        },
        3 => Revocation::UserVersion {
            sub: id(i),
            version: 3,
            retain_until: until,
        },
        _ => Revocation::ClientVersion {
            client_id: id(i),
            version: 2,
            retain_until: until,
        },
    });
}
