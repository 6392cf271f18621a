//! What a holder puts in its keyed filter and what a requester evaluates:
//! a canonical input per (marking prefix, serial key), where the serial keys
//! are those of exact and look-alike matching (`marking::SerialKeys`: the
//! folded serial, transliterated, without embedded letters), so that a
//! misread look-alike still hits; and, for a serial with `?`, its expansion
//! over the holder's serial alphabet, up to a bound.

use std::collections::BTreeSet;

use crate::marking::{MarkingPrefix, SerialKeys, SerialQuery, fold_char};

/// The domain of every canonical input: a new rule gets a new tag.
const TAG: &[u8] = b"tracenet/blind/v1";

/// Candidates a serial with `?` may expand to by default (the bound).
pub const DEFAULT_BOUND: usize = 64;

/// The folded characters of Latin serials: digits, and the letters that do
/// not fold to a digit (O, I, L, S, B, Z, G do). What `?` expands over when
/// a holder states no alphabet.
pub const DEFAULT_ALPHABET: &str = "0123456789ACDEFHJKMNPQRTUVWXY";

/// The bytes the OPRF is applied to: `TAG 0x00 CC 0x00 MAKER 0x00 KEY`, all
/// UTF-8 (makers and keys never hold 0x00).
pub fn canonical_input(prefix: &MarkingPrefix, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(TAG.len() + 8 + prefix.maker.as_str().len() + key.len());
    out.extend_from_slice(TAG);
    out.push(0);
    out.extend_from_slice(prefix.country.as_str().as_bytes());
    out.push(0);
    out.extend_from_slice(prefix.maker.as_str().as_bytes());
    out.push(0);
    out.extend_from_slice(key.as_bytes());
    out
}

/// The keys a record with normalised serial `normalised` is in a filter
/// under: its folded serial and its variant keys, as the registry indexes it.
pub fn record_keys(normalised: &str) -> Vec<String> {
    SerialKeys::of(normalised)
        .all()
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// Why a serial is not traced blind as it is: the officer chooses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Beyond {
    /// A `*` stands for any run of characters: no bound holds.
    #[error(
        "the serial has a `*`, which may stand for any number of characters: a blind trace cannot expand it"
    )]
    Unbounded,
    /// More candidates than the bound.
    #[error(
        "the serial's `?` expand to {candidates} candidates over {alphabet} characters, more than the bound of {bound}"
    )]
    TooMany {
        candidates: u128,
        alphabet: usize,
        bound: usize,
    },
}

/// The folded characters of a set of serial keys, in order: the alphabet a
/// holder states in its filter header.
pub fn serial_alphabet<'a>(keys: impl IntoIterator<Item = &'a str>) -> String {
    let set: BTreeSet<char> = keys.into_iter().flat_map(str::chars).collect();
    set.into_iter().collect()
}

/// The keys a requester evaluates for serial `query` under a holder whose
/// serials use `alphabet` (empty: [`DEFAULT_ALPHABET`]): without wildcards,
/// the query's lookup keys (folded, transliterated, without embedded
/// letters; at most four); with `?`, every folded serial the `?` may stand
/// for (a wildcard matches folded characters only, as the registry's
/// wildcard scan does), at most `bound` of them.
pub fn query_candidates(
    query: &SerialQuery,
    alphabet: &str,
    bound: usize,
) -> Result<Vec<String>, Beyond> {
    if !query.has_wildcards() {
        return Ok(query
            .lookup_keys()
            .into_iter()
            .map(str::to_string)
            .collect());
    }
    let folded: Vec<char> = query.normalised().chars().map(fold_char).collect();
    if folded.contains(&'*') {
        return Err(Beyond::Unbounded);
    }
    let alphabet: Vec<char> = {
        let a = if alphabet.is_empty() {
            DEFAULT_ALPHABET
        } else {
            alphabet
        };
        let set: BTreeSet<char> = a.chars().map(fold_char).collect();
        set.into_iter().collect()
    };
    let holes = folded.iter().filter(|c| **c == '?').count();
    let candidates = (alphabet.len() as u128).saturating_pow(holes as u32);
    if candidates > bound as u128 {
        return Err(Beyond::TooMany {
            candidates,
            alphabet: alphabet.len(),
            bound,
        });
    }
    let mut out = vec![String::new()];
    for c in folded {
        if c == '?' {
            out = out
                .iter()
                .flat_map(|s| {
                    alphabet.iter().map(move |a| {
                        let mut t = s.clone();
                        t.push(*a);
                        t
                    })
                })
                .collect();
        } else {
            for s in out.iter_mut() {
                s.push(c);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> SerialQuery {
        SerialQuery::parse(s).unwrap()
    }

    #[test]
    fn look_alikes_share_a_canonical_key() {
        // A record read "BP0746" and a query read "8P0746" meet on one key.
        let record = record_keys("BP0746");
        let query = query_candidates(&q("8P0746"), "", DEFAULT_BOUND).unwrap();
        assert!(
            query.iter().any(|k| record.contains(k)),
            "{record:?} {query:?}"
        );
        // Embedded letters dropped or misread still meet (the NCIC rule).
        let record = record_keys("369M257");
        let query = query_candidates(&q("369257"), "", DEFAULT_BOUND).unwrap();
        assert!(query.iter().any(|k| record.contains(k)));
        // An accent read without it, or the reverse (serial rules 3).
        let record = record_keys("1234ÄÖ");
        let query = query_candidates(&q("1234AO"), "", DEFAULT_BOUND).unwrap();
        assert!(query.iter().any(|k| record.contains(k)));
        let record = record_keys("1234AO");
        let query = query_candidates(&q("1234-äö"), "", DEFAULT_BOUND).unwrap();
        assert!(query.iter().any(|k| record.contains(k)));
        let p: MarkingPrefix = "DE/CARLWALTHER".parse().unwrap();
        assert_eq!(
            canonical_input(&p, "WP1"),
            b"tracenet/blind/v1\0DE\0CARLWALTHER\0WP1".to_vec()
        );
    }

    #[test]
    fn a_question_mark_expands_over_the_alphabet_up_to_the_bound() {
        let c = query_candidates(&q("WP10423?"), "0123456789PW", DEFAULT_BOUND).unwrap();
        assert_eq!(c.len(), 12, "{c:?}");
        assert!(c.contains(&"WP104233".to_string()));
        // The default alphabet: 29 candidates for one `?`.
        assert_eq!(query_candidates(&q("WP10423?"), "", 64).unwrap().len(), 29);
        // Two `?` over 29 characters: 841, beyond the bound.
        assert_eq!(
            query_candidates(&q("WP1042??"), "", 64),
            Err(Beyond::TooMany {
                candidates: 841,
                alphabet: 29,
                bound: 64
            })
        );
        assert_eq!(
            query_candidates(&q("WP10*"), "", 64),
            Err(Beyond::Unbounded)
        );
        assert_eq!(serial_alphabet(["WP12", "8P3"]), "1238PW");
    }
}
