//! A node's OPRF key on disk: a 32-byte seed beside its signing key, from
//! which RFC 9497's DeriveKeyPair makes the key (`OprfKey::from_seed`).

use std::io::Write;
use std::path::Path;

use super::OprfKey;

/// The seed of the node's OPRF key, in its data directory.
pub const OPRF_KEY_FILE: &str = "oprf.key";

/// Reads the OPRF seed at `path` (refused if others may read it, as the
/// signing key is), or creates it (32 random bytes, mode 0600,
/// written and synced before use; a half-written file is refused, naming it).
/// The flag says whether this call created it.
pub fn load_or_create_key(path: &Path) -> Result<(OprfKey, bool), String> {
    load_or_create(path, true)
}

/// [`load_or_create_key`]; `again` whether a seed another process linked
/// in place meanwhile may be read once more.
fn load_or_create(path: &Path, again: bool) -> Result<(OprfKey, bool), String> {
    use crate::model::file::{Secret, read_small_secret};
    let (seed, created): ([u8; 32], bool) = match read_small_secret(path, 4096) {
        Ok(Secret::OpenToOthers(mode)) => {
            return Err(format!(
                "{} is open to others (mode {mode:o}: others may read or write it), and whoever reads it can answer blind probes as this node; run `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
        Ok(Secret::Read(b)) => <[u8; 32]>::try_from(b.as_slice())
            .map_err(|_| {
            format!(
                "{}: {} bytes; an OPRF key seed is 32. Restore it from a backup, or remove it to make a new key and give its OPRF public key (tracenet identity show) to your regional organisation for the next roster; until that roster is installed, requesters refuse this node's blind evaluations",
                path.display(),
                b.len()
            )
        })
            .map(|s| (s, false))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed)
                .map_err(|_| "the system random source failed; no OPRF key made".to_string())?;
            // Written whole under a name of its own, then linked in
            // place only if no other process (a node starting, `identity
            // show`) made the seed meanwhile: then that one is read, so
            // every process ends with the same key.
            let mut tag = [0u8; 8];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut tag)
                .map_err(|_| "the system random source failed; no OPRF key made".to_string())?;
            let tmp = path.with_extension(format!("key.{}.tmp", hex::encode(tag)));
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let written = opts
                .open(&tmp)
                .and_then(|mut f| f.write_all(&seed).and_then(|_| f.sync_all()))
                .map_err(|e| format!("cannot write {}: {e}", tmp.display()));
            let linked = written.and_then(|_| match std::fs::hard_link(&tmp, path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(format!("cannot write {}: {e}", path.display())),
            });
            let _ = std::fs::remove_file(&tmp);
            if !linked? {
                // Something is in place that did not open: a link to a
                // file that is not there (a mount absent at boot), not a
                // seed another process made. Said, never made over it.
                if !again || path.symlink_metadata().is_ok_and(|m| m.is_symlink()) {
                    return Err(format!(
                        "{} is a link to {}, which cannot be read: mount or restore the OPRF key seed it names, or remove the link to make a new key (and give its OPRF public key, tracenet identity show, to your regional organisation for the next roster)",
                        path.display(),
                        std::fs::read_link(path)
                            .map(|t| t.display().to_string())
                            .unwrap_or_else(|_| "a file".into())
                    ));
                }
                return load_or_create(path, false);
            }
            (seed, true)
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    OprfKey::from_seed(&seed)
        .map(|k| (k, created))
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_is_made_once_and_a_damaged_one_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(OPRF_KEY_FILE);
        let (a, made) = load_or_create_key(&path).unwrap();
        assert!(made);
        let (b, made) = load_or_create_key(&path).unwrap();
        assert!(!made);
        assert_eq!(a.public_key(), b.public_key());
        // No temporary file is left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, [1u8; 31]).unwrap();
        let e = load_or_create_key(&path).unwrap_err();
        assert!(e.contains("oprf.key") && e.contains("31 bytes"), "{e}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(&path, [1u8; 32]).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = load_or_create_key(&path).unwrap_err();
            assert!(e.contains("mode 644") && e.contains("chmod 600"), "{e}");
        }
    }

    /// A seed that is a link to a file not there (a mount absent at boot)
    /// is said, naming both: it overflowed the stack (a hostile trial).
    #[cfg(unix)]
    #[test]
    fn a_link_to_a_missing_seed_is_named_not_made_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(OPRF_KEY_FILE);
        std::os::unix::fs::symlink("/nonexistent/tracenet/seed", &path).unwrap();
        let e = load_or_create_key(&path).unwrap_err();
        assert!(
            e.contains("/nonexistent/tracenet/seed") && e.contains("oprf.key"),
            "{e}"
        );
        assert!(path.symlink_metadata().unwrap().is_symlink());
    }

    #[test]
    fn processes_racing_to_make_the_seed_end_with_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(OPRF_KEY_FILE);
        let keys: Vec<_> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create_key(&path).unwrap().0.public_key()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]));
    }
}
