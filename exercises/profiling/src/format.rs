//! Money as people read it.

/// `1234567` cents is `"12,345.67"`.
// TODO: count the allocations one call makes (guide, step 6).
pub fn format_money(cents: u64) -> String {
    let whole = (cents / 100).to_string();
    let digits: Vec<char> = whole.chars().collect();
    let mut out = String::new();
    for (i, digit) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out = out + ",";
        }
        out = out + &digit.to_string();
    }
    format!("{}.{:02}", out, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::format_money;

    #[test]
    fn groups_thousands() {
        assert_eq!(format_money(0), "0.00");
        assert_eq!(format_money(5), "0.05");
        assert_eq!(format_money(123_456), "1,234.56");
        assert_eq!(format_money(100_000_000), "1,000,000.00");
    }
}
