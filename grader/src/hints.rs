//! How many hints a lab has per check (`labs/<lab>/hints.toml`), so a
//! check's evidence can name the command that shows the next one. The
//! hints themselves are shown by `cargo xtask hint`, never by the grader.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::Deserialize;

use crate::build::Kit;

#[derive(Debug, Default)]
pub struct Hints {
    per_check: BTreeMap<String, usize>,
}

#[derive(Debug, Deserialize)]
struct File {
    #[serde(default)]
    hint: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    check: String,
}

impl Hints {
    /// The lab's hints; none when it has no hints file.
    pub fn load(kit: &Kit, lab: &str) -> anyhow::Result<Hints> {
        let path = kit.root.join("labs").join(lab).join("hints.toml");
        if !path.is_file() {
            return Ok(Hints::default());
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        Hints::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Hints> {
        let file: File = toml::from_str(text)?;
        let mut per_check = BTreeMap::new();
        for entry in file.hint {
            *per_check.entry(entry.check).or_default() += 1;
        }
        Ok(Hints { per_check })
    }

    /// Hints written for `check`.
    pub fn count(&self, check: &str) -> usize {
        self.per_check.get(check).copied().unwrap_or(0)
    }
}
