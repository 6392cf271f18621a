//! Country codes: the ISO 3166-1 alpha-2 codes of today's States, and the codes
//! of four former States under which registries still record weapons made or
//! imported there (ISO 3166-3), with the States that succeeded them.
//!
//! A weapon made in Yugoslavia is recorded as made in `YU`, as the ATF does,
//! never rewritten to a successor: the record says what the marking says. A
//! trace for it must still reach the States that hold such records today,
//! which is what [`CountryCode::routes`] gives.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ValueError;

/// ISO 3166-1 alpha-2 codes officially assigned (249 of them).
pub(super) const ISO_3166_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Whether two upper-case ASCII letters are an assigned code: a table of 26 x 26
/// flags built once, since codes are checked on every decoded message.
fn assigned(code: [u8; 2]) -> bool {
    static TABLE: std::sync::LazyLock<[bool; 676]> = std::sync::LazyLock::new(|| {
        let mut t = [false; 676];
        for c in ISO_3166_ALPHA2.split(' ') {
            let b = c.as_bytes();
            t[usize::from(b[0] - b'A') * 26 + usize::from(b[1] - b'A')] = true;
        }
        t
    });
    TABLE[usize::from(code[0] - b'A') * 26 + usize::from(code[1] - b'A')]
}

const fn cc(code: &[u8; 2]) -> CountryCode {
    CountryCode(*code)
}

/// A former State whose code registries still use (ISO 3166-3).
struct Former {
    /// The alpha-2 code it had in ISO 3166-1, which records and markings use.
    code: CountryCode,
    /// Its four-letter ISO 3166-3 code: the old code, then the new one (`HH`:
    /// divided, no single successor).
    iso_3166_3: &'static str,
    name: &'static str,
    /// The last year in which it existed.
    until: u16,
    /// The States that hold its territory today, in code order.
    successors: &'static [CountryCode],
}

/// The four former States of ISO 3166-3 whose weapons are still traced.
///
/// Successors, from ISO 3166-3 and the States' own history:
/// - `CS` Czechoslovakia (CSHH, until 1992): divided into CZ and SK.
/// - `DD` German Democratic Republic (DDDE, until 1990): merged into DE.
/// - `SU` USSR (SUHH, until 1991): ISO 3166-3 lists the 13 republics it was
///   divided into; Belarus and Ukraine had their own codes already (BY, UA,
///   UN members since 1945) and are its other two successors: 15 in all.
/// - `YU` Yugoslavia (YUCS, until 2003): the code passed to Serbia and
///   Montenegro (CS, CSXX), divided into RS and ME in 2006; "Yugoslavia" on
///   a weapon made before 1992 may also mean BA, HR, MK or SI, which left the
///   federation in 1991-92: six in all.
///
/// `CS` means Czechoslovakia here, its use for 40 years and in every weapon
/// record of the period. Serbia and Montenegro (CSXX, 2003-2006) is refused
/// with a hint to record RS or ME, and `CS` with a year after 1992 is refused
/// as ambiguous (see [`CountryCode::check_year`]).
const FORMER: [Former; 4] = [
    Former {
        code: cc(b"CS"),
        iso_3166_3: "CSHH",
        name: "Czechoslovakia",
        until: 1992,
        successors: &[cc(b"CZ"), cc(b"SK")],
    },
    Former {
        code: cc(b"DD"),
        iso_3166_3: "DDDE",
        name: "German Democratic Republic",
        until: 1990,
        successors: &[cc(b"DE")],
    },
    Former {
        code: cc(b"SU"),
        iso_3166_3: "SUHH",
        name: "USSR",
        until: 1991,
        successors: &[
            cc(b"AM"),
            cc(b"AZ"),
            cc(b"BY"),
            cc(b"EE"),
            cc(b"GE"),
            cc(b"KG"),
            cc(b"KZ"),
            cc(b"LT"),
            cc(b"LV"),
            cc(b"MD"),
            cc(b"RU"),
            cc(b"TJ"),
            cc(b"TM"),
            cc(b"UA"),
            cc(b"UZ"),
        ],
    },
    Former {
        code: cc(b"YU"),
        iso_3166_3: "YUCS",
        name: "Yugoslavia",
        until: 2003,
        successors: &[
            cc(b"BA"),
            cc(b"HR"),
            cc(b"ME"),
            cc(b"MK"),
            cc(b"RS"),
            cc(b"SI"),
        ],
    },
];

/// The ISO 3166-3 code of Serbia and Montenegro, refused: see [`FORMER`].
const SERBIA_AND_MONTENEGRO: &str = "CSXX";

/// A validated country code, stored upper-case: an ISO 3166-1 alpha-2 code
/// officially assigned, or the alpha-2 code of one of four former States
/// (`CS` Czechoslovakia, `DD` the GDR, `SU` the USSR, `YU` Yugoslavia),
/// which is also accepted in its ISO 3166-3 form (`CSHH`, `DDDE`, `SUHH`,
/// `YUCS`) and kept as the two letters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Parses a code, case-insensitive and trimmed. Errors name what is
    /// expected; `CSXX` gets its own.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let t = s.trim();
        let b = t.as_bytes();
        if b.iter().all(u8::is_ascii_alphabetic) {
            if b.len() == 2 {
                let up = CountryCode([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]);
                if assigned(up.0) || up.former().is_some() {
                    return Ok(up);
                }
            } else if b.len() == 4 {
                let up = t.to_ascii_uppercase();
                if let Some(f) = FORMER.iter().find(|f| f.iso_3166_3 == up) {
                    return Ok(f.code);
                }
                if up == SERBIA_AND_MONTENEGRO {
                    return Err(ValueError::FormerCountry {
                        value: s.to_string(),
                        reason: "Serbia and Montenegro (2003-2006) is not a country code here, since CS means Czechoslovakia; record RS (Serbia) or ME (Montenegro), where the weapon was made or imported",
                    });
                }
            }
        }
        Err(ValueError::Country(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        // Constructed only from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    pub fn as_bytes(&self) -> [u8; 2] {
        self.0
    }

    fn former(&self) -> Option<&'static Former> {
        FORMER.iter().find(|f| f.code == *self)
    }

    /// Whether this is the code of a former State (`CS`, `DD`, `SU`, `YU`).
    pub fn is_former(&self) -> bool {
        self.former().is_some()
    }

    /// A former State's name (`Yugoslavia`); `None` for today's States.
    pub fn former_name(&self) -> Option<&'static str> {
        self.former().map(|f| f.name)
    }

    /// The States that succeeded a former State, in code order; empty for
    /// today's States.
    pub fn successors(&self) -> &'static [CountryCode] {
        self.former().map(|f| f.successors).unwrap_or(&[])
    }

    /// The former State this State succeeded (`YU` for `RS`), if any. The
    /// four former States' successors do not overlap, so there is at most one.
    pub fn predecessor(&self) -> Option<CountryCode> {
        FORMER
            .iter()
            .find(|f| f.successors.contains(self))
            .map(|f| f.code)
    }

    /// The countries whose records a trace naming this country must reach:
    /// itself first, then a former State's successors, or a successor's
    /// former State. A Zastava made in `YU` is held under `YU` by one
    /// registry and under `RS` by another; a trace for either reaches both.
    /// Not transitive: `RS` routes with `YU`, not with `HR`.
    pub fn routes(&self) -> impl Iterator<Item = CountryCode> + use<> {
        let me = *self;
        std::iter::once(me)
            .chain(me.successors().iter().copied())
            .chain(me.predecessor())
    }

    /// Whether a trace naming `self` must reach records naming `other`.
    pub fn routes_with(&self, other: CountryCode) -> bool {
        self.routes().any(|c| c == other)
    }

    /// Refuses a year that contradicts the code: `CS` after 1992 can only be
    /// Serbia and Montenegro (2003-2006) or a typo, since Czechoslovakia ended
    /// in 1992. Other former States are not checked: weapons were marked with
    /// their names for a while after they ended.
    pub fn check_year(&self, year: Option<u16>) -> Result<(), ValueError> {
        match (self.former(), year) {
            (Some(f), Some(y)) if f.code == cc(b"CS") && y > f.until => {
                Err(ValueError::FormerCountry {
                    value: format!("CS with the year {y}"),
                    reason: "CS is Czechoslovakia, which ended in 1992; record CZ or SK for later Czech or Slovak weapons, and RS or ME for Serbia and Montenegro (2003-2006)",
                })
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountryCode({})", self.as_str())
    }
}

impl FromStr for CountryCode {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for CountryCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        CountryCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> CountryCode {
        CountryCode::parse(s).unwrap()
    }

    #[test]
    fn country_codes_are_validated_and_folded() {
        assert_eq!(ISO_3166_ALPHA2.split(' ').count(), 249);
        assert_eq!(c("de").as_str(), "DE");
        assert_eq!(c(" NG ").as_str(), "NG");
        assert!(CountryCode::parse("XX").is_err());
        assert!(CountryCode::parse("DEU").is_err());
        assert!(CountryCode::parse("").is_err());
        assert!(CountryCode::parse("D\u{e9}").is_err());
        assert!(CountryCode::parse("DEDE").is_err());
    }

    #[test]
    fn former_states_are_kept_as_recorded_in_either_iso_form() {
        for (two, four) in [
            ("YU", "YUCS"),
            ("CS", "CSHH"),
            ("SU", "SUHH"),
            ("DD", "DDDE"),
        ] {
            assert_eq!(c(two).as_str(), two);
            assert_eq!(c(four), c(two), "{four}");
            assert_eq!(c(&four.to_lowercase()), c(two));
            assert!(c(two).is_former());
            assert_eq!(c(two).to_string(), two);
            // Written as two letters, so one weapon has one prefix.
            assert_eq!(
                serde_json::to_string(&c(four)).unwrap(),
                format!("\"{two}\"")
            );
        }
        assert!(!c("RS").is_former());
        assert_eq!(c("YU").former_name(), Some("Yugoslavia"));
        let e = CountryCode::parse("CSXX").unwrap_err().to_string();
        assert!(
            e.contains("RS") && e.contains("ME") && e.contains("Czechoslovakia"),
            "{e}"
        );
    }

    #[test]
    fn successors_are_assigned_codes_and_route_both_ways() {
        let n: Vec<usize> = FORMER.iter().map(|f| f.successors.len()).collect();
        assert_eq!(n, [2, 1, 15, 6]);
        let mut all = Vec::new();
        for f in &FORMER {
            assert!(!assigned(f.code.0), "{} is assigned again", f.code);
            assert!(f.successors.windows(2).all(|w| w[0] < w[1]), "{}", f.code);
            for s in f.successors {
                assert!(assigned(s.0), "{s}");
                assert_eq!(s.predecessor(), Some(f.code));
                assert!(s.routes_with(f.code) && f.code.routes_with(*s));
                all.push(*s);
            }
        }
        let before = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), before, "successor lists overlap");
        let yu: Vec<String> = c("YU").routes().map(|x| x.to_string()).collect();
        assert_eq!(yu, ["YU", "BA", "HR", "ME", "MK", "RS", "SI"]);
        let rs: Vec<String> = c("RS").routes().map(|x| x.to_string()).collect();
        assert_eq!(rs, ["RS", "YU"]);
        assert!(!c("RS").routes_with(c("HR")));
        assert_eq!(c("NG").routes().count(), 1);
        assert!(c("SU").routes_with(c("UA")) && c("SU").routes_with(c("BY")));
        assert!(c("DE").routes_with(c("DD")) && c("CZ").routes_with(c("CS")));
    }

    #[test]
    fn cs_after_czechoslovakia_is_refused_as_ambiguous() {
        assert!(c("CS").check_year(Some(1988)).is_ok());
        assert!(c("CS").check_year(None).is_ok());
        let e = c("CS").check_year(Some(2004)).unwrap_err().to_string();
        assert!(e.contains("1992") && e.contains("RS or ME"), "{e}");
        assert!(c("YU").check_year(Some(2005)).is_ok());
        assert!(c("SU").check_year(Some(1993)).is_ok());
    }
}
