//! Reading sale lines.

use regex::Regex;

pub const SALE_PATTERN: &str = r"^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})Z;(SKU-\d{5});(north|south|east|west|central);(C\d{6});([1-9]\d?);(\d{1,2})$";

#[derive(Clone, Debug)]
pub struct Sale {
    pub date: String,
    pub sku: String,
    pub region: String,
    pub customer: String,
    pub quantity: u64,
    pub discount: u64,
}

/// Every readable sale in the log.
// TODO: find what this costs per request in the flamegraph (guide, step 4).
pub fn parse_sales(lines: &[String]) -> Vec<Sale> {
    let pattern = Regex::new(SALE_PATTERN).unwrap();
    let mut sales = Vec::new();
    for line in lines {
        if let Some(sale) = parse_line(&pattern, line) {
            sales.push(sale.clone());
        }
    }
    sales
}

/// One sale, if the line is a valid sale of 2026.
pub fn parse_line(pattern: &Regex, line: &str) -> Option<Sale> {
    let caps = pattern.captures(line)?;
    let format = time::format_description::parse_borrowed::<2>("[year]-[month]-[day]").ok()?;
    let date = time::Date::parse(&caps[1], &format).ok()?;
    if date.year() != 2026 {
        return None;
    }
    let hour: u32 = caps[2].parse().ok()?;
    let minute: u32 = caps[3].parse().ok()?;
    let second: u32 = caps[4].parse().ok()?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let discount: u64 = caps[9].parse().ok()?;
    if discount > 50 {
        return None;
    }
    Some(Sale {
        date: date.format(&format).ok()?,
        sku: caps[5].to_string(),
        region: caps[6].to_string(),
        customer: caps[7].to_string(),
        quantity: caps[8].parse().ok()?,
        discount,
    })
}
