//! Reading sale lines.

use std::sync::LazyLock;

use regex::Regex;
use time::Date;
use time::macros::format_description;

use crate::state::Catalog;

pub const SALE_PATTERN: &str = r"^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})Z;(SKU-\d{5});(north|south|east|west|central);(C\d{6});([1-9]\d?);(\d{1,2})$";

// Why: compiling a regex costs far more than matching one line; compile it once per process.
static SALE: LazyLock<Regex> = LazyLock::new(|| Regex::new(SALE_PATTERN).expect("the sale pattern is valid"));

/// A sale reduced to the numbers reports need.
// Why: small integer fields instead of five owned Strings: no allocation per sale, and compact to scan.
#[derive(Clone, Copy, Debug)]
pub struct Sale {
    /// Ordinal day of 2026 (1 = January 1st).
    pub day: u16,
    pub region: u8,
    pub product: u32,
    pub customer: u32,
    pub quantity: u32,
    // Why: the price never changes, so each line's revenue is computed once, at parse time.
    pub revenue: u64,
}

/// Why a line was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum LineError {
    Invalid,
    UnknownSku(String),
}

/// One sale, if the line is a valid sale of 2026 for a product in the catalogue.
pub fn parse_line(line: &str, catalog: &Catalog) -> Result<Sale, LineError> {
    let caps = SALE.captures(line).ok_or(LineError::Invalid)?;
    // Why: a compile-time format description instead of parsing one per line.
    let date = Date::parse(&caps[1], format_description!("[year]-[month]-[day]")).map_err(|_| LineError::Invalid)?;
    if date.year() != 2026 {
        return Err(LineError::Invalid);
    }
    let number = |i: usize| caps[i].parse::<u32>().map_err(|_| LineError::Invalid);
    let (hour, minute, second) = (number(2)?, number(3)?, number(4)?);
    if hour > 23 || minute > 59 || second > 59 {
        return Err(LineError::Invalid);
    }
    let discount = number(9)?;
    if discount > 50 {
        return Err(LineError::Invalid);
    }
    let region = match &caps[6] {
        "north" => 0,
        "south" => 1,
        "east" => 2,
        "west" => 3,
        _ => 4,
    };
    let quantity = number(8)?;
    let product = catalog.index_of(&caps[5]).ok_or_else(|| LineError::UnknownSku(caps[5].to_string()))?;
    let price = catalog.products[product as usize].price_cents;
    Ok(Sale {
        day: date.ordinal(),
        region,
        product,
        customer: caps[7][1..].parse().map_err(|_| LineError::Invalid)?,
        quantity,
        revenue: u64::from(quantity) * price * u64::from(100 - discount) / 100,
    })
}
