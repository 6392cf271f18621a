//! Which members a node keeps a connection to (`keep`: the roster's
//! `peer_connections`, else the node's `node.peer_connections`).
//!
//! In a federation of at most `keep + 1` members every node keeps a
//! connection to every other one (a full mesh). In a larger one a full mesh
//! costs every node a connection, a gossipsub heartbeat entry and a few
//! keep-alives per member (199 connections at 200 States); instead each node
//! *dials* `keep / 2` members and keeps the links others dial to it, about
//! `keep` in all:
//! - its `keep / 4` successors on a ring of the members ordered by the
//!   SHA-256 of their peer ids, so that the links of the members online form
//!   one connected graph over which the roster, the maker table and trace
//!   gossip spread;
//! - the rest by a hash of its own peer id and the member's (chords: few
//!   hops between any two members). A member that picks its key before the
//!   roster lists it can place itself on the ring, so becoming a chosen
//!   node's successor takes a few hundred key draws; it cannot remove that
//!   node's other links;
//! - and every bootstrap peer, which in turn keeps a link to every member
//!   (it serves the roster and the addresses Kademlia hands out).
//!
//! The choice is a pure function of the roster and `keep`, so two ends with
//! the same roster version and the same `keep` (the roster's, whenever it
//! states one) agree
//! whether a link is kept ([`Links::keeps`]). A node prunes a link neither
//! end chose, and that it opened itself, once it has carried no request for
//! [`LINK_IDLE`], and does not report it down (it was opened on demand, for
//! one trace or one answer); a link the other end opened is the other end's
//! to close, so that ends whose plans differ do not close and redial each
//! other's links in turn. A holder that is not linked is asked directly:
//! the request dials it.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// How long a link opened on demand (a direct query, an answer) stays open
/// without a request before it is pruned.
pub const LINK_IDLE: Duration = Duration::from_secs(60);

/// The smallest `node.peer_connections` a node accepts, and the smallest a
/// roster may state: below it a ring of one successor and no chord would
/// split when two members are offline.
pub const MIN_KEEP: usize = crate::roster::MIN_PEER_CONNECTIONS;

/// The links a node keeps, worked out from the roster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    /// Members this node dials and keeps a connection to.
    pub dial: HashSet<PeerId>,
    /// Members that dial this node; it keeps their links too.
    pub accept: HashSet<PeerId>,
    /// Whether the federation is larger than the full mesh this node keeps.
    pub bounded: bool,
}

impl Links {
    /// Whether the link to `peer` is one of the kept ones (either end chose
    /// it); an on-demand link is not.
    pub fn keeps(&self, peer: &PeerId) -> bool {
        self.dial.contains(peer) || self.accept.contains(peer)
    }

    /// How many links this node keeps.
    pub fn len(&self) -> usize {
        self.dial.union(&self.accept).count()
    }

    pub fn is_empty(&self) -> bool {
        self.dial.is_empty() && self.accept.is_empty()
    }

    /// Of the `connected` peers, the links to prune at `now`: not kept, no
    /// request in flight on them (`busy`), and none for [`LINK_IDLE`]
    /// (`last_request`; a link that never carried one counts as idle).
    /// Nothing in a full mesh.
    pub fn idle(
        &self,
        connected: &[PeerId],
        busy: &HashSet<PeerId>,
        last_request: &HashMap<PeerId, Instant>,
        now: Instant,
    ) -> Vec<PeerId> {
        if !self.bounded {
            return Vec::new();
        }
        connected
            .iter()
            .filter(|p| !self.keeps(p) && !busy.contains(p))
            .filter(|p| {
                last_request
                    .get(p)
                    .is_none_or(|t| now.saturating_duration_since(*t) >= LINK_IDLE)
            })
            .copied()
            .collect()
    }
}

/// Whether a node whose roster lists `others` members besides itself keeps
/// links to some of them only, under `keep` (as [`plan`] decides).
pub fn bounded(others: usize, keep: usize) -> bool {
    others > keep.max(MIN_KEEP)
}

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"tracenet links v1\n");
    for p in parts {
        ctx.update(&(p.len() as u32).to_be_bytes());
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The members `from` dials: ring successors and chords (bootstrap peers
/// apart). `ring` is every non-bootstrap member in ring order, `at` the
/// position of each in it. A chord is the member a hashed distance along
/// the ring: a few hashes a member, so planning a whole roster stays cheap.
fn dials_of(
    from: &PeerId,
    ring: &[PeerId],
    at: &HashMap<PeerId, usize>,
    keep: usize,
) -> Vec<PeerId> {
    let n = ring.len();
    let Some(&i) = at.get(from) else {
        return Vec::new();
    };
    if n < 2 {
        return Vec::new();
    }
    let out = (keep / 2).max(2).min(n - 1);
    let successors = (out / 2).max(1);
    let mut chosen: Vec<PeerId> = (1..=successors).map(|k| ring[(i + k) % n]).collect();
    let me = from.to_bytes();
    // Tries are bounded: a collision takes another hash, at most 8 a chord.
    for j in 0..(out as u32) * 8 {
        if chosen.len() >= out {
            break;
        }
        let h = digest(&[&me, &j.to_be_bytes()]);
        let mut eight = [0u8; 8];
        eight.copy_from_slice(&h[..8]);
        let off = 1 + (u64::from_be_bytes(eight) % (n as u64 - 1)) as usize;
        let p = ring[(i + off) % n];
        if p != *from && !chosen.contains(&p) {
            chosen.push(p);
        }
    }
    chosen
}

/// The links `me` keeps among `members` (the roster's peers, `me` among
/// them or not), of which `bootstrap` are bootstrap peers, with about
/// `keep` links a node. Costs a few hashes per member: run on roster
/// changes, not per message.
pub fn plan(me: &PeerId, members: &[PeerId], bootstrap: &HashSet<PeerId>, keep: usize) -> Links {
    let keep = keep.max(MIN_KEEP);
    let others: HashSet<PeerId> = members.iter().filter(|p| *p != me).copied().collect();
    let everyone = |bounded| Links {
        dial: others.clone(),
        accept: HashSet::new(),
        bounded,
    };
    if !bounded(others.len(), keep) {
        return everyone(false);
    }
    // A bootstrap peer is linked to every member.
    if bootstrap.contains(me) {
        return Links {
            dial: HashSet::new(),
            accept: others,
            bounded: true,
        };
    }
    let mut ring: Vec<([u8; 32], PeerId)> = members
        .iter()
        .chain(std::iter::once(me))
        .filter(|p| !bootstrap.contains(p))
        .collect::<HashSet<_>>()
        .into_iter()
        .map(|p| (digest(&[&p.to_bytes()]), *p))
        .collect();
    ring.sort_unstable();
    let ring: Vec<PeerId> = ring.into_iter().map(|(_, p)| p).collect();
    let at: HashMap<PeerId, usize> = ring.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let mut dial: HashSet<PeerId> = dials_of(me, &ring, &at, keep).into_iter().collect();
    dial.extend(others.iter().filter(|p| bootstrap.contains(p)));
    let accept = ring
        .iter()
        .filter(|p| *p != me && !dial.contains(p))
        .filter(|p| dials_of(p, &ring, &at, keep).contains(me))
        .copied()
        .collect();
    Links {
        dial,
        accept,
        bounded: true,
    }
}

/// The entries of a roster that [`roster_note`] reads.
#[derive(Debug, Clone, Copy)]
pub struct RosterShape {
    /// Every entry, bootstrap peers included.
    pub members: usize,
    /// Bootstrap peers among them.
    pub bootstrap: usize,
    /// Members (not bootstrap peers) the roster gives no address.
    pub unaddressed: usize,
    /// Its `peer_connections`, if it states one.
    pub stated: Option<u32>,
    /// Whether it states served lists (queries name the States served).
    pub served_lists: bool,
}

/// What to tell whoever edits or reads a roster whose stated links bound a
/// federation the default ([`super::DEFAULT_PEER_CONNECTIONS`]) would keep a
/// full mesh: there every holder relays each query to its gossip mesh, a
/// copy a full mesh spares the others (NETWORK.md, "Gossip mesh"). A first
/// roster made by a build before the default became 64 states 48, which
/// bounds the links from 50 members on. `None` when the roster states no
/// links, when they make a full mesh, when the federation is larger than
/// the default's full mesh, or when two or more members have no address
/// (never taken as a full mesh: they cannot dial each other). `file` is
/// the roster's path as the command the note gives should write it
/// (quoted for a shell where it needs to be).
pub fn roster_note(r: RosterShape, file: &str) -> Option<String> {
    let stated = r.stated? as usize;
    let others = r.members.saturating_sub(1);
    let default = super::DEFAULT_PEER_CONNECTIONS;
    if !bounded(others, stated) || bounded(others, default) || r.unaddressed >= 2 {
        return None;
    }
    let included = if r.bootstrap > 0 {
        " (bootstrap peers included)"
    } else {
        ""
    };
    let relays = if r.served_lists {
        "queries name the States their requester served and holders relay toward the others"
    } else {
        "every holder relays each query to its gossip mesh"
    };
    Some(format!(
        "note: this roster states peer_connections {stated} for {} members{included}, so each node keeps links to some of them only and {relays}; `tracenet roster set-peer-connections {file} {default}` (then sign it again) makes the federation a full mesh, where the requester reaches every holder linked to it and no holder relays its copy: about a third less CPU a trace at 50 States (proto-docs/NETWORK.md, \"Links kept\")",
        r.members
    ))
}

/// [`plan`] from the roster's bootstrap peers, then the members this node's
/// own configuration names as bootstrap peers (`node.bootstrap`) dialled
/// and kept too. Planning them as bootstrap peers would take them off this
/// node's ring and move every successor and chord it dials, so that the
/// links the other members plan with it (from the roster alone) would no
/// longer be the ones it keeps.
pub fn plan_with_own(
    me: &PeerId,
    members: &[PeerId],
    bootstrap: &HashSet<PeerId>,
    own_bootstrap: &HashSet<PeerId>,
    keep: usize,
) -> Links {
    let mut links = plan(me, members, bootstrap, keep);
    for p in own_bootstrap {
        if p != me && !links.keeps(p) && members.contains(p) {
            links.dial.insert(*p);
        }
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    fn peers(n: usize) -> Vec<PeerId> {
        (0..n).map(|_| PeerId::random()).collect()
    }

    fn plans(members: &[PeerId], boot: &HashSet<PeerId>, keep: usize) -> HashMap<PeerId, Links> {
        members
            .iter()
            .map(|p| (*p, plan(p, members, boot, keep)))
            .collect()
    }

    /// The members reachable from the first over kept links, skipping `down`.
    fn reachable(all: &HashMap<PeerId, Links>, from: PeerId, down: &HashSet<PeerId>) -> usize {
        let mut seen = HashSet::from([from]);
        let mut q = VecDeque::from([from]);
        while let Some(p) = q.pop_front() {
            for n in all[&p].dial.iter().chain(&all[&p].accept) {
                if !down.contains(n) && seen.insert(*n) {
                    q.push_back(*n);
                }
            }
        }
        seen.len()
    }

    #[test]
    fn a_federation_within_the_bound_is_a_full_mesh() {
        let m = peers(9);
        let l = plan(&m[0], &m, &HashSet::new(), 8);
        assert!(!l.bounded);
        assert_eq!(l.len(), 8);
        assert!(m[1..].iter().all(|p| l.keeps(p)));
        assert!(!bounded(8, 8) && bounded(9, 8));
    }

    /// The default keeps every regional organisation a full mesh (the
    /// African Union's 55 States or the OSCE's 57, with bootstrap peers), so
    /// that no holder relays the requester's own copy there; the UN's 193
    /// keep bounded links, each node well under its connection budget.
    #[test]
    fn the_default_keeps_a_regional_federation_a_full_mesh_and_200_states_bounded() {
        use crate::net::DEFAULT_PEER_CONNECTIONS as KEEP;
        let m = peers(57 + 3);
        let boot: HashSet<PeerId> = m[57..].iter().copied().collect();
        let l = plan(&m[0], &m, &boot, KEEP);
        assert!(!l.bounded);
        assert_eq!(l.len(), 59);
        assert!(!bounded(64, KEEP) && bounded(65, KEEP));

        let m = peers(200);
        let all = plans(&m, &HashSet::new(), KEEP);
        let mut sizes: Vec<usize> = all.values().map(Links::len).collect();
        sizes.sort_unstable();
        assert!(all.values().all(|l| l.bounded && l.dial.len() == KEEP / 2));
        // Dialled 32 and the chords of others that land on it: about 64 in
        // all, under a quarter of the 512 connections a node admits.
        let median = sizes[sizes.len() / 2];
        assert!((56..=72).contains(&median), "median {median}: {sizes:?}");
        assert!(sizes[sizes.len() - 1] <= 100, "{sizes:?}");
    }

    /// A roster stating links that bound a federation the default keeps a
    /// full mesh says so, with the command that changes it; none otherwise.
    #[test]
    fn a_roster_whose_links_bound_a_regional_federation_gets_a_note() {
        let shape = |members: usize, stated: Option<u32>| RosterShape {
            members,
            bootstrap: 2,
            unaddressed: 0,
            stated,
            served_lists: false,
        };
        let note = roster_note(shape(52, Some(48)), "r.json").expect("a note");
        assert!(note.contains("every holder relays each query"), "{note}");
        let served = RosterShape {
            served_lists: true,
            ..shape(52, Some(48))
        };
        let note = roster_note(served, "r.json").expect("a note");
        assert!(
            note.contains("holders relay toward the others")
                && !note.contains("every holder relays"),
            "{note}"
        );
        assert!(
            note.contains("peer_connections 48 for 52 members (bootstrap peers included)"),
            "{note}"
        );
        assert!(
            note.contains("`tracenet roster set-peer-connections r.json 64` (then sign it again)"),
            "{note}"
        );
        let none = RosterShape {
            bootstrap: 0,
            ..shape(7, Some(4))
        };
        let note = roster_note(none, "r.json").expect("a note");
        assert!(note.contains("for 7 members, so"), "{note}");
        // A full mesh already, no links stated, too large for the default's
        // full mesh, or never a full mesh (two members without an address).
        assert!(roster_note(shape(49, Some(48)), "r.json").is_none());
        assert!(roster_note(shape(52, None), "r.json").is_none());
        assert!(roster_note(shape(52, Some(64)), "r.json").is_none());
        assert!(roster_note(shape(66, Some(48)), "r.json").is_none());
        assert!(roster_note(shape(65, Some(48)), "r.json").is_some());
        let unaddressed = RosterShape {
            unaddressed: 2,
            ..shape(52, Some(48))
        };
        assert!(roster_note(unaddressed, "r.json").is_none());
    }

    /// A member named a bootstrap peer in one node's own configuration only
    /// is dialled and kept by that node, which keeps every link the others
    /// plan with it all the same.
    #[test]
    fn a_bootstrap_peer_of_ones_own_configuration_leaves_the_plan_as_the_roster_says() {
        let m = peers(60);
        let all = plans(&m, &HashSet::new(), 8);
        let me = m[0];
        let own: HashSet<PeerId> = m[1..4].iter().copied().collect();
        let l = plan_with_own(&me, &m, &HashSet::new(), &own, 8);
        assert!(own.iter().all(|p| l.keeps(p)));
        for (p, other) in &all {
            if other.keeps(&me) {
                assert!(
                    l.keeps(p),
                    "{p} plans a link with this node that it does not keep"
                );
            }
        }
        assert!(all[&me].dial.is_subset(&l.dial) && all[&me].accept == l.accept);
        // Planned as bootstrap peers, they would have moved the ring.
        let moved = plan(&me, &m, &own, 8);
        assert!(
            all.iter()
                .any(|(p, other)| other.keeps(&me) && !moved.keeps(p))
                || all[&me].dial != moved.dial.difference(&own).copied().collect(),
            "the test's members happened to leave the ring unmoved"
        );
    }

    #[test]
    fn both_ends_agree_on_every_kept_link() {
        let m = peers(60);
        let all = plans(&m, &HashSet::new(), 8);
        for (p, l) in &all {
            for q in l.dial.iter().chain(&l.accept) {
                assert!(all[q].keeps(p), "{q} does not keep the link {p} keeps");
            }
            assert!(!l.keeps(p), "a node never links to itself");
        }
    }

    #[test]
    fn two_hundred_states_keep_few_links_and_stay_connected() {
        let m = peers(200);
        let boot: HashSet<PeerId> = m[..1].iter().copied().collect();
        let all = plans(&m, &boot, 16);
        let mut most = 0;
        for (p, l) in &all {
            assert!(l.bounded);
            if boot.contains(p) {
                assert_eq!(l.len(), 199, "a bootstrap peer keeps every member");
                continue;
            }
            assert_eq!(l.dial.len(), 8 + 1, "8 chosen and the bootstrap peer");
            assert!(l.keeps(&m[0]));
            most = most.max(l.len());
        }
        // The in-degree of hashed chords is binomial: about 16, seldom 30.
        assert!(most <= 32, "a node keeps {most} links");
        // Without the bootstrap peer and with a tenth of the members offline,
        // the others still reach each other.
        let mut down: HashSet<PeerId> = boot.clone();
        down.extend(m[1..].iter().step_by(10).copied());
        let from = *m.iter().find(|p| !down.contains(p)).unwrap();
        assert_eq!(reachable(&all, from, &down), 200 - down.len());
    }

    #[test]
    fn only_idle_links_opened_on_demand_are_pruned() {
        let m = peers(20);
        let l = plan(&m[0], &m, &HashSet::new(), 4);
        let kept: Vec<PeerId> = l.dial.iter().copied().collect();
        let others: Vec<PeerId> = m[1..].iter().filter(|p| !l.keeps(p)).copied().collect();
        let (recent, old, in_flight, never) = (others[0], others[1], others[2], others[3]);
        let t0 = Instant::now();
        let now = t0 + LINK_IDLE + Duration::from_secs(5);
        let last: HashMap<PeerId, Instant> = [
            (recent, now - Duration::from_secs(10)),
            (old, t0),
            (in_flight, t0),
            (kept[0], t0),
        ]
        .into();
        let busy = HashSet::from([in_flight]);
        let connected = [kept[0], kept[1], recent, old, in_flight, never];
        let mut pruned = l.idle(&connected, &busy, &last, now);
        pruned.sort();
        let mut want = vec![old, never];
        want.sort();
        assert_eq!(pruned, want);
        // A full mesh prunes nothing.
        let mesh = plan(&m[0], &m[..5], &HashSet::new(), 4);
        assert!(mesh.idle(&connected, &busy, &last, now).is_empty());
    }

    #[test]
    fn the_plan_does_not_depend_on_the_order_of_the_roster() {
        let m = peers(40);
        let mut r = m.clone();
        r.reverse();
        let none = HashSet::new();
        assert_eq!(plan(&m[3], &m, &none, 8), plan(&m[3], &r, &none, 8));
    }

    #[test]
    fn a_node_outside_the_roster_plans_from_the_members() {
        // A node starting before the roster lists it still dials members.
        let m = peers(30);
        let me = PeerId::random();
        let l = plan(&me, &m, &HashSet::new(), 8);
        assert!(l.bounded);
        assert_eq!(l.dial.len(), 4);
    }
}
