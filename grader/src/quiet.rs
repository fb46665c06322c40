//! Quiet for timed rounds when gradings share a machine.
//!
//! Counts (callgrind's instructions, dhat's allocations, a proxy's queries)
//! do not change when another grading runs beside them; wall-clock rounds
//! do. So gradings sharing a target directory (the self-check's labs side
//! by side, two instructors' batches) may overlap everything but their
//! timed rounds: each grading holds a shared lock on
//! `target/grader/measure.lock` from its start to its end, and trades it
//! for the exclusive lock while it times rounds. A timed phase therefore
//! starts only once no other grading is running anything, and nothing
//! starts beside it until it is done.
//!
//! A turnstile (`measure.turnstile`) keeps a timed phase from waiting
//! forever behind a stream of gradings that each take the shared lock: a
//! grading passes it to take the shared lock, and a timed phase holds it
//! while it waits, so gradings that start meanwhile wait behind it.
//! The kernel releases both locks when a process ends, however it ends.

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;

use crate::report::Progress;

/// This process's handle on the lock while a grading holds it (one grading
/// at a time per process: `grade` and `class` grade one lab after another).
static HELD: Mutex<Option<Arc<Locks>>> = Mutex::new(None);

#[derive(Debug)]
struct Locks {
    main: File,
    turnstile: File,
}

/// Held (shared) for one lab's grading; released on drop.
#[derive(Debug)]
pub struct Grading {
    locks: Arc<Locks>,
}

/// Held (exclusive) while rounds are timed; back to shared on drop.
#[derive(Debug)]
pub struct Timed {
    locks: Option<Arc<Locks>>,
}

fn open(path: &Path) -> anyhow::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

/// Runs a blocking lock call off the async threads.
async fn blocking(
    what: &'static str,
    call: impl FnOnce() -> std::io::Result<()> + Send + 'static,
) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(call).await.with_context(|| format!("waiting for {what}"))?.with_context(|| what)
}

impl Grading {
    /// Takes the shared lock in `target_dir/grader` (passing the turnstile).
    pub async fn start(target_dir: &Path, progress: &Progress) -> anyhow::Result<Grading> {
        let dir = target_dir.join("grader");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let locks = Arc::new(Locks {
            main: open(&dir.join("measure.lock"))?,
            turnstile: open(&dir.join("measure.turnstile"))?,
        });
        if locks.turnstile.try_lock().is_err() {
            progress.phase("waiting while another grading times its rounds");
        }
        let held = locks.clone();
        blocking("the measure lock", move || {
            held.turnstile.lock()?;
            let shared = held.main.lock_shared();
            held.turnstile.unlock()?;
            shared
        })
        .await?;
        *HELD.lock().expect("never poisoned") = Some(locks.clone());
        Ok(Grading { locks })
    }
}

impl Drop for Grading {
    fn drop(&mut self) {
        HELD.lock().expect("never poisoned").take();
        let _ = self.locks.main.unlock();
    }
}

/// Waits until no other grading runs anything, then holds the machine for
/// timed rounds until the guard drops. Without a [`Grading`] held (a unit
/// test of a lab's measurement), it holds nothing.
pub async fn timed(progress: &Progress) -> anyhow::Result<Timed> {
    let Some(locks) = HELD.lock().expect("never poisoned").clone() else {
        return Ok(Timed { locks: None });
    };
    let held = locks.clone();
    // Let go of the shared lock first: a grading that waits for the
    // exclusive lock while holding the shared one could wait on another
    // that does the same.
    locks.main.unlock().context("letting go of the measure lock")?;
    if locks.main.try_lock().is_ok() {
        return Ok(Timed { locks: Some(locks) });
    }
    progress.phase("waiting for the other gradings on this machine to finish before timing rounds");
    blocking("the measure lock", move || {
        held.turnstile.lock()?;
        let exclusive = held.main.lock();
        held.turnstile.unlock()?;
        exclusive
    })
    .await?;
    Ok(Timed { locks: Some(locks) })
}

impl Drop for Timed {
    fn drop(&mut self) {
        // Back to shared: a conversion, which nothing waits on while this holds it.
        if let Some(locks) = self.locks.take() {
            let _ = locks.main.lock_shared();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Another process's view of the lock, as a second open file.
    fn other(dir: &Path) -> File {
        open(&dir.join("grader").join("measure.lock")).unwrap()
    }

    #[tokio::test]
    async fn a_timed_phase_shuts_out_other_gradings_and_then_shares_again() {
        let dir = tempfile::tempdir().unwrap();
        let progress = Progress::new(true);
        let grading = Grading::start(dir.path(), &progress).await.unwrap();
        // Another grading may share the lock ...
        let neighbour = other(dir.path());
        neighbour.try_lock_shared().unwrap();
        // ... and a timed phase waits until it lets go.
        let waiter = tokio::spawn(async move {
            let progress = Progress::new(true);
            let timed = timed(&progress).await.unwrap();
            (timed, std::time::Instant::now())
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiter.is_finished(), "the timed phase began beside another grading");
        let released = std::time::Instant::now();
        neighbour.unlock().unwrap();
        let (timed, began) = tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap();
        assert!(began >= released);
        // While it times, nobody else may take the lock at all.
        assert!(other(dir.path()).try_lock_shared().is_err());
        drop(timed);
        // After it, others share again while this grading goes on.
        other(dir.path()).try_lock_shared().unwrap();
        assert!(other(dir.path()).try_lock().is_err(), "the grading no longer holds its shared lock");
        drop(grading);
        other(dir.path()).try_lock().unwrap();
    }
}
