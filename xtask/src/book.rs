//! Builds the mdBook under docs/ with the mdbook library, so no separate install is needed.

use anyhow::Context;

pub fn build() -> anyhow::Result<()> {
    let root = crate::shell::root().join("docs");
    let book = mdbook_driver::MDBook::load(&root).map_err(|err| anyhow::anyhow!("{err:#}")).context("loading docs/")?;
    book.build().map_err(|err| anyhow::anyhow!("{err:#}")).context("building the book")?;
    eprintln!("xtask: book written to {}", root.join("book").display());
    Ok(())
}
