//! A criterion profiler hook that writes a pprof flamegraph per benchmark.
//!
//! pprof's own `criterion` feature targets criterion 0.5; this adapter does
//! the same for the criterion the kit pins. Run a bench with
//! `cargo bench -p exercise-profiling -- --profile-time 5` and open
//! `target/criterion/<group>/<bench>/profile/flamegraph.svg`.

use std::fs::File;
use std::path::Path;

use criterion::profiler::Profiler;
use pprof::ProfilerGuard;

/// Samples at `frequency` Hz while criterion profiles a benchmark.
pub struct Flamegraph {
    frequency: i32,
    guard: Option<ProfilerGuard<'static>>,
}

impl Flamegraph {
    /// 99 Hz is a safe rate on machines whose kernel tick caps sampling near 250 Hz.
    pub fn new(frequency: i32) -> Self {
        Flamegraph { frequency, guard: None }
    }
}

impl Default for Flamegraph {
    fn default() -> Self {
        Flamegraph::new(99)
    }
}

impl Profiler for Flamegraph {
    fn start_profiling(&mut self, _benchmark_id: &str, _benchmark_dir: &Path) {
        match ProfilerGuard::new(self.frequency) {
            Ok(guard) => self.guard = Some(guard),
            Err(err) => eprintln!("pprof could not start: {err}"),
        }
    }

    fn stop_profiling(&mut self, _benchmark_id: &str, benchmark_dir: &Path) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let written = std::fs::create_dir_all(benchmark_dir)
            .map_err(|err| err.to_string())
            .and_then(|()| guard.report().build().map_err(|err| err.to_string()))
            .and_then(|report| {
                let path = benchmark_dir.join("flamegraph.svg");
                let file = File::create(&path).map_err(|err| err.to_string())?;
                report.flamegraph(file).map_err(|err| err.to_string())?;
                Ok(path)
            });
        match written {
            Ok(path) => eprintln!("flamegraph written to {}", path.display()),
            Err(err) => eprintln!("flamegraph not written: {err}"),
        }
    }
}
