//! Reads a `/metrics` scrape back into samples, for the lab's checks.
//!
//! `promtool check metrics` is what judges the format; this only reads the
//! values. It is written here because the parser crate we tried
//! (`prometheus-parse`) drops every sample whose label value holds a brace,
//! which every route template (`/products/{sku}`) does.

use std::collections::BTreeMap;

/// One sample line: `name{label="value",...} value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A whole scrape: its samples in order, and each metric's `# TYPE`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scrape {
    pub samples: Vec<Sample>,
    pub types: BTreeMap<String, String>,
}

impl Scrape {
    /// Parses the text format; the error names the line.
    pub fn parse(text: &str) -> Result<Scrape, String> {
        let mut scrape = Scrape::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut words = rest.split_whitespace();
                if let (Some(name), Some(kind)) = (words.next(), words.next()) {
                    scrape.types.insert(name.to_string(), kind.to_string());
                }
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let sample = parse_sample(line).ok_or_else(|| format!("line {}: not a sample: {line}", n + 1))?;
            scrape.samples.push(sample);
        }
        Ok(scrape)
    }

    /// The samples of metric `name` (exact sample name: `x_bucket`, `x_count`, ...).
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }
}

fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = line[..name_end].to_string();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let end = loop {
            while chars.next_if(|(_, c)| *c == ',' || c.is_whitespace()).is_some() {}
            let (start, c) = *chars.peek()?;
            if c == '}' {
                break start + 1;
            }
            let mut key = String::new();
            while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=') {
                key.push(c);
            }
            chars.next()?; // '='
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()?.1 {
                    '"' => break,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    other => value.push(other),
                }
            }
            labels.insert(key.trim().to_string(), value);
        };
        rest = &inner[end..];
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().ok()?,
    };
    Some(Sample { name, labels, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_keep_label_values_with_braces_commas_and_escapes() {
        let text = "# HELP x_total Requests.\n# TYPE x_total counter\n\
                    x_total{route=\"/products/{sku}\",note=\"a,b \\\"c\\\"\"} 3\n\
                    y_bucket{le=\"+Inf\"} 7\nz 1.5e3\n";
        let scrape = Scrape::parse(text).unwrap();
        assert_eq!(scrape.types["x_total"], "counter");
        assert_eq!(scrape.samples.len(), 3);
        assert_eq!(scrape.samples[0].labels["route"], "/products/{sku}");
        assert_eq!(scrape.samples[0].labels["note"], "a,b \"c\"");
        assert_eq!(scrape.samples[0].value, 3.0);
        assert_eq!(scrape.samples[1].labels["le"], "+Inf");
        assert_eq!(scrape.samples[2].value, 1500.0);
        assert!(Scrape::parse("x{a=b} 1").is_err());
    }
}
