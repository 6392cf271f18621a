//! The node's identity: one Ed25519 seed, stored 0600 in the data directory, that
//! is both the libp2p identity (PeerId) and the key that signs answers, so a
//! PeerId in the roster is the State's signing key.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use libp2p::PeerId;
use ring::rand::{SecureRandom, SystemRandom};

use crate::protocol::{KeyError, Message, PublicKey, Signed, SigningKey};

/// The key file's name inside the data directory.
pub const KEY_FILE: &str = "node.key";
/// A key file's length: the Ed25519 seed, as raw bytes.
pub const SEED_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// No file at a key's path (`--anchor-key` mistyped, say).
    #[error(
        "there is no key file {path}: check the path (a node's key is node.key in its data directory, which `tracenet init` makes; an anchor's is the file `tracenet roster keygen --out FILE` wrote)"
    )]
    Missing { path: PathBuf },
    /// A key file's path that ends in `/` where no directory is.
    #[error(
        "cannot create key file {path}: a file's name does not end in '/'; name the key file, e.g. {}/anchor.key in an existing folder",
        path.to_string_lossy().trim_end_matches('/')
    )]
    NotAFileName { path: PathBuf },
    /// A key file to create in a folder that is not there.
    #[error(
        "cannot create key file {path}: the folder {} does not exist; create it first, or write the key elsewhere",
        path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).display()
    )]
    NoFolder { path: PathBuf },
    /// A key path that is a symbolic link to nothing (a mount absent).
    #[error(
        "key file {path} is a link to {to}, which is not there: mount or restore the key it names"
    )]
    LinkToNothing { path: PathBuf, to: PathBuf },
    #[error("cannot write key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "key file {path} is open to others (mode {mode:o}: others may read or write it); run `chmod 600 {path}`"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error(
        "key file {path} holds {len} bytes, not a {SEED_LEN}-byte Ed25519 seed; restore it from backup"
    )]
    Length { path: PathBuf, len: usize },
    #[error(
        "key file {path} already exists; refusing to overwrite it: a node's identity or an anchor's key, once overwritten, cannot be recovered. Use the key it holds, or write the new one elsewhere"
    )]
    Exists { path: PathBuf },
    /// A key file's path that names a directory (`roster keygen --out .`).
    #[error(
        "{path} is a directory: name the key file to create in it, e.g. {}",
        path.join("anchor.key").display()
    )]
    Directory { path: PathBuf },
    #[error("the system random generator failed")]
    Random,
    #[error("key file {path}: {source}")]
    Key { path: PathBuf, source: KeyError },
}

/// The node's key: signs messages and yields the libp2p identity.
pub struct NodeKey {
    seed: [u8; SEED_LEN],
    signing: SigningKey,
    /// Derived once: deriving it decompresses the public key's curve point,
    /// and the node asks for its own peer id for every member it considers
    /// when it plans a trace.
    peer_id: PeerId,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the seed.
        write!(f, "NodeKey({})", self.signing.public_key())
    }
}

impl NodeKey {
    pub fn from_seed(seed: [u8; SEED_LEN]) -> Result<Self, KeyError> {
        let signing = SigningKey::from_seed(&seed)?;
        // libp2p's own derivation from the same seed: the identity the swarm
        // runs under (a test checks that it is `peer_id_of` the public key).
        let peer_id = libp2p_keypair_of(seed).public().to_peer_id();
        Ok(NodeKey {
            seed,
            signing,
            peer_id,
        })
    }

    /// A fresh key from the operating system's generator.
    pub fn generate() -> Result<Self, KeyFileError> {
        let mut seed = [0u8; SEED_LEN];
        SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| KeyFileError::Random)?;
        NodeKey::from_seed(seed).map_err(|source| KeyFileError::Key {
            path: PathBuf::new(),
            source,
        })
    }

    /// Reads a key file, refusing one that others may read (judged on the
    /// file opened: [`crate::model::file::read_small_secret`]) or of the
    /// wrong size.
    pub fn load(path: &Path) -> Result<Self, KeyFileError> {
        use crate::model::file::{Secret, read_small_secret};
        let bytes = match read_small_secret(path, 4096) {
            Ok(Secret::Read(b)) => b,
            Ok(Secret::OpenToOthers(mode)) => {
                return Err(KeyFileError::Permissions {
                    path: path.into(),
                    mode,
                });
            }
            Err(source) => {
                if let Some(to) = crate::model::file::dangling_link(path) {
                    return Err(KeyFileError::LinkToNothing {
                        path: path.into(),
                        to,
                    });
                }
                if source.kind() == std::io::ErrorKind::NotFound {
                    return Err(KeyFileError::Missing { path: path.into() });
                }
                return Err(KeyFileError::Read {
                    path: path.into(),
                    source,
                });
            }
        };
        let seed: [u8; SEED_LEN] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| KeyFileError::Length {
                    path: path.into(),
                    len: bytes.len(),
                })?;
        NodeKey::from_seed(seed).map_err(|source| KeyFileError::Key {
            path: path.into(),
            source,
        })
    }

    /// Generates a key and writes it to `path` (mode 0600); never overwrites.
    pub fn generate_and_store(path: &Path) -> Result<Self, KeyFileError> {
        let key = NodeKey::generate()?;
        key.store(path)?;
        Ok(key)
    }

    /// Writes the seed to a new file created with mode 0600 from the start, so
    /// there is no moment at which others could read it.
    pub fn store(&self, path: &Path) -> Result<(), KeyFileError> {
        let err = |source| KeyFileError::Write {
            path: path.into(),
            source,
        };
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(path).map_err(|e| match e.kind() {
            // `--out .`: a directory, not a key someone would lose.
            std::io::ErrorKind::AlreadyExists if path.is_dir() => {
                KeyFileError::Directory { path: path.into() }
            }
            std::io::ErrorKind::AlreadyExists => KeyFileError::Exists { path: path.into() },
            // `--out dir/`: the name ends in a slash, which Linux refuses
            // as a directory whether one is there or not.
            std::io::ErrorKind::IsADirectory if path.is_dir() => {
                KeyFileError::Directory { path: path.into() }
            }
            std::io::ErrorKind::IsADirectory | std::io::ErrorKind::NotADirectory
                if path.as_os_str().to_string_lossy().ends_with('/') =>
            {
                KeyFileError::NotAFileName { path: path.into() }
            }
            std::io::ErrorKind::NotFound => KeyFileError::NoFolder { path: path.into() },
            _ => err(e),
        })?;
        f.write_all(&self.seed)
            .and_then(|_| f.sync_all())
            .map_err(err)
    }

    /// The OPRF key the same 32 bytes make, read as an OPRF seed: how
    /// `roster sign` tells a node's OPRF seed given as an anchor key
    /// (both are 32 bytes, and either loads as the other). `None` if the
    /// bytes make no OPRF key.
    pub fn as_oprf_seed(&self) -> Option<crate::blind::OprfKey> {
        crate::blind::OprfKey::from_seed(&self.seed).ok()
    }

    pub fn public_key(&self) -> PublicKey {
        self.signing.public_key()
    }

    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// Signs a message body that names this node's key as its signer.
    pub fn sign<T: Message>(&self, body: T) -> Result<Signed<T>, crate::protocol::EncodeError> {
        crate::protocol::sign(body, &self.signing)
    }

    /// The same key as a libp2p keypair, for the swarm.
    pub fn libp2p_keypair(&self) -> libp2p::identity::Keypair {
        libp2p_keypair_of(self.seed)
    }
}

/// The libp2p keypair of a seed (a copy, which libp2p zeroes).
fn libp2p_keypair_of(mut seed: [u8; SEED_LEN]) -> libp2p::identity::Keypair {
    // ed25519_from_bytes only fails on a wrong length, which [u8; 32] rules out.
    libp2p::identity::Keypair::ed25519_from_bytes(&mut seed)
        .unwrap_or_else(|_| unreachable!("a 32-byte seed is always a valid ed25519 secret"))
}

/// The PeerId of a State's public key; `None` if the bytes are not a valid
/// Ed25519 point.
pub fn peer_id_of(key: &PublicKey) -> Option<PeerId> {
    let ed = libp2p::identity::ed25519::PublicKey::try_from_bytes(key.as_bytes()).ok()?;
    Some(libp2p::identity::PublicKey::from(ed).to_peer_id())
}

/// The PeerId of a key that has just verified a signature (a query's
/// requester): the same as [`peer_id_of`], built from the key's 32 bytes
/// without decoding its curve point again. An Ed25519 PeerId is the identity
/// multihash of the key's protobuf encoding (type 1, Ed25519; data, the 32
/// bytes). Not for a key nothing has checked: any 32 bytes give a PeerId,
/// so it may name a peer only where the key found under it is compared
/// again (`Members::by_key`).
pub fn peer_id_of_signer(key: &PublicKey) -> Option<PeerId> {
    let mut proto = [0u8; 36];
    proto[..4].copy_from_slice(&[0x08, 0x01, 0x12, 0x20]);
    proto[4..].copy_from_slice(key.as_bytes());
    let mh = libp2p::multihash::Multihash::<64>::wrap(0x00, &proto).ok()?;
    PeerId::from_multihash(mh).ok()
}

/// The Ed25519 public key inside a PeerId, if it carries one (Ed25519 PeerIds
/// embed the key itself, so no lookup is needed).
pub fn key_of_peer(peer: &PeerId) -> Option<PublicKey> {
    let mh: &libp2p::multihash::Multihash<64> = peer.as_ref();
    // 0x00 is the identity multihash: the digest is the protobuf-encoded key.
    if mh.code() != 0x00 {
        return None;
    }
    let pk = libp2p::identity::PublicKey::try_decode_protobuf(mh.digest()).ok()?;
    PublicKey::from_slice(&pk.try_into_ed25519().ok()?.to_bytes())
}

/// Accepts a key as hex, base64 or a PeerId string (`12D3KooW...`).
pub fn parse_key(s: &str) -> Result<PublicKey, KeyError> {
    if let Ok(peer) = s.trim().parse::<PeerId>()
        && let Some(k) = key_of_peer(&peer)
    {
        return Ok(k);
    }
    PublicKey::parse(s)
}

/// The key file's path in a data directory.
pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEY_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key path that is a folder, a FIFO or a device is said to be one,
    /// not given advice to `chmod` it (a helper's hostile trial).
    #[cfg(unix)]
    #[test]
    fn a_key_path_that_is_no_file_is_said_to_be_what_it_is() {
        let d = tempfile::tempdir().unwrap();
        let e = NodeKey::load(d.path()).err().unwrap().to_string();
        assert!(e.contains("a directory") && !e.contains("chmod"), "{e}");
        let e = NodeKey::load(Path::new("/dev/zero"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("character device"), "{e}");
    }

    #[test]
    fn the_peer_id_is_the_signing_key() {
        let k = NodeKey::from_seed([7u8; 32]).unwrap();
        assert_eq!(k.peer_id(), k.libp2p_keypair().public().to_peer_id());
        assert_eq!(peer_id_of(&k.public_key()), Some(k.peer_id()));
        assert_eq!(key_of_peer(&k.peer_id()), Some(k.public_key()));
        assert_eq!(parse_key(&k.peer_id().to_string()).unwrap(), k.public_key());
        assert_eq!(parse_key(&k.public_key().to_hex()).unwrap(), k.public_key());
    }

    #[test]
    fn a_signers_peer_id_is_the_one_libp2p_derives() {
        for seed in 0..200u8 {
            let k = NodeKey::from_seed([seed; 32]).unwrap();
            let key = k.public_key();
            assert_eq!(peer_id_of_signer(&key), peer_id_of(&key), "seed {seed}");
            assert_eq!(peer_id_of_signer(&key), Some(k.peer_id()));
        }
    }

    #[test]
    fn key_files_are_private_and_exact() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = key_path(dir.path());
        let k = NodeKey::generate_and_store(&p).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(NodeKey::load(&p).unwrap().public_key(), k.public_key());
        assert!(matches!(
            NodeKey::generate_and_store(&p),
            Err(KeyFileError::Exists { .. })
        ));
        // A directory given as the key file (`--out .`, `--out dir/`) is
        // said so; so is a folder that is not there, and a missing file.
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        let mut with_slash = dir.path().join("sub").into_os_string();
        with_slash.push("/");
        for d in [dir.path().to_path_buf(), PathBuf::from(with_slash)] {
            let e = NodeKey::generate_and_store(&d).unwrap_err();
            assert!(matches!(e, KeyFileError::Directory { .. }), "{d:?}: {e}");
            assert!(
                e.to_string().contains("is a directory: name the key file"),
                "{e}"
            );
        }
        let e = NodeKey::generate_and_store(&dir.path().join("absent/anchor.key")).unwrap_err();
        assert!(
            e.to_string().contains(&format!(
                "the folder {} does not exist",
                dir.path().join("absent").display()
            )),
            "{e}"
        );
        // Ending in '/' where no folder is, or after a file's name.
        for name in ["newdir/", "node.key/"] {
            let mut p = dir.path().as_os_str().to_owned();
            p.push(format!("/{name}"));
            let e = NodeKey::generate_and_store(Path::new(&p)).unwrap_err();
            assert!(
                matches!(e, KeyFileError::NotAFileName { .. }),
                "{name}: {e}"
            );
            assert!(e.to_string().contains("does not end in '/'"), "{e}");
        }
        let e = NodeKey::load(&dir.path().join("absent.key")).err().unwrap();
        assert!(e.to_string().starts_with("there is no key file"), "{e}");

        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        let e = NodeKey::load(&p).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");

        let short = dir.path().join("short.key");
        fs::write(&short, [1u8; 31]).unwrap();
        fs::set_permissions(&short, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            NodeKey::load(&short),
            Err(KeyFileError::Length { len: 31, .. })
        ));
    }
}
