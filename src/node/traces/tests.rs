//! The trace store: answers filed apart from the trace's head, each verified
//! once on receipt; views read the verdicts and never verify again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::*;
use crate::node::members::{MemberInfo, Members};
use crate::node::{Judge, trace_status};
use crate::protocol::accept::{self, AskedQuery};
use crate::protocol::{
    Digest, Limits, Outcome, Rules, SigningKey, TraceAnswer, sign, vectors, verified_on_this_thread,
};

fn cc(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}

const STATES: [&str; 12] = [
    "DE", "FR", "GH", "KE", "IT", "BE", "AT", "PL", "SN", "CI", "ML", "BR",
];

struct Holder {
    key: SigningKey,
    peer: libp2p::PeerId,
    state: CountryCode,
}

fn holders() -> Vec<Holder> {
    STATES
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let key = SigningKey::from_seed(&[i as u8 + 1; 32]).unwrap();
            let peer = crate::identity::peer_id_of(&key.public_key()).unwrap();
            Holder {
                key,
                peer,
                state: cc(s),
            }
        })
        .collect()
}

fn members(hs: &[Holder]) -> Members {
    Members {
        version: 1,
        valid_until: u64::MAX,
        gossip_validation: None,
        peer_connections: None,
        served_lists: false,
        by_peer: hs
            .iter()
            .map(|h| {
                let m = MemberInfo {
                    state: h.state,
                    name: h.state.to_string(),
                    key: h.key.public_key(),
                    addrs: Vec::new(),
                    bootstrap: false,
                    prefixes: Vec::new(),
                    oprf_key: None,
                };
                (h.peer, m)
            })
            .collect::<HashMap<_, _>>(),
        rederived: HashMap::new(),
    }
}

fn new_trace(query: Vec<u8>, hs: &[Holder]) -> StoredTrace {
    StoredTrace {
        id: "0123456789abcdef0123456789abcdef".into(),
        created_at: vectors::ISSUED_AT,
        created_at_ms: None,
        deadline: vectors::ISSUED_AT + 3600,
        query,
        topics: Vec::new(),
        asked: hs
            .iter()
            .map(|h| Asked::new(h.peer.to_string(), h.state, ExpectedBy::Subscribed))
            .collect(),
        answers: Vec::new(),
        local: LocalCase::default(),
        first_ack: Default::default(),
        final_at: Default::default(),
        followed_up: Vec::new(),
        own_registry: None,
        nobody_holds: false,
        timeout_secs: None,
        filed: Vec::new(),
        blind: None,
    }
}

#[test]
fn answers_are_verified_once_on_receipt_and_never_by_the_views() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = TraceStore::open(&db).unwrap();
    let hs = holders();
    let roster = members(&hs);
    let query = signed_query();
    let digest = Digest::of(&query);
    let t = new_trace(query, &hs);
    store.put(&t).unwrap();
    let now = vectors::ISSUED_AT + 10;
    let rules = Rules::default();

    let before = verified_on_this_thread();
    for (i, h) in hs.iter().enumerate() {
        let mut body: TraceAnswer = vectors::answer(digest);
        body.responder.state = h.state;
        body.responder.key = h.key.public_key();
        body.answered_at = now;
        // One holder in three has a record; the others none.
        if i % 3 != 0 {
            body.outcome = Outcome::NoHit;
        }
        let frame = sign(body, &h.key).unwrap().into_parts().0;
        // What `Node::on_answer` does on receipt: one check, then filing.
        let asked = AskedQuery {
            digest,
            issued_at: t.created_at,
            ttl_secs: 3600,
        };
        let a = accept::answer(
            &frame,
            asked,
            Some(h.key.public_key()),
            now,
            &rules,
            &roster,
        )
        .unwrap();
        let verdict = Filed::of_frame(&h.peer.to_string(), &frame, Limits::default()).unwrap();
        assert_eq!(verdict.said, Said::of(&a.body().outcome));
        let answer = StoredAnswer {
            peer: h.peer.to_string(),
            received_at: now,
            bytes: frame,
            roster_version: Some(1),
        };
        let filed = store
            .file_answer(
                &t.id,
                &answer,
                |_| true,
                |t| {
                    t.filed.push(verdict.clone());
                    t.final_at.insert(h.peer.to_string(), now);
                },
            )
            .unwrap();
        assert!(filed.is_some());
    }
    let n = hs.len() as u64;
    assert_eq!(
        verified_on_this_thread() - before,
        n,
        "one check per answer"
    );

    let judge = Judge {
        data_dir: dir.path().to_path_buf(),
        trust: Default::default(),
        state: cc("NG"),
        limits: Limits::default(),
        members: roster.clone().into(),
    };
    // A view's work copies no roster: the judge and the rosters it builds
    // share one snapshot, so a view does not grow with the federation.
    let copied = crate::node::members::members_copied_on_this_thread();
    for _ in 0..5 {
        let full = store.get(&t.id).unwrap().unwrap();
        assert_eq!(full.answers.len(), hs.len());
        assert_eq!(full.filed.len(), hs.len());
        let head = store.head(&t.id).unwrap().unwrap();
        assert!(head.answers.is_empty());
        assert_eq!(
            trace_status(&head, now, Limits::default()),
            TraceStatus::Answered
        );
        assert_eq!(
            trace_status(&full, now, Limits::default()),
            TraceStatus::Answered
        );
        let custody = judge.custody_of(&full);
        assert!(!custody.chain.is_empty(), "{custody:?}");
        // What a trace's view does for each answer (in `api`, above this
        // wall): judge its key by the roster it was received under.
        let rosters = crate::node::members::PastRosters::new(
            dir.path(),
            &Default::default(),
            judge.shared_members(),
        );
        assert!(std::ptr::eq(rosters.current(), judge.members()));
        for (a, h) in full.answers.iter().zip(&hs) {
            let b = crate::node::decode_stored::<TraceAnswer>(&a.bytes, Limits::default()).unwrap();
            let vouch = rosters.vouch(a.roster_version, &b.responder.key, b.responder.state);
            assert!(
                matches!(vouch, crate::node::members::Vouch::Listed { peer, .. } if peer == h.peer),
                "{vouch:?}"
            );
        }
        let (page, _) = store.page(None, 10).unwrap();
        assert_eq!(page.len(), 1);
    }
    assert_eq!(
        verified_on_this_thread() - before,
        n,
        "views and reads verified an answer again"
    );
    assert_eq!(
        crate::node::members::members_copied_on_this_thread() - copied,
        0,
        "views copied the roster's members"
    );
}

#[test]
fn filing_an_answer_does_not_rewrite_the_answers_before_it() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = TraceStore::open(&db).unwrap();
    let hs = holders();
    let t = new_trace(Vec::new(), &hs);
    store.put(&t).unwrap();
    let head_len = || {
        db.open_tree("traces")
            .unwrap()
            .get(t.id.as_bytes())
            .unwrap()
            .unwrap()
            .len()
    };
    let empty = head_len();
    for h in &hs {
        let answer = StoredAnswer {
            peer: h.peer.to_string(),
            received_at: 1,
            bytes: vec![7; 2_000],
            roster_version: Some(1),
        };
        store
            .file_answer(&t.id, &answer, |_| true, |_| {})
            .unwrap()
            .unwrap();
    }
    // The head stays as small as it was: the frames are in their own tree.
    assert_eq!(head_len(), empty);
    let got = store.get(&t.id).unwrap().unwrap();
    let peers: Vec<String> = got.answers.iter().map(|a| a.peer.clone()).collect();
    let want: Vec<String> = hs.iter().map(|h| h.peer.to_string()).collect();
    assert_eq!(peers, want, "answers in the order they were filed");
    // A refused answer is not written at all.
    let extra = StoredAnswer {
        peer: "x".into(),
        received_at: 2,
        bytes: vec![1],
        roster_version: None,
    };
    assert!(
        store
            .file_answer(&t.id, &extra, |_| false, |_| {})
            .unwrap()
            .is_none()
    );
    assert_eq!(store.get(&t.id).unwrap().unwrap().answers.len(), hs.len());
}

#[test]
fn a_store_with_answers_inside_its_traces_is_rewritten_once_at_open() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let hs = holders();
    let query = signed_query();
    let digest = Digest::of(&query);
    let mut t = new_trace(query, &hs);
    let mut body = vectors::answer(digest);
    body.responder.key = vectors::responder_key().public_key();
    let frame = sign(body, &vectors::responder_key())
        .unwrap()
        .into_parts()
        .0;
    t.answers.push(StoredAnswer {
        peer: hs[0].peer.to_string(),
        received_at: 5,
        bytes: frame,
        roster_version: Some(1),
    });
    let store = open_with_the_layout_before(&db, &t);
    let got = store.get(&t.id).unwrap().unwrap();
    assert_eq!(got.answers, t.answers);
    assert_eq!(got.filed.len(), 1);
    assert!(got.filed[0].said.is_final());
    assert!(store.head(&t.id).unwrap().unwrap().answers.is_empty());
    assert_eq!(store.list().unwrap().len(), 1);
    // Opened again: nothing moves twice.
    drop(store);
    let store = TraceStore::open(&db).unwrap();
    assert_eq!(store.get(&t.id).unwrap().unwrap().answers.len(), 1);
}

#[test]
fn pages_go_back_in_time_from_a_cursor() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = TraceStore::open(&db).unwrap();
    for i in 0..25u64 {
        let mut t = new_trace(Vec::new(), &[]);
        t.id = format!("{:032x}", i * 7919 % 101);
        t.created_at = 1_000 + i / 2;
        store.put(&t).unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = store.page(cursor.as_ref(), 10).unwrap();
        assert!(page.len() <= 10);
        seen.extend(page.into_iter().map(|t| (t.created_at, t.id)));
        match next {
            Some(c) => cursor = Some(Cursor::parse(&c.to_text()).unwrap()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, none twice");
    assert!(Cursor::parse("12").is_none());
    assert!(Cursor::parse("x.ab").is_none());
    assert!(Cursor::parse("1.zz").is_none());
}

/// Traces sent in the same second are listed newest first by their
/// millisecond, not by id, also where a page ends inside that second; a
/// store whose time index had the second alone (layout 3) is indexed again
/// at open (a helper's trial: five traces sent in one second came back in
/// the order of their random ids).
#[test]
fn traces_of_the_same_second_are_listed_by_their_millisecond() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = TraceStore::open(&db).unwrap();
    // Ids descending as time goes on: listed by id, the order is reversed.
    let sent: Vec<StoredTrace> = (0..7u64)
        .map(|i| {
            let mut t = new_trace(Vec::new(), &[]);
            t.id = format!("{:032x}", 100 - i);
            t.created_at = 5_000;
            t.created_at_ms = Some(5_000_000 + i * 120);
            t
        })
        .collect();
    for t in &sent {
        store.put(t).unwrap();
    }
    let newest_first: Vec<String> = sent.iter().rev().map(|t| t.id.clone()).collect();
    let listed = |store: &TraceStore, per_page: usize| {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = store.page(cursor.as_ref(), per_page).unwrap();
            seen.extend(page.into_iter().map(|t| t.id));
            match next {
                Some(c) => cursor = Some(Cursor::parse(&c.to_text()).unwrap()),
                None => return seen,
            }
        }
    };
    assert_eq!(listed(&store, 100), newest_first);
    assert_eq!(
        listed(&store, 3),
        newest_first,
        "pages ending inside the second"
    );
    // A cursor of the right shape naming no trace of its second is refused,
    // not read as the top of that second (a helper's trial: a made-up one
    // listed the second again, without a word).
    for made_up in [
        format!("5000.{:032x}", 7),
        format!("5001.{}", sent[0].id),
        format!("4999.{}", sent[0].id),
    ] {
        let c = Cursor::parse(&made_up).unwrap();
        assert!(
            matches!(
                store.page(Some(&c), 3),
                Err(TraceStoreError::UnknownCursor(_))
            ),
            "{made_up}"
        );
    }
    // The reports' readers by second still find them all.
    let mut in_period = 0;
    store
        .for_each_created::<TraceStoreError>(5_000, 5_001, |_| {
            in_period += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(in_period, sent.len());

    // A store indexed by the second alone, as layout 3 wrote it.
    drop(store);
    let index = db.open_tree("traces_by_time").unwrap();
    index.clear().unwrap();
    for t in &sent {
        let mut k = t.created_at.to_be_bytes().to_vec();
        k.extend_from_slice(t.id.as_bytes());
        index.insert(k, &[]).unwrap();
    }
    db.open_tree("trace_store")
        .unwrap()
        .insert("layout", "3")
        .unwrap();
    let store = TraceStore::open(&db).unwrap();
    assert_eq!(listed(&store, 3), newest_first);
    assert_eq!(index.len(), sent.len(), "each trace indexed once");

    // An unreadable head does not stop the re-index, nor the node's start
    // (the index is cleared first: a review found one head stopped every
    // start for good); the rest are listed, and it is indexed as the oldest.
    drop(store);
    db.open_tree("traces")
        .unwrap()
        .insert("ffffffffffffffffffffffffffffffff", &b"{ half"[..])
        .unwrap();
    db.open_tree("trace_store")
        .unwrap()
        .insert("layout", "3")
        .unwrap();
    let store = TraceStore::open(&db).unwrap();
    assert_eq!(index.len(), sent.len() + 1);
    let (newest, _) = store.page(None, 3).unwrap();
    assert_eq!(
        newest.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
        newest_first[..3]
    );
}

/// A report reads the traces of its period one at a time by the time index,
/// `from` included and `to` not, oldest first; the console's months read
/// the index's instants alone.
#[test]
fn the_traces_of_a_period_are_read_one_at_a_time_by_the_time_index() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = TraceStore::open(&db).unwrap();
    for i in 0..12u64 {
        let mut t = new_trace(Vec::new(), &[]);
        t.id = format!("{:032x}", 11 - i);
        t.created_at = 1_000 + 10 * i;
        store.put(&t).unwrap();
    }
    let mut read = Vec::new();
    store
        .for_each_created(1_020, 1_060, |t| {
            read.push(t.created_at);
            Ok::<_, TraceStoreError>(())
        })
        .unwrap();
    assert_eq!(read, [1_020, 1_030, 1_040, 1_050]);
    let stopped = store.for_each_created(0, u64::MAX, |t| {
        if t.created_at == 1_010 {
            Err(TraceStoreError::Corrupt {
                id: t.id,
                reason: "stop here".into(),
            })
        } else {
            Ok(())
        }
    });
    assert!(stopped.is_err(), "the first error ends the walk");
    // Newest first, up to where the reader stops.
    let mut newest = Vec::new();
    store
        .created_newest_first(|at| {
            newest.push(at);
            newest.len() < 4
        })
        .unwrap();
    assert_eq!(newest, [1_110, 1_100, 1_090, 1_080]);
}

/// Peer events (connected, disconnected, a link closed) read only the
/// pending traces that still wait on the peer, found from memory, and the
/// maintenance minute only those that wait on anyone: the index of the
/// watched traces holds every holder a trace asked that has not answered
/// finally, and every blind holder whose probe has not ended, kept as
/// changes are written, and only those; a trace all of whose holders
/// answered finally is in neither list (pending as it stays until its
/// deadline); nothing is held of a trace no longer watched, nor of one
/// never watched.
#[test]
fn the_watched_traces_are_found_by_each_peer_they_wait_on_and_no_other() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = TraceStore::open(&db).unwrap();
    let hs = holders();
    let t = new_trace(Vec::new(), &hs[..3]);
    store.put(&t).unwrap();
    let unwatched = StoredTrace {
        id: "fedcba9876543210fedcba9876543210".into(),
        ..new_trace(Vec::new(), &hs)
    };
    store.put(&unwatched).unwrap();
    assert!(store.watch(&t.id).unwrap());
    assert!(!store.watch("no such trace").unwrap());
    let naming = |h: &Holder| store.watched_waiting_on(&h.peer.to_string());
    let only_t = vec![t.id.clone()];
    for h in &hs[..3] {
        assert_eq!(naming(h), only_t);
    }
    for h in &hs[3..] {
        assert!(naming(h).is_empty(), "{}", h.peer);
    }
    assert_eq!(store.watched_waiting(), only_t);
    // Asked later (a follow-up), it is waited on from then on.
    let later = hs[5].peer.to_string();
    store
        .update(&t.id, |t| {
            t.asked
                .push(Asked::new(later.clone(), hs[5].state, ExpectedBy::FollowUp))
        })
        .unwrap();
    assert_eq!(naming(&hs[5]), only_t);
    // A holder that acknowledged, or answered, without being asked is not
    // waited on; nor is anyone for a change of a trace not watched.
    let unasked = hs[6].peer.to_string();
    store
        .update(&t.id, |t| {
            t.first_ack.insert(unasked.clone(), 1);
        })
        .unwrap();
    assert!(naming(&hs[6]).is_empty());
    store
        .update(&unwatched.id, |t| {
            t.first_ack.insert(unasked.clone(), 1);
        })
        .unwrap();
    assert!(naming(&hs[6]).is_empty());
    let answered = hs[3].peer.to_string();
    store
        .update(&t.id, |t| {
            t.filed.push(Filed {
                peer: answered.clone(),
                state: hs[3].state,
                frame: "00".repeat(32),
                answered_at: 1,
                said: Said::Final,
            });
            t.final_at.insert(answered.clone(), 1);
        })
        .unwrap();
    assert!(naming(&hs[3]).is_empty());
    assert_eq!(store.watched_size(), (1, 4));
    // A blind trace's holder is waited on while its probe has not ended.
    let probed = hs[4].peer.to_string();
    let probe = |outcome| {
        let (probed, state) = (probed.clone(), hs[4].state);
        move |t: &mut StoredTrace| {
            t.blind = Some(crate::node::blind::BlindTrace {
                bound: 1,
                holders: vec![crate::node::blind::BlindHolder {
                    peer: probed.clone(),
                    state: Some(state),
                    outcome,
                    detail: None,
                    elements: 0,
                    received_marking: false,
                    at: None,
                }],
            })
        }
    };
    store
        .update(&t.id, probe(crate::node::blind::BlindOutcome::Pending))
        .unwrap();
    assert_eq!(naming(&hs[4]), only_t);
    assert_eq!(store.watched_size(), (1, 5));
    store
        .update(&t.id, probe(crate::node::blind::BlindOutcome::NoHit))
        .unwrap();
    assert!(naming(&hs[4]).is_empty());

    // An acknowledgement keeps a holder waited on; its final answer ends
    // the wait. Once every holder asked answered finally, the trace waits
    // on nobody: listed for no peer, and not among the traces waiting.
    let ack = hs[0].peer.to_string();
    store
        .update(&t.id, |t| {
            t.first_ack.insert(ack.clone(), 2);
        })
        .unwrap();
    assert_eq!(naming(&hs[0]), only_t);
    for h in [&hs[0], &hs[1], &hs[2], &hs[5]] {
        let p = h.peer.to_string();
        store
            .update(&t.id, |t| {
                t.final_at.insert(p.clone(), 3);
            })
            .unwrap();
        assert!(naming(h).is_empty(), "{p}");
    }
    assert_eq!(store.watched_size(), (1, 0));
    assert!(store.watched_waiting().is_empty());
    // Read again whole (a reopen, an evicted head), it stays so.
    let again = TraceStore::open(&db).unwrap();
    let head = std::sync::Arc::unwrap_or_clone(again.head(&t.id).unwrap().unwrap());
    again.watch_read(std::slice::from_ref(&head));
    assert_eq!(again.watched_size(), (1, 0));
    assert!(again.watched_waiting().is_empty());

    // No longer pending: nothing of it is left.
    store.unwatch(&t.id);
    assert_eq!(store.watched_size(), (0, 0));
    for h in &hs {
        assert!(naming(h).is_empty());
    }

    // A head that cannot be read is watched all the same, and listed for
    // every peer, and as waiting, until it can be.
    db.open_tree("traces")
        .unwrap()
        .insert("unreadable", b"not a head".as_slice())
        .unwrap();
    assert!(store.watch("unreadable").is_err());
    for h in &hs {
        assert_eq!(naming(h), ["unreadable".to_string()]);
    }
    assert_eq!(store.watched_waiting(), ["unreadable".to_string()]);
    store.unwatch("unreadable");
    assert!(naming(&hs[0]).is_empty());

    // At open, the heads just read are watched without a second read.
    let waiting = new_trace(Vec::new(), &hs[..2]);
    let waiting = StoredTrace {
        id: "00112233445566778899aabbccddeeff".into(),
        ..waiting
    };
    store.put(&waiting).unwrap();
    let again = TraceStore::open(&db).unwrap();
    let head = std::sync::Arc::unwrap_or_clone(again.head(&waiting.id).unwrap().unwrap());
    again.watch_read(std::slice::from_ref(&head));
    assert_eq!(
        again.watched_waiting_on(&hs[1].peer.to_string()),
        std::slice::from_ref(&waiting.id)
    );
    assert_eq!(again.watched_size(), (1, 2));
}

#[test]
fn a_trace_is_read_from_sled_once_and_every_change_is_kept_as_written() {
    let decoded = || store::HEADS_DECODED.with(|n| n.get());
    let db = sled::Config::new().temporary(true).open().unwrap();
    let hs = holders();
    let t = new_trace(Vec::new(), &hs);
    {
        let store = TraceStore::open(&db).unwrap();
        store.put(&t).unwrap();
    }
    // Another store on the same trees: nothing kept yet.
    let store = TraceStore::open(&db).unwrap();
    let before = decoded();
    // Read many times, decoded once.
    for _ in 0..10 {
        assert_eq!(store.head(&t.id).unwrap().unwrap().asked.len(), hs.len());
    }
    assert_eq!(decoded() - before, 1);
    // Updated and filed through the store: read back without decoding, as
    // written.
    store
        .update_unflushed(&t.id, |t| t.followed_up.push(cc("FR")))
        .unwrap();
    let answer = StoredAnswer {
        peer: hs[0].peer.to_string(),
        received_at: 7,
        bytes: vec![1, 2, 3],
        roster_version: Some(1),
    };
    store
        .file_answer(
            &t.id,
            &answer,
            |_| true,
            |t| {
                t.final_at.insert(hs[0].peer.to_string(), 7);
            },
        )
        .unwrap()
        .unwrap();
    // A refused filing changes nothing.
    assert!(
        store
            .file_answer(&t.id, &answer, |_| false, |t| t.deadline += 60)
            .unwrap()
            .is_none()
    );
    let head = store.head(&t.id).unwrap().unwrap();
    assert_eq!(head.followed_up, vec![cc("FR")]);
    assert_eq!(head.final_at.get(&hs[0].peer.to_string()), Some(&7));
    assert_eq!(head.deadline, t.deadline);
    assert_eq!(
        decoded() - before,
        1,
        "the store's own writes are kept decoded"
    );
    // What is kept is what is stored: a store opened afresh reads the same.
    let fresh = TraceStore::open(&db).unwrap();
    assert_eq!(*fresh.head(&t.id).unwrap().unwrap(), *head);
    assert_eq!(store.get(&t.id).unwrap().unwrap().answers.len(), 1);
    assert_eq!(fresh.get(&t.id).unwrap().unwrap().answers.len(), 1);
}

/// The stored records of trace `id`: its head, and each holder's part by
/// peer id.
fn records(db: &sled::Db, id: &str) -> (Vec<u8>, BTreeMap<String, Vec<u8>>) {
    let head = db.open_tree("traces").unwrap().get(id).unwrap().unwrap();
    let prefix = format!("{id}/");
    let parts = db
        .open_tree("trace_holders")
        .unwrap()
        .scan_prefix(prefix.as_bytes())
        .map(|kv| {
            let (k, v) = kv.unwrap();
            let peer = String::from_utf8(k[prefix.len()..].to_vec()).unwrap();
            (peer, v.to_vec())
        })
        .collect();
    (head.to_vec(), parts)
}

#[test]
fn filing_an_answer_writes_only_its_holders_part_whatever_the_holders_asked() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = TraceStore::open(&db).unwrap();
    let hs = holders();
    let query = signed_query();
    let t = new_trace(query.clone(), &hs);
    store.put(&t).unwrap();
    let mut sizes = Vec::new();
    let rolls = db.open_tree("trace_roll_calls").unwrap();
    let roll = rolls.get(&t.id).unwrap().expect("a roll call");
    for h in &hs {
        let (head, parts) = records(&db, &t.id);
        let a = signed_answer(h, &query, Outcome::NoHit);
        file_with_verdict(&store, &t.id, h, &a);
        let (head_after, parts_after) = records(&db, &t.id);
        assert_eq!(head, head_after, "the head is not rewritten");
        assert_eq!(
            rolls.get(&t.id).unwrap(),
            Some(roll.clone()),
            "the roll call is not rewritten"
        );
        assert_eq!(parts_after.len(), parts.len() + 1, "one part written");
        let me = h.peer.to_string();
        for (peer, v) in &parts {
            if *peer != me {
                assert_eq!(Some(v), parts_after.get(peer), "{peer}'s part rewritten");
            }
        }
        assert_ne!(parts.get(&me), parts_after.get(&me));
        sizes.push(parts_after[&me].len());
    }
    // Each holder's part is the same size, however many answered before
    // (but for the digits of its place in the lists).
    let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!(max - min <= 4, "{sizes:?}");
    assert!(sizes[0] < 1024, "{sizes:?}");
    let got = store.get(&t.id).unwrap().unwrap();
    assert_eq!(got.filed.len(), hs.len());
    assert_eq!(got.answers.len(), hs.len());
}

#[test]
fn an_answer_is_filed_into_the_kept_trace_in_place_and_a_readers_copy_stays_as_read() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = TraceStore::open(&db).unwrap();
    let hs = holders();
    let query = signed_query();
    let t = new_trace(query.clone(), &hs);
    store.put(&t).unwrap();
    // No reader holds the kept trace: the answer is filed where it is, not
    // into a copy (a copy of every holder's entries per answer made filing
    // grow with the holders asked).
    let at = |t: &Arc<StoredTrace>| Arc::as_ptr(t) as usize;
    let kept = at(&store.head(&t.id).unwrap().unwrap());
    let a = signed_answer(&hs[0], &query, Outcome::NoHit);
    file_with_verdict(&store, &t.id, &hs[0], &a);
    let after = store.head(&t.id).unwrap().unwrap();
    assert_eq!(at(&after), kept, "filed in place");
    assert_eq!(after.filed.len(), 1);
    // A reader holds it: the reader's trace stays as it read it, and the
    // answer is filed into a copy that the store keeps from then on.
    let reader = after;
    let b = signed_answer(&hs[1], &query, Outcome::NoHit);
    file_with_verdict(&store, &t.id, &hs[1], &b);
    assert_eq!(reader.filed.len(), 1, "the reader's trace changed under it");
    let now = store.head(&t.id).unwrap().unwrap();
    assert_ne!(at(&now), at(&reader));
    assert_eq!(now.filed.len(), 2);
    // What is written is what is kept.
    let fresh = TraceStore::open(&db).unwrap();
    let read = fresh.head(&t.id).unwrap().unwrap();
    assert_eq!(*read, *now);
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "changed more than its part")]
fn filing_an_answer_that_changes_another_holders_part_is_caught_in_debug_builds() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = TraceStore::open(&db).unwrap();
    let hs = holders();
    let query = signed_query();
    let t = new_trace(query.clone(), &hs);
    store.put(&t).unwrap();
    let a = signed_answer(&hs[0], &query, Outcome::NoHit);
    let other = hs[1].peer.to_string();
    let _ = store.file_answer(
        &t.id,
        &a,
        |_| true,
        |t| {
            t.final_at.insert(other, 1);
        },
    );
}

#[test]
fn a_trace_changed_every_way_reads_back_as_written_from_a_fresh_store() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = TraceStore::open(&db).unwrap();
    let hs = holders();
    let mut want = new_trace(Vec::new(), &hs[..4]);
    store.put(&want).unwrap();
    let peer = |i: usize| hs[i % hs.len()].peer.to_string();
    let filed = |i: usize, n: u64| Filed {
        peer: peer(i),
        state: hs[i % hs.len()].state,
        frame: format!("{n:064x}"),
        answered_at: n,
        said: Said::Final,
    };
    // A fixed walk through every kind of change: holders asked, removed
    // (which moves the others), answered, timed, followed up, reordered.
    let mut x = 7u64;
    for step in 0..200u64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let i = (x >> 33) as usize;
        let change = |t: &mut StoredTrace| match step % 7 {
            0 => t.asked.push(Asked::new(
                peer(i),
                hs[i % hs.len()].state,
                ExpectedBy::Subscribed,
            )),
            1 => {
                let p = peer(i);
                t.asked.retain(|a| a.peer != p);
            }
            2 => t.filed.push(filed(i, step)),
            3 => {
                t.first_ack.insert(peer(i), step);
            }
            4 => {
                t.final_at.insert(peer(i), step);
                t.deadline += 1;
            }
            5 => {
                let at = i % t.asked.len().max(1);
                if let Some(a) = t.asked.get_mut(at) {
                    a.set_unreachable("gone".into(), step);
                }
            }
            _ => {
                t.asked.reverse();
                t.followed_up.push(hs[i % hs.len()].state);
            }
        };
        change(&mut want);
        let got = store.update_unflushed(&want.id, change).unwrap().unwrap();
        assert_eq!(got, want, "step {step}");
        assert_eq!(*store.head(&want.id).unwrap().unwrap(), want, "step {step}");
        if step % 10 == 9 {
            let fresh = TraceStore::open(&db).unwrap();
            assert_eq!(*fresh.head(&want.id).unwrap().unwrap(), want, "step {step}");
        }
    }
    // Every part left is a holder's, or an empty one that stands for a
    // holder the roll call names (a holder no longer asked).
    let (_, parts) = records(&db, &want.id);
    let roll = db
        .open_tree("trace_roll_calls")
        .unwrap()
        .get(&want.id)
        .unwrap()
        .unwrap();
    let roll = String::from_utf8_lossy(&roll).into_owned();
    for (p, v) in &parts {
        assert!(
            (v.as_slice() == b"{}" && roll.contains(p.as_str()))
                || want.asked.iter().any(|a| a.peer == *p)
                || want.filed.iter().any(|f| f.peer == *p)
                || want.first_ack.contains_key(p)
                || want.final_at.contains_key(p),
            "{p}: {}",
            String::from_utf8_lossy(v)
        );
    }
}

#[test]
fn a_new_trace_writes_one_roll_call_and_no_part_whatever_the_holders_asked() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = TraceStore::open(&db).unwrap();
    let hs = holders();
    for n in [1, hs.len()] {
        let mut t = new_trace(Vec::new(), &hs[..n]);
        t.id = format!("{:032x}", n);
        store.put(&t).unwrap();
        let (_, parts) = records(&db, &t.id);
        assert!(parts.is_empty(), "{n} holders: {:?}", parts.keys());
        let rolls = db.open_tree("trace_roll_calls").unwrap();
        assert!(rolls.get(&t.id).unwrap().is_some(), "{n} holders");
        let fresh = TraceStore::open(&db).unwrap();
        assert_eq!(*fresh.head(&t.id).unwrap().unwrap(), t);
    }
}

#[test]
fn a_holder_taken_off_before_it_answered_stays_off_and_answers_file_between_changes() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = TraceStore::open(&db).unwrap();
    let hs = holders();
    let query = signed_query();
    let mut want = new_trace(query.clone(), &hs[..5]);
    store.put(&want).unwrap();
    let id = want.id.clone();
    let fresh = || {
        let s = TraceStore::open(&db).unwrap();
        Arc::unwrap_or_clone(s.head(&id).unwrap().unwrap())
    };
    // Taken off before it said anything, as a blind trace drops a holder
    // it found holds nothing (node::blind::later): the roll call still
    // names it, its empty part stands for it.
    let gone = hs[1].peer.to_string();
    let off = |t: &mut StoredTrace| t.asked.retain(|a| a.peer != gone);
    off(&mut want);
    store.update_unflushed(&want.id, off).unwrap().unwrap();
    assert_eq!(fresh(), want);
    assert!(
        !fresh().asked.iter().any(|a| a.peer == gone),
        "back from the roll call"
    );
    // Answers filed between a reorder and another removal.
    for (i, h) in hs[2..5].iter().enumerate() {
        let a = signed_answer(h, &query, Outcome::NoHit);
        file_with_verdict(&store, &want.id, h, &a);
        want.filed.push(verdict(h, &a.bytes));
        assert_eq!(fresh(), want, "answer {i}");
        let change = |t: &mut StoredTrace| match i {
            0 => t.asked.reverse(),
            1 => {
                let p = hs[0].peer.to_string();
                t.asked.retain(|a| a.peer != p);
            }
            _ => t.asked.rotate_left(1),
        };
        change(&mut want);
        store.update_unflushed(&want.id, change).unwrap().unwrap();
        assert_eq!(fresh(), want, "change {i}");
    }
    assert_eq!(*store.head(&want.id).unwrap().unwrap(), want);
}

/// The time index with an entry no trace has: a rewrite of the store's
/// layout indexes the heads again and drops it.
fn marked_time_index(db: &sled::Db) -> sled::Tree {
    let by_time = db.open_tree("traces_by_time").unwrap();
    by_time.insert(b"not a trace's", &[]).unwrap();
    by_time
}

fn assert_not_rewritten(by_time: &sled::Tree) {
    assert!(
        by_time.get(b"not a trace's").unwrap().is_some(),
        "rewritten"
    );
}

#[test]
fn a_store_of_a_later_layout_is_refused_and_left_as_it_is() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let hs = holders();
    let t = new_trace(Vec::new(), &hs);
    TraceStore::open(&db).unwrap().put(&t).unwrap();
    let meta = db.open_tree("trace_store").unwrap();
    meta.insert("layout", "6").unwrap();
    let by_time = marked_time_index(&db);
    let e = TraceStore::open(&db).err().expect("a later layout opened");
    assert!(matches!(e, TraceStoreError::Layout { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("layout 6") && text.contains("up to 5"),
        "{text}"
    );
    assert_eq!(meta.get("layout").unwrap().as_deref(), Some(&b"6"[..]));
    assert_not_rewritten(&by_time);
}

#[test]
fn a_store_of_the_layout_before_is_read_as_it_is_and_not_rewritten() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let hs = holders();
    let query = signed_query();
    let t = new_trace(query.clone(), &hs);
    {
        let store = TraceStore::open(&db).unwrap();
        store.put(&t).unwrap();
        file_with_verdict(
            &store,
            &t.id,
            &hs[0],
            &signed_answer(&hs[0], &query, Outcome::NoHit),
        );
    }
    let want = TraceStore::open(&db).unwrap().get(&t.id).unwrap().unwrap();
    // Layout 4: a part for every holder from creation, no roll call.
    let holders_tree = db.open_tree("trace_holders").unwrap();
    db.open_tree("trace_roll_calls").unwrap().clear().unwrap();
    for h in &hs[1..] {
        let p = h.peer.to_string();
        let place = want.asked.iter().position(|a| a.peer == p).unwrap();
        let part = serde_json::json!({ "asked": [[place, want.asked[place]]] });
        holders_tree
            .insert(format!("{}/{p}", t.id), serde_json::to_vec(&part).unwrap())
            .unwrap();
    }
    let meta = db.open_tree("trace_store").unwrap();
    meta.insert("layout", "4").unwrap();
    // What a rewrite would clear (it indexes the heads again).
    let by_time = marked_time_index(&db);
    let store = TraceStore::open(&db).unwrap();
    assert_eq!(store.get(&t.id).unwrap().unwrap(), want);
    assert_eq!(meta.get("layout").unwrap().as_deref(), Some(&b"5"[..]));
    assert_not_rewritten(&by_time);
}

#[test]
fn a_store_with_every_holders_part_in_the_head_is_rewritten_once_at_open() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let hs = holders();
    let query = signed_query();
    let mut t = new_trace(query.clone(), &hs);
    // Layout 2: answers in their own tree, each with its verdict, and the
    // holders' parts inside the head.
    let answers = db.open_tree("trace_answers").unwrap();
    for h in &hs[..5] {
        let a = signed_answer(h, &query, Outcome::NoHit);
        t.filed.push(verdict(h, &a.bytes));
        t.final_at.insert(h.peer.to_string(), 9);
        let mut key = format!("{}/", t.id).into_bytes();
        key.extend_from_slice(&db.generate_id().unwrap().to_be_bytes());
        answers
            .insert(key, serde_json::to_vec(&a).unwrap())
            .unwrap();
    }
    db.open_tree("traces")
        .unwrap()
        .insert(t.id.as_bytes(), serde_json::to_vec(&t).unwrap())
        .unwrap();
    db.open_tree("trace_store")
        .unwrap()
        .insert("layout", "2")
        .unwrap();
    let store = TraceStore::open(&db).unwrap();
    let got = store.get(&t.id).unwrap().unwrap();
    assert_eq!(got.answers.len(), 5);
    let mut head = got.clone();
    head.answers.clear();
    assert_eq!(head, t);
    let (stored_head, parts) = records(&db, &t.id);
    let stored: StoredTrace = serde_json::from_slice(&stored_head).unwrap();
    assert!(stored.asked.is_empty() && stored.filed.is_empty() && stored.final_at.is_empty());
    assert_eq!(parts.len(), hs.len());
    // Opened again: nothing to rewrite, the same trace.
    let again = TraceStore::open(&db).unwrap();
    assert_eq!(again.get(&t.id).unwrap().unwrap(), got);
}

/// A verdict for `bytes` from holder `h`, as `on_answer` records it.
fn verdict(h: &Holder, bytes: &[u8]) -> Filed {
    Filed {
        peer: h.peer.to_string(),
        state: h.state,
        frame: Digest::of(bytes).to_hex(),
        answered_at: 1,
        said: Said::Acknowledged,
    }
}

#[test]
fn an_answer_stored_without_its_verdict_is_not_part_of_the_trace() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = TraceStore::open(&db).unwrap();
    let hs = holders();
    let t = new_trace(Vec::new(), &hs);
    store.put(&t).unwrap();
    // Signed frames, as `on_answer` stores them after checking them.
    let answer = |h: &Holder, b: u8| StoredAnswer {
        received_at: u64::from(b),
        ..signed_answer(h, &t.query, Outcome::NoHit)
    };
    let a0 = answer(&hs[0], 1);
    file_with_verdict(&store, &t.id, &hs[0], &a0);
    // A crash between the answer's write and its head's: the frame is in
    // the answers tree, no verdict names it.
    let orphan = answer(&hs[1], 2);
    store_without_verdict(&db, &t.id, &orphan);
    let got = store.get(&t.id).unwrap().unwrap();
    assert_eq!(got.answers, vec![a0.clone()], "only the filed answer");
    // Asked again after a restart, its holder replies with the same answer:
    // filed once, read once, although its bytes are stored twice.
    file_with_verdict(&store, &t.id, &hs[1], &orphan);
    let got = store.get(&t.id).unwrap().unwrap();
    assert_eq!(got.answers, vec![a0, orphan]);
    assert_eq!(got.filed.len(), 2);
    // A filing `admit` refuses leaves nothing behind.
    let refused = answer(&hs[2], 3);
    assert!(
        store
            .file_answer(&t.id, &refused, |_| false, |_| {})
            .unwrap()
            .is_none()
    );
    assert_eq!(
        db.open_tree("trace_answers")
            .unwrap()
            .scan_prefix(t.id.as_bytes())
            .count(),
        3
    );
}

#[test]
fn answers_filed_at_once_from_many_threads_are_all_filed_and_each_once() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = TraceStore::open(&db).unwrap();
    let hs = std::sync::Arc::new(holders());
    let t = new_trace(Vec::new(), &hs);
    store.put(&t).unwrap();
    // Each holder's answer is delivered twice, from two threads at once:
    // the second sees the first's verdict (a fresh head after a lost
    // compare-and-swap) and refuses itself, as on_answer's `again` does.
    let threads: Vec<_> = (0..hs.len() * 2)
        .map(|i| {
            let (store, hs, id) = (store.clone(), hs.clone(), t.id.clone());
            std::thread::spawn(move || {
                let h = &hs[i / 2];
                let a = StoredAnswer {
                    peer: h.peer.to_string(),
                    received_at: 1,
                    bytes: vec![i as u8 / 2; 200],
                    roster_version: Some(1),
                };
                let v = verdict(h, &a.bytes);
                store
                    .file_answer(
                        &id,
                        &a,
                        |t| !t.filed.iter().any(|f| f.frame == v.frame),
                        |t| t.filed.push(v.clone()),
                    )
                    .unwrap()
                    .is_some()
            })
        })
        .collect();
    let filed = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|f| *f)
        .count();
    assert_eq!(filed, hs.len());
    let got = store.get(&t.id).unwrap().unwrap();
    assert_eq!(got.filed.len(), hs.len());
    assert_eq!(got.answers.len(), hs.len());
    let mut peers: Vec<&str> = got.filed.iter().map(|f| f.peer.as_str()).collect();
    peers.sort();
    peers.dedup();
    assert_eq!(peers.len(), hs.len());
}

/// Opens a store that held `t` in the layout before answers had a tree of
/// their own (the whole trace, answers inside, in `traces`).
fn open_with_the_layout_before(db: &sled::Db, t: &StoredTrace) -> TraceStore {
    db.open_tree("traces")
        .unwrap()
        .insert(t.id.as_bytes(), serde_json::to_vec(t).unwrap())
        .unwrap();
    TraceStore::open(db).unwrap()
}

/// The test vectors' query, signed by their requester: a stored trace's
/// `query`.
fn signed_query() -> Vec<u8> {
    sign(vectors::query(), &vectors::requester_key())
        .unwrap()
        .into_parts()
        .0
}

/// A signed answer of `h` to `query` saying `outcome`, as `on_answer`
/// stores it after checking it.
fn signed_answer(h: &Holder, query: &[u8], outcome: Outcome) -> StoredAnswer {
    let mut body: TraceAnswer = vectors::answer(Digest::of(query));
    body.responder.state = h.state;
    body.responder.key = h.key.public_key();
    body.outcome = outcome;
    StoredAnswer {
        peer: h.peer.to_string(),
        received_at: vectors::ISSUED_AT + 5,
        bytes: sign(body, &h.key).unwrap().into_parts().0,
        roster_version: Some(1),
    }
}

/// Files `a` as `on_answer` does, with `h`'s verdict on it.
fn file_with_verdict(store: &TraceStore, id: &str, h: &Holder, a: &StoredAnswer) {
    let v = verdict(h, &a.bytes);
    store
        .file_answer(id, a, |_| true, |t| t.filed.push(v))
        .unwrap()
        .unwrap();
}

/// Stores `a` in the answers tree as `file_answer` does before the head's
/// compare-and-swap: what sled recovers after a crash between the two.
fn store_without_verdict(db: &sled::Db, id: &str, a: &StoredAnswer) {
    let mut key = id.as_bytes().to_vec();
    key.push(b'/');
    key.extend_from_slice(&db.generate_id().unwrap().to_be_bytes());
    db.open_tree("trace_answers")
        .unwrap()
        .insert(key, serde_json::to_vec(a).unwrap())
        .unwrap();
}

#[test]
fn answers_stored_without_verdicts_are_left_out_before_the_first_verdict_too() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = TraceStore::open(&db).unwrap();
    let hs = holders();
    let query = signed_query();
    let t = new_trace(query.clone(), &hs);
    store.put(&t).unwrap();
    // One responder's two contradicting final answers arrive together; both
    // frames are written, a crash comes before either head is: no verdict
    // at all in the head.
    let no_hit = signed_answer(&hs[0], &query, Outcome::NoHit);
    let hit = signed_answer(&hs[0], &query, vectors::answer(Digest::of(&query)).outcome);
    assert_ne!(no_hit.bytes, hit.bytes);
    store_without_verdict(&db, &t.id, &no_hit);
    store_without_verdict(&db, &t.id, &hit);
    let head = store.head(&t.id).unwrap().unwrap();
    assert!(head.filed.is_empty() && head.final_at.is_empty());
    let full = store.get(&t.id).unwrap().unwrap();
    assert!(
        full.answers.is_empty(),
        "answers never filed are part of the trace: {} shown",
        full.answers.len()
    );
    let standing = |t: &StoredTrace| {
        crate::node::holders(t, Limits::default())
            .into_iter()
            .map(|h| h.standing)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        standing(&full),
        standing(&head),
        "the trace's view and its head disagree"
    );
}

/// A trace as stored before answers had a tree of their own, with two
/// answers inside: one that decodes, and a frame this build cannot decode
/// (larger than the default limits a unit raised `max_message_bytes` above,
/// or of an older version), to which the rewrite gives no verdict although
/// it was filed.
fn with_an_answer_without_verdict() -> StoredTrace {
    let hs = holders();
    let query = signed_query();
    let mut t = new_trace(query.clone(), &hs);
    t.answers
        .push(signed_answer(&hs[0], &query, Outcome::NoHit));
    t.answers.push(StoredAnswer {
        peer: hs[1].peer.to_string(),
        received_at: 6,
        bytes: vec![0xA5; 300],
        roster_version: Some(1),
    });
    t
}

#[test]
fn a_rewritten_store_keeps_the_answers_it_could_not_give_a_verdict() {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let t = with_an_answer_without_verdict();
    let store = open_with_the_layout_before(&db, &t);
    let got = store.get(&t.id).unwrap().unwrap();
    assert_eq!(got.filed.len(), 1);
    assert_eq!(got.answers, t.answers, "a filed answer is no longer shown");
}

/// A rewrite of a store from before answers had a tree of their own, cut
/// short by a crash after it had copied a trace's answers but before it
/// rewrote the head: at the next start the head still carries them, and the
/// rewrite runs again. Each answer is still part of the trace once.
#[test]
fn a_rewrite_cut_short_after_moving_the_answers_moves_each_answer_once() {
    let t = with_an_answer_without_verdict();
    // What the first run left: some or all of the answers copied, the head
    // as it was, the layout not yet marked.
    for copied in 0..=t.answers.len() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        for a in &t.answers[..copied] {
            store_without_verdict(&db, &t.id, a);
        }
        let store = open_with_the_layout_before(&db, &t);
        let got = store.get(&t.id).unwrap().unwrap();
        assert_eq!(
            got.answers.len(),
            t.answers.len(),
            "{copied} copied: an answer shown twice"
        );
        assert_eq!(got.answers, t.answers, "{copied} copied");
        assert_eq!(got.filed.len(), 1);
    }
}

/// The holders a watched trace handed its query by gossip that have said
/// nothing yet are kept in memory as its changes are written: the
/// requester's silent-holder check reads them without the trace's head, in
/// a burst of more traces than the store keeps heads of too, and what it
/// reads is what the head says after every kind of change.
#[test]
fn a_watched_traces_silent_holders_follow_its_changes_without_reading_it() {
    let decoded = || store::HEADS_DECODED.with(|n| n.get());
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = TraceStore::open(&db).unwrap();
    let hs = holders();
    let mut want = new_trace(Vec::new(), &hs[..6]);
    // One holder expected for another reason than the gossip: never silent
    // in this sense (it is asked directly, not by gossip).
    want.asked[5].expected_by = vec![ExpectedBy::RosterPrefix];
    store.put(&want).unwrap();
    assert_eq!(store.silent_handed(&want.id), None, "not watched yet");
    assert!(store.watch(&want.id).unwrap());
    // The rule as the requester's check read it from the head before this
    // was kept: each asked entry expected as subscribed, reachable, not
    // declined, whose peer acknowledged, answered and filed nothing.
    let by_the_head = |t: &StoredTrace| -> Vec<String> {
        let mut v: Vec<String> = t
            .asked
            .iter()
            .filter(|a| {
                a.expected_by.contains(&ExpectedBy::Subscribed)
                    && a.unreachable.is_none()
                    && a.declined.is_none()
                    && !t.first_ack.contains_key(&a.peer)
                    && !t.final_at.contains_key(&a.peer)
                    && !t.filed.iter().any(|f| f.peer == a.peer)
            })
            .map(|a| a.peer.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let five: Vec<String> = {
        let mut v: Vec<String> = hs[..5].iter().map(|h| h.peer.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(store.silent_handed(&want.id), Some(five));

    let peer = |i: usize| hs[i % hs.len()].peer.to_string();
    let mut x = 11u64;
    for step in 0..300u64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let i = (x >> 33) as usize;
        let change = |t: &mut StoredTrace| match step % 10 {
            0 => t.asked.push(Asked::new(
                peer(i),
                hs[i % hs.len()].state,
                if i.is_multiple_of(3) {
                    ExpectedBy::FollowUp
                } else {
                    ExpectedBy::Subscribed
                },
            )),
            1 => {
                let p = peer(i);
                t.asked.retain(|a| a.peer != p);
            }
            2 => t.filed.push(Filed {
                peer: peer(i),
                state: hs[i % hs.len()].state,
                frame: format!("{step:064x}"),
                answered_at: step,
                said: Said::Acknowledged,
            }),
            3 => {
                t.first_ack.insert(peer(i), step);
            }
            4 => {
                t.final_at.insert(peer(i), step);
            }
            5 => {
                if let Some(a) = t.asked.iter_mut().find(|a| a.peer == peer(i)) {
                    a.set_unreachable("gone".into(), step);
                }
            }
            6 => {
                if let Some(a) = t.asked.iter_mut().find(|a| a.peer == peer(i)) {
                    a.set_reachable();
                }
            }
            7 => {
                if let Some(a) = t.asked.iter_mut().find(|a| a.peer == peer(i)) {
                    a.declined = Some("not_answered".into());
                }
            }
            8 => {
                // A retry: asked again, what they replied no longer stands;
                // and, now and then, the whole slate wiped.
                for a in t.asked.iter_mut() {
                    a.declined = None;
                }
                if i.is_multiple_of(4) {
                    t.filed.clear();
                    t.first_ack.clear();
                    t.final_at.clear();
                }
                t.deadline += 60;
            }
            _ => t.asked.reverse(),
        };
        change(&mut want);
        store.update_unflushed(&want.id, change).unwrap().unwrap();
        let expected = by_the_head(&want);
        let from_head: Vec<String> = want
            .silent_handed_peers()
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(from_head, expected, "step {step}: the head's own rule");
        for p in (0..hs.len()).map(peer) {
            assert_eq!(
                want.silent_handed(&p),
                expected.contains(&p),
                "step {step}: {p}"
            );
        }
        assert_eq!(
            store.silent_handed(&want.id),
            Some(expected),
            "step {step}: kept in memory"
        );
    }

    // A burst: more traces changed since than the store keeps heads of.
    // The silent holders are still read from memory, not from the store.
    for n in 0..store::HEADS_KEPT + 10 {
        let other = StoredTrace {
            id: format!("{n:032x}"),
            ..new_trace(Vec::new(), &hs[..2])
        };
        store.put(&other).unwrap();
    }
    assert!(
        store.cached_head(&want.id).is_none(),
        "out of the kept heads"
    );
    let before = decoded();
    assert_eq!(store.silent_handed(&want.id), Some(by_the_head(&want)));
    assert_eq!(decoded(), before, "no head read");
    // A change read from the store (its head no longer kept) keeps them too.
    let last = hs[0].peer.to_string();
    store
        .update_unflushed(&want.id, |t| {
            t.first_ack.insert(last.clone(), 1);
        })
        .unwrap();
    want.first_ack.insert(last, 1);
    assert_eq!(store.silent_handed(&want.id), Some(by_the_head(&want)));

    // No longer pending: forgotten.
    store.unwatch(&want.id);
    assert_eq!(store.silent_handed(&want.id), None);
    // A head that cannot be read: not known, so the check reads it.
    db.open_tree("traces")
        .unwrap()
        .insert("unreadable", b"not a head".as_slice())
        .unwrap();
    assert!(store.watch("unreadable").is_err());
    assert_eq!(store.silent_handed("unreadable"), None);
}

/// The peers a trace waits on, listed in one pass, are exactly those
/// `waits_on` holds for, whatever mix of answers, acknowledgements and
/// blind probes the trace holds.
#[test]
fn the_peers_waited_on_are_those_waits_on_holds_for() {
    use crate::node::blind::{BlindHolder, BlindOutcome, BlindTrace};
    let hs = holders();
    let mut t = new_trace(Vec::new(), &hs[..5]);
    t.final_at.insert(hs[0].peer.to_string(), 1);
    t.final_at.insert(hs[6].peer.to_string(), 1);
    t.first_ack.insert(hs[1].peer.to_string(), 1);
    t.first_ack.insert(hs[7].peer.to_string(), 1);
    let outcomes = [
        BlindOutcome::Pending,
        BlindOutcome::Unreachable,
        BlindOutcome::Hit,
        BlindOutcome::NoHit,
    ];
    t.blind = Some(BlindTrace {
        bound: 1,
        holders: outcomes
            .into_iter()
            .zip([&hs[4], &hs[5], &hs[6], &hs[2]])
            .map(|(outcome, h)| BlindHolder {
                peer: h.peer.to_string(),
                state: Some(h.state),
                outcome,
                detail: None,
                elements: 0,
                received_marking: false,
                at: None,
            })
            .collect(),
    });
    let every: Vec<String> = hs.iter().map(|h| h.peer.to_string()).collect();
    let expected: std::collections::BTreeSet<&str> = every
        .iter()
        .map(String::as_str)
        .filter(|p| t.waits_on(p))
        .collect();
    assert_eq!(t.peers_waited_on(), expected);
    // Asked and not answered finally (1 to 4, 2 probed to a miss too), and
    // the blind probe not ended (5); not 0 (answered), 6 (answered, probed
    // to a hit) nor 7 (acknowledged unasked).
    let named = |i: usize| every[i].as_str();
    assert_eq!(expected, [1, 2, 3, 4, 5].map(named).into_iter().collect());
}
