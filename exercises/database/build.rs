//! Rebuilds the crate when a file appears in `src/migrations`: `sqlx::migrate!` embeds them at compile time.

fn main() {
    println!("cargo:rerun-if-changed=src/migrations");
}
