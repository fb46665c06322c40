//! The lab's contract tests against your service, compared with the frozen baseline.
//!
//! They pass on the starter (it is slow, not wrong) and must keep passing as
//! you add caches: above all `a_change_is_seen_by_every_later_read`, which
//! runs two instances of your service on one Redis. The lesson checks are
//! ignored until you ask for them: `cargo test -p exercise-caching -- --ignored`
//! shows how far along you are.

lab_caching::contract_tests!(exercise_caching::SERVICE, baseline_caching::SERVICE);
lab_caching::lesson_tests!(exercise_caching::SERVICE, ignored);
