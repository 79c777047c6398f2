//! Journal flushes (sled fsyncs) never stall the async workers: a task
//! ticking beside a burst of durable writes keeps ticking.

use medic::workflow::journal::Journal;
use std::time::{Duration, Instant};

#[test]
fn durable_writes_do_not_stall_other_tasks() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    rt.block_on(async move {
        let (stop_tx, mut stop) = tokio::sync::oneshot::channel::<()>();
        // The ticker and the writer share the one worker.
        let ticker = tokio::spawn(async move {
            let mut last = Instant::now();
            let mut worst = Duration::ZERO;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(1)) => {}
                    _ = &mut stop => return worst,
                }
                worst = worst.max(last.elapsed());
                last = Instant::now();
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let writer = tokio::spawn(async move {
            let started = Instant::now();
            for i in 0..300 {
                // Each write is flushed before it returns (an fsync).
                journal
                    .put_step("i", &format!("s{i}"), &vec![i; 4096])
                    .unwrap();
            }
            started.elapsed()
        });
        let took = writer.await.unwrap();
        let _ = stop_tx.send(());
        let worst = ticker.await.unwrap();
        eprintln!("300 flushed writes took {took:?}; the ticker's worst gap was {worst:?}");
        assert!(
            worst < took / 4 + Duration::from_millis(20),
            "the ticker stalled {worst:?} behind {took:?} of flushes"
        );
    });
}
