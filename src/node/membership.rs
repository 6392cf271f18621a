//! The membership: installing a roster (given by an operator or received by
//! gossip), who it lists, and its expiry. A roster past its `valid_until`
//! vouches for no one (`protocol::accept` refuses every query and answer); the
//! node warns ahead of time, once a day, and says what to do.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{MemberInfo, Members, Node, NodeError, PeerId, identity, net};
use crate::audit::{AuditKind, NewEntry};
use crate::model::{CountryCode, Date};
use crate::net::{GossipId, Topic, Verdict};
use crate::protocol::{PublicKey, Vouching};
use crate::roster::{self, Roster, RosterError, RosterFile, TrustConfig};

/// How long before expiry the node starts to warn.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 86_400);
/// How often the warning is repeated.
const WARN_EVERY: Duration = Duration::from_secs(86_400);

/// A node offers its held roster to the federation again, on the roster
/// topic, when a peer it has not offered this roster version to connects,
/// at most once in this time: a member that was away (stopped, or its
/// process not yet started) when a roster spread gets it when it is back,
/// from the peers it connects to. Members that hold it already ignore the
/// offer and do not pass it on. The gap keeps the reconnections of a whole
/// federation (a gossip validation switch) to about one offer per node.
pub const ROSTER_OFFER_GAP: Duration = Duration::from_secs(5);
/// And this often, by lot, about [`ROSTER_OFFERERS`] members of the
/// federation offer it unprompted, for a member that stayed connected
/// without taking it.
pub const ROSTER_OFFER_EVERY: Duration = Duration::from_secs(3_600);
/// How many members are drawn, on average, each [`ROSTER_OFFER_EVERY`].
const ROSTER_OFFERERS: u64 = 3;

impl Vouching for Members {
    fn state_of(&self, key: &PublicKey) -> Option<CountryCode> {
        self.by_key(key)
            .and_then(|(_, m)| (!m.bootstrap).then_some(m.state))
    }

    fn valid_until(&self) -> u64 {
        self.valid_until
    }
}

/// Where the held roster stands against its `valid_until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Valid,
    /// Expires within [`EXPIRY_WARNING`]; seconds left.
    Soon(u64),
    Expired,
}

/// The expiry state of a roster valid until `valid_until` at `now` (unix seconds).
pub fn expiry(valid_until: u64, now: u64) -> Expiry {
    if now > valid_until {
        Expiry::Expired
    } else if valid_until - now <= EXPIRY_WARNING.as_secs() {
        Expiry::Soon(valid_until - now)
    } else {
        Expiry::Valid
    }
}

/// Why a roster was not installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallRosterError {
    #[error("not a roster file: {0}")]
    Unreadable(String),
    /// Signatures, anchors, dates or members do not hold.
    #[error("{0}")]
    Rejected(RosterError),
    #[error("the roster cannot be recorded: {0}")]
    Store(String),
    #[error("the network is not running: {0}")]
    Net(#[from] net::NetError),
}

/// What gossipsub is told of a gossiped roster. Only a roster that is not
/// one (unreadable, forged, not signed by enough anchors, members that do not
/// hold) is the fault of the peer that passed it on, and scores it down
/// (one such message graylists it for about a second). A roster not yet valid
/// on this node's calendar (its clock, or the relay's, a day apart) and this
/// node's own store or network failing are not: ignored, not passed on.
fn roster_verdict(installed: &Result<bool, InstallRosterError>) -> Verdict {
    match installed {
        Ok(true) => Verdict::Accept,
        Ok(false) => Verdict::Ignore,
        Err(InstallRosterError::Rejected(
            RosterError::Dates { .. } | RosterError::Read { .. } | RosterError::Write { .. },
        )) => Verdict::Ignore,
        Err(InstallRosterError::Store(_) | InstallRosterError::Net(_)) => Verdict::Ignore,
        Err(InstallRosterError::Unreadable(_) | InstallRosterError::Rejected(_)) => Verdict::Reject,
    }
}

impl Node {
    pub(super) async fn on_roster_gossip(&self, id: GossipId, data: Vec<u8>) {
        let installed = self.install_roster(&data, false).await;
        let verdict = roster_verdict(&installed);
        if let Err(e) = &installed {
            if verdict == Verdict::Reject {
                // Who passed it on, and what it claims to be: a member
                // pushing forged rosters is found from this line (it named
                // neither: a regional organisation's trial).
                let source = id.source();
                let state = self
                    .read_members()
                    .by_peer
                    .get(&source)
                    .map(|m| m.state.to_string())
                    .unwrap_or_else(|| "not a member".into());
                let version = RosterFile::from_json(&data)
                    .ok()
                    .and_then(|f| f.decode_unverified().ok())
                    .map(|b| b.version);
                tracing::warn!(
                    error = %e,
                    peer = %source,
                    %state,
                    version = ?version,
                    "rejected a gossiped roster (the peer named passed it on; it is graylisted for a moment)"
                );
            } else if self.roster_warning_due() {
                // Once a minute at most: a member may pass on a roster not
                // yet valid here (or one this node cannot record) again and
                // again.
                tracing::warn!(error = %e, "a gossiped roster could not be installed");
            } else {
                tracing::debug!(error = %e, "a gossiped roster could not be installed");
            }
        }
        let _ = self.inner.net.validate(id, verdict).await;
    }

    /// Verifies a roster against the trust anchors and installs it if it is newer
    /// than the one held: members removed from it are cut off at once. Returns
    /// whether it was installed. With `publish`, passes it on to the federation.
    pub async fn install_roster(
        &self,
        bytes: &[u8],
        publish: bool,
    ) -> Result<bool, InstallRosterError> {
        let node = self.clone();
        let owned = bytes.to_vec();
        let installed = tokio::task::spawn_blocking(move || node.install_now(&owned, publish))
            .await
            .map_err(|e| InstallRosterError::Store(e.to_string()))??;
        let Some(version) = installed else {
            return Ok(false);
        };
        let (list, bootstrap, keep, served_lists) = {
            let m = self.read_members();
            (
                m.dial_list(),
                m.bootstrap_peers(),
                m.links_kept(),
                m.served_lists && m.links_kept().is_some(),
            )
        };
        self.inner.net.set_members(list, bootstrap, keep).await?;
        self.inner.net.set_served_lists(served_lists).await?;
        self.warn_of_unlinked_gaps();
        // After the verdict on a gossiped roster, the network side passes it
        // on; it switches only seconds later (net::SWITCH_GRACE).
        self.inner
            .net
            .set_gossip_validation(self.gossip_validation())
            .await?;
        tracing::info!(version, "roster installed");
        if publish {
            match self.inner.net.publish(Topic::Roster, bytes.to_vec()).await {
                Ok(())
                | Err(net::NetError::NoSubscribers(_))
                | Err(net::NetError::SeenRecently(_)) => {}
                Err(e) => tracing::warn!(error = %e, "publishing the roster failed"),
            }
        }
        Ok(true)
    }

    /// The blocking part of an install: verify, write, audit, swap.
    /// `offered` by an operator (the control API), the file's signatures and
    /// dates are checked before its version: a forged, damaged or wrongly
    /// signed roster is said as such, never "already held" because its
    /// version was not above (a regional organisation's trial).
    fn install_now(&self, bytes: &[u8], offered: bool) -> Result<Option<u64>, InstallRosterError> {
        let file = RosterFile::from_json(bytes)
            .map_err(|e| InstallRosterError::Unreadable(e.to_string()))?;
        if offered {
            file.verify(&self.inner.trust, Date::today())
                .map_err(InstallRosterError::Rejected)?;
        }
        // A version not above the one held is ignored before any disk read
        // or signature check: the held roster offered again by peers, or a
        // member replaying old rosters, costs a JSON and body decode each
        // (`roster::install` would read the held file and the history, and
        // check the anchors' signatures and the dates, first).
        if file
            .decode_unverified()
            .is_ok_and(|b| b.version <= self.read_members().version)
        {
            return Ok(None);
        }
        let roster = match roster::install(
            &self.inner.data_dir,
            &file,
            &self.inner.trust,
            Date::today(),
        ) {
            Ok(r) => r,
            Err(RosterError::NotNewer { .. }) => return Ok(None),
            Err(e) => return Err(InstallRosterError::Rejected(e)),
        };
        let mut members = members_of(&roster);
        let version = members.version;
        self.record(
            AuditKind::RosterInstalled,
            NewEntry {
                outcome: Some(format!("version {version}")),
                ..NewEntry::default()
            },
            true,
        )
        .map_err(|e| InstallRosterError::Store(e.to_string()))?;
        let mut held = self
            .inner
            .members
            .write()
            .unwrap_or_else(|p| p.into_inner());
        // Read by the maker table in force under the roster's lock, which a
        // table's install takes for its swap (`apply_makers`): never by a
        // table being replaced meanwhile.
        members.rederive(&self.makers());
        *held = Arc::new(members);
        drop(held);
        self.check_own_oprf_key();
        Ok(Some(version))
    }

    /// A peer connected: offers the held roster, unless this version was
    /// offered since the peer first connected with it held (by this offer or
    /// one it shared), at most once per [`ROSTER_OFFER_GAP`]. Once per peer
    /// and version, whatever the peer does: a member connecting and leaving
    /// again and again cannot make this node publish the roster over and
    /// over to the federation (which, under `strict` validation, is a new
    /// message each time). A peer that read an offer and could not install
    /// it is left to the hourly offers by lot.
    pub(super) fn offer_roster_on_peer_up(&self, peer: PeerId) {
        let version = self.read_members().version;
        let due = match self.inner.roster_offers.lock() {
            Ok(mut o) => o.due_for(peer, version, Instant::now()),
            Err(_) => None,
        };
        if let Some(wait) = due {
            let node = self.clone();
            self.spawn(async move {
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                    if let Ok(mut o) = node.inner.roster_offers.lock() {
                        o.scheduled = false;
                    }
                }
                node.offer_roster().await
            });
        }
    }

    /// Each [`ROSTER_OFFER_EVERY`]: offers the held roster if drawn, with a
    /// chance of [`ROSTER_OFFERERS`] in the number of members.
    pub(super) fn offer_roster_by_lot(&self) {
        let members = self.read_members().by_peer.len().max(1) as u64;
        let draw = ring::rand::generate::<[u8; 8]>(&ring::rand::SystemRandom::new())
            .map(|r| u64::from_le_bytes(r.expose()))
            .unwrap_or(0);
        if draw % members < ROSTER_OFFERERS {
            let node = self.clone();
            self.spawn(async move { node.offer_roster().await });
        }
    }

    /// Whether a gossiped roster that could not be installed is worth a
    /// WARN line: at most one a minute.
    fn roster_warning_due(&self) -> bool {
        match self.inner.roster_warned.lock() {
            Ok(mut last) => {
                let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
                if due {
                    *last = Some(Instant::now());
                }
                due
            }
            Err(_) => false,
        }
    }

    /// Publishes the held roster file, as an install passes it on. Under
    /// `payload` validation the same roster read or offered in the last
    /// minute would not be sent (gossipsub names it by its bytes): the
    /// offer is then made once that minute has passed, so that a peer that
    /// just connected still gets it.
    async fn offer_roster(&self) {
        for attempt in 0..2 {
            let path = self.inner.data_dir.join(roster::HELD_FILE);
            let Ok(bytes) = tokio::fs::read(&path).await else {
                return;
            };
            match self.inner.net.publish(Topic::Roster, bytes).await {
                Ok(()) | Err(net::NetError::NoSubscribers(_)) => {
                    tracing::debug!("held roster offered to the federation");
                    return;
                }
                Err(net::NetError::SeenRecently(_)) if attempt == 0 => {
                    tokio::select! {
                        _ = tokio::time::sleep(net::DUPLICATE_WINDOW + Duration::from_secs(1)) => {}
                        _ = self.inner.stopping.cancelled() => return,
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "offering the held roster failed");
                    return;
                }
            }
        }
    }

    /// How gossip envelopes are to be checked: as the roster held decides for
    /// every member, else as `node.gossip_validation` says.
    pub fn gossip_validation(&self) -> net::GossipValidation {
        self.read_members()
            .gossip_validation
            .unwrap_or(self.inner.own_gossip_validation)
    }

    /// The gossip validation the network runs now, and the one it is about
    /// to switch to if a switch is pending (net::SWITCH_GRACE). If the
    /// network task cannot be asked (it has stopped): the roster's setting
    /// (else this node's own) and no switch.
    pub async fn gossip_validation_now(
        &self,
    ) -> (net::GossipValidation, Option<net::GossipValidation>) {
        match self.inner.net.status().await {
            Ok(s) => (s.gossip_validation, s.gossip_validation_next),
            Err(_) => (self.gossip_validation(), None),
        }
    }

    /// Logs the roster's expiry: a WARN line a day from [`EXPIRY_WARNING`]
    /// before it, an ERROR line a day once it has passed.
    pub(super) fn check_roster_expiry(&self, now: u64) {
        let (version, until) = {
            let m = self.read_members();
            (m.version, m.valid_until)
        };
        let state = expiry(until, now);
        if state == Expiry::Valid {
            return;
        }
        // Said at once when the state changes (soon, then expired), then
        // once a day.
        let due = match self.inner.expiry_warned.lock() {
            Ok(mut last) => {
                let due = last
                    .is_none_or(|(t, was)| was != state_kind(state) || t.elapsed() >= WARN_EVERY);
                if due {
                    *last = Some((Instant::now(), state_kind(state)));
                }
                due
            }
            Err(_) => false,
        };
        if !due {
            return;
        }
        match state {
            Expiry::Soon(left) => tracing::warn!(
                version,
                days_left = left / 86_400,
                "the roster expires soon; ask the regional organisation for the next one and install it with `tracenet roster install FILE`"
            ),
            Expiry::Expired => tracing::error!(
                version,
                "the roster has expired: no query or answer is accepted until the next roster is installed with `tracenet roster install FILE`"
            ),
            Expiry::Valid => {}
        }
    }
}

/// The kind of an expiry state, without its seconds.
fn state_kind(e: Expiry) -> u8 {
    match e {
        Expiry::Valid => 0,
        Expiry::Soon(_) => 1,
        Expiry::Expired => 2,
    }
}

pub(super) fn load_members(data_dir: &Path, trust: &TrustConfig) -> Result<Members, NodeError> {
    match roster::load_held(data_dir, trust, Date::today()) {
        Ok(Some(r)) => Ok(members_of(&r)),
        Ok(None) => Err(NodeError::Roster(format!(
            "no roster in {}; install one signed by your trust anchors with `tracenet roster install FILE`",
            data_dir.display()
        ))),
        Err(e @ RosterError::Dates { .. }) => Err(NodeError::Roster(format!(
            "the roster in {}: {e} (`tracenet roster install FILE`, with the node stopped too); meanwhile the stored traces, inbox, alerts, audit log and reports can be read with the node stopped",
            data_dir.display()
        ))),
        // Signed and in force, but listing a key this build refuses (an
        // earlier build installed it): only a newer roster mends it.
        Err(e @ RosterError::Member { .. }) => Err(NodeError::Roster(format!(
            "the roster in {}: {e}; this build does not run under it (builds before 2026-12-07 (night) took some such keys): install a newer roster without it, which the regional organisation signs (`tracenet roster install FILE`, with the node stopped too)",
            data_dir.display()
        ))),
        Err(e) => Err(NodeError::Roster(format!(
            "the roster in {}: {e}",
            data_dir.display()
        ))),
    }
}

/// The node's membership view of a verified roster.
/// Which peers were offered the held roster ([`Node::offer_roster_on_peer_up`]).
#[derive(Debug, Default)]
pub(super) struct RosterOffers {
    /// The roster version offered; another version starts afresh.
    version: u64,
    offered: std::collections::HashSet<PeerId>,
    /// When the last offer was made, or is to be made.
    last: Option<Instant>,
    /// Whether an offer waits for the gap to pass: peers connecting in the
    /// meantime are offered the roster by it.
    scheduled: bool,
}

impl RosterOffers {
    /// When `peer`, just connected, is to be offered `version`: now
    /// (`Some(ZERO)`), once the gap since the last offer has passed, or not
    /// at all (offered to it already, or by an offer already waiting). An
    /// offer returned is counted.
    fn due_for(&mut self, peer: PeerId, version: u64, now: Instant) -> Option<Duration> {
        if self.version != version {
            self.version = version;
            self.offered.clear();
        }
        if !self.offered.insert(peer) || self.scheduled {
            return None;
        }
        let wait = self.last.map_or(Duration::ZERO, |t| {
            (t + ROSTER_OFFER_GAP).saturating_duration_since(now)
        });
        self.scheduled = !wait.is_zero();
        self.last = Some(now + wait);
        Some(wait)
    }
}

pub(super) fn members_of(roster: &Roster) -> Members {
    let mut m = Members {
        version: roster.version(),
        valid_until: roster.valid_until_unix(),
        gossip_validation: roster.body().gossip_validation,
        peer_connections: roster.body().peer_connections,
        served_lists: roster.body().served_lists,
        ..Members::default()
    };
    for member in roster.members() {
        let Some(peer) = identity::peer_id_of(&member.key) else {
            continue;
        };
        m.by_peer.insert(
            peer,
            MemberInfo {
                state: member.state,
                name: member.name.clone(),
                key: member.key,
                addrs: member
                    .addresses
                    .iter()
                    .filter_map(|a| a.parse().ok())
                    .collect(),
                bootstrap: member.role == roster::Role::Bootstrap,
                prefixes: member.prefixes.clone(),
                oprf_key: member.oprf_key,
            },
        );
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_roster_version_is_offered_once_per_peer_and_not_in_a_burst() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let t0 = Instant::now();
        let c = PeerId::random();
        let gap = ROSTER_OFFER_GAP;
        let mut o = RosterOffers::default();
        assert_eq!(o.due_for(a, 1, t0), Some(Duration::ZERO));
        // Offered to a already.
        assert_eq!(o.due_for(a, 1, t0 + gap * 2), None);
        // b connects within the gap: offered once it has passed, by one
        // offer that c, connecting meanwhile, shares (the reconnections of
        // a whole federation give one offer or two).
        assert_eq!(o.due_for(b, 1, t0 + gap / 2), Some(gap / 2));
        assert_eq!(o.due_for(c, 1, t0 + gap / 2), None);
        o.scheduled = false;
        // A new version is offered to every peer again, once: a peer
        // connecting again and again later is not offered it again.
        assert_eq!(o.due_for(a, 2, t0 + gap * 2), Some(Duration::ZERO));
        for i in 3..10 {
            assert_eq!(o.due_for(a, 2, t0 + gap * i), None);
        }
    }

    #[test]
    fn expiry_warns_from_fourteen_days_and_refuses_after() {
        let until = 1_000_000_000;
        assert_eq!(expiry(until, until - 15 * 86_400), Expiry::Valid);
        assert_eq!(
            expiry(until, until - 14 * 86_400),
            Expiry::Soon(14 * 86_400)
        );
        assert_eq!(expiry(until, until), Expiry::Soon(0));
        assert_eq!(expiry(until, until + 1), Expiry::Expired);
    }

    #[test]
    fn members_vouch_for_member_keys_only_while_in_force() {
        use crate::protocol::accept;
        let key = crate::protocol::SigningKey::from_seed(&[3; 32]).unwrap();
        let peer = identity::peer_id_of(&key.public_key()).unwrap();
        let de = CountryCode::parse("DE").unwrap();
        let mut m = Members {
            version: 1,
            valid_until: 100,
            ..Members::default()
        };
        m.by_peer.insert(
            peer,
            MemberInfo {
                state: de,
                name: "DE".into(),
                key: key.public_key(),
                addrs: Vec::new(),
                bootstrap: false,
                prefixes: Vec::new(),
                oprf_key: None,
            },
        );
        assert_eq!(m.state_of(&key.public_key()), Some(de));
        let q = crate::protocol::vectors::query();
        let mut q = q;
        q.requester.key = key.public_key();
        q.requester.state = de;
        q.issued_at = 50;
        let s = crate::protocol::sign(q, &key).unwrap();
        let rules = crate::protocol::Rules::default();
        assert!(accept::query(s.bytes(), accept::Via::Gossip, 60, &rules, &m).is_ok());
        // The same roster, a second past its validity: refused while running.
        assert_eq!(
            accept::query(s.bytes(), accept::Via::Gossip, 101, &rules, &m).unwrap_err(),
            crate::protocol::Refusal::RosterExpired
        );
        m.by_peer.values_mut().for_each(|i| i.bootstrap = true);
        assert_eq!(m.state_of(&key.public_key()), None);
    }
}

#[cfg(test)]
mod verdict_tests {
    use super::*;

    #[test]
    fn only_a_roster_that_is_not_one_scores_its_relay_down() {
        let d = |s: &str| s.parse::<Date>().unwrap();
        let not_yet = InstallRosterError::Rejected(RosterError::Dates {
            version: 2,
            from: d("2026-12-02"),
            until: d("2027-12-02"),
            on: d("2026-12-01"),
        });
        assert_eq!(roster_verdict(&Err(not_yet)), Verdict::Ignore);
        let store = InstallRosterError::Store("disk full".into());
        assert_eq!(roster_verdict(&Err(store)), Verdict::Ignore);
        let forged = InstallRosterError::Rejected(RosterError::Threshold {
            found: 0,
            needed: 1,
        });
        assert_eq!(roster_verdict(&Err(forged)), Verdict::Reject);
        let junk = InstallRosterError::Unreadable("not JSON".into());
        assert_eq!(roster_verdict(&Err(junk)), Verdict::Reject);
        assert_eq!(roster_verdict(&Ok(true)), Verdict::Accept);
        assert_eq!(roster_verdict(&Ok(false)), Verdict::Ignore);
    }
}
