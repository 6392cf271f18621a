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
            .map_err(|e| CodecError::Bincode(e.to_string()))?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - used));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

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
