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
    /// Built-in makers none of whose spellings reads as a maker of the
    /// table, by canonical name: nodes installing it no longer match them
    /// by name.
    #[serde(rename = "built_in_left_out")]
    pub left_out: Vec<String>,
    /// Built-in makers whose successor in the table has another canonical
    /// name: a row renamed, or merged into another maker's (see
    /// [`against_built_in`] for the successor).
    #[serde(rename = "built_in_renamed")]
    pub renamed: Vec<Renamed>,
    /// Built-in makers (kept or renamed) under which the table matches
    /// fewer markings than the built-in table does.
    #[serde(rename = "built_in_narrowed")]
    pub narrowed: Vec<Narrowed>,
}

/// A built-in maker the table knows under another name.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub(super) struct Renamed {
    /// The canonical name, as the built-in table writes it.
    pub maker: String,
    /// The canonical name of its successor in the table: the maker its old
    /// name reads as, or else the one most of its spellings read as.
    pub now: String,
    /// Other built-in makers whose spellings read as that same maker now:
    /// their records are filed under one key, and a trace of one finds the
    /// others'.
    pub merged_with: Vec<String>,
}

/// A built-in maker the table knows (under its name or another), and what
/// of the built-in table's matching it lost.
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
    /// table does not: records so marked are still found where a spelling
    /// still reads as the maker, but a trace of the maker made there needs
    /// `--force`, the maker not being one of that country.
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
    /// The canonical name of the table's maker it reads as now, in the
    /// first of those countries (`null`: none, its own folded form).
    pub now: Option<String>,
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
/// ([`MakerTable::key`]: what records are filed and found under). A
/// built-in maker's successor in the table is the maker itself where the
/// table lists its name; else the maker its old name reads as; else the
/// maker most of its spellings read as in its own countries (on a tie, the
/// one its first such spelling reads as). None, and it is left out; another
/// name, and it is renamed. Its spellings are then compared with that
/// successor in every country where the answer can differ: the row's countries, those either
/// table gives a spelling of that folded form, the States these route with
/// (a former State and its successors), and one country neither names,
/// which stands for all the others ("elsewhere": a spelling one maker holds
/// alone is that maker's wherever the weapon was made). A spelling is lost
/// where it reads as another key, or one naming no maker of the table; a
/// factory code where the table places it with no maker or another
/// ([`MakerTable::factory_maker`]); a country where no row of the successor
/// names, nor routes with. Spellings that fold alike are reported once, as
/// first written.
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
    // Each renamed maker's successor, to find those merged into one.
    let mut successors: Vec<(String, MakerKey)> = Vec::new();
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
        // The successor: the maker itself where the table lists its
        // name; else the maker its old name reads as now; else the maker
        // most of its spellings read as in its own countries (on a tie, the
        // one its first such spelling reads as).
        let mut votes: Vec<(MakerKey, usize)> = Vec::new();
        let mut by_name = None;
        for row in rows_of(shipped, &folded) {
            for &c in &row.countries {
                for s in row.spellings() {
                    if was_its(s, c).is_none() {
                        continue;
                    }
                    let Some(k) = now(s, c) else { continue };
                    if s == first.name && by_name.is_none() {
                        by_name = Some(k.clone());
                    }
                    match votes.iter_mut().find(|(v, _)| *v == k) {
                        Some((_, n)) => *n += 1,
                        None => votes.push((k, 1)),
                    }
                }
            }
        }
        let most = votes.iter().map(|(_, n)| *n).max().unwrap_or(0);
        let successor = if listed.contains(&folded) {
            MakerKey::from_folded(&folded)
        } else {
            by_name.or_else(|| votes.into_iter().find(|(_, n)| *n == most).map(|(k, _)| k))
        };
        let Some(successor) = successor else {
            changes.left_out.push(first.name.clone());
            continue;
        };
        if successor.as_str() != folded {
            successors.push((first.name.clone(), successor.clone()));
            changes.renamed.push(Renamed {
                maker: first.name.clone(),
                now: new
                    .display_name(&successor)
                    .unwrap_or(successor.as_str())
                    .to_string(),
                merged_with: Vec::new(),
            });
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
                    was_its(spelling, country).is_some()
                        && now(spelling, country).is_none_or(|k| k != successor)
                };
                let countries: Vec<CountryCode> =
                    named.iter().copied().filter(|c| lost_in(*c)).collect();
                let other = elsewhere(&named);
                let elsewhere = other.is_some_and(lost_in);
                if !countries.is_empty() || elsewhere {
                    let at = countries.first().copied().or(other);
                    let now = at
                        .and_then(|c| now(spelling, c))
                        .and_then(|k| new.display_name(&k).map(str::to_string));
                    spellings.push(LostSpelling {
                        spelling: spelling.to_string(),
                        countries,
                        elsewhere,
                        now,
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
                    if new.factory_maker(country, code) != Some(&successor)
                        && !codes.contains(&lost)
                    {
                        codes.push(lost);
                    }
                }
            }
        }
        let kept: BTreeSet<CountryCode> = rows_of(table, successor.as_str())
            .flat_map(|r| r.countries.iter().copied())
            .collect();
        // A country the successor's rows name, or one they route with (a
        // former State and its successors), is still the maker's.
        let dropped: BTreeSet<CountryCode> = rows_of(shipped, &folded)
            .flat_map(|r| r.countries.iter().copied())
            .filter(|c| !kept.iter().any(|k| c.routes_with(*k)))
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
    // Merged: renamed into the key another built-in maker keeps, or one
    // another renamed maker took too.
    for r in &mut changes.renamed {
        let Some((_, key)) = successors.iter().find(|(m, _)| *m == r.maker) else {
            continue;
        };
        let kept_there = shipped
            .makers
            .iter()
            .find(|m| fold_maker(&m.name) == key.as_str())
            .map(|m| m.name.clone());
        r.merged_with = kept_there
            .into_iter()
            .chain(
                successors
                    .iter()
                    .filter(|(m, k)| k == key && *m != r.maker)
                    .map(|(m, _)| m.clone()),
            )
            .collect();
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

/// `items` joined, at most `at_most` of them, then how many more; and
/// whether some were left out.
fn some_of(items: Vec<String>, at_most: usize, sep: &str, more: &str) -> (String, bool) {
    let n = items.len();
    let mut shown: Vec<String> = items.into_iter().take(at_most).collect();
    if n > at_most {
        shown.push(and_more(n - at_most, more));
    }
    (shown.join(sep), n > at_most)
}

/// "and 3 more makers".
fn and_more(n: usize, noun: &str) -> String {
    let rest = count(n as u64, noun);
    let (k, nouns) = rest.split_once(' ').unwrap_or((&rest, ""));
    format!("and {k} more {nouns}")
}

/// A narrowed maker in words: what it lost, at most `at_most` items; and
/// whether some were left out.
fn narrowed_one(n: &Narrowed, at_most: usize) -> (String, bool) {
    let mut parts: Vec<String> = n
        .spellings
        .iter()
        .map(|l| {
            let mut places: Vec<String> = l.countries.iter().map(|c| country_words(*c)).collect();
            if l.elsewhere {
                places.push("anywhere else".into());
            }
            // What it reads as now is said of the first place.
            if let (Some(m), Some(first)) = (&l.now, places.first_mut()) {
                first.push_str(&format!(" (now {m})"));
            }
            let places = match places.split_last() {
                Some((last, rest)) if l.elsewhere && !rest.is_empty() => {
                    format!("{} or {last}", rest.join(", "))
                }
                _ => places.join(", "),
            };
            format!("{:?} made in {places}", l.spelling)
        })
        .chain(
            n.factory_codes
                .iter()
                .map(|c| format!("factory code {} in {}", c.code, country_words(c.country))),
        )
        .collect();
    if !n.countries_left_out.is_empty() {
        let cs: Vec<String> = n
            .countries_left_out
            .iter()
            .map(|c| country_words(*c))
            .collect();
        parts.push(format!(
            "no longer a maker of {}, so a trace of it made there needs --force",
            cs.join(", ")
        ));
    }
    let (words, cut) = some_of(parts, at_most, "; ", "item");
    (format!("{}: {words}", n.maker), cut)
}

/// A renamed maker in words.
fn renamed_one(r: &Renamed) -> String {
    let now = fold_maker(&r.now);
    let others: Vec<&str> = r
        .merged_with
        .iter()
        .map(String::as_str)
        .filter(|m| fold_maker(m) != now)
        .collect();
    let into_one = r.merged_with.iter().any(|m| fold_maker(m) == now);
    match (into_one, others.is_empty()) {
        (_, true) if r.merged_with.is_empty() => format!("{}: now {}", r.maker, r.now),
        (true, true) => format!("{}: merged into {}", r.maker, r.now),
        (true, false) => format!(
            "{}: merged into {}, with {}",
            r.maker,
            r.now,
            others.join(", ")
        ),
        (false, _) => format!(
            "{}: now {}, merged with {}",
            r.maker,
            r.now,
            others.join(", ")
        ),
    }
}

/// The warnings `makers sign` prints for `changes` of the table it signed
/// into `file`; none if it changes nothing. A warning may take several
/// lines: the makers narrowed one a line.
pub(super) fn warnings(file: &std::path::Path, changes: &Changes) -> Vec<String> {
    let mut out = Vec::new();
    let shipped = ReferenceTable::shipped_ref().maker_count();
    let path = file;
    let file = file.display();
    let mut cut = false;
    if !changes.left_out.is_empty() {
        let n = changes.left_out.len();
        let (names, c) = some_of(changes.left_out.clone(), 5, ", ", "maker");
        cut |= c;
        out.push(format!(
            "warning: {n} of the {shipped} makers built into this release {} not in {file} ({names}): nodes installing it no longer match {} by name. Start from the table built into this release to keep {}: `tracenet makers show --toml` prints that table where no table was signed, or for a directory without a node (`--data-dir` an empty one); a maker renamed keeps matching only with its old name as an alias",
            if n == 1 { "is" } else { "are" },
            if n == 1 { "it" } else { "them" },
            if n == 1 { "it" } else { "them" },
        ));
    }
    if !changes.renamed.is_empty() {
        let n = changes.renamed.len();
        let mut lines = vec![format!(
            "warning: {} built into this release {} named otherwise in {file}:",
            count(n as u64, "maker"),
            if n == 1 { "is" } else { "are" },
        )];
        for r in changes.renamed.iter().take(5) {
            lines.push(format!("  {}", renamed_one(r)));
        }
        if n > 5 {
            cut = true;
            lines.push(format!("  {}", and_more(n - 5, "maker")));
        }
        lines.push("Once a node installs the table, records are filed and found under the new name; a node that has not received it yet files and looks under the old one.".into());
        if changes.renamed.iter().any(|r| !r.merged_with.is_empty()) {
            lines.push("Makers merged are one maker: their records are filed under one key, and a trace of one finds the others'.".into());
        }
        out.push(lines.join("\n"));
    }
    if !changes.narrowed.is_empty() {
        let n = changes.narrowed.len();
        let total = items(&changes.narrowed);
        let mut lines = vec![format!(
            "warning: {} built into this release {} fewer markings in {file}{}:",
            count(n as u64, "maker"),
            if n == 1 { "matches" } else { "match" },
            if total > n {
                format!(" ({total} spellings, codes or countries in all)")
            } else {
                String::new()
            },
        )];
        for m in changes.narrowed.iter().take(5) {
            let (words, c) = narrowed_one(m, 5);
            cut |= c;
            lines.push(format!("  {words}"));
        }
        if n > 5 {
            cut = true;
            lines.push(format!("  {}", and_more(n - 5, "maker")));
        }
        let spellings = changes
            .narrowed
            .iter()
            .any(|m| !m.spellings.is_empty() || !m.factory_codes.is_empty());
        let countries = changes
            .narrowed
            .iter()
            .any(|m| !m.countries_left_out.is_empty());
        let mut after = Vec::new();
        if spellings {
            after.push("Nodes installing it file and find records with those spellings and codes under another key than the maker's");
        }
        if countries {
            after.push("an officer's trace of a maker in a country it no longer lists is refused unless sent with --force");
        }
        lines.push(format!(
            "{}. To keep those markings, give each maker's row back what it lost.",
            capitalised(&after.join("; "))
        ));
        out.push(lines.join("\n"));
    }
    if cut {
        out.push(format!(
            "  (`tracenet makers verify {} --anchor KEY --json` lists every one: built_in_left_out, built_in_renamed, built_in_narrowed)",
            crate::cli::output::shell_word(path)
        ));
    }
    out
}

/// `s` with its first letter upper case.
fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// How many spellings, codes and countries `narrowed` lost in all.
fn items(narrowed: &[Narrowed]) -> usize {
    narrowed
        .iter()
        .map(|n| n.spellings.len() + n.factory_codes.len() + n.countries_left_out.len())
        .sum()
}

/// `changes` in words for `makers verify`: a heading and a line a maker,
/// up to 10 makers of each kind; empty if none.
pub(super) fn text(changes: &Changes) -> String {
    let mut out = String::new();
    let mut cut = false;
    let mut section = |heading: &str, lines: Vec<String>| {
        if lines.is_empty() {
            return;
        }
        out.push_str(heading);
        out.push('\n');
        let n = lines.len();
        for l in lines.iter().take(10) {
            out.push_str(&format!("  {l}\n"));
        }
        if n > 10 {
            cut = true;
            out.push_str(&format!("  {}\n", and_more(n - 10, "maker")));
        }
    };
    section(
        "built into this release and left out:",
        changes.left_out.clone(),
    );
    section(
        "built into this release and named otherwise:",
        changes.renamed.iter().map(renamed_one).collect(),
    );
    let mut narrowed_cut = false;
    section(
        "built into this release and matching fewer markings:",
        changes
            .narrowed
            .iter()
            .map(|m| {
                let (words, c) = narrowed_one(m, 5);
                narrowed_cut |= c;
                words
            })
            .collect(),
    );
    if cut || narrowed_cut {
        out.push_str("(`--json` lists every one)\n");
    }
    out
}

#[cfg(test)]
mod tests;
