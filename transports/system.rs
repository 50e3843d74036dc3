//! The operating system's clock, sleep and threads: what a blocking transport
//! uses unless it brings its own (a test's virtual clock, say). The
//! [`crate::Transport`] trait's default `now`, `sleep` and `spawn` call these, so
//! the sans-IO core under `src/` never touches them itself.

use std::time::{Duration, Instant};

/// The monotonic clock's current reading.
pub fn now() -> Instant {
    Instant::now()
}

/// The wall clock, in nanoseconds since the Unix epoch (0 before it).
pub fn unix_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Block the calling thread for `duration`.
pub fn sleep(duration: Duration) {
    std::thread::sleep(duration)
}

/// Run `task` on a new, detached thread.
pub fn spawn(task: Box<dyn FnOnce() + Send + 'static>) {
    std::thread::spawn(task);
}
