//! The argon2id ceiling of the password code-flow row (issue 16, bench/README.md): how many password
//! verifications per second this machine does at Signoff's own parameters, through Signoff's own
//! `secrets::verify_password`, on THREADS threads for SECONDS seconds. A sign-in costs one verification, so
//! this bounds the flows/s of a code flow with a real password.
//!
//! Usage: `argon2_ceiling [seconds=10] [threads=2]`; prints one JSON line
//! `{"hashes_per_s":..,"verifications":..,"seconds":..,"threads":..}`.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use signoff::random::OsRandom;
use signoff::secrets::{hash_password, verify_password};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map_or(Ok(10.0), |s| s.parse())?;
    let threads: usize = args.next().map_or(Ok(2), |s| s.parse())?;
    let stored = hash_password("bench-password", &OsRandom)?;
    let stop = AtomicBool::new(false);
    let count = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    // A wrong result would mean the ceiling measured something other than a full verification.
                    assert!(
                        verify_password("bench-password", &stored),
                        "verification failed"
                    );
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(Duration::from_secs_f64(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    // Threads finish the verification in flight, so the elapsed time is taken after they join.
    let elapsed = start.elapsed().as_secs_f64();
    let n = count.load(Ordering::Relaxed);
    println!(
        "{{\"hashes_per_s\":{:.1},\"verifications\":{n},\"seconds\":{elapsed:.2},\"threads\":{threads}}}",
        n as f64 / elapsed
    );
    Ok(())
}
