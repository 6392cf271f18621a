//! Deterministic synthetic registries for demos, tests and benchmarks: realistic
//! makers and serial formats, exports and imports, thefts, confidential records.
//! The same seed always gives the same records.

use super::{Event, NationalText, Record, RecordId};
use crate::marking::{ImportMark, Marking, MarkingFields};
use crate::model::{
    Calibre, CountryCode, Date, EventKind, HolderCategory, ModelName, WeaponCategory,
};

/// Maker, country of manufacture, serial pattern (`L` a letter, `#` a digit),
/// model, category, calibre.
pub const MAKERS: &[(&str, &str, &str, &str, WeaponCategory, &str)] = &[
    (
        "Carl Walther",
        "DE",
        "LL####",
        "P99",
        WeaponCategory::Pistol,
        "9x19mm",
    ),
    (
        "Heckler & Koch",
        "DE",
        "##-######",
        "G36",
        WeaponCategory::AssaultRifle,
        "5.56x45mm",
    ),
    (
        "SIG Sauer",
        "DE",
        "SP######",
        "P226",
        WeaponCategory::Pistol,
        "9x19mm",
    ),
    (
        "Glock",
        "AT",
        "LLL###",
        "17",
        WeaponCategory::Pistol,
        "9x19mm",
    ),
    (
        "Steyr Arms",
        "AT",
        "#######",
        "AUG",
        WeaponCategory::AssaultRifle,
        "5.56x45mm",
    ),
    (
        "Beretta",
        "IT",
        "LL#####L",
        "92FS",
        WeaponCategory::Pistol,
        "9x19mm",
    ),
    (
        "FN Herstal",
        "BE",
        "###LL#####",
        "FAL",
        WeaponCategory::Rifle,
        "7.62x51mm",
    ),
    (
        "Kalashnikov Concern",
        "RU",
        "#########",
        "AK-74M",
        WeaponCategory::AssaultRifle,
        "5.45x39mm",
    ),
    (
        "Norinco",
        "CN",
        "########",
        "Type 56",
        WeaponCategory::AssaultRifle,
        "7.62x39mm",
    ),
    (
        "Zastava Arms",
        "RS",
        "L######",
        "M70",
        WeaponCategory::AssaultRifle,
        "7.62x39mm",
    ),
    (
        "Česká zbrojovka",
        "CZ",
        "L######",
        "75 B",
        WeaponCategory::Pistol,
        "9x19mm",
    ),
    (
        "Colt",
        "US",
        "LL######",
        "M4",
        WeaponCategory::Carbine,
        "5.56x45mm",
    ),
    (
        "Smith & Wesson",
        "US",
        "LLL####",
        "Model 10",
        WeaponCategory::Revolver,
        ".38 Special",
    ),
    (
        "Sturm, Ruger & Co.",
        "US",
        "###-#####",
        "10/22",
        WeaponCategory::Rifle,
        ".22 LR",
    ),
    (
        "Taurus",
        "BR",
        "LLL######",
        "PT92",
        WeaponCategory::Pistol,
        "9x19mm",
    ),
    (
        "Israel Weapon Industries",
        "IL",
        "#######",
        "Tavor",
        WeaponCategory::AssaultRifle,
        "5.56x45mm",
    ),
    (
        "MKE",
        "TR",
        "T#######",
        "MP5",
        WeaponCategory::SubmachineGun,
        "9x19mm",
    ),
    (
        "Arsenal",
        "BG",
        "LL#####",
        "AR-M1",
        WeaponCategory::AssaultRifle,
        "7.62x39mm",
    ),
    (
        "Denel",
        "ZA",
        "#######",
        "R4",
        WeaponCategory::AssaultRifle,
        "5.56x45mm",
    ),
    (
        "Imbel",
        "BR",
        "LL######",
        "IA2",
        WeaponCategory::Rifle,
        "7.62x51mm",
    ),
];

/// Countries weapons are exported to in the synthetic data.
const DESTINATIONS: &[&str] = &[
    "NG", "GH", "KE", "SN", "CI", "ML", "NE", "BF", "CM", "TD", "FR", "GB", "PL", "RO", "UA", "EG",
    "MA", "PK", "ID", "PH", "CO", "MX", "PE", "AR",
];

/// splitmix64: tiny, fast and good enough for synthetic data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn cc(s: &str) -> CountryCode {
    // Every code in this file is a valid one; a unit test reads them all.
    CountryCode::parse(s).unwrap_or_else(|_| CountryCode::parse("DE").expect("DE is a country"))
}

fn serial(rng: &mut Rng, pattern: &str) -> String {
    pattern
        .chars()
        .map(|c| match c {
            'L' => (b'A' + rng.below(26) as u8) as char,
            '#' => (b'0' + rng.below(10) as u8) as char,
            other => other,
        })
        .collect()
}

fn date(rng: &mut Rng, year: u16) -> Date {
    let day = Date::new(year, 1, 1).map(|d| d.to_days()).unwrap_or(0) + rng.below(365) as i64;
    Date::from_days(day).unwrap_or_else(|| Date::new(year, 6, 1).expect("valid date"))
}

fn later(rng: &mut Rng, d: Date, max_days: u64) -> Date {
    Date::from_days(d.to_days() + 1 + rng.below(max_days) as i64).unwrap_or(d)
}

fn text(s: String) -> Option<NationalText> {
    NationalText::parse(&s).ok()
}

/// Generates `count` records as `state`'s registry would hold them: weapons made
/// by its own makers, and weapons imported into it.
pub fn generate(state: CountryCode, count: u64, seed: u64) -> impl Iterator<Item = Record> {
    let mut rng = Rng::new(seed ^ u64::from(u16::from_be_bytes(state.as_bytes())));
    let home: Vec<usize> = (0..MAKERS.len())
        .filter(|i| cc(MAKERS[*i].1) == state)
        .collect();
    (0..count).map(move |n| {
        let made_here = !home.is_empty() && rng.chance(60);
        let m = if made_here {
            *rng.pick(&home)
        } else {
            loop {
                let i = rng.below(MAKERS.len() as u64) as usize;
                if cc(MAKERS[i].1) != state {
                    break i;
                }
            }
        };
        record(&mut rng, state, n, m, made_here)
    })
}

fn record(rng: &mut Rng, state: CountryCode, n: u64, m: usize, made_here: bool) -> Record {
    let (maker, origin, pattern, model, category, calibre) = MAKERS[m];
    let origin = cc(origin);
    let year = 1975 + rng.below(50) as u16;
    let made = date(rng, year);
    let mut events = Vec::new();
    let mut imports = Vec::new();
    let mut last = made;
    if made_here {
        events.push(ev(
            made,
            EventKind::Manufactured,
            Some(HolderCategory::Manufacturer),
            None,
        ));
        if rng.chance(50) {
            let to = cc(rng.pick::<&str>(DESTINATIONS));
            last = later(rng, last, 400);
            let mut e = ev(last, EventKind::Exported, None, Some(to));
            e.reference = text(format!("EXP-{}-{n:06}", last.year()));
            events.push(e);
            return finish(
                rng, state, n, maker, origin, pattern, model, category, calibre, year, imports,
                events,
            );
        }
    } else {
        last = later(rng, made, 700);
        imports.push(ImportMark {
            country: state,
            year: Some(last.year()),
        });
        let mut e = ev(
            last,
            EventKind::Imported,
            Some(HolderCategory::LicensedDealer),
            Some(origin),
        );
        e.reference = text(format!("IMP-{}-{n:06}", last.year()));
        events.push(e);
    }
    let holder = *rng.pick(&[
        HolderCategory::StatePolice,
        HolderCategory::StateMilitary,
        HolderCategory::LicensedDealer,
        HolderCategory::LicensedCivilian,
    ]);
    last = later(rng, last, 900);
    events.push(ev(last, EventKind::Transferred, Some(holder), None));
    let roll = rng.below(100);
    let fate = match roll {
        0..=2 => Some(EventKind::Stolen),
        3..=4 => Some(EventKind::Lost),
        5..=6 => Some(EventKind::Destroyed),
        7 => Some(EventKind::Surrendered),
        _ => None,
    };
    if let Some(kind) = fate {
        last = later(rng, last, 3000);
        let mut e = ev(last, kind, Some(holder), None);
        if kind.is_diversion() {
            e.note = text(format!("reported by holder, file {n}"));
        }
        events.push(e);
    }
    finish(
        rng, state, n, maker, origin, pattern, model, category, calibre, year, imports, events,
    )
}

fn ev(
    date: Date,
    kind: EventKind,
    holder: Option<HolderCategory>,
    counterpart: Option<CountryCode>,
) -> Event {
    Event {
        date: date.into(),
        kind,
        holder,
        counterpart,
        reference: None,
        note: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn finish(
    rng: &mut Rng,
    state: CountryCode,
    n: u64,
    maker: &str,
    origin: CountryCode,
    pattern: &str,
    model: &str,
    category: WeaponCategory,
    calibre: &str,
    year: u16,
    imports: Vec<ImportMark>,
    events: Vec<Event>,
) -> Record {
    let marking = Marking::try_from(MarkingFields {
        manufacturer: maker.to_string(),
        country: origin,
        serial: serial(rng, pattern),
        year: Some(year),
        factory_code: None,
        imports,
    })
    .expect("synthetic markings are valid");
    Record {
        id: RecordId::parse(&format!("{state}-{n:08}")).expect("synthetic ids are valid"),
        marking,
        model: ModelName::parse(model).ok(),
        category,
        calibre: Calibre::parse(calibre).ok(),
        confidential: rng.chance(1),
        events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_valid_and_output_is_deterministic() {
        for (_, c, ..) in MAKERS {
            CountryCode::parse(c).unwrap();
        }
        for c in DESTINATIONS {
            CountryCode::parse(c).unwrap();
        }
        let a: Vec<Record> = generate(cc("DE"), 200, 7).collect();
        let b: Vec<Record> = generate(cc("DE"), 200, 7).collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|r| r.check().is_ok()));
        assert!(a.iter().any(|r| r.marking.country() == cc("DE")));
        assert!(a.iter().any(|r| !r.marking.imports().is_empty()));
        let ng: Vec<Record> = generate(cc("NG"), 50, 7).collect();
        assert!(
            ng.iter()
                .all(|r| r.marking.imports().iter().any(|m| m.country == cc("NG")))
        );
    }
}
