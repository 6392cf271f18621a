//! Instants in the JSON vocabulary. A field holding Unix seconds (`u64`) and
//! marked `#[serde(with = "crate::model::instant")]` is written:
//! - in JSON (and every human-readable format): an RFC 3339 UTC string with
//!   second precision, `"2026-12-01T02:39:34Z"` (instants past 9999 are written
//!   as `"9999-12-31T23:59:59Z"`);
//! - in bincode (the wire, which is not human-readable): the `u64` itself, so
//!   signed messages and test vectors are unchanged by the JSON form.
//!
//! Reading JSON accepts an RFC 3339 string with any offset, or a number of Unix
//! seconds (what stores and files written before this form hold).

use std::collections::BTreeMap;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The RFC 3339 form of `secs`.
pub fn to_rfc3339(secs: u64) -> String {
    let clamped = i64::try_from(secs).unwrap_or(i64::MAX).min(253_402_300_799);
    time::OffsetDateTime::from_unix_timestamp(clamped)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "9999-12-31T23:59:59Z".to_string())
}

/// Unix seconds from an RFC 3339 string; instants before 1970 are refused.
pub fn parse_rfc3339(s: &str) -> Result<u64, String> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("{s:?} is not an RFC 3339 time like 2026-12-01T02:39:34Z: {e}"))?;
    u64::try_from(t.unix_timestamp()).map_err(|_| format!("{s:?} is before 1970-01-01T00:00:00Z"))
}

pub fn serialize<S: Serializer>(secs: &u64, s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        s.serialize_str(&to_rfc3339(*secs))
    } else {
        s.serialize_u64(*secs)
    }
}

struct Either;

impl Visitor<'_> for Either {
    type Value = u64;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an RFC 3339 time like \"2026-12-01T02:39:34Z\", or Unix seconds")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom("a time before 1970"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        parse_rfc3339(v).map_err(E::custom)
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    if d.is_human_readable() {
        d.deserialize_any(Either)
    } else {
        u64::deserialize(d)
    }
}

/// One instant as a value of its own, for containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant(pub u64);

impl Serialize for Instant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize(d).map(Instant)
    }
}

/// For `Option<u64>` fields: `null` or an instant.
pub mod option {
    use super::Instant;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        v.map(Instant).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Ok(Option::<Instant>::deserialize(d)?.map(|i| i.0))
    }
}

/// For maps whose values are instants (`BTreeMap<String, u64>`).
pub mod map {
    use super::{BTreeMap, Instant};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &BTreeMap<String, u64>, s: S) -> Result<S::Ok, S::Error> {
        v.iter()
            .map(|(k, t)| (k, Instant(*t)))
            .collect::<BTreeMap<_, _>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, u64>, D::Error> {
        Ok(BTreeMap::<String, Instant>::deserialize(d)?
            .into_iter()
            .map(|(k, i)| (k, i.0))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct T {
        #[serde(with = "super")]
        at: u64,
        #[serde(with = "super::option")]
        until: Option<u64>,
    }

    #[test]
    fn json_speaks_rfc3339_and_the_wire_keeps_seconds() {
        let t = T {
            at: 1_796_093_381,
            until: None,
        };
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"{"at":"2026-12-01T02:49:41Z","until":null}"#);
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), t);
        // What stores written before hold: numbers.
        let old: T = serde_json::from_str(r#"{"at":1796093381,"until":5}"#).unwrap();
        assert_eq!((old.at, old.until), (1_796_093_381, Some(5)));
        // Any offset is read.
        let off: T =
            serde_json::from_str(r#"{"at":"2026-12-01T03:49:41+01:00","until":null}"#).unwrap();
        assert_eq!(off.at, 1_796_093_381);
        assert!(serde_json::from_str::<T>(r#"{"at":"01/12/2026","until":null}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"at":-1,"until":null}"#).is_err());
        // bincode: the u64 as before.
        let bin = crate::codec::to_bytes(&t).unwrap();
        let plain = crate::codec::to_bytes(&(1_796_093_381u64, Option::<u64>::None)).unwrap();
        assert_eq!(bin, plain);
        assert_eq!(super::to_rfc3339(u64::MAX), "9999-12-31T23:59:59Z");
    }
}
