//! Officer accounts of the console (src/console): local to the node (sled tree `officers`),
//! passwords kept as Argon2id PHC strings, never in clear. An account is made
//! with a one-time password that must be changed at the first sign-in.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};

/// What an officer may do in the console. Each role includes the ones before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sends traces and reads traces, alerts, the registry and reports.
    Officer,
    /// Also decides the inbox's requests.
    Reviewer,
    /// Also manages the registry, the policy and the accounts.
    Admin,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "officer" => Ok(Role::Officer),
            "reviewer" => Ok(Role::Reviewer),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?}: give officer, reviewer or admin"
            )),
        }
    }
}

impl Role {
    pub fn word(self) -> &'static str {
        match self {
            Role::Officer => "officer",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }
}

/// One account as stored (JSON in the `officers` tree, keyed by name).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub name: String,
    pub role: Role,
    /// Argon2id PHC string.
    pub password: String,
    /// The password is a one-time password: it must be changed at sign-in.
    pub must_change: bool,
    /// The console language chosen (`en`, `fr`, `es`, `ar`).
    pub lang: String,
    #[serde(with = "crate::model::instant")]
    pub created_at: u64,
}

/// An account as listed (`tracenet officer list`): no password hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OfficerView {
    pub name: String,
    pub role: Role,
    /// The one-time password has not been changed yet.
    pub must_change: bool,
    pub lang: String,
    #[serde(with = "crate::model::instant")]
    pub created_at: u64,
}

/// What `officer add` and `officer reset` print once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OneTimePassword {
    pub name: String,
    pub role: Role,
    /// Shown once; the officer must change it at the first sign-in.
    pub password: String,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    #[error(
        "officer name {0:?}: give 1 to 64 ASCII letters, digits, '.', '-' or '_' (it names the officer in the audit log)"
    )]
    BadName(String),
    #[error(
        "officer {0} already exists; `tracenet officer reset {0}` (POST /v1/officers/{0}/reset) gives a new password"
    )]
    Exists(String),
    #[error("no officer {0}; `tracenet officer list` (GET /v1/officers) shows the accounts")]
    NoSuchOfficer(String),
    /// A name that differs from an account's only in case: the audit log,
    /// the reports and the console would show two officers a reader cannot
    /// tell apart at a glance (a helper's trial added `DEMO.ADMIN` beside
    /// `demo.admin`).
    #[error(
        "officer {name}: an account {existing} exists, and names that differ only in case are not told apart in the audit log; choose another name"
    )]
    CaseOf { name: String, existing: String },
    #[error("the new password must be at least {MIN_PASSWORD} characters")]
    WeakPassword,
    #[error("the new password must differ from the one-time password")]
    SamePassword,
    #[error("cannot remove the last admin; add another admin first")]
    LastAdmin,
    #[error("officer accounts storage: {0}")]
    Storage(#[from] sled::Error),
    #[error("officer account {name} is unreadable: {reason}")]
    Corrupt { name: String, reason: String },
    #[error("cannot draw a random password: the system random source failed")]
    Random,
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Shortest password an officer may choose.
pub const MIN_PASSWORD: usize = 12;

/// The accounts tree.
#[derive(Clone)]
pub struct Officers {
    tree: sled::Tree,
}

/// Argon2id with OWASP's second configuration (19 MiB, 2 passes, 1 lane):
/// about 20 ms per sign-in on this project's 2-core machine (release).
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn random_bytes<const N: usize>() -> Result<[u8; N], AccountError> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| AccountError::Random)?;
    Ok(b)
}

fn hash_password(password: &str) -> Result<String, AccountError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| AccountError::Hash(e.to_string()))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// A fresh one-time password: 20 characters from an alphabet without
/// look-alikes (no 0/O, 1/l/I), about 100 bits.
fn one_time_password() -> Result<String, AccountError> {
    const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    let bytes = random_bytes::<20>()?;
    let chars: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    Ok(format!(
        "{}-{}-{}-{}",
        &chars[..5],
        &chars[5..10],
        &chars[10..15],
        &chars[15..]
    ))
}

/// Checks an officer's name: it is written into audit entries and pages.
/// ASCII only, so that no two accounts look alike (Cyrillic `о` beside
/// Latin `o`).
pub fn check_name(name: &str) -> Result<String, AccountError> {
    let n = name.trim();
    let ok = !n.is_empty()
        && n.chars().count() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(n.to_string())
    } else {
        Err(AccountError::BadName(name.to_string()))
    }
}

/// The name an account change is audited under, once the change succeeded
/// (so the name was accepted as new, or found as stored): as the account
/// holds it (trimmed), not as sent, which may be a mebibyte of spaces
/// after it. A stored name from before names were checked as they are now
/// is audited as given: it matched an account exactly.
pub fn audited_name(given: String) -> String {
    check_name(&given).unwrap_or(given)
}

/// A password check's result.
#[derive(Debug, Clone)]
pub enum SignIn {
    Accepted(Account),
    UnknownOfficer,
    WrongPassword,
}

impl Officers {
    pub fn open(db: &sled::Db) -> Result<Self, AccountError> {
        Ok(Officers {
            tree: db.open_tree("officers")?,
        })
    }

    fn decode(name: &[u8], v: &[u8]) -> Result<Account, AccountError> {
        serde_json::from_slice(v).map_err(|e| AccountError::Corrupt {
            name: String::from_utf8_lossy(name).into_owned(),
            reason: e.to_string(),
        })
    }

    fn put(&self, a: &Account) -> Result<(), AccountError> {
        let bytes = serde_json::to_vec(a).map_err(|e| AccountError::Corrupt {
            name: a.name.clone(),
            reason: e.to_string(),
        })?;
        self.tree.insert(a.name.as_bytes(), bytes)?;
        self.tree.flush()?;
        Ok(())
    }

    pub fn get(&self, name: &str) -> Result<Option<Account>, AccountError> {
        match self.tree.get(name.as_bytes())? {
            Some(v) => Ok(Some(Self::decode(name.as_bytes(), &v)?)),
            None => Ok(None),
        }
    }

    /// Every account, by name.
    pub fn list(&self) -> Result<Vec<OfficerView>, AccountError> {
        let mut out = Vec::new();
        for kv in self.tree.iter() {
            let (k, v) = kv?;
            let a = Self::decode(&k, &v)?;
            out.push(OfficerView {
                name: a.name,
                role: a.role,
                must_change: a.must_change,
                lang: a.lang,
                created_at: a.created_at,
            });
        }
        Ok(out)
    }

    /// Adds an account with a one-time password, returned once.
    pub fn add(&self, name: &str, role: Role, now: u64) -> Result<OneTimePassword, AccountError> {
        let name = check_name(name)?;
        // One add at a time in this process (the console and the API each
        // open the tree), so that `A` and `a` cannot both pass the look
        // below.
        static ADDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = ADDING.lock().unwrap_or_else(|p| p.into_inner());
        for k in self.tree.iter().keys() {
            let k = k?;
            if k.as_ref() != name.as_bytes() && k.eq_ignore_ascii_case(name.as_bytes()) {
                return Err(AccountError::CaseOf {
                    existing: String::from_utf8_lossy(&k).into_owned(),
                    name,
                });
            }
        }
        let password = one_time_password()?;
        let a = Account {
            name: name.clone(),
            role,
            password: hash_password(&password)?,
            must_change: true,
            lang: "en".into(),
            created_at: now,
        };
        let bytes = serde_json::to_vec(&a).map_err(|e| AccountError::Corrupt {
            name: name.clone(),
            reason: e.to_string(),
        })?;
        // Only if absent: two adds of one name cannot both win.
        if self
            .tree
            .compare_and_swap(name.as_bytes(), None::<&[u8]>, Some(bytes))?
            .is_err()
        {
            return Err(AccountError::Exists(name));
        }
        self.tree.flush()?;
        Ok(OneTimePassword {
            name,
            role,
            password,
        })
    }

    /// A new one-time password for an existing account (a forgotten password).
    pub fn reset(&self, name: &str) -> Result<OneTimePassword, AccountError> {
        let mut a = self
            .get(name)?
            .ok_or_else(|| AccountError::NoSuchOfficer(name.to_string()))?;
        let password = one_time_password()?;
        a.password = hash_password(&password)?;
        a.must_change = true;
        self.put(&a)?;
        Ok(OneTimePassword {
            name: a.name,
            role: a.role,
            password,
        })
    }

    /// Removes an account; the last admin stays.
    pub fn remove(&self, name: &str) -> Result<(), AccountError> {
        let a = self
            .get(name)?
            .ok_or_else(|| AccountError::NoSuchOfficer(name.to_string()))?;
        if a.role == Role::Admin
            && self
                .list()?
                .iter()
                .filter(|o| o.role == Role::Admin)
                .count()
                == 1
        {
            return Err(AccountError::LastAdmin);
        }
        self.tree.remove(name.as_bytes())?;
        self.tree.flush()?;
        Ok(())
    }

    /// Checks a password. Costs one Argon2id evaluation whether or not the
    /// officer exists, so that timing does not tell which names exist.
    pub fn check(&self, name: &str, password: &str) -> Result<SignIn, AccountError> {
        let account = self.get(name.trim())?;
        static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let stored = match &account {
            Some(a) => a.password.clone(),
            // The hash of a random password nobody knows: the same work,
            // never a match.
            None => DECOY
                .get_or_init(|| {
                    one_time_password()
                        .and_then(|p| hash_password(&p))
                        .unwrap_or_default()
                })
                .clone(),
        };
        let ok = PasswordHash::new(&stored)
            .map(|h| hasher().verify_password(password.as_bytes(), &h).is_ok())
            .unwrap_or(false);
        Ok(match (account, ok) {
            (None, _) => SignIn::UnknownOfficer,
            (Some(_), false) => SignIn::WrongPassword,
            (Some(a), true) => SignIn::Accepted(a),
        })
    }

    /// Replaces a password (after the one-time password, or by choice).
    pub fn change_password(&self, name: &str, new: &str, old: &str) -> Result<(), AccountError> {
        if new.chars().count() < MIN_PASSWORD {
            return Err(AccountError::WeakPassword);
        }
        if new == old {
            return Err(AccountError::SamePassword);
        }
        let mut a = self
            .get(name)?
            .ok_or_else(|| AccountError::NoSuchOfficer(name.to_string()))?;
        a.password = hash_password(new)?;
        a.must_change = false;
        self.put(&a)
    }

    /// The officer's console language.
    pub fn set_lang(&self, name: &str, lang: &str) -> Result<(), AccountError> {
        let mut a = self
            .get(name)?
            .ok_or_else(|| AccountError::NoSuchOfficer(name.to_string()))?;
        a.lang = lang.to_string();
        self.put(&a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn officers() -> Officers {
        let db = sled::Config::new().temporary(true).open().unwrap();
        Officers::open(&db).unwrap()
    }

    /// A name differing from an account's only in case is refused,
    /// naming the account; the same name is `Exists`, as before.
    #[test]
    fn a_name_differing_only_in_case_is_refused() {
        let o = officers();
        o.add("demo.admin", Role::Admin, 1).unwrap();
        match o.add("DEMO.Admin", Role::Officer, 2) {
            Err(AccountError::CaseOf { name, existing }) => {
                assert_eq!(
                    (name.as_str(), existing.as_str()),
                    ("DEMO.Admin", "demo.admin")
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            o.add("demo.admin", Role::Officer, 2),
            Err(AccountError::Exists(_))
        ));
        o.add("demo.admin2", Role::Officer, 2).unwrap();
    }

    #[test]
    fn an_account_signs_in_with_its_one_time_password_and_must_change_it() {
        let o = officers();
        let otp = o.add("amina.diallo", Role::Reviewer, 1).unwrap();
        assert_eq!(otp.password.len(), 23);
        let stored = o.get("amina.diallo").unwrap().unwrap();
        assert!(
            stored.password.starts_with("$argon2id$"),
            "{}",
            stored.password
        );
        assert!(!stored.password.contains(&otp.password));
        match o.check("amina.diallo", &otp.password).unwrap() {
            SignIn::Accepted(a) => assert!(a.must_change),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            o.check("amina.diallo", "wrong").unwrap(),
            SignIn::WrongPassword
        ));
        assert!(matches!(
            o.check("nobody", "x").unwrap(),
            SignIn::UnknownOfficer
        ));
        assert!(matches!(
            o.change_password("amina.diallo", "short", &otp.password),
            Err(AccountError::WeakPassword)
        ));
        o.change_password("amina.diallo", "a much longer phrase", &otp.password)
            .unwrap();
        assert!(matches!(
            o.check("amina.diallo", &otp.password).unwrap(),
            SignIn::WrongPassword
        ));
        assert!(matches!(
            o.check("amina.diallo", "a much longer phrase").unwrap(),
            SignIn::Accepted(a) if !a.must_change
        ));
    }

    #[test]
    fn names_are_checked_and_unique_and_the_last_admin_stays() {
        let o = officers();
        for bad in [
            "",
            "a b",
            "x<script>",
            "оff1",
            "line\nbreak",
            &"n".repeat(65),
        ] {
            assert!(
                matches!(o.add(bad, Role::Officer, 1), Err(AccountError::BadName(_))),
                "{bad}"
            );
        }
        o.add("chief", Role::Admin, 1).unwrap();
        assert!(matches!(
            o.add("chief", Role::Officer, 1),
            Err(AccountError::Exists(_))
        ));
        assert!(matches!(o.remove("chief"), Err(AccountError::LastAdmin)));
        o.add("deputy", Role::Admin, 1).unwrap();
        o.remove("chief").unwrap();
        assert_eq!(o.list().unwrap().len(), 1);
        assert!(matches!(
            o.reset("chief"),
            Err(AccountError::NoSuchOfficer(_))
        ));
    }
}
