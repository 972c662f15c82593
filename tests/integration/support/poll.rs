//! The one way tests wait: poll a condition every 25 ms until it holds or a limit runs
//! out (then fail, saying what did not happen). Never a fixed sleep in its place.

use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_millis(25);

/// Waits until `check` holds, up to `limit`; returns how long it took.
pub async fn until<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(EVERY).await;
    }
}

/// [`until`] for a test thread without a runtime (blocking `check`).
pub fn until_blocking(limit: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if check() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        std::thread::sleep(EVERY);
    }
}
