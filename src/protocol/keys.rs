//! Fixed-size byte values on the wire (public keys, signatures, digests, query
//! ids) and the Ed25519 signing key. On the wire they are raw bytes; in JSON and
//! on screen a public key is base64 (standard alphabet, padded: the form of
//! roster anchors and `--key`), digests and ids are lower-case hex. Both forms
//! are read wherever a key is given.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub const SIGNATURE_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("{what} {value:?} is not {len} bytes written in hex or base64")]
    Text {
        what: &'static str,
        value: String,
        len: usize,
    },
    #[error("the secret key could not be used: {0}")]
    Seed(String),
    #[error(
        "public key {key} is {why}: use the key tracenet made (`tracenet identity show` prints a node's, `tracenet roster keygen` an anchor's)"
    )]
    Weak { key: String, why: &'static str },
}

/// Declares a fixed-length byte value: raw bytes for bincode, hex for humans.
macro_rules! fixed_bytes {
    ($(#[$m:meta])* $name:ident, $len:literal, $what:literal, $text:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub const LEN: usize = $len;

            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            pub fn to_base64(&self) -> String {
                base64::engine::general_purpose::STANDARD.encode(self.0)
            }

            pub fn from_slice(b: &[u8]) -> Option<Self> {
                <[u8; $len]>::try_from(b).ok().map($name)
            }

            /// Accepts hex (either case) or standard base64.
            pub fn parse(s: &str) -> Result<Self, KeyError> {
                let t = s.trim();
                let bytes = hex::decode(t)
                    .ok()
                    .or_else(|| base64::engine::general_purpose::STANDARD.decode(t).ok());
                bytes.as_deref().and_then(Self::from_slice).ok_or_else(|| KeyError::Text {
                    what: $what,
                    value: t.chars().take(100).collect(),
                    len: $len,
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.$text())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = KeyError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&self.$text())
                } else {
                    // A fixed-size tuple: exactly $len bytes on the wire, no length prefix.
                    self.0.serialize(s)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                    $name::parse(&s).map_err(serde::de::Error::custom)
                } else {
                    <[u8; $len]>::deserialize(d).map($name)
                }
            }
        }
    };
}

fixed_bytes!(
    /// An Ed25519 public key: a State's identity on the wire (its PeerId derives from it).
    PublicKey, 32, "public key", to_base64
);
fixed_bytes!(
    /// A node's OPRF public key for blind traces (RFC 9497 VOPRF,
    /// ristretto255, compressed): listed beside its State's signing key in the
    /// anchor-signed roster, so every requester checks evaluations against the
    /// same key (proto-docs/BLIND.md). Whether the bytes are a valid element is
    /// checked by `blind::check_oprf_public_key`.
    OprfPublicKey, 32, "OPRF public key", to_base64
);
fixed_bytes!(
    /// A SHA-256 digest, e.g. of the exact bytes of a signed query.
    Digest, 32, "digest", to_hex
);
fixed_bytes!(
    /// A random 128-bit query id, chosen by the requester.
    QueryId, 16, "query id", to_hex
);

/// An Ed25519 signature. Kept out of the serde-encoded bodies: a frame carries it
/// after the body (see `codec`), a roster file in base64.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; SIGNATURE_LEN]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

impl Signature {
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        <[u8; SIGNATURE_LEN]>::try_from(b).ok().map(Signature)
    }
}

impl PublicKey {
    /// Refuses 32 bytes that are no Ed25519 key whose signatures say who
    /// made them: not a point of the curve, a point written other than in
    /// its one encoding, a point of small order (all zeros is one), under
    /// which signatures of any message can be made by anyone who tries a
    /// few, or a point with a small-order part (mixed order): no key
    /// generation makes one, and its holder's signatures, made as Ed25519
    /// signs, verify under ring (which checks without the cofactor) for
    /// some messages only, where a cofactored check (other Ed25519
    /// libraries, batch checks) takes them all. A small-order part in a
    /// signature's R, which any signer can add, splits verifiers the same
    /// way, and ring refuses it (`a_signature_off_by_a_point_of_small_order_is_refused`);
    /// this closes the key's side. A member giving such a key to its
    /// roster could deny every answer signed under it. Every Ed25519 key generation, `tracenet
    /// init`'s and `roster keygen`'s included, makes a point of the prime
    /// order subgroup, which passes. Costs a scalar multiplication (tens of
    /// microseconds): for rosters and anchors, not for each message.
    pub fn check_usable(&self) -> Result<(), KeyError> {
        let weak = |why: &'static str| KeyError::Weak {
            key: self.to_base64(),
            why,
        };
        let point = ed25519_dalek::VerifyingKey::from_bytes(&self.0)
            .map_err(|_| weak("not a point of the Ed25519 curve"))?;
        if point.is_weak() {
            return Err(weak(
                "a point of small order, under which anyone can make signatures",
            ));
        }
        let edwards = point.to_edwards();
        if edwards.compress().to_bytes() != self.0 {
            return Err(weak("a point written other than in its one encoding"));
        }
        if !edwards.is_torsion_free() {
            return Err(weak(
                "a point with a small-order part (mixed order), which no key generation makes and under which its holder's signatures verify under ring for some messages only, where a cofactored check takes them all",
            ));
        }
        Ok(())
    }

    /// Whether `sig` is this key's Ed25519 signature of `msg`.
    pub fn verifies(&self, msg: &[u8], sig: &Signature) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(msg, &sig.0)
            .is_ok()
    }
}

impl Digest {
    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let d = ring::digest::digest(&ring::digest::SHA256, bytes);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Digest(out)
    }
}

impl QueryId {
    /// A fresh random id from the operating system's generator.
    pub fn random() -> Result<Self, KeyError> {
        let mut id = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
            .map_err(|_| KeyError::Seed("the system random generator failed".into()))?;
        Ok(QueryId(id))
    }
}

/// An Ed25519 signing key built from a 32-byte seed. The seed itself is kept by
/// `identity`; this type only signs.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    public: PublicKey,
}

impl SigningKey {
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, KeyError> {
        let pair =
            Ed25519KeyPair::from_seed_unchecked(seed).map_err(|e| KeyError::Seed(e.to_string()))?;
        let public = PublicKey::from_slice(pair.public_key().as_ref()).ok_or_else(|| {
            KeyError::Seed("ring returned a public key of unexpected length".into())
        })?;
        Ok(SigningKey { pair, public })
    }

    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// Signs raw bytes; callers add the domain tag (see `signed::sign_bytes`).
    pub(crate) fn sign_raw(&self, msg: &[u8]) -> Signature {
        let mut out = [0u8; SIGNATURE_LEN];
        out.copy_from_slice(self.pair.sign(msg).as_ref());
        Signature(out)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(public {})", self.public)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key under which anyone can sign, or that is no key, is refused; a
    /// key made from a seed always passes. ring verifies signatures under
    /// the identity point: that is what a roster listing one would allow.
    #[test]
    fn a_key_anyone_could_sign_under_is_refused() {
        for seed in 0..32u8 {
            let k = SigningKey::from_seed(&[seed; 32]).unwrap().public_key();
            assert_eq!(k.check_usable(), Ok(()), "seed {seed}");
        }
        let why = |k: [u8; 32]| match PublicKey(k).check_usable() {
            Err(KeyError::Weak { why, .. }) => why,
            other => panic!("{k:?}: {other:?}"),
        };
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(why(identity).contains("small order"));
        assert!(why([0; 32]).contains("small order"), "y = 0: order 4");
        // Why: under the identity, R = the identity and s = 0 sign any
        // message, and ring takes it.
        let mut anyones = [0u8; 64];
        anyones[0] = 1;
        for msg in [&b"an answer"[..], b"another"] {
            assert!(PublicKey(identity).verifies(msg, &Signature(anyones)));
        }
        // Some y has no point; some y + p (below 2^255) writes a point of
        // large order a second way.
        let y = |n: u8| {
            let mut b = [0u8; 32];
            b[0] = n;
            b
        };
        assert!((2..60).any(|n| why_or_ok(y(n)) == Some("not a point of the Ed25519 curve")));
        let p_plus = |n: u8| {
            // p = 2^255 - 19: little-endian 0xed, then 0xff, top byte 0x7f.
            let mut b = [0xff; 32];
            b[0] = 0xed + n;
            b[31] = 0x7f;
            b
        };
        let second_ways: Vec<u8> = (2..18)
            .filter(|n| {
                why_or_ok(p_plus(*n)) == Some("a point written other than in its one encoding")
            })
            .collect();
        assert!(!second_ways.is_empty());
        // The same point in its one encoding passes the encoding check:
        // it is taken, or refused as of mixed order (most points of the
        // curve are: a point of prime order is one in eight).
        for n in &second_ways {
            let why = why_or_ok(y(*n));
            assert!(
                why.is_none() || why.is_some_and(|w| w.contains("(mixed order)")),
                "{n}: {why:?}"
            );
        }
        // Said with the key and what to do.
        let e = PublicKey(identity).check_usable().unwrap_err().to_string();
        assert!(
            e.contains(&PublicKey(identity).to_base64()) && e.contains("roster keygen"),
            "{e}"
        );

        fn why_or_ok(k: [u8; 32]) -> Option<&'static str> {
            match PublicKey(k).check_usable() {
                Ok(()) => None,
                Err(KeyError::Weak { why, .. }) => Some(why),
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn a_key_with_a_small_order_part_is_refused() {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        for seed in 0..8u8 {
            let k = SigningKey::from_seed(&[seed; 32]).unwrap().public_key();
            let a = CompressedEdwardsY(k.0).decompress().unwrap();
            assert!(a.is_torsion_free(), "a key made by key generation");
            // The key plus each point of order 2, 4 and 8: a point of the
            // curve, written in its one encoding, not of small order, yet
            // not the key its seed makes.
            for t in &curve25519_dalek::constants::EIGHT_TORSION[1..] {
                let mixed = PublicKey((a + t).compress().to_bytes());
                match mixed.check_usable() {
                    Err(KeyError::Weak { why, .. }) => {
                        assert!(why.contains("mixed order"), "{why}")
                    }
                    other => panic!("seed {seed}: {other:?}"),
                }
            }
        }
        // Why: under A = [a]B + T, signing as Ed25519 signs (S = r + k a)
        // leaves [S]B - R - [k]A = -[k]T, which is the identity for some
        // challenges k and not for others. A cofactored check (a batch
        // check, other libraries) takes every such signature; ring, without
        // the cofactor, only those whose k kills T: the holder, choosing
        // nonces, decides which verifiers take its signature.
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
        use curve25519_dalek::scalar::Scalar;
        use curve25519_dalek::traits::IsIdentity;
        let scalar = |bytes: &[u8]| {
            let d = ring::digest::digest(&ring::digest::SHA512, bytes);
            Scalar::from_bytes_mod_order_wide(&d.as_ref().try_into().unwrap())
        };
        let secret = scalar(b"secret");
        let t = curve25519_dalek::constants::EIGHT_TORSION[1];
        let public = (B * secret + t).compress().to_bytes();
        let message = b"an answer's body";
        let (mut ring_takes, mut ring_refuses) = (0, 0);
        for i in 0u8..64 {
            let nonce = scalar(&[b'n', i]);
            let r = (B * nonce).compress().to_bytes();
            let k = scalar(&[&r[..], &public[..], &message[..]].concat());
            let s = nonce + k * secret;
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&r);
            sig[32..].copy_from_slice(s.as_bytes());
            let left = B * s
                - CompressedEdwardsY(r).decompress().unwrap()
                - CompressedEdwardsY(public).decompress().unwrap() * k;
            assert!(left.mul_by_cofactor().is_identity(), "cofactored, it holds");
            if PublicKey(public).verifies(message, &Signature(sig)) {
                assert!(left.is_identity());
                ring_takes += 1;
            } else {
                ring_refuses += 1;
            }
        }
        assert!(
            ring_takes > 0 && ring_refuses > 0,
            "{ring_takes} / {ring_refuses}"
        );
        assert!(PublicKey(public).check_usable().is_err());
    }

    #[test]
    fn keys_parse_from_hex_and_base64() {
        let k = SigningKey::from_seed(&[7u8; 32]).unwrap().public_key();
        assert_eq!(PublicKey::parse(&k.to_hex()).unwrap(), k);
        assert_eq!(PublicKey::parse(&k.to_base64()).unwrap(), k);
        assert_eq!(PublicKey::parse(&k.to_hex().to_uppercase()).unwrap(), k);
        assert!(PublicKey::parse("abcd").is_err());
        assert!(PublicKey::parse("").is_err());
        // Shown as base64, read in either form.
        assert_eq!(
            serde_json::to_string(&k).unwrap(),
            format!("\"{}\"", k.to_base64())
        );
        assert_eq!(k.to_string(), k.to_base64());
        let hex_json = format!("\"{}\"", k.to_hex());
        assert_eq!(serde_json::from_str::<PublicKey>(&hex_json).unwrap(), k);
        let d = Digest([9u8; 32]);
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            format!("\"{}\"", d.to_hex())
        );
    }

    #[test]
    fn raw_signatures_verify_only_their_message() {
        let sk = SigningKey::from_seed(&[1u8; 32]).unwrap();
        let sig = sk.sign_raw(b"abc");
        assert!(sk.public_key().verifies(b"abc", &sig));
        assert!(!sk.public_key().verifies(b"abd", &sig));
        let other = SigningKey::from_seed(&[2u8; 32]).unwrap().public_key();
        assert!(!other.verifies(b"abc", &sig));
    }

    /// A signature whose equation `[S]B = R + [k]A` is off by a point of
    /// small order, as its own signer can make it: what a batch check (or a
    /// cofactored one) accepts for some messages and every node's check must
    /// refuse, so that an answer or query kept as verified verifies again in
    /// any State's node and in `tracenet evidence verify`
    /// (proto-docs/PERFORMANCE.md, "Batched signature verification").
    #[test]
    fn a_signature_off_by_a_point_of_small_order_is_refused() {
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
        use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
        use curve25519_dalek::scalar::Scalar;
        let point = |bytes: [u8; 32]| CompressedEdwardsY(bytes).decompress().unwrap();
        let scalar = |bytes: &[u8]| {
            let d = ring::digest::digest(&ring::digest::SHA512, bytes);
            Scalar::from_bytes_mod_order_wide(&d.as_ref().try_into().unwrap())
        };
        let secret = scalar(b"secret");
        let public = (B * secret).compress().to_bytes();
        let message = b"an answer's body";
        // Signed as Ed25519 signs with `nonce`, with `off` added to R: then
        // [S]B - R - [k]A = -off.
        let sign = |nonce: Scalar, off: EdwardsPoint| {
            let r = (B * nonce + off).compress().to_bytes();
            let k = scalar(&[&r[..], &public[..], &message[..]].concat());
            let s = nonce + k * secret;
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&r);
            sig[32..].copy_from_slice(s.as_bytes());
            let left = B * s - point(r) - point(public) * k;
            (Signature(sig), left)
        };
        // Of order 2 ((0, -1)), 4 ((sqrt(-1), 0)) and 8.
        let small = [
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        ];
        let identity = EdwardsPoint::default();
        // 32 nonces each: a batch check loses an error of order 2 for one
        // z in two, so it would accept one of those 32 but for a chance of
        // 2^-32.
        for (h, order) in small.iter().zip([2u32, 4, 8]) {
            let t = point(hex::decode(h).unwrap().try_into().unwrap());
            assert!(t.is_small_order() && t != identity);
            assert!(t * Scalar::from(order / 2) != identity && t * Scalar::from(order) == identity);
            for i in 0u8..32 {
                let (sig, left) = sign(scalar(&[b'n', i]), t);
                // Cofactored, the equation holds; cofactorless, it does not.
                assert!(left != identity && left.mul_by_cofactor() == identity);
                assert!(
                    !PublicKey(public).verifies(message, &sig),
                    "a signature off by a point of order {order} was accepted"
                );
            }
        }
        // R the identity written as no encoder writes it (y = p + 1, which
        // a decoder that reduces y reads as the identity), with the nonce
        // 0 that makes the equation hold for that point: a batch check
        // that reduces accepts it whatever its z; tracenet's compares R's
        // bytes and refuses it.
        let mut r = [0xffu8; 32];
        r[0] = 0xee;
        r[31] = 0x7f;
        assert_eq!(point(r), identity);
        let k = scalar(&[&r[..], &public[..], &message[..]].concat());
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r);
        sig[32..].copy_from_slice((k * secret).as_bytes());
        assert!(!PublicKey(public).verifies(message, &Signature(sig)));
        // The same signing without the point verifies: the refusals above
        // are the point's doing.
        let (sig, left) = sign(scalar(b"nonce"), identity);
        assert_eq!(left, identity);
        assert!(PublicKey(public).verifies(message, &sig));
    }
}
