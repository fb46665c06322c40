//! Nothing to build: the build-dependencies only fix the features of the crates proc macros use.

fn main() {}
