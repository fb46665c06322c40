//! Money as people read it.

/// `1234567` cents is `"12,345.67"`.
pub fn format_money(cents: u64) -> String {
    // Why: one allocation of the right size, digits written in place, instead of a String per digit.
    let mut out = String::with_capacity(32);
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut whole = cents / 100;
    loop {
        start -= 1;
        digits[start] = b'0' + (whole % 10) as u8;
        whole /= 10;
        if whole == 0 {
            break;
        }
    }
    let digits = &digits[start..];
    for (i, digit) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(char::from(*digit));
    }
    let fraction = cents % 100;
    out.push('.');
    out.push(char::from(b'0' + (fraction / 10) as u8));
    out.push(char::from(b'0' + (fraction % 10) as u8));
    out
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
        assert_eq!(format_money(u64::MAX), "184,467,440,737,095,516.15");
    }
}
