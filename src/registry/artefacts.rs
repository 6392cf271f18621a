//! Signs that a CSV file went through a spreadsheet that rewrote its serials
//! as numbers before tracenet saw it. The digits lost cannot be recovered
//! here, so these are warnings naming the line, not refusals: the record is
//! imported as written, and the clerk checks it against the source registry.
//!
//! - **Scientific notation**: a serial such as `1.01219E+11` is a long digit
//!   serial that a spreadsheet shortened to a number; its last digits are gone.
//! - **Leading zeros dropped**: a spreadsheet turns `012345` into `12345`.
//!   Which serials lost a zero cannot be known from one serial, so the file is
//!   judged per maker (as written, with its country): when at least
//!   [`MIN_SERIALS`] of a maker's serials are all digits, at least
//!   [`DOMINANT_SHARE_PERCENT`] % of those have one length, and **none** of
//!   them starts with `0`, each shorter all-digit serial of that maker is
//!   warned about. Fixed-length digit serials start with `0` about one time in
//!   ten, so a column without a single leading zero among twenty or more is
//!   what a spreadsheet leaves; a maker numbering without padding (1, 2, ...,
//!   10000) has no dominant length and is not warned about.

use std::collections::{BTreeMap, HashMap};

/// All-digit serials of one maker needed before its lengths are judged.
pub const MIN_SERIALS: u64 = 20;
/// The share of a maker's all-digit serials that one length must have.
pub const DOMINANT_SHARE_PERCENT: u64 = 80;
/// Lines remembered per maker and length, for the warnings.
const LINES_KEPT: usize = 20;

/// The warning for a serial in a spreadsheet's scientific notation, if it is
/// one (`1.01219E+11`, `1E+07`, `2,5E+10` as a comma-decimal locale writes it).
pub fn scientific_notation(serial: &str) -> Option<String> {
    let s = serial.trim();
    let (mantissa, exponent) = s.split_once(['E', 'e'])?;
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    let (whole, fraction) = mantissa.split_once(['.', ',']).unwrap_or((mantissa, "0"));
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let looks = whole.len() == 1 && digits(whole) && digits(fraction) && digits(exponent);
    looks.then(|| {
        format!(
            "serial {s:?} looks like a number a spreadsheet wrote in scientific notation: the serial's last digits are lost; export the column as text from the source registry and import it again"
        )
    })
}

/// One maker's all-digit serials, by length.
#[derive(Default)]
struct Maker {
    digits: u64,
    zero_led: bool,
    /// Length -> (count, the first lines and serials).
    by_len: BTreeMap<usize, (u64, Vec<(u64, String)>)>,
}

/// Collects the all-digit serials of a file, per maker, to judge at the end.
#[derive(Default)]
pub struct LeadingZeros {
    makers: HashMap<(String, String), Maker>,
}

impl LeadingZeros {
    /// Notes the serial of an imported row.
    pub fn note(&mut self, maker: &str, country: &str, serial: &str, line: u64) {
        let serial = serial.trim();
        if serial.is_empty() || !serial.bytes().all(|b| b.is_ascii_digit()) {
            return;
        }
        let key = (maker.trim().to_lowercase(), country.trim().to_uppercase());
        let m = self.makers.entry(key).or_default();
        m.digits += 1;
        m.zero_led |= serial.starts_with('0');
        let (n, lines) = m.by_len.entry(serial.len()).or_default();
        *n += 1;
        if lines.len() < LINES_KEPT {
            lines.push((line, serial.to_string()));
        }
    }

    /// The warnings, as (line, message), in line order.
    pub fn finish(self) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        for ((maker, _), m) in self.makers {
            if m.digits < MIN_SERIALS || m.zero_led {
                continue;
            }
            let Some((&len, &(most, _))) = m.by_len.iter().max_by_key(|(_, (n, _))| *n) else {
                continue;
            };
            if most * 100 < m.digits * DOMINANT_SHARE_PERCENT {
                continue;
            }
            for (&short, (_, lines)) in m.by_len.range(..len) {
                for (line, serial) in lines {
                    let zeros = "0".repeat(len - short);
                    out.push((
                        *line,
                        format!(
                            "serial {serial:?} has {short} digits where {most} of the {} all-digit serials of {maker:?} in this file have {len}, and none starts with 0: if a spreadsheet dropped its leading zeros, it was \"{zeros}{serial}\"; check it against the source registry",
                            m.digits
                        ),
                    ));
                }
            }
        }
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scientific_notation_is_told_from_serials_with_an_e() {
        for s in ["1.01219E+11", "1E+07", "2,5E+10", " 9.9e12 "] {
            assert!(scientific_notation(s).is_some(), "{s}");
        }
        for s in ["BP0746", "12E4567X", "E+11", "10.2E+11", "1.0E+", "AB1E+5"] {
            assert!(scientific_notation(s).is_none(), "{s}");
        }
    }

    fn judged(serials: &[&str]) -> Vec<u64> {
        let mut z = LeadingZeros::default();
        for (i, s) in serials.iter().enumerate() {
            z.note("Zastava", "RS", s, i as u64 + 2);
        }
        z.finish().into_iter().map(|(line, _)| line).collect()
    }

    #[test]
    fn short_serials_among_fixed_length_ones_without_a_leading_zero_are_warned() {
        let mut s: Vec<String> = (0..30).map(|i| format!("{}", 512_345 + i * 7)).collect();
        s[4] = "12345".into();
        s[9] = "2345".into();
        let refs: Vec<&str> = s.iter().map(String::as_str).collect();
        assert_eq!(judged(&refs), [6, 11]);
        // One serial with its leading zero kept: the zeros were not dropped.
        let mut kept = refs.clone();
        kept[0] = "012345";
        assert!(judged(&kept).is_empty());
        // Too few serials to tell.
        assert!(judged(&refs[..10]).is_empty());
        // No dominant length: a maker numbering without padding.
        let unpadded: Vec<String> = (1..=40).map(|i| (i * i * 37).to_string()).collect();
        let refs: Vec<&str> = unpadded.iter().map(String::as_str).collect();
        assert!(judged(&refs).is_empty());
    }
}
