//! Grades one target several times in a row and reports the spread of the
//! total score, optionally with another process keeping a core busy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::ensure;

use crate::selfcheck::{grade, grader};

/// Largest spread of total scores the kit accepts.
pub const MAX_SPREAD: f64 = 1.0;

pub fn run(lab: &str, target: &str, runs: usize, noise: bool) -> anyhow::Result<()> {
    ensure!(runs >= 2, "stability needs at least 2 runs");
    crate::services::ensure_all()?;
    crate::services::ensure_sandbox(false)?;
    let grader = grader()?;
    let stop = Arc::new(AtomicBool::new(false));
    let hog = noise.then(|| {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut x: u64 = 1;
            while !stop.load(Ordering::Relaxed) {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            x
        })
    });
    let mut scores = Vec::new();
    let mut lines = Vec::new();
    // A fresh seed per run, whatever GRADER_SEED says: the spread across seeds is the point.
    let first = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs());
    for run in 1..=runs {
        let record = grade(&grader, lab, target, Some(first + run as u64))?;
        let score = record["score"].as_f64().unwrap_or(f64::NAN);
        let points: Vec<String> = record["checks"]
            .as_array()
            .map(|checks| {
                checks.iter().map(|c| format!("{}={}", c["id"].as_str().unwrap_or("?"), c["points"])).collect()
            })
            .unwrap_or_default();
        lines.push(format!("run {run}: {score} ({})", points.join(", ")));
        scores.push(score);
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(hog) = hog {
        let _ = hog.join();
    }
    let max = scores.iter().copied().fold(f64::MIN, f64::max);
    let min = scores.iter().copied().fold(f64::MAX, f64::min);
    for line in &lines {
        println!("{line}");
    }
    println!(
        "{lab} {target}: {runs} runs{}, scores {min}..{max}, spread {:.1} (limit {MAX_SPREAD})",
        if noise { " with a busy core" } else { "" },
        max - min
    );
    ensure!(max - min <= MAX_SPREAD, "score spread {:.1} is above {MAX_SPREAD}", max - min);
    Ok(())
}
