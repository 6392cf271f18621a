//! Finding records by marking. A query's maker and factory code give the
//! marking prefixes to search (each whole, or only for the records of some
//! factory codes); within a prefix, a serial without wildcards is an index
//! read of its folded serial and its variant keys (transliterated, without
//! embedded letters), and a serial with wildcards a scan of the range its
//! literal characters bound.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    Record, RecordId, Registry, RegistryError, corrupt_index, decode_kept, keys, split_kept,
};
use crate::marking::{
    MakerError, MakerKey, MakerTable, MarkingPrefix, MatchQuality, SerialMatch, SerialQuery,
    fold_maker, normalise_factory_code,
};
use crate::model::CountryCode;

/// A search of the registry by marking.
#[derive(Debug, Clone, Default)]
pub struct FindQuery {
    /// As marked; `None` searches every maker (of `country`, if given), or,
    /// with a factory code, only that factory's records.
    pub maker: Option<String>,
    pub country: Option<CountryCode>,
    /// A factory code as marked (`/66\`, `△66`, `66`). The search then also
    /// covers the records marked with it, or with a code the reference
    /// table gives the same maker (`26` and `296`), under whatever maker
    /// they were recorded, and the prefix of the maker the table gives it.
    pub factory_code: Option<String>,
    /// As read from the weapon; may hold `?` and `*`.
    pub serial: String,
    pub limit: usize,
    /// Leave confidential records out of the candidates and the count
    /// (they are counted in [`Found::hidden`] only): what a holder whose
    /// policy answers a confidential match with silence searches for
    /// another State, so that neither a wildcard's count nor its candidates
    /// tell that such a record exists. A national search shows them.
    pub hide_confidential: bool,
}

/// One record that matched a find, with how and why.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Candidate {
    pub quality: MatchQuality,
    pub distance: u32,
    pub reasons: Vec<String>,
    pub record: Record,
}

/// Why a marking prefix is searched, strongest first: a prefix searched for
/// two reasons is searched for the first.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    /// The query's maker: every record of the prefix.
    Maker,
    /// The maker the reference table gives the query's factory code: every
    /// record of the prefix.
    FactoryMaker { code: String, maker: MakerKey },
    /// A prefix holding records marked with the factory code: only the
    /// records whose code is one of these (the query's first).
    FactoryCodes(Vec<String>),
}

/// What [`Registry::find_counted`] found.
#[derive(Debug, Clone)]
pub struct Found {
    /// The best matches, at most the query's `limit`, decoded.
    pub candidates: Vec<Candidate>,
    /// How many records matched in all (at least `candidates.len()`), the
    /// hidden ones not counted; of a wildcard that matched more than
    /// [`MAX_HITS_HELD`], those found first (see [`Found::capped`]).
    pub matched: usize,
    /// The search stopped at [`MAX_HITS_HELD`] matches: `matched` and
    /// `diverted` are of those found first, in key order, and `candidates`
    /// the best of them.
    pub capped: bool,
    /// How many confidential records matched and were left out of
    /// `candidates` and `matched` (always 0 unless the query's
    /// `hide_confidential`).
    pub hidden: usize,
    /// The matches not in `candidates` that hold a diversion event (lost or
    /// stolen), decoded, best first, at most [`MAX_DIVERTED_READ`]: the
    /// records a holder raises alerts for when it answers `too_many`, and
    /// the hidden ones (a holder's own alert, which never leaves it). Found
    /// from the header of each stored record, without decoding the
    /// others (a record stored before the header existed is decoded).
    pub diverted: Vec<Candidate>,
    /// Whether a prefix searched holds a confidential record, matched or
    /// not (always false unless the query's `hide_confidential`): read from
    /// the registry's counters, it says the same whatever serial was asked.
    pub confidential_in_scope: bool,
}

/// The most records past a find's `limit` decoded to look for diverted
/// ones: a wildcard matching a hundred thousand records reads their flags,
/// and decodes at most this many.
pub const MAX_DIVERTED_READ: usize = 10_000;

/// The most matches a find holds (each with its stored bytes and why it
/// matched, about half a kilobyte): a wildcard matching more stops there
/// ([`Found::capped`]). Without it, `?*`-like serials made a holder hold a
/// whole prefix in memory, a million records about half a gigabyte, to
/// answer `too_many`, whose count stops at 10,000 anyway.
pub const MAX_HITS_HELD: usize = 50_000;

/// One matching record found in a prefix.
struct Hit {
    id: RecordId,
    found: SerialMatch,
    key: sled::IVec,
    value: sled::IVec,
    scope: usize,
    /// Decoded already (a format-1 record, to read its factory code).
    record: Option<Record>,
    /// Left out of another State's answer (`FindQuery::hide_confidential`):
    /// read for alerts only, and one that cannot be read is passed over.
    hidden: bool,
}

impl Registry {
    /// Finds records by marking, best first (by quality, then distance, then
    /// id). An exact or folded serial is a bounded index read per prefix; a
    /// serial with wildcards scans only the part of its prefix that shares
    /// the literal characters before the first wildcard.
    ///
    /// A country finds the records of every country it routes with
    /// (`CountryCode::routes`): `RS` also finds weapons recorded as made in
    /// `YU`, and `YU` those recorded under its six successors. Within a match
    /// quality and distance, records of the country asked for come first.
    pub fn find(&self, q: &FindQuery) -> Result<Vec<Candidate>, RegistryError> {
        // Nothing past the limit is read: not a record in format 1, not one
        // flagged lost or stolen (only a holder's alerts need those).
        self.find_matches(q, false).map(|f| f.candidates)
    }

    /// [`Registry::find`], also counting every record that matched: the
    /// first `q.limit` (best first) are decoded and returned; of the rest,
    /// only those whose stored flags say they hold a diversion event are
    /// decoded (into `Found::diverted`), the others are counted from their
    /// keys.
    pub fn find_counted(&self, q: &FindQuery) -> Result<Found, RegistryError> {
        self.find_matches(q, true)
    }

    /// The matches of `q`: the best `q.limit` decoded, all counted and, when
    /// `with_diverted`, the lost or stolen ones past the limit decoded too.
    fn find_matches(&self, q: &FindQuery, with_diverted: bool) -> Result<Found, RegistryError> {
        self.find_within(q, with_diverted, MAX_HITS_HELD)
    }

    /// [`Registry::find_matches`], holding at most `cap` matches.
    pub(super) fn find_within(
        &self,
        q: &FindQuery,
        with_diverted: bool,
        cap: usize,
    ) -> Result<Found, RegistryError> {
        // A change of maker table moves records: a find waits for it to end.
        let _settled = self.moving.read().unwrap_or_else(|p| p.into_inner());
        let makers = self.makers();
        let serial = SerialQuery::parse(&q.serial)?;
        let code = q
            .factory_code
            .as_deref()
            .map(normalise_factory_code)
            .transpose()?;
        let scopes = self.scopes(&makers, q.maker.as_deref(), q.country, code.as_deref())?;
        let mut hits: Vec<Hit> = Vec::new();
        // Confidential records out of sight, when asked: a wildcard's scan
        // sets them aside as it reads them (their stored header says), so
        // that only the others count toward the cap (50,000 confidential
        // records under a pattern made it `withheld` or `too_many` where a
        // public match was there to find: a hostile member's review); the
        // rest are set aside below. A scan stops at `cap` of them too, so
        // that a wildcard never reads a whole prefix of confidential records.
        let mut hidden = Vec::new();
        let mut capped = false;
        for (i, (p, scope)) in scopes.iter().enumerate() {
            if hits.len() >= cap || hidden.len() >= cap {
                capped = true;
                break;
            }
            let (from, hidden_from) = (hits.len(), hidden.len());
            let set_aside = q.hide_confidential.then_some(&mut hidden);
            self.search_prefix(p, &serial, i, &mut hits, set_aside, cap)?;
            // Before a factory code's filter thins them: a scan stopped at
            // the cap has not seen every record of the code.
            capped |= hits.len() >= cap || hidden.len() >= cap;
            if let Scope::FactoryCodes(codes) = scope {
                keep_marked(&mut hits, from, codes)?;
                keep_marked(&mut hidden, hidden_from, codes)?;
            }
        }
        if q.hide_confidential {
            let mut kept = Vec::with_capacity(hits.len());
            for mut h in hits {
                let (_, stored) = split_kept(&h.key, &h.value)?;
                let confidential = match super::stored::header(stored).and_then(|h| h.confidential)
                {
                    Some(c) => c,
                    // Formats 1 and 2 do not say: decoded (and kept decoded).
                    // One that does not decode may be confidential: hidden.
                    None => match h
                        .record
                        .take()
                        .map_or_else(|| decode_kept(&h.key, &h.value), Ok)
                    {
                        Ok(rec) => {
                            let c = rec.confidential;
                            h.record = Some(rec);
                            c
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "a record that cannot be read is left out of another State's answer, as if confidential");
                            true
                        }
                    },
                };
                if confidential {
                    h.hidden = true;
                    hidden.push(h);
                } else {
                    kept.push(h);
                }
            }
            hits = kept;
        }
        // The country is the first two bytes after the kind of a kept key.
        let elsewhere = |key: &[u8]| {
            q.country
                .is_some_and(|c| key.get(1..3) != Some(&c.as_bytes()[..]))
        };
        let order = |a: &Hit, b: &Hit| {
            (a.found.quality, a.found.distance, elsewhere(&a.key), &a.id).cmp(&(
                b.found.quality,
                b.found.distance,
                elsewhere(&b.key),
                &b.id,
            ))
        };
        hits.sort_by(order);
        let matched = hits.len();
        let hidden_count = hidden.len();
        let mut rest = hits.split_off(q.limit.min(hits.len()));
        if !hidden.is_empty() {
            // Read for alerts in the same order as the rest (a merge of two
            // sorted runs).
            rest.extend(hidden);
            rest.sort_by(order);
        }
        let mut candidates = Vec::with_capacity(hits.len());
        // Only the candidates returned are decoded...
        for h in hits {
            let record = match h.record {
                Some(r) => r,
                None => decode_kept(&h.key, &h.value)?,
            };
            candidates.push(Self::candidate(
                &makers, &scopes, q, h.found, h.scope, record,
            ));
        }
        // ...and, of the rest, those the flags say were diverted.
        let mut diverted = Vec::new();
        let mut read = 0;
        for h in rest {
            if !with_diverted || read == MAX_DIVERTED_READ {
                break;
            }
            let record = match h.record {
                Some(r) => r,
                None => {
                    let (_, stored) = split_kept(&h.key, &h.value)?;
                    if super::stored::header(stored).is_some_and(|h| !h.diverted) {
                        continue;
                    }
                    read += 1;
                    match decode_kept(&h.key, &h.value) {
                        Ok(r) => r,
                        // Hidden because it could not be read: nothing to
                        // alert on, and no reason to fail the answer.
                        Err(_) if h.hidden => continue,
                        Err(e) => return Err(e),
                    }
                }
            };
            if record.events.iter().any(|e| e.kind.is_diversion()) {
                diverted.push(Self::candidate(
                    &makers, &scopes, q, h.found, h.scope, record,
                ));
            }
        }
        let confidential_in_scope = if q.hide_confidential {
            let mut any = false;
            for (p, _) in &scopes {
                if self.holds_confidential(p)? {
                    any = true;
                    break;
                }
            }
            any
        } else {
            false
        };
        Ok(Found {
            candidates,
            matched,
            capped,
            hidden: hidden_count,
            diverted,
            confidential_in_scope,
        })
    }

    /// A matching record as a candidate, with why it matched.
    fn candidate(
        makers: &MakerTable,
        scopes: &[(MarkingPrefix, Scope)],
        q: &FindQuery,
        found: SerialMatch,
        scope: usize,
        record: Record,
    ) -> Candidate {
        let mut reasons = found.reasons;
        let recorded = record.marking.country();
        if let Some(asked) = q.country
            && asked != recorded
        {
            let (former, other) = if recorded.is_former() {
                (recorded, asked)
            } else {
                (asked, recorded)
            };
            reasons.insert(
                0,
                format!(
                    "recorded as made in {recorded}, not {asked}: {other} succeeded {former} ({})",
                    former.former_name().unwrap_or("a former State")
                ),
            );
        }
        if let Some(why) = Self::why_in_scope(makers, &scopes[scope].1, q, &record) {
            reasons.insert(0, why);
        }
        Candidate {
            quality: found.quality,
            distance: found.distance,
            reasons,
            record,
        }
    }

    /// How a record came to be searched, when it is not plain: another
    /// spelling of the maker, or a factory code.
    fn why_in_scope(
        makers: &MakerTable,
        scope: &Scope,
        q: &FindQuery,
        record: &Record,
    ) -> Option<String> {
        let written = record.marking.manufacturer();
        match scope {
            Scope::Maker => {
                let raw = q.maker.as_deref()?;
                (fold_maker(raw) != fold_maker(written))
                    .then(|| format!("manufacturer {raw:?} and {written:?} are one maker"))
            }
            Scope::FactoryMaker { code, maker } => {
                let theirs = record.marking.factory_code();
                if theirs.is_some_and(|c| {
                    makers.factory_maker(record.marking.country(), c) == Some(maker)
                }) {
                    return theirs.map(|t| marked_with(t, code));
                }
                let name = makers.display_name(maker).unwrap_or(maker.as_str());
                Some(format!(
                    "recorded as {written:?}: {name}, whose factory code {code} is in the maker reference table"
                ))
            }
            Scope::FactoryCodes(codes) => {
                let theirs = record.marking.factory_code()?;
                Some(marked_with(theirs, codes.first()?))
            }
        }
    }

    /// The prefixes a query searches, each with why. A maker (or neither a
    /// maker nor a factory code) gives the maker's prefixes as before; a
    /// factory code adds the table's maker for it and the prefixes holding
    /// records marked with it.
    fn scopes(
        &self,
        makers: &MakerTable,
        maker: Option<&str>,
        country: Option<CountryCode>,
        code: Option<&str>,
    ) -> Result<Vec<(MarkingPrefix, Scope)>, RegistryError> {
        let mut out: BTreeMap<MarkingPrefix, Scope> = BTreeMap::new();
        if maker.is_some() || code.is_none() {
            for p in self.maker_prefixes(makers, maker, country)? {
                out.insert(p, Scope::Maker);
            }
        }
        if let Some(code) = code {
            let table = match country {
                Some(c) => c
                    .routes()
                    .filter_map(|r| makers.factory_maker(r, code).map(|k| (r, k.clone())))
                    .collect(),
                None => makers.factory_makers(code),
            };
            for (country, maker) in table {
                out.entry(MarkingPrefix {
                    country,
                    maker: maker.clone(),
                })
                .or_insert(Scope::FactoryMaker {
                    code: code.to_string(),
                    maker,
                });
            }
            for (fp, maker, _) in self.factory_counts()? {
                if country.is_some_and(|c| !c.routes_with(fp.country)) {
                    continue;
                }
                let alike = makers.factory_codes_alike(fp.country, code);
                if alike.contains(&fp.code) {
                    out.entry(MarkingPrefix {
                        country: fp.country,
                        maker,
                    })
                    .or_insert(Scope::FactoryCodes(alike));
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    /// The prefixes of `maker` made in `country`: when both are given, the
    /// maker in that country and in the countries it routes with where
    /// records are held; otherwise the held prefixes of that country (and
    /// those it routes with), or of that maker resolved in each held
    /// prefix's country, or all.
    fn maker_prefixes(
        &self,
        makers: &MakerTable,
        maker: Option<&str>,
        country: Option<CountryCode>,
    ) -> Result<Vec<MarkingPrefix>, RegistryError> {
        if let (Some(m), Some(c)) = (maker, country) {
            let mut out = Vec::new();
            for country in c
                .routes()
                .filter(|r| *r == c || self.countries.contains(*r))
            {
                out.push(MarkingPrefix {
                    country,
                    maker: makers.key(m, country)?,
                });
            }
            return Ok(out);
        }
        if let Some(m) = maker {
            // Refuses an empty or overlong name even when no prefix is held.
            fold_check(m)?;
        }
        let mut out = Vec::new();
        for (p, _) in self.prefixes()? {
            if country.is_some_and(|c| !c.routes_with(p.country)) {
                continue;
            }
            if let Some(m) = maker
                && makers.key(m, p.country)? != p.maker
            {
                continue;
            }
            out.push(p);
        }
        Ok(out)
    }

    /// Adds the records under prefix `p` whose serial matches.
    fn search_prefix(
        &self,
        p: &MarkingPrefix,
        serial: &SerialQuery,
        scope: usize,
        hits: &mut Vec<Hit>,
        hidden: Option<&mut Vec<Hit>>,
        cap: usize,
    ) -> Result<(), RegistryError> {
        if serial.has_wildcards() {
            return self.scan_wildcard(p, serial, scope, hits, hidden, cap);
        }
        let from = hits.len();
        let head = keys::head(p);
        for key in serial.lookup_keys() {
            // Records whose folded serial is this key.
            let start = [&[keys::KEPT][..], &head, key.as_bytes(), &[0]].concat();
            for kv in self.tree.scan_prefix(&start) {
                let (k, v) = kv?;
                if hits[from..].iter().any(|h| h.key == k) {
                    continue;
                }
                let (normalised, _) = split_kept(&k, &v)?;
                if let Some(found) = serial.matches(normalised) {
                    hits.push(hit(k, v, found, scope)?);
                }
            }
            // Records with this key among their variant keys, where any are.
            if !self.variant_heads.contains(&head) {
                continue;
            }
            let start = [&[keys::VARIANT][..], &head, key.as_bytes(), &[0]].concat();
            for kv in self.tree.scan_prefix(&start) {
                let (vk, folded) = kv?;
                let id = keys::id_of_kept(&vk).ok_or_else(|| corrupt_index(&vk, "no record id"))?;
                let loc = [&head[..], &folded].concat();
                let k = sled::IVec::from(keys::kept(&loc, id.as_bytes()));
                if hits[from..].iter().any(|h| h.key == k) {
                    continue;
                }
                // A variant key outlives its record only in a crash between
                // batches of a re-index, which runs again at the next open.
                let Some(v) = self.tree.get(&k)? else {
                    continue;
                };
                let (normalised, _) = split_kept(&k, &v)?;
                if let Some(found) = serial.matches(normalised) {
                    hits.push(hit(k, v, found, scope)?);
                }
            }
        }
        Ok(())
    }

    /// A wildcard reads the range of the literal characters before its
    /// first wildcard. When one or two `?` come first among the wildcards
    /// and literal characters follow them, it reads, for each character (or
    /// pair) kept at that place, the range of it and the literal ones: those
    /// characters are found by seeking past each in turn (a loose index
    /// scan), so `?12345` on a prefix of a million records reads some thirty
    /// short ranges instead of the whole prefix (issue 16).
    fn scan_wildcard(
        &self,
        p: &MarkingPrefix,
        serial: &SerialQuery,
        scope: usize,
        hits: &mut Vec<Hit>,
        mut hidden: Option<&mut Vec<Hit>>,
        cap: usize,
    ) -> Result<(), RegistryError> {
        let (before, any, literal) = serial.around_first_wildcards();
        let starts = if (1..=MAX_SKIPPED).contains(&any) && !literal.is_empty() {
            let head = [&[keys::KEPT][..], &keys::location(p, &before)].concat();
            self.first_characters(head, any)?
                .into_iter()
                .map(|pre| [&pre[..], literal.as_bytes()].concat())
                .collect()
        } else {
            vec![
                [
                    &[keys::KEPT][..],
                    &keys::location(p, &serial.folded_prefix()),
                ]
                .concat(),
            ]
        };
        for start in starts {
            if hits.len() >= cap || hidden.as_deref().is_some_and(|h| h.len() >= cap) {
                break;
            }
            self.scan_matching(&start, serial, scope, hits, hidden.as_deref_mut(), cap)?;
        }
        Ok(())
    }

    /// Every distinct `n` characters that follow `head` in the kept keys,
    /// each appended to it: found by seeking past each character in turn,
    /// one read per character present, not one per record.
    fn first_characters(&self, head: Vec<u8>, n: usize) -> Result<Vec<Vec<u8>>, RegistryError> {
        let mut level = vec![head];
        for _ in 0..n {
            let mut next = Vec::new();
            for pre in level {
                let mut seek = pre.clone();
                while let Some(kv) = self.tree.range(seek.as_slice()..).next() {
                    let (k, _) = kv?;
                    let Some(rest) = k.strip_prefix(pre.as_slice()) else {
                        break;
                    };
                    let Some(&first) = rest.first() else {
                        break;
                    };
                    if first == 0 {
                        // The serial ends here (shorter than the wildcards):
                        // past its 0x00, on to the next character.
                        seek = [&pre[..], &[1]].concat();
                        continue;
                    }
                    let width = utf8_width(first).unwrap_or(1);
                    let Some(c) = rest.get(..width) else {
                        break;
                    };
                    let with_c = [&pre[..], c].concat();
                    // UTF-8 never holds 0xFF: the last byte plus one is past
                    // every key starting with `with_c`.
                    seek = with_c.clone();
                    if let Some(last) = seek.last_mut() {
                        *last += 1;
                    }
                    next.push(with_c);
                }
            }
            level = next;
        }
        Ok(level)
    }

    /// Adds the records kept under keys starting with `start` whose serial
    /// matches, until `hits` holds `cap`.
    fn scan_matching(
        &self,
        start: &[u8],
        serial: &SerialQuery,
        scope: usize,
        hits: &mut Vec<Hit>,
        mut hidden: Option<&mut Vec<Hit>>,
        cap: usize,
    ) -> Result<(), RegistryError> {
        for kv in self.tree.scan_prefix(start) {
            if hits.len() >= cap || hidden.as_deref().is_some_and(|h| h.len() >= cap) {
                break;
            }
            let (k, v) = kv?;
            let (normalised, stored) = split_kept(&k, &v)?;
            let Some(found) = serial.matches(normalised) else {
                continue;
            };
            // Set aside as read, when asked and the header says so (a
            // record of an older format is set aside after the scan).
            if let Some(hidden) = hidden.as_deref_mut()
                && super::stored::header(stored).and_then(|h| h.confidential) == Some(true)
            {
                let mut h = hit(k, v, found, scope)?;
                h.hidden = true;
                hidden.push(h);
                continue;
            }
            hits.push(hit(k, v, found, scope)?);
        }
        Ok(())
    }
}

/// Keeps, of `hits[from..]`, those marked with one of `codes` (a factory
/// code scope): the code from the stored header, or decoded from a record
/// of the first format.
fn keep_marked(hits: &mut Vec<Hit>, from: usize, codes: &[String]) -> Result<(), RegistryError> {
    let mut kept = Vec::with_capacity(hits.len() - from);
    let marked = |c: Option<&str>| c.is_some_and(|c| codes.iter().any(|x| x == c));
    for mut h in hits.drain(from..) {
        let (_, stored) = split_kept(&h.key, &h.value)?;
        if let Some(head) = super::stored::header(stored) {
            if marked(head.factory_code) {
                kept.push(h);
            }
            continue;
        }
        let rec = decode_kept(&h.key, &h.value)?;
        if marked(rec.marking.factory_code()) {
            h.record = Some(rec);
            kept.push(h);
        }
    }
    hits.extend(kept);
    Ok(())
}

/// Leading `?` of a serial expanded by a loose index scan: 36 first
/// characters at most for ASCII serials, 1,296 pairs for two.
const MAX_SKIPPED: usize = 2;

/// The bytes of the UTF-8 character that starts with `b`; `None` for a byte
/// no character starts with.
fn utf8_width(b: u8) -> Option<usize> {
    match b {
        0x00..=0x7f => Some(1),
        0xc2..=0xdf => Some(2),
        0xe0..=0xef => Some(3),
        0xf0..=0xf4 => Some(4),
        _ => None,
    }
}

/// Why a record marked with factory code `theirs` answers a query for `ours`.
fn marked_with(theirs: &str, ours: &str) -> String {
    if theirs == ours {
        format!("marked with factory code {ours}")
    } else {
        format!(
            "marked with factory code {theirs}, which the maker reference table gives the same factory as {ours}"
        )
    }
}

fn hit(
    key: sled::IVec,
    value: sled::IVec,
    found: SerialMatch,
    scope: usize,
) -> Result<Hit, RegistryError> {
    let id = keys::id_of_kept(&key)
        .and_then(|s| RecordId::parse(s).ok())
        .ok_or_else(|| corrupt_index(&key, "no record id"))?;
    Ok(Hit {
        id,
        found,
        key,
        value,
        scope,
        record: None,
        hidden: false,
    })
}

/// The checks `MakerTable::key` makes of a name, without a country.
fn fold_check(raw: &str) -> Result<(), MakerError> {
    let n = raw.chars().count();
    if n > 128 {
        return Err(MakerError::TooLong(n));
    }
    if fold_maker(raw).is_empty() {
        return Err(MakerError::Empty(raw.to_string()));
    }
    Ok(())
}
