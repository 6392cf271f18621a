//! Console sessions, kept in memory (a restart signs everyone out): a random
//! session id in an HttpOnly, SameSite=Strict cookie, a CSRF token per session
//! that every form carries back, an idle timeout, and the sign-in limiter.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::i18n::Lang;
use crate::node::officers::Role;

/// The cookie's name.
pub const COOKIE: &str = "tracenet_console";
/// Signed-in sessions held at once; beyond, the least recently used
/// signed-in session ends.
pub const MAX_SESSIONS: usize = 4_096;
/// Anonymous sessions (a sign-in form's token) held at once; beyond, the
/// least recently used anonymous one goes. Kept apart from the signed-in
/// ones, so that a flood of page loads by anyone cannot sign officers out.
pub const MAX_ANONYMOUS: usize = 1_024;

/// Failed sign-ins for one name before it is locked for [`LOCK_FOR`].
pub const FAILURES_BEFORE_LOCK: usize = 5;
pub const LOCK_FOR: Duration = Duration::from_secs(15 * 60);
/// Sign-ins with names that are no account, checked per minute on the whole
/// console (each costs an Argon2id evaluation, as a real one does); beyond,
/// refused at once. A flood of made-up names does not touch real accounts'
/// own budget.
pub const ATTEMPTS_PER_MINUTE: usize = 30;
/// Sign-ins with existing names checked per minute on the whole console
/// (each name is also locked after [`FAILURES_BEFORE_LOCK`]).
pub const KNOWN_ATTEMPTS_PER_MINUTE: usize = 240;

/// Who a session belongs to.
#[derive(Debug, Clone)]
pub struct Officer {
    pub name: String,
    pub role: Role,
    /// The one-time password is still in use: only the password page opens.
    pub must_change: bool,
    /// The account's password hash when the session began (memory only): a
    /// reset or a change elsewhere makes it differ, which ends the session.
    pub stamp: String,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub csrf: String,
    pub officer: Option<Officer>,
    /// The language of pages before sign-in, or chosen on a page.
    pub lang: Lang,
    last_seen: Instant,
}

/// Why a sign-in is not even checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// This name failed too often; retry after the given time.
    Locked(Duration),
    /// Too many attempts on the console as a whole.
    Busy,
}

pub struct Sessions {
    idle: Duration,
    inner: Mutex<Inner>,
}

struct Inner {
    by_id: HashMap<String, Session>,
    /// Failure instants per officer name (the name as given, at most 64
    /// chars), within [`LOCK_FOR`].
    failures: HashMap<String, VecDeque<Instant>>,
    attempts: VecDeque<Instant>,
    known_attempts: VecDeque<Instant>,
    /// Throttled or made-up-name refusals counted between two audit
    /// entries: (start of the window, count), per kind.
    tallies: HashMap<&'static str, (Option<Instant>, u64)>,
}

fn random_token() -> Option<String> {
    use base64::Engine as _;
    use ring::rand::SecureRandom;
    let mut b = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut b).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

impl Sessions {
    pub fn new(idle: Duration) -> Self {
        Sessions {
            idle,
            inner: Mutex::new(Inner {
                by_id: HashMap::new(),
                failures: HashMap::new(),
                attempts: VecDeque::new(),
                known_attempts: VecDeque::new(),
                tallies: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live session of a cookie value, its idle time renewed.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut g = self.lock();
        if g.by_id.get(id)?.last_seen.elapsed() > self.idle {
            g.by_id.remove(id);
            return None;
        }
        let s = g.by_id.get_mut(id)?;
        s.last_seen = Instant::now();
        Some(s.clone())
    }

    /// A new session, anonymous: it carries the CSRF token of the sign-in form.
    pub fn create(&self, lang: Lang) -> Option<Session> {
        let s = Session {
            id: random_token()?,
            csrf: random_token()?,
            officer: None,
            lang,
            last_seen: Instant::now(),
        };
        let mut g = self.lock();
        self.make_room(&mut g, false);
        g.by_id.insert(s.id.clone(), s.clone());
        Some(s)
    }

    /// Drops idle sessions, then, if the kind (`signed_in` or anonymous) is
    /// at its cap, its least recently used session.
    fn make_room(&self, g: &mut Inner, signed_in: bool) {
        let cap = if signed_in {
            MAX_SESSIONS
        } else {
            MAX_ANONYMOUS
        };
        let of_kind = |s: &Session| s.officer.is_some() == signed_in;
        if g.by_id.values().filter(|s| of_kind(s)).count() < cap {
            return;
        }
        let idle = self.idle;
        g.by_id.retain(|_, s| s.last_seen.elapsed() <= idle);
        if g.by_id.values().filter(|s| of_kind(s)).count() >= cap
            && let Some(oldest) = g
                .by_id
                .values()
                .filter(|s| of_kind(s))
                .min_by_key(|s| s.last_seen)
                .map(|s| s.id.clone())
        {
            g.by_id.remove(&oldest);
        }
    }

    /// Signs a session in: a new id and a new CSRF token (the anonymous
    /// session's id, which a page may have seen, is dropped).
    pub fn sign_in(&self, old: &str, officer: Officer, lang: Lang) -> Option<Session> {
        let s = Session {
            id: random_token()?,
            csrf: random_token()?,
            officer: Some(officer),
            lang,
            last_seen: Instant::now(),
        };
        let mut g = self.lock();
        g.by_id.remove(old);
        self.make_room(&mut g, true);
        g.by_id.insert(s.id.clone(), s.clone());
        Some(s)
    }

    pub fn end(&self, id: &str) {
        self.lock().by_id.remove(id);
    }

    pub fn set_lang(&self, id: &str, lang: Lang) {
        if let Some(s) = self.lock().by_id.get_mut(id) {
            s.lang = lang;
        }
    }

    pub fn password_changed(&self, id: &str, stamp: String) {
        if let Some(o) = self
            .lock()
            .by_id
            .get_mut(id)
            .and_then(|s| s.officer.as_mut())
        {
            o.must_change = false;
            o.stamp = stamp;
        }
    }

    /// Ends every session of an officer (account removed or reset).
    pub fn end_officer(&self, name: &str) {
        self.lock()
            .by_id
            .retain(|_, s| s.officer.as_ref().is_none_or(|o| o.name != name));
    }

    /// Whether a sign-in for `name` may be checked now; counts the attempt.
    /// `known`: the name is an account (made-up names have a budget of
    /// their own, so that they cannot crowd out real ones).
    pub fn admit_attempt(&self, name: &str, known: bool) -> Result<(), Throttled> {
        let mut g = self.lock();
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        let inner = &mut *g;
        for q in [&mut inner.attempts, &mut inner.known_attempts] {
            while q.front().is_some_and(|t| now.duration_since(*t) > minute) {
                q.pop_front();
            }
        }
        if let Some(f) = g.failures.get_mut(name) {
            while f.front().is_some_and(|t| now.duration_since(*t) > LOCK_FOR) {
                f.pop_front();
            }
            if f.len() >= FAILURES_BEFORE_LOCK {
                let first = f.front().copied().unwrap_or(now);
                return Err(Throttled::Locked(
                    LOCK_FOR.saturating_sub(now.duration_since(first)),
                ));
            }
        }
        let (q, cap) = if known {
            (&mut g.known_attempts, KNOWN_ATTEMPTS_PER_MINUTE)
        } else {
            (&mut g.attempts, ATTEMPTS_PER_MINUTE)
        };
        if q.len() >= cap {
            return Err(Throttled::Busy);
        }
        q.push_back(now);
        Ok(())
    }

    /// Counts a failed sign-in (or password check) against `name`; true
    /// when this failure locks the name.
    pub fn failed(&self, name: &str) -> bool {
        let mut g = self.lock();
        let now = Instant::now();
        if g.failures.len() > MAX_SESSIONS && !g.failures.contains_key(name) {
            g.failures
                .retain(|_, f| f.back().is_some_and(|t| now.duration_since(*t) <= LOCK_FOR));
        }
        let key: String = name.chars().take(64).collect();
        let f = g.failures.entry(key).or_default();
        while f.front().is_some_and(|t| now.duration_since(*t) > LOCK_FOR) {
            f.pop_front();
        }
        f.push_back(now);
        f.len() == FAILURES_BEFORE_LOCK
    }

    /// A successful sign-in clears the name's failures.
    pub fn succeeded(&self, name: &str) {
        self.lock().failures.remove(name);
    }

    /// Counts one refusal of `kind` that is not audited one by one; returns
    /// the count to audit once a minute (the first of each minute, with
    /// those since the last entry).
    pub fn tally(&self, kind: &'static str) -> Option<u64> {
        let mut g = self.lock();
        let now = Instant::now();
        let e = g.tallies.entry(kind).or_insert((None, 0));
        e.1 += 1;
        let due =
            e.0.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60));
        if due {
            let n = e.1;
            *e = (Some(now), 0);
            Some(n)
        } else {
            None
        }
    }
}

/// Compares a form's CSRF token with the session's, in constant time.
pub fn csrf_matches(session: &Session, given: &str) -> bool {
    let (a, b) = (session.csrf.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_locked_after_five_failures_and_others_are_not() {
        let s = Sessions::new(Duration::from_secs(60));
        for i in 1..=FAILURES_BEFORE_LOCK {
            s.admit_attempt("amina", true).unwrap();
            assert_eq!(s.failed("amina"), i == FAILURES_BEFORE_LOCK);
        }
        assert!(
            matches!(s.admit_attempt("amina", true), Err(Throttled::Locked(d)) if d > Duration::from_secs(800))
        );
        s.admit_attempt("kofi", true).unwrap();
    }

    #[test]
    fn the_console_checks_a_bounded_number_of_sign_ins_a_minute() {
        let s = Sessions::new(Duration::from_secs(60));
        for i in 0..ATTEMPTS_PER_MINUTE {
            s.admit_attempt(&format!("n{i}"), false).unwrap();
        }
        assert_eq!(s.admit_attempt("another", false), Err(Throttled::Busy));
        // Made-up names do not use up the real accounts' budget.
        s.admit_attempt("amina", true).unwrap();
    }

    #[test]
    fn signing_in_changes_the_session_id_and_the_csrf_token() {
        let s = Sessions::new(Duration::from_secs(60));
        let anon = s.create(Lang::En).unwrap();
        let officer = Officer {
            name: "amina".into(),
            role: Role::Officer,
            must_change: false,
            stamp: String::new(),
        };
        let signed = s.sign_in(&anon.id, officer, Lang::Fr).unwrap();
        assert_ne!(signed.id, anon.id);
        assert_ne!(signed.csrf, anon.csrf);
        assert!(s.get(&anon.id).is_none());
        assert!(csrf_matches(&s.get(&signed.id).unwrap(), &signed.csrf));
        assert!(!csrf_matches(&signed, &anon.csrf));
        assert!(!csrf_matches(&signed, ""));
    }

    #[test]
    fn an_idle_session_ends() {
        let s = Sessions::new(Duration::from_millis(1));
        let a = s.create(Lang::En).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(s.get(&a.id).is_none());
    }

    #[test]
    fn anonymous_sessions_are_bounded_and_never_push_out_a_signed_in_one() {
        let s = Sessions::new(Duration::from_secs(600));
        let anon = s.create(Lang::En).unwrap();
        let officer = Officer {
            name: "amina".into(),
            role: Role::Officer,
            must_change: false,
            stamp: String::new(),
        };
        let signed = s.sign_in(&anon.id, officer, Lang::En).unwrap();
        let first = s.create(Lang::En).unwrap();
        for _ in 0..MAX_ANONYMOUS * 3 {
            s.create(Lang::En).unwrap();
        }
        assert!(
            s.get(&first.id).is_none(),
            "the oldest anonymous session went"
        );
        assert!(
            s.get(&signed.id).is_some(),
            "the officer is still signed in"
        );
        assert!(s.lock().by_id.len() <= MAX_ANONYMOUS + 1);
    }

    #[test]
    fn refusals_not_audited_one_by_one_are_tallied_once_a_minute() {
        let s = Sessions::new(Duration::from_secs(600));
        assert_eq!(s.tally("unknown"), Some(1));
        for _ in 0..100 {
            assert_eq!(s.tally("unknown"), None);
        }
        assert_eq!(s.tally("busy"), Some(1));
    }
}
