//! No code: see this crate's `Cargo.toml`. Every workspace crate depends on
//! it so that each is built with the workspace's features.
