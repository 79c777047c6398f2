//! git off the async runtime: libgit2 blocks (a clone of a large
//! repository, a push over a slow link), so every git call of the workflow
//! runs on tokio's blocking pool, and a step's timeout or the operator's
//! cancel really stops it: dropping the future sets a [`CancelFlag`] that
//! the transfer's progress callbacks and medic's HTTP transport check.
//!
//! This room knows nothing about what the git work is; it only moves it to
//! a thread and carries the stop signal there.

use super::ForgeError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The words of a transfer stopped by its [`CancelFlag`] (libgit2 keeps the
/// message of the callback that said stop).
pub const STOPPED: &str = "stopped by medic (step timed out or cancelled)";

/// Set once the git work it was handed to must stop.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// A flag not set.
    pub fn new() -> CancelFlag {
        CancelFlag::default()
    }

    /// Asks the work to stop at its next check.
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether the work must stop.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Sets its flag when dropped: the future awaiting the git work was dropped
/// (timed out, cancelled), so the work must stop too.
struct SetOnDrop(Option<CancelFlag>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.set();
        }
    }
}

/// Runs `work` on the blocking pool, handing it a [`CancelFlag`] that is set
/// when the returned future is dropped before it finished.
pub async fn run<T, F>(work: F) -> Result<T, ForgeError>
where
    T: Send + 'static,
    F: FnOnce(CancelFlag) -> Result<T, ForgeError> + Send + 'static,
{
    let flag = CancelFlag::new();
    let mut guard = SetOnDrop(Some(flag.clone()));
    let result = tokio::task::spawn_blocking(move || work(flag)).await;
    // Finished: nothing left to stop.
    guard.0 = None;
    match result {
        Ok(r) => r,
        Err(e) => Err(ForgeError::Worker(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread")]
    async fn a_timeout_sets_the_flag_and_the_runtime_stays_free() {
        let seen = CancelFlag::new();
        let inner = seen.clone();
        // The runtime has one thread: if the work ran on it, the timeout
        // could never fire.
        let r = tokio::time::timeout(
            Duration::from_millis(100),
            run(move |flag| {
                while !flag.is_set() {
                    std::thread::sleep(Duration::from_millis(5));
                }
                inner.set();
                Err::<(), _>(ForgeError::Interrupted)
            }),
        )
        .await;
        assert!(r.is_err(), "timed out");
        for _ in 0..200 {
            if seen.is_set() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(seen.is_set(), "the work saw the flag and stopped");
        assert_eq!(run(|_| Ok(7)).await.unwrap(), 7);
    }
}
