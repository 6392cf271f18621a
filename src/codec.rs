//! The one place bincode appears. bincode 2.0.1 is pinned exactly and frozen
//! upstream, so every use goes through these two functions: `standard()`
//! configuration (little-endian, variable-length integers), a hard size limit on
//! every decode, and no trailing bytes. The wire envelope (`protocol::codec`) and
//! the registry's stored records (`registry::stored`) are built on them; the fuzz
//! targets exercise both.

use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    #[error("{len} bytes; at most {max} are accepted")]
    TooLarge { len: usize, max: usize },
    #[error("{0}")]
    Bincode(String),
    #[error("{0} bytes left over after the value")]
    TrailingBytes(usize),
}

/// Encodes `value` with bincode's standard configuration.
pub fn to_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .map_err(|e| CodecError::Bincode(e.to_string()))
}

/// Decodes a `T` that must use every one of `bytes`. `LIMIT` bounds both the
/// input and what bincode will allocate for the lengths the bytes claim.
pub fn from_bytes<T: DeserializeOwned, const LIMIT: usize>(bytes: &[u8]) -> Result<T, CodecError> {
    let max = LIMIT;
    if bytes.len() > max {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    let (value, used): (T, usize) =
        bincode::serde::decode_from_slice(bytes, bincode::config::standard().with_limit::<LIMIT>())
            .map_err(|e| CodecError::Bincode(decode_error_words(e)))?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - used));
    }
    Ok(value)
}

/// What was wrong with the bytes, in words: bincode 2.0.1 shows its
/// errors as Rust's debug form (`UnexpectedEnd { additional: 1 }`), which
/// an officer reading a refused file or a peer's log line cannot use. The
/// message of one of tracenet's own types refusing a value (serde's custom
/// error) is passed on as it is.
fn decode_error_words(e: bincode::error::DecodeError) -> String {
    use bincode::error::DecodeError as D;
    match e {
        D::UnexpectedEnd { additional } => format!(
            "the bytes end too soon: at least {additional} more byte{} expected (cut short, or not this kind of data)",
            if additional == 1 { "" } else { "s" }
        ),
        D::LimitExceeded => {
            "a length in the bytes claims more than the size limit allows".to_string()
        }
        D::InvalidIntegerType { .. } | D::NonZeroTypeIsZero { .. } | D::OutsideUsizeRange(_) => {
            "a number in the bytes is out of range".to_string()
        }
        // Through serde, only an optional field's tag comes here.
        D::UnexpectedVariant {
            type_name, found, ..
        } if type_name.starts_with("Option") => {
            format!("an optional field's tag is {found}, where 0 or 1 belongs (damaged bytes)")
        }
        D::UnexpectedVariant {
            type_name, found, ..
        } => format!(
            "kind {found} of {} is not one this build knows (a newer build's data, or damaged bytes)",
            type_name.rsplit("::").next().unwrap_or(type_name)
        ),
        D::Utf8 { .. } | D::InvalidCharEncoding(_) => {
            "text in the bytes is not valid UTF-8".to_string()
        }
        D::InvalidBooleanValue(b) => format!("{b} where a yes or no (0 or 1) belongs"),
        D::ArrayLengthMismatch { required, found } => {
            format!("{found} items where {required} belong")
        }
        // serde's word for an enum's unknown kind, read by its index.
        D::OtherString(message) if message.contains("expected variant index") => {
            let kind = message
                .split('`')
                .nth(1)
                .map_or(String::new(), |n| format!(" {n}"));
            format!(
                "kind{kind} is not one this build knows (a newer build's data, or damaged bytes)"
            )
        }
        D::OtherString(message) => message,
        D::Other(message) => message.to_string(),
        // Kinds tracenet's types never ask for (durations, times, C
        // strings, I/O from a reader): the form bincode gives.
        other => format!("undecodable bytes ({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decoding error is said in words, never in Rust's debug form; a
    /// type's own refusal keeps its message.
    #[test]
    fn a_decoding_error_is_said_in_words() {
        type T = (u32, String);
        let b = to_bytes(&(7u32, "walther".to_string())).unwrap();
        let cut = from_bytes::<T, 64>(&b[..b.len() - 1])
            .unwrap_err()
            .to_string();
        assert_eq!(
            cut,
            "the bytes end too soon: at least 1 more byte expected (cut short, or not this kind of data)"
        );
        /// A type that refuses every value, as a date refuses 2026-13-01.
        #[derive(Debug)]
        struct Refuses;
        impl<'de> serde::Deserialize<'de> for Refuses {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Err(serde::de::Error::custom(format!("bad date {s:?}")))
            }
        }
        let day = to_bytes(&"2026-13-01").unwrap();
        let refused = from_bytes::<Refuses, 64>(&day).unwrap_err().to_string();
        assert_eq!(refused, "bad date \"2026-13-01\"");
        #[derive(Debug, serde::Deserialize)]
        enum Kind {
            _A,
            _B,
        }
        let unknown = from_bytes::<Kind, 8>(&[5]).unwrap_err().to_string();
        assert_eq!(
            unknown,
            "kind 5 is not one this build knows (a newer build's data, or damaged bytes)"
        );
        let tag = from_bytes::<Option<u8>, 8>(&[2]).unwrap_err().to_string();
        assert_eq!(
            tag,
            "an optional field's tag is 2, where 0 or 1 belongs (damaged bytes)"
        );
        let no_bool = from_bytes::<bool, 8>(&[7]).unwrap_err().to_string();
        assert_eq!(no_bool, "7 where a yes or no (0 or 1) belongs");
    }

    #[test]
    fn values_round_trip_and_limits_hold() {
        let v = (7u32, "walther".to_string(), vec![1u8, 2, 3]);
        let b = to_bytes(&v).unwrap();
        type T = (u32, String, Vec<u8>);
        assert_eq!(from_bytes::<T, 64>(&b).unwrap(), v);
        assert!(matches!(
            from_bytes::<T, 3>(&b),
            Err(CodecError::TooLarge { .. })
        ));
        let mut longer = b.clone();
        longer.push(0);
        assert_eq!(
            from_bytes::<T, 64>(&longer),
            Err(CodecError::TrailingBytes(1))
        );
        // A length that claims more than there is fails, without allocating it.
        assert!(from_bytes::<String, 64>(&[0xfc, 0xff, 0xff, 0xff, 0x7f]).is_err());
    }
}
