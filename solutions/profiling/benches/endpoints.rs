//! Criterion benchmarks of each endpoint: the solution beside the frozen baseline,
//! measured in the same run so the ratio is fair on a noisy machine.
//!
//! ```text
//! cargo bench -p solution-profiling                          # compare
//! cargo bench -p solution-profiling -- top_products          # one endpoint
//! cargo bench -p solution-profiling --bench endpoints -- --profile-time 5   # + flamegraphs (the option needs --bench):
//!     target/criterion/<endpoint>/<who>/profile/flamegraph.svg
//! ```

fn endpoints(c: &mut criterion::Criterion) {
    lab_profiling::bench::endpoints(c, &[("baseline", baseline_profiling::app), ("solution", solution_profiling::app)]);
}

criterion::criterion_group! {
    name = benches;
    config = lab_profiling::bench::config();
    targets = endpoints
}
criterion::criterion_main!(benches);
