//! What a maker table changes against the table built into this release.
//!
//! A signed table in force replaces the built-in one whole, so what it
//! leaves out of the built-in rows is no longer matched on the nodes that
//! install it. `makers sign` warns of it and `makers verify` says it; both
//! list it in `--json`. Compared with the built-in table only: a change
//! against an earlier signed table is not seen here, and a difference from
//! the built-in table is said again at each signing.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::marking::{MakerKey, MakerTable, ReferenceMaker, ReferenceTable, fold_maker};
use crate::model::{CountryCode, count};

/// A table's changes against the built-in one, in the built-in table's
/// order, each maker once (by folded canonical name).
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub(super) struct Changes {
    /// Built-in makers the table does not list, by canonical name, whose
    /// spellings no longer read as one maker of the table: nodes installing
    /// it no longer match them by name.
    #[serde(rename = "built_in_left_out")]
    pub left_out: Vec<String>,
    /// Built-in makers the table lists under another canonical name (a row
    /// renamed, or merged into another): every spelling in its countries
    /// reads as that one maker of the table.
    #[serde(rename = "built_in_renamed")]
    pub renamed: Vec<Renamed>,
    /// Built-in makers the table still lists, under which it matches fewer
    /// markings.
    #[serde(rename = "built_in_narrowed")]
    pub narrowed: Vec<Narrowed>,
}

/// A built-in maker the table knows under another name.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub(super) struct Renamed {
    /// The canonical name, as the built-in table writes it.
    pub maker: String,
    /// The canonical name the table gives it.
    pub now: String,
}

/// A built-in maker the table lists, and what of the built-in table's
/// matching it lost.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub(super) struct Narrowed {
    /// The canonical name, as the built-in table writes it.
    pub maker: String,
    /// Spellings (as the built-in table writes them) no longer read as this
    /// maker, each with the countries of manufacture where.
    pub spellings: Vec<LostSpelling>,
    /// State factory codes no longer placed with this maker.
    pub factory_codes: Vec<LostCode>,
    /// Countries of manufacture the built-in table gives the maker and the
    /// table does not: records so marked are still found (a spelling one
    /// maker holds reads as it anywhere), but a trace of the maker made
    /// there needs `--force`, the maker not being one of that country.
    pub countries_left_out: Vec<CountryCode>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub(super) struct LostSpelling {
    pub spelling: String,
    /// Countries of manufacture where it is no longer read as the maker.
    pub countries: Vec<CountryCode>,
    /// Lost also for a weapon made in any country neither table names for
    /// this spelling.
    pub elsewhere: bool,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub(super) struct LostCode {
    pub country: CountryCode,
    pub code: String,
}

/// The built-in rows of the maker with folded canonical name `folded`.
fn rows_of<'a>(t: &'a ReferenceTable, folded: &'a str) -> impl Iterator<Item = &'a ReferenceMaker> {
    t.makers
        .iter()
        .filter(move |m| fold_maker(&m.name) == folded)
}

/// `table`'s changes against the table built into this release
/// ([`Changes`]).
///
/// Matching is compared by the maker key a spelling folds to
/// ([`MakerTable::key`]: what records are filed and found under) in every
/// country where the answer can differ: the row's countries, those either
/// table gives a spelling of that folded form, the States these route with
/// (a former State and its successors), and one country neither names,
/// which stands for all the others ("elsewhere": a spelling one maker holds
/// alone is that maker's wherever the weapon was made). A spelling is lost
/// where its key differs or names no maker of the table; a factory code
/// where the table places it with no maker or another
/// ([`MakerTable::factory_maker`]). Spellings that fold alike are reported
/// once, as first written.
pub(super) fn against_built_in(table: &ReferenceTable) -> Changes {
    let shipped = ReferenceTable::shipped_ref();
    let built = MakerTable::built_in();
    let new = MakerTable::from_reference(table);
    let listed: BTreeSet<String> = table.makers.iter().map(|m| fold_maker(&m.name)).collect();
    // Folded spelling -> the countries either table gives it in.
    let mut scoped: BTreeMap<String, BTreeSet<CountryCode>> = BTreeMap::new();
    for row in shipped.makers.iter().chain(&table.makers) {
        for s in row.spellings() {
            scoped
                .entry(fold_maker(s))
                .or_default()
                .extend(row.countries.iter().copied());
        }
    }
    let mut changes = Changes::default();
    let mut seen = BTreeSet::new();
    for first in &shipped.makers {
        let folded = fold_maker(&first.name);
        if !seen.insert(folded.clone()) {
            continue;
        }
        // What a spelling of this maker folds to, here and in the table.
        let was_its = |spelling: &str, country: CountryCode| {
            built
                .key(spelling, country)
                .ok()
                .filter(|k| k.as_str() == folded && built.display_name(k).is_some())
        };
        let now = |spelling: &str, country: CountryCode| {
            new.key(spelling, country)
                .ok()
                .filter(|k| new.display_name(k).is_some())
        };
        if !listed.contains(&folded) {
            // Renamed if every spelling in its countries reads as one maker.
            let mut keys: BTreeSet<Option<MakerKey>> = BTreeSet::new();
            for row in rows_of(shipped, &folded) {
                for &c in &row.countries {
                    for s in row.spellings() {
                        if was_its(s, c).is_some() {
                            keys.insert(now(s, c));
                        }
                    }
                }
            }
            match keys.into_iter().collect::<Vec<_>>().as_slice() {
                [Some(k)] => changes.renamed.push(Renamed {
                    maker: first.name.clone(),
                    now: new.display_name(k).unwrap_or(k.as_str()).to_string(),
                }),
                _ => changes.left_out.push(first.name.clone()),
            }
            continue;
        }
        let mut spellings: Vec<LostSpelling> = Vec::new();
        let mut codes: Vec<LostCode> = Vec::new();
        let mut folded_seen = BTreeSet::new();
        for row in rows_of(shipped, &folded) {
            for spelling in row.spellings() {
                let f = fold_maker(spelling);
                if !folded_seen.insert(f.clone()) {
                    continue;
                }
                let named: BTreeSet<CountryCode> = row
                    .countries
                    .iter()
                    .chain(scoped.get(&f).into_iter().flatten())
                    .flat_map(|c| c.routes())
                    .collect();
                let lost_in = |country: CountryCode| {
                    was_its(spelling, country)
                        .is_some_and(|was| now(spelling, country).is_none_or(|k| k != was))
                };
                let countries: Vec<CountryCode> =
                    named.iter().copied().filter(|c| lost_in(*c)).collect();
                let elsewhere = elsewhere(&named).is_some_and(lost_in);
                if !countries.is_empty() || elsewhere {
                    spellings.push(LostSpelling {
                        spelling: spelling.to_string(),
                        countries,
                        elsewhere,
                    });
                }
            }
            for &country in &row.countries {
                for code in &row.factory_codes {
                    let was = built.factory_maker(country, code);
                    if was.is_none_or(|k| k.as_str() != folded) {
                        continue;
                    }
                    let lost = LostCode {
                        country,
                        code: code.clone(),
                    };
                    if new.factory_maker(country, code) != was && !codes.contains(&lost) {
                        codes.push(lost);
                    }
                }
            }
        }
        let kept: BTreeSet<CountryCode> = rows_of(table, &folded)
            .flat_map(|r| r.countries.iter().copied())
            .collect();
        let dropped: BTreeSet<CountryCode> = rows_of(shipped, &folded)
            .flat_map(|r| r.countries.iter().copied())
            .filter(|c| !kept.contains(c))
            .collect();
        if !spellings.is_empty() || !codes.is_empty() || !dropped.is_empty() {
            changes.narrowed.push(Narrowed {
                maker: first.name.clone(),
                spellings,
                factory_codes: codes,
                countries_left_out: dropped.into_iter().collect(),
            });
        }
    }
    changes
}

/// A country that `named` does not hold: as no row gives the spelling
/// there, it reads there as it reads in every such country. Antarctica
/// and two uninhabited islands first, then any code.
fn elsewhere(named: &BTreeSet<CountryCode>) -> Option<CountryCode> {
    let letters = || (b'A'..=b'Z').map(char::from);
    ["AQ", "BV", "HM"]
        .into_iter()
        .map(String::from)
        .chain(letters().flat_map(|a| letters().map(move |b| format!("{a}{b}"))))
        .filter_map(|c| CountryCode::parse(&c).ok())
        .find(|c| !named.contains(c))
}

/// `c`, with a former State's name.
fn country_words(c: CountryCode) -> String {
    match c.former_name() {
        Some(name) => format!("{c} ({name})"),
        None => c.to_string(),
    }
}

/// `items` joined, at most `at_most` of them, then how many more.
fn some_of(items: Vec<String>, at_most: usize, sep: &str, more: &str) -> String {
    let n = items.len();
    let mut shown: Vec<String> = items.into_iter().take(at_most).collect();
    if n > at_most {
        let rest = count((n - at_most) as u64, more);
        let (k, noun) = rest.split_once(' ').unwrap_or((&rest, ""));
        shown.push(format!("and {k} more {noun}"));
    }
    shown.join(sep)
}

/// A narrowed maker in words: what it lost, at most `at_most` items.
fn narrowed_one(n: &Narrowed, at_most: usize) -> String {
    let parts: Vec<String> = n
        .spellings
        .iter()
        .map(|l| {
            let mut places: Vec<String> = l.countries.iter().map(|c| country_words(*c)).collect();
            if l.elsewhere {
                places.push("elsewhere".into());
            }
            format!("{:?} made in {}", l.spelling, places.join(", "))
        })
        .chain(
            n.factory_codes
                .iter()
                .map(|c| format!("factory code {} in {}", c.code, country_words(c.country))),
        )
        .chain(n.countries_left_out.iter().map(|c| {
            format!(
                "no longer a maker of {} (its traces need --force)",
                country_words(*c)
            )
        }))
        .collect();
    format!("{} ({})", n.maker, some_of(parts, at_most, "; ", "item"))
}

/// How many spellings, codes and countries `narrowed` lost in all.
fn items(narrowed: &[Narrowed]) -> usize {
    narrowed
        .iter()
        .map(|n| n.spellings.len() + n.factory_codes.len() + n.countries_left_out.len())
        .sum()
}

/// The warnings `makers sign` prints for `changes` of the table it signed
/// into `file`, a line each; none if it changes nothing.
pub(super) fn warnings(file: &std::path::Path, changes: &Changes) -> Vec<String> {
    let mut out = Vec::new();
    let shipped = ReferenceTable::shipped_ref().maker_count();
    let file = file.display();
    if !changes.left_out.is_empty() {
        let n = changes.left_out.len();
        out.push(format!(
            "warning: {n} of the {shipped} makers built into this build {} not in {file} ({}): nodes installing it no longer match {} by name. Start from the table built into this release to keep them: `tracenet makers show --toml` prints it where no table was signed, or for a directory without a node (`--data-dir` an empty one)",
            if n == 1 { "is" } else { "are" },
            some_of(changes.left_out.clone(), 5, ", ", "maker"),
            if n == 1 { "it" } else { "them" },
        ));
    }
    if !changes.renamed.is_empty() {
        let n = changes.renamed.len();
        out.push(format!(
            "warning: {} built into this build {} named otherwise in {file}: {}. Markings that named {} still match, and once a node installs the table its records are filed and found under the new name; a node that has not received the table yet files and looks under the old one",
            count(n as u64, "maker"),
            if n == 1 { "is" } else { "are" },
            some_of(
                changes
                    .renamed
                    .iter()
                    .map(|r| format!("{} (now {})", r.maker, r.now))
                    .collect(),
                5,
                ", ",
                "maker"
            ),
            if n == 1 { "it" } else { "them" },
        ));
    }
    if !changes.narrowed.is_empty() {
        let n = changes.narrowed.len();
        out.push(format!(
            "warning: {} built into this build {} fewer markings in {file} ({} in all): {}. Nodes installing it file and find records with those markings under another maker's key or a key of their own, no longer this maker's; give the rows their spellings, factory codes and countries back to keep them (`tracenet makers verify FILE --json` lists every one, as built_in_narrowed)",
            count(n as u64, "maker"),
            if n == 1 { "matches" } else { "match" },
            match items(&changes.narrowed) {
                1 => "1 spelling, code or country".to_string(),
                n => format!("{n} spellings, codes or countries"),
            },
            some_of(
                changes
                    .narrowed
                    .iter()
                    .map(|m| narrowed_one(m, 5))
                    .collect(),
                5,
                ", ",
                "maker"
            ),
        ));
    }
    out
}

/// `changes` in words for `makers verify`, a line each; empty if none.
pub(super) fn text(changes: &Changes) -> String {
    let mut out = String::new();
    if !changes.left_out.is_empty() {
        out.push_str(&format!(
            "built in and left out: {}\n",
            some_of(changes.left_out.clone(), 10, ", ", "maker")
        ));
    }
    if !changes.renamed.is_empty() {
        out.push_str(&format!(
            "built in and named otherwise: {}\n",
            some_of(
                changes
                    .renamed
                    .iter()
                    .map(|r| format!("{} (now {})", r.maker, r.now))
                    .collect(),
                10,
                ", ",
                "maker"
            )
        ));
    }
    if !changes.narrowed.is_empty() {
        out.push_str(&format!(
            "built in and matching fewer markings: {}\n",
            some_of(
                changes
                    .narrowed
                    .iter()
                    .map(|m| narrowed_one(m, 5))
                    .collect(),
                10,
                ", ",
                "maker"
            )
        ));
    }
    if !out.is_empty() {
        out.push_str("(`--json` lists every one)\n");
    }
    out
}

#[cfg(test)]
mod tests;
