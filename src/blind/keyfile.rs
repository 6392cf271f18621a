//! A node's OPRF key on disk: a 32-byte seed beside its signing key, from
//! which RFC 9497's DeriveKeyPair makes the key (`OprfKey::from_seed`).

use std::io::Write;
use std::path::Path;

use super::OprfKey;

/// The seed of the node's OPRF key, in its data directory.
pub const OPRF_KEY_FILE: &str = "oprf.key";

/// Reads the OPRF seed at `path`, or creates it (32 random bytes, mode 0600,
/// written and synced before use; a half-written file is refused, naming it).
/// The flag says whether this call created it.
pub fn load_or_create_key(path: &Path) -> Result<(OprfKey, bool), String> {
    let (seed, created): ([u8; 32], bool) = match std::fs::read(path) {
        Ok(b) => <[u8; 32]>::try_from(b.as_slice())
            .map_err(|_| {
            format!(
                "{}: {} bytes; an OPRF key seed is 32. Restore it from a backup, or remove it to make a new key and give its OPRF public key (tracenet identity show) to your regional organisation for the roster; until the roster lists it, blind traces pass this node by",
                path.display(),
                b.len()
            )
        })
            .map(|s| (s, false))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed)
                .map_err(|_| "the system random source failed; no OPRF key made".to_string())?;
            let tmp = path.with_extension("key.tmp");
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            opts.open(&tmp)
                .and_then(|mut f| f.write_all(&seed).and_then(|_| f.sync_all()))
                .and_then(|_| std::fs::rename(&tmp, path))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            (seed, true)
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    OprfKey::from_seed(&seed)
        .map(|k| (k, created))
        .map_err(|e| format!("{}: {e}", path.display()))
}
