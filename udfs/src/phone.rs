//! Phone numbers to E.164 without external metadata: the structure of a
//! number is checked (an assigned country calling code, a plausible length,
//! the North American numbering plan's rules for `+1`), not each region's
//! full numbering plan.

/// A region numbers without a country code are read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// ISO 3166 alpha-2 code.
    pub code: &'static str,
    /// Country calling code.
    pub calling: &'static str,
    /// National trunk prefix dropped before the calling code is added.
    trunk: &'static str,
}

const fn r(code: &'static str, calling: &'static str, trunk: &'static str) -> Region {
    Region {
        code,
        calling,
        trunk,
    }
}

/// Regions known to `normalize_phone`'s `default_region`.
pub const REGIONS: &[Region] = &[
    r("US", "1", "1"),
    r("CA", "1", "1"),
    r("PR", "1", "1"),
    r("GB", "44", "0"),
    r("IE", "353", "0"),
    r("DE", "49", "0"),
    r("FR", "33", "0"),
    r("ES", "34", ""),
    r("IT", "39", ""),
    r("PT", "351", ""),
    r("NL", "31", "0"),
    r("BE", "32", "0"),
    r("LU", "352", ""),
    r("CH", "41", "0"),
    r("AT", "43", "0"),
    r("DK", "45", ""),
    r("SE", "46", "0"),
    r("NO", "47", ""),
    r("FI", "358", "0"),
    r("IS", "354", ""),
    r("PL", "48", ""),
    r("CZ", "420", ""),
    r("SK", "421", "0"),
    r("HU", "36", "06"),
    r("RO", "40", "0"),
    r("BG", "359", "0"),
    r("GR", "30", ""),
    r("HR", "385", "0"),
    r("SI", "386", "0"),
    r("RS", "381", "0"),
    r("UA", "380", "0"),
    r("RU", "7", "8"),
    r("KZ", "7", "8"),
    r("TR", "90", "0"),
    r("IL", "972", "0"),
    r("AE", "971", "0"),
    r("SA", "966", "0"),
    r("QA", "974", ""),
    r("EG", "20", "0"),
    r("MA", "212", "0"),
    r("ZA", "27", "0"),
    r("NG", "234", "0"),
    r("KE", "254", "0"),
    r("GH", "233", "0"),
    r("IN", "91", "0"),
    r("PK", "92", "0"),
    r("BD", "880", "0"),
    r("LK", "94", "0"),
    r("CN", "86", "0"),
    r("HK", "852", ""),
    r("TW", "886", "0"),
    r("JP", "81", "0"),
    r("KR", "82", "0"),
    r("SG", "65", ""),
    r("MY", "60", "0"),
    r("TH", "66", "0"),
    r("VN", "84", "0"),
    r("ID", "62", "0"),
    r("PH", "63", "0"),
    r("AU", "61", "0"),
    r("NZ", "64", "0"),
    r("MX", "52", ""),
    r("BR", "55", "0"),
    r("AR", "54", "0"),
    r("CL", "56", ""),
    r("CO", "57", ""),
    r("PE", "51", "0"),
    r("VE", "58", "0"),
    r("EC", "593", "0"),
    r("UY", "598", "0"),
];

/// Assigned country calling codes (ITU-T E.164), as listed by the ITU.
const CALLING_CODES: &[&str] = &[
    "1", "7", "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45",
    "46", "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
    "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98", "211",
    "212", "213", "216", "218", "220", "221", "222", "223", "224", "225", "226", "227", "228",
    "229", "230", "231", "232", "233", "234", "235", "236", "237", "238", "239", "240", "241",
    "242", "243", "244", "245", "246", "247", "248", "249", "250", "251", "252", "253", "254",
    "255", "256", "257", "258", "260", "261", "262", "263", "264", "265", "266", "267", "268",
    "269", "290", "291", "297", "298", "299", "350", "351", "352", "353", "354", "355", "356",
    "357", "358", "359", "370", "371", "372", "373", "374", "375", "376", "377", "378", "380",
    "381", "382", "383", "385", "386", "387", "389", "420", "421", "423", "500", "501", "502",
    "503", "504", "505", "506", "507", "508", "509", "590", "591", "592", "593", "594", "595",
    "596", "597", "598", "599", "670", "672", "673", "674", "675", "676", "677", "678", "679",
    "680", "681", "682", "683", "685", "686", "687", "688", "689", "690", "691", "692", "850",
    "852", "853", "855", "856", "880", "886", "960", "961", "962", "963", "964", "965", "966",
    "967", "968", "970", "971", "972", "973", "974", "975", "976", "977", "992", "993", "994",
    "995", "996", "998",
];

/// The region of ISO code `code` (any case), when `normalize_phone` knows it.
pub fn region(code: &str) -> Option<Region> {
    let code = code.trim();
    REGIONS
        .iter()
        .find(|r| r.code.eq_ignore_ascii_case(code))
        .copied()
}

/// The calling code `digits` starts with, if it is an assigned one.
fn calling_code(digits: &str) -> Option<&'static str> {
    (1..=3).find_map(|n| {
        let head = digits.get(..n)?;
        CALLING_CODES.iter().find(|c| **c == head).copied()
    })
}

/// A North American number (10 digits after +1): area code and exchange
/// start with 2-9 and are not N11.
fn nanp_ok(national: &str) -> bool {
    let d = national.as_bytes();
    national.len() == 10
        && d[0] >= b'2'
        && d[3] >= b'2'
        && !(d[1] == b'1' && d[2] == b'1')
        && !(d[4] == b'1' && d[5] == b'1')
}

/// `digits` (a full international number without `+`) when its structure holds.
fn checked(digits: String) -> Option<String> {
    if !(8..=15).contains(&digits.len()) {
        return None;
    }
    let code = calling_code(&digits)?;
    let national = &digits[code.len()..];
    if code == "1" && !nanp_ok(national) {
        return None;
    }
    if national.len() < 4 || national.starts_with('0') && code != "39" {
        return None;
    }
    Some(format!("+{digits}"))
}

/// `text` as E.164 (`+14155552671`), or `None` when it is not a phone number.
///
/// `+` or the `00` (or, in `+1` regions, `011`) international prefix starts an
/// international number; otherwise the number is read in `region` (its trunk
/// prefix, such as the UK's leading 0, dropped), and without a region it is
/// `None`. Spaces, `-`, `.`, `/` and parentheses are ignored, an extension
/// (`x123`, `ext. 123`) is dropped, any other character makes it `None`. The
/// result has an assigned country calling code, 8 to 15 digits, and for `+1`
/// a valid North American area code and exchange.
pub fn normalize_phone(text: &str, region: Option<Region>) -> Option<String> {
    let lower = text.trim().to_ascii_lowercase();
    let main = ["ext", "x", "#"]
        .iter()
        .filter_map(|m| lower.find(m))
        .min()
        .map_or(lower.as_str(), |i| &lower[..i]);
    let main = main.trim();
    let (plus, rest) = match main.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, main),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '/' | '(' | ')' | '\u{a0}' => {}
            _ => return None,
        }
    }
    if digits.is_empty() {
        return None;
    }
    if plus {
        return checked(digits);
    }
    if let Some(international) = digits.strip_prefix("00") {
        return checked(international.to_string());
    }
    let region = region?;
    if region.calling == "1" {
        if let Some(international) = digits.strip_prefix("011") {
            return checked(international.to_string());
        }
        if digits.len() == 11 && digits.starts_with('1') {
            return checked(digits);
        }
        return checked(format!("1{digits}"));
    }
    let national = if !region.trunk.is_empty() && digits.len() > 7 {
        digits.strip_prefix(region.trunk).unwrap_or(&digits)
    } else {
        &digits
    };
    checked(format!("{}{national}", region.calling))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str, code: &str) -> Option<String> {
        normalize_phone(text, region(code))
    }

    #[test]
    fn national_and_international_forms() {
        assert_eq!(n("(415) 555-2671", "US"), Some("+14155552671".into()));
        assert_eq!(n("1-415-555-2671", "us"), Some("+14155552671".into()));
        assert_eq!(n("415.555.2671 x204", "US"), Some("+14155552671".into()));
        assert_eq!(n("011 44 20 7946 0958", "US"), Some("+442079460958".into()));
        assert_eq!(n("+44 20 7946 0958", "US"), Some("+442079460958".into()));
        assert_eq!(n("020 7946 0958", "GB"), Some("+442079460958".into()));
        assert_eq!(n("07911 123456", "GB"), Some("+447911123456".into()));
        assert_eq!(n("0044 7911 123456", "DE"), Some("+447911123456".into()));
        assert_eq!(n("030 1234567", "DE"), Some("+49301234567".into()));
        assert_eq!(n("06 45 67 89 01", "FR"), Some("+33645678901".into()));
        assert_eq!(n("06 123 4567", "IT"), Some("+39061234567".into()));
        assert_eq!(n("8 912 345 67 89", "RU"), Some("+79123456789".into()));
    }

    #[test]
    fn what_is_not_a_number() {
        assert_eq!(n("12", "US"), None);
        assert_eq!(n("not a phone", "US"), None);
        assert_eq!(n("555-0100", "US"), None); // 7 digits: no area code
        assert_eq!(n("(111) 555-2671", "US"), None); // area code starts with 1
        assert_eq!(n("+28 123 456 789", "US"), None); // unassigned code
        assert_eq!(n("+44 1234", "US"), None); // too short
        assert_eq!(n("4155552671", "ZZ"), None); // no such region: no region
        assert_eq!(normalize_phone("4155552671", None), None);
        assert_eq!(n("", "US"), None);
    }
}
