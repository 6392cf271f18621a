//! Id buckets: where each record is kept, by record id.
//!
//! Records are kept under their marking (`k CC MAKER 0x00 FOLDED 0x00 ID`), so
//! that a marking lookup reads the record itself. Finding a record by id goes
//! through these buckets: sorted runs of up to [`MAX_ENTRIES`] (id, location)
//! pairs, each stored as one sled value under `d` + the lowest id it may hold
//! (its fence; the first bucket's fence is empty). One bucket covers the ids from
//! its fence up to the next bucket's fence. An import in id order rewrites a
//! bucket once per batch instead of writing one more key per record, which halves
//! sled's work per record and keeps its page count, and so its memory, small.

use std::collections::BTreeMap;

/// Most entries in one bucket; a fuller one is split.
pub const MAX_ENTRIES: usize = 64;
const FORMAT: u8 = 1;
const MAX_ID: usize = 64;

/// A bucket's entries: record id → location (`CC MAKER 0x00 FOLDED`).
pub type Entries = BTreeMap<Vec<u8>, Vec<u8>>;

/// The (id, location) pairs of a stored bucket, in order, without copying.
pub fn iter(bytes: &[u8]) -> impl Iterator<Item = Result<(&[u8], &[u8]), String>> {
    let mut rest = match bytes.split_first() {
        Some((&FORMAT, rest)) => Ok(rest),
        Some((f, _)) => Err(format!("unknown bucket format {f}")),
        None => Err("empty bucket".to_string()),
    };
    let mut last: Option<&[u8]> = None;
    std::iter::from_fn(move || {
        let r = match &mut rest {
            Ok([]) => return None,
            Ok(r) => r,
            Err(e) => {
                let e = std::mem::take(e);
                rest = Ok(&[]);
                return Some(Err(e));
            }
        };
        let entry = (|| {
            let (&n, tail) = r.split_first().ok_or("truncated entry")?;
            let n = n as usize;
            if n == 0 || n > MAX_ID || tail.len() < n + 2 {
                return Err("bad id length");
            }
            let (id, tail) = tail.split_at(n);
            let m = u16::from_le_bytes([tail[0], tail[1]]) as usize;
            let tail = &tail[2..];
            if m == 0 || tail.len() < m {
                return Err("bad location length");
            }
            let (loc, tail) = tail.split_at(m);
            if last.is_some_and(|l| l >= id) {
                return Err("ids out of order");
            }
            Ok((id, loc, tail))
        })();
        match entry {
            Ok((id, loc, tail)) => {
                last = Some(id);
                *r = tail;
                Some(Ok((id, loc)))
            }
            Err(e) => {
                rest = Ok(&[]);
                Some(Err(e.to_string()))
            }
        }
    })
}

/// The location of `id` in a stored bucket.
pub fn find<'a>(bytes: &'a [u8], id: &[u8]) -> Result<Option<&'a [u8]>, String> {
    for e in iter(bytes) {
        let (k, loc) = e?;
        if k == id {
            return Ok(Some(loc));
        }
        if k > id {
            break;
        }
    }
    Ok(None)
}

pub fn decode(bytes: &[u8]) -> Result<Entries, String> {
    iter(bytes)
        .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())))
        .collect()
}

/// Encodes the entries as one or more buckets of at most [`MAX_ENTRIES`]: the
/// first keeps the fence it was read under, each further one is fenced by its
/// first id. Returns (fence, bytes) pairs; `None` stands for the original fence.
pub fn encode_split(entries: &Entries) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    let all: Vec<_> = entries.iter().collect();
    let mut out = Vec::new();
    for (i, piece) in all.chunks(MAX_ENTRIES).enumerate() {
        let mut bytes = Vec::with_capacity(1 + piece.len() * 48);
        bytes.push(FORMAT);
        for (id, loc) in piece {
            bytes.push(id.len() as u8);
            bytes.extend_from_slice(id);
            bytes.extend_from_slice(&(loc.len() as u16).to_le_bytes());
            bytes.extend_from_slice(loc);
        }
        out.push(((i > 0).then(|| piece[0].0.clone()), bytes));
    }
    if out.is_empty() {
        out.push((None, vec![FORMAT]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: usize) -> Entries {
        (0..n)
            .map(|i| {
                (
                    format!("DE-{i:08}").into_bytes(),
                    format!("DEWALTHER\0BP{i}").into_bytes(),
                )
            })
            .collect()
    }

    #[test]
    fn buckets_round_trip_and_split_at_the_limit() {
        let e = entries(150);
        let parts = encode_split(&e);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].0, None);
        assert_eq!(parts[1].0.as_deref(), Some(&b"DE-00000064"[..]));
        let mut back = Entries::new();
        for (_, b) in &parts {
            back.extend(decode(b).unwrap());
        }
        assert_eq!(back, e);
        assert_eq!(
            find(&parts[1].1, b"DE-00000070").unwrap(),
            Some(&b"DEWALTHER\0BP70"[..])
        );
        assert_eq!(find(&parts[1].1, b"DE-00000001").unwrap(), None);
        assert_eq!(
            decode(&encode_split(&Entries::new())[0].1).unwrap(),
            Entries::new()
        );
    }

    #[test]
    fn damaged_buckets_give_errors_not_panics() {
        let good = encode_split(&entries(5)).remove(0).1;
        assert!(decode(&[]).is_err());
        assert!(decode(&[2]).is_err());
        for cut in 1..good.len() {
            // A cut at an entry boundary is a shorter valid bucket; elsewhere an error.
            let _ = decode(&good[..cut]);
        }
        for i in 0..good.len() {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut bad = good.clone();
                bad[i] = v;
                if let Ok(e) = decode(&bad) {
                    assert!(e.keys().zip(e.keys().skip(1)).all(|(a, b)| a < b));
                }
            }
        }
    }
}
