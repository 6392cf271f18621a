//! How a record is kept in sled: a compact binary form (bincode, through
//! `crate::codec`), about a quarter of its canonical JSON. A smaller value means
//! more of the registry fits in sled's cache and less is written per import.
//!
//! Decoding rebuilds the record through the same constructors that validate
//! JSON input, so a damaged store yields an error naming the record, never a
//! record that the JSON import would have refused. The canonical JSON that
//! `registry export` writes is serialised from the decoded record.
//!
//! Format 2 (since issue 16) puts a short header before the body: a flags
//! byte (bit 0: the record holds a diversion event, lost or stolen) and the
//! record's factory code (a length byte, then its UTF-8; 0 for none). A
//! holder counting a broad wildcard's matches finds those it must raise an
//! alert for, and a search by factory code keeps the records marked with
//! it, without decoding the others ([`header`]). Format 3 (since the
//! confidential records' fix) adds flags bit 1: the record is confidential,
//! so that a holder whose policy answers a confidential match with silence
//! leaves such records out of a wildcard's count and of its keyed filters
//! without decoding the others. Formats 1 (no header) and 2 (no confidential
//! bit) are still read; their records are decoded to learn what their
//! header does not say.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{Event, NationalText, Record, RecordId};
use crate::marking::{ImportMark, Marking, MarkingFields};
use crate::model::{
    Calibre, CountryCode, EventDate, EventKind, HolderCategory, ModelName, WeaponCategory,
};

/// Version byte at the start of every stored record written now: format 3,
/// a header (flags with both bits, factory code) before the body.
const FORMAT: u8 = 3;
/// The header without the confidential bit: read, never written.
const FORMAT_2: u8 = 2;
/// The format before the header: read, never written.
const FORMAT_1: u8 = 1;
/// Flags bit: the record holds a diversion event (`EventKind::is_diversion`).
const DIVERTED: u8 = 1;
/// Flags bit, format 3 only: the record is confidential (`Record::confidential`).
const CONFIDENTIAL: u8 = 2;
/// The largest stored record decoded: 256 events with two 4096-character texts
/// each fit well below it.
const MAX_STORED: usize = 12 << 20;

/// The stored shape, field by field; the enums are stored as their position in
/// the vocabulary (see `model`), which is why those lists only ever grow at the end.
#[derive(Serialize, Deserialize)]
struct Stored<'a> {
    id: Cow<'a, str>,
    manufacturer: Cow<'a, str>,
    country: [u8; 2],
    serial: Cow<'a, str>,
    year: Option<u16>,
    factory_code: Option<Cow<'a, str>>,
    imports: Vec<([u8; 2], Option<u16>)>,
    model: Option<Cow<'a, str>>,
    category: WeaponCategory,
    calibre: Option<Cow<'a, str>>,
    confidential: bool,
    events: Vec<StoredEvent<'a>>,
}

#[derive(Serialize, Deserialize)]
struct StoredEvent<'a> {
    /// (year, month, day), 0 for a month or day not known: a date known to
    /// the year is `(1985, 0, 0)`. Records written before partial dates
    /// have no zeros and read as before.
    date: (u16, u8, u8),
    kind: EventKind,
    holder: Option<HolderCategory>,
    counterpart: Option<[u8; 2]>,
    reference: Option<Cow<'a, str>>,
    note: Option<Cow<'a, str>>,
}

/// The stored bytes of `rec`.
pub fn encode(rec: &Record) -> Result<Vec<u8>, String> {
    let m = &rec.marking;
    let stored = Stored {
        id: Cow::Borrowed(rec.id.as_str()),
        manufacturer: Cow::Borrowed(m.manufacturer()),
        country: m.country().as_bytes(),
        serial: Cow::Borrowed(m.serial()),
        year: m.year(),
        factory_code: m.factory_code().map(Cow::Borrowed),
        imports: m
            .imports()
            .iter()
            .map(|i| (i.country.as_bytes(), i.year))
            .collect(),
        model: rec.model.as_ref().map(|x| Cow::Borrowed(x.as_str())),
        category: rec.category,
        calibre: rec.calibre.as_ref().map(|x| Cow::Borrowed(x.as_str())),
        confidential: rec.confidential,
        events: rec
            .events
            .iter()
            .map(|e| StoredEvent {
                date: (
                    e.date.year(),
                    e.date.month().unwrap_or(0),
                    e.date.day().unwrap_or(0),
                ),
                kind: e.kind,
                holder: e.holder,
                counterpart: e.counterpart.map(|c| c.as_bytes()),
                reference: e.reference.as_ref().map(|t| Cow::Borrowed(t.as_str())),
                note: e.note.as_ref().map(|t| Cow::Borrowed(t.as_str())),
            })
            .collect(),
    };
    let mut flags = 0;
    if rec.events.iter().any(|e| e.kind.is_diversion()) {
        flags |= DIVERTED;
    }
    if rec.confidential {
        flags |= CONFIDENTIAL;
    }
    let code = m.factory_code().unwrap_or("");
    let n =
        u8::try_from(code.len()).map_err(|_| format!("factory code of {} bytes", code.len()))?;
    let mut out = vec![FORMAT, flags, n];
    out.extend_from_slice(code.as_bytes());
    out.extend(crate::codec::to_bytes(&stored).map_err(|e| e.to_string())?);
    Ok(out)
}

/// Whether `bytes` are a record in the format written now (3).
pub fn is_current(bytes: &[u8]) -> bool {
    bytes.first() == Some(&FORMAT)
}

/// What a record in format 2 or 3 says of itself before its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The record holds a diversion event (lost or stolen).
    pub diverted: bool,
    /// The record is confidential; `None` in format 2, which does not say
    /// (decode the record to know).
    pub confidential: Option<bool>,
    /// Its factory code, as in its marking.
    pub factory_code: Option<&'a str>,
}

/// The header of the record stored as `bytes`, read without decoding it:
/// `None` for a record in format 1 (decode it to know) or a header that does
/// not parse (decoding reports it).
pub fn header(bytes: &[u8]) -> Option<Header<'_>> {
    split_header(bytes).ok().flatten().map(|(h, _)| h)
}

/// A record's header and body in format 2 or 3; `None` for format 1.
fn split_header(bytes: &[u8]) -> Result<Option<(Header<'_>, &[u8])>, String> {
    let (&format, rest) = bytes.split_first().ok_or("empty value")?;
    let known = match format {
        FORMAT => DIVERTED | CONFIDENTIAL,
        FORMAT_2 => DIVERTED,
        FORMAT_1 => return Ok(None),
        _ => return Err(format!("unknown stored format {format}")),
    };
    let [flags, n, rest @ ..] = rest else {
        return Err("header cut short".into());
    };
    if flags & !known != 0 {
        return Err(format!("unknown flags {flags:#04x} in format {format}"));
    }
    let n = *n as usize;
    let code = rest.get(..n).ok_or("header cut short")?;
    let code = std::str::from_utf8(code).map_err(|e| format!("header factory code: {e}"))?;
    Ok(Some((
        Header {
            diverted: flags & DIVERTED != 0,
            confidential: (format == FORMAT).then_some(flags & CONFIDENTIAL != 0),
            factory_code: (n > 0).then_some(code),
        },
        &rest[n..],
    )))
}

/// Rebuilds a record from its stored bytes, validating every field; in
/// formats 2 and 3, also that its header says what its events, marking and
/// confidentiality do.
pub fn decode(bytes: &[u8]) -> Result<Record, String> {
    let (head, body) = match split_header(bytes)? {
        Some((h, body)) => (Some(h), body),
        None => (None, &bytes[1..]),
    };
    let s: Stored<'static> =
        crate::codec::from_bytes::<_, MAX_STORED>(body).map_err(|e| e.to_string())?;
    let country = |c: [u8; 2], field: &str| {
        CountryCode::parse(std::str::from_utf8(&c).unwrap_or("?"))
            .map_err(|e| format!("{field}: {e}"))
    };
    // A maker or serial stored with control or text-direction characters
    // (by a tracenet before they were kept out) is read without them, as
    // every marking decoded is.
    let marking: Marking = MarkingFields {
        manufacturer: s.manufacturer.into_owned(),
        country: country(s.country, "marking.country")?,
        serial: s.serial.into_owned(),
        year: s.year,
        factory_code: s.factory_code.map(Cow::into_owned),
        imports: s
            .imports
            .into_iter()
            .map(|(c, year)| {
                Ok(ImportMark {
                    country: country(c, "marking.imports")?,
                    year,
                })
            })
            .collect::<Result<_, String>>()?,
    }
    .try_into()
    .map_err(|e| format!("marking: {e}"))?;
    let text = |t: Option<Cow<'_, str>>, field: &str| {
        t.map(|t| NationalText::parse(&t).map_err(|e| format!("{field}: {e}")))
            .transpose()
    };
    let events = s
        .events
        .into_iter()
        .map(|e| {
            Ok(Event {
                date: EventDate::new(e.date.0, Some(e.date.1), Some(e.date.2))
                    .ok_or_else(|| format!("events.date: {:?} is not a date", e.date))?,
                kind: e.kind,
                holder: e.holder,
                counterpart: e
                    .counterpart
                    .map(|c| country(c, "events.counterpart"))
                    .transpose()?,
                reference: text(e.reference, "events.reference")?,
                note: text(e.note, "events.note")?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let rec = Record {
        id: RecordId::parse(&s.id)?,
        marking,
        model: s
            .model
            .map(|x| ModelName::parse(&x).map_err(|e| format!("model: {e}")))
            .transpose()?,
        category: s.category,
        calibre: s
            .calibre
            .map(|x| Calibre::parse(&x).map_err(|e| format!("calibre: {e}")))
            .transpose()?,
        confidential: s.confidential,
        events,
    };
    rec.check()
        .map_err(|(field, reason)| format!("{field}: {reason}"))?;
    if let Some(h) = head {
        let holds = rec.events.iter().any(|e| e.kind.is_diversion());
        if h.diverted != holds {
            return Err(format!(
                "flags say diverted {}, events say {holds}",
                h.diverted
            ));
        }
        if let Some(c) = h.confidential
            && c != rec.confidential
        {
            return Err(format!(
                "flags say confidential {c}, the record says {}",
                rec.confidential
            ));
        }
        if h.factory_code != rec.marking.factory_code() {
            return Err(format!(
                "header says factory code {:?}, marking says {:?}",
                h.factory_code,
                rec.marking.factory_code()
            ));
        }
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::synthetic;

    #[test]
    fn records_round_trip_to_the_same_canonical_json() {
        let de = CountryCode::parse("DE").unwrap();
        for rec in synthetic::generate(de, 2_000, 7) {
            let bytes = encode(&rec).unwrap();
            let back = decode(&bytes).unwrap();
            assert_eq!(back, rec);
            assert_eq!(
                serde_json::to_vec(&back).unwrap(),
                serde_json::to_vec(&rec).unwrap()
            );
            assert!(bytes.len() * 2 < serde_json::to_vec(&rec).unwrap().len());
        }
    }

    /// A maker stored with a line break (a CSV cell's, imported before
    /// markings refused control characters) or a text-direction override
    /// is read without it, not lost with its record.
    #[test]
    fn a_record_stored_with_a_control_character_in_its_marking_is_read_without_it() {
        let rec: Record = serde_json::from_str(r#"{"id":"DE-1","marking":{"manufacturer":"Walther Arms","country":"DE","serial":"BP0746"},"category":"pistol","events":[]}"#).unwrap();
        let mut bytes = encode(&rec).unwrap();
        let at = bytes
            .windows(12)
            .position(|w| w == b"Walther Arms")
            .unwrap();
        bytes[at..at + 12].copy_from_slice(b"Walther\r\nArm");
        let back = decode(&bytes).unwrap();
        assert_eq!(back.marking.manufacturer(), "Walther Arm");
        let at = bytes.windows(6).position(|w| w == b"BP0746").unwrap();
        bytes[at..at + 6].copy_from_slice("BP\u{202E}6".as_bytes());
        assert_eq!(decode(&bytes).unwrap().marking.serial(), "BP 6");
        assert_eq!(decode(&bytes).unwrap().marking.normalised_serial(), "BP6");
    }

    #[test]
    fn the_documented_sample_with_national_text_round_trips() {
        let rec: Record = serde_json::from_str(r#"{"id":"DE-0000042","marking":{"manufacturer":"Walther","country":"DE","serial":"BP0746","year":2009,"factory_code":"W1","imports":[{"country":"NG","year":2009},{"country":"GH"}]},"model":"P99","category":"pistol","calibre":"9x19mm","confidential":true,"events":[{"date":"2009-03-14","kind":"manufactured","holder":"manufacturer"},{"date":"2009-09-19","kind":"exported","counterpart":"NG","reference":"EXP-2009-0042"},{"date":"2011-02-01","kind":"stolen","holder":"state_police","note":"free text,\nnational only: Ünïcödé"}]}"#).unwrap();
        assert_eq!(decode(&encode(&rec).unwrap()).unwrap(), rec);
    }

    #[test]
    fn partial_dates_former_states_and_free_model_names_round_trip() {
        let rec: Record = serde_json::from_str(r#"{"id":"YU-1","marking":{"manufacturer":"Zastava","country":"YUCS","serial":"M70 1234","imports":[{"country":"SU","year":1985}]},"model":"M70 AB2 \"Kalashnikov\" & Co","category":"assault_rifle","calibre":"7.62×39mm","events":[{"date":"1984","kind":"manufactured"},{"date":"1985-03-00","kind":"exported","counterpart":"SU"},{"date":"1991-00-00","kind":"lost"},{"date":"1992-07-04","kind":"seized"}]}"#).unwrap();
        let back = decode(&encode(&rec).unwrap()).unwrap();
        assert_eq!(back, rec);
        let json = serde_json::to_value(&back).unwrap();
        let dates: Vec<&str> = json["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["date"].as_str().unwrap())
            .collect();
        assert_eq!(dates, ["1984", "1985-03", "1991", "1992-07-04"]);
        assert_eq!(json["marking"]["country"], "YU");
        // Stored as (year, 0, 0): a record written before partial dates
        // (no zeros) reads as before, and no other zero form is accepted.
        let mut bytes = encode(&rec).unwrap();
        let at = bytes
            .windows(4)
            .position(|w| w == [0xfb, 0xc0, 0x07, 0x00])
            .expect("1984 as (u16 varint, month 0)");
        bytes[at + 4] = 5; // (1984, 0, 5): a day without its month
        assert!(decode(&bytes).unwrap_err().contains("events.date"));
    }

    #[test]
    fn the_vocabulary_positions_are_part_of_the_format() {
        // Reordering a vocabulary would silently change stored records and the
        // wire: new words go at the end.
        let pos = |b: Vec<u8>| b[0];
        for (i, k) in EventKind::ALL.iter().enumerate() {
            assert_eq!(pos(crate::codec::to_bytes(k).unwrap()) as usize, i);
        }
        let kinds: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "manufactured",
                "exported",
                "imported",
                "transferred",
                "lost",
                "stolen",
                "seized",
                "surrendered",
                "deactivated",
                "destroyed"
            ]
        );
        let holders: Vec<&str> = HolderCategory::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            holders,
            [
                "manufacturer",
                "state_military",
                "state_police",
                "state_other",
                "licensed_dealer",
                "licensed_civilian",
                "unknown"
            ]
        );
        let cats: Vec<&str> = WeaponCategory::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(cats[..3], ["pistol", "revolver", "rifle"]);
        assert_eq!(cats.last(), Some(&"other"));
    }

    #[test]
    fn the_flags_say_whether_a_record_was_diverted_and_format_1_still_reads() {
        let de = CountryCode::parse("DE").unwrap();
        let (mut with, mut without) = (0, 0);
        for rec in synthetic::generate(de, 500, 11) {
            let holds = rec.events.iter().any(|e| e.kind.is_diversion());
            let bytes = encode(&rec).unwrap();
            let h = header(&bytes).unwrap();
            assert_eq!(h.diverted, holds, "{}", rec.id);
            assert_eq!(h.factory_code, rec.marking.factory_code(), "{}", rec.id);
            if holds {
                with += 1
            } else {
                without += 1
            }
            // The same record as an older registry wrote it: no header.
            let body_at = 3 + h.factory_code.map_or(0, str::len);
            let old = [&[FORMAT_1][..], &bytes[body_at..]].concat();
            assert_eq!(header(&old), None);
            assert_eq!(decode(&old).unwrap(), rec);
            // Flags that contradict the events are damage, not a record.
            let mut lying = bytes.clone();
            lying[1] ^= DIVERTED;
            assert!(
                decode(&lying).unwrap_err().contains("flags say"),
                "{}",
                rec.id
            );
        }
        assert!(with > 0 && without > 0, "{with} diverted, {without} not");
        assert_eq!(header(&[]), None);
        assert_eq!(header(&[FORMAT]), None);
        assert_eq!(header(&[FORMAT, 0, 5, b'6']), None);
        assert!(
            decode(&[FORMAT, 0, 5, b'6'])
                .unwrap_err()
                .contains("cut short")
        );
    }

    /// Format 3 says whether a record is confidential; format 2, which
    /// did not, still reads and says it does not know; a bit that
    /// contradicts the record, or the bit in format 2, is damage.
    #[test]
    fn the_flags_say_whether_a_record_is_confidential_and_format_2_still_reads() {
        let de = CountryCode::parse("DE").unwrap();
        let (mut with, mut without) = (0, 0);
        for rec in synthetic::generate(de, 2_000, 13) {
            let bytes = encode(&rec).unwrap();
            assert_eq!(bytes[0], FORMAT);
            let h = header(&bytes).unwrap();
            assert_eq!(h.confidential, Some(rec.confidential), "{}", rec.id);
            if rec.confidential {
                with += 1
            } else {
                without += 1
            }
            // The same record as the registry wrote it before format 3.
            let mut old = bytes.clone();
            old[0] = FORMAT_2;
            old[1] &= !CONFIDENTIAL;
            let h2 = header(&old).unwrap();
            assert_eq!(h2.confidential, None);
            assert_eq!(h2.diverted, h.diverted);
            assert_eq!(decode(&old).unwrap(), rec);
            if rec.confidential {
                let mut bit_in_2 = bytes.clone();
                bit_in_2[0] = FORMAT_2;
                assert_eq!(header(&bit_in_2), None);
                assert!(decode(&bit_in_2).unwrap_err().contains("unknown flags"));
            }
            let mut lying = bytes.clone();
            lying[1] ^= CONFIDENTIAL;
            assert!(
                decode(&lying).unwrap_err().contains("confidential"),
                "{}",
                rec.id
            );
        }
        assert!(
            with > 0 && without > 0,
            "{with} confidential, {without} not"
        );
    }

    /// A search by factory code reads the code from the header: it must be
    /// the marking's, and a header naming another is damage.
    #[test]
    fn the_header_carries_the_factory_code() {
        let rec: Record = serde_json::from_str(r#"{"id":"RU-1","marking":{"manufacturer":"Izhmash","country":"RU","serial":"123456","factory_code":"△66"},"category":"rifle","events":[{"date":"1988-03-14","kind":"manufactured"}]}"#).unwrap();
        let bytes = encode(&rec).unwrap();
        let h = header(&bytes).unwrap();
        assert_eq!(h.factory_code, rec.marking.factory_code());
        assert!(h.factory_code.is_some());
        assert!(!h.diverted);
        let at = 3 + h.factory_code.unwrap().len() - 1;
        let mut other = bytes.clone();
        other[at] = if other[at] == b'7' { b'8' } else { b'7' };
        let e = decode(&other).unwrap_err();
        assert!(e.contains("factory code"), "{e}");
    }

    #[test]
    fn damaged_bytes_give_errors_not_panics() {
        let de = CountryCode::parse("DE").unwrap();
        let rec = synthetic::generate(de, 1, 3).next().unwrap();
        let good = encode(&rec).unwrap();
        assert!(decode(&[]).is_err());
        assert!(decode(&[9]).is_err());
        for cut in 0..good.len() {
            assert!(decode(&good[..cut]).is_err());
        }
        // Every single-byte change either fails or still decodes to a valid record.
        for i in 1..good.len() {
            for delta in [1u8, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] = bad[i].wrapping_add(delta);
                if let Ok(r) = decode(&bad) {
                    r.check().unwrap();
                }
            }
        }
    }
}
