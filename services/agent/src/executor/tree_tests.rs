//! Unit and property tests of `tree.rs`: membership by parent chain, tag and known identity,
//! pid reuse, reaping.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

const REAPER: i32 = 100;

/// A live, untagged process in its parent's group and session.
fn proc(pid: i32, ppid: i32, start: u64) -> Proc {
    Proc {
        pid,
        ppid,
        pgrp: 50,
        sid: 50,
        start,
        zombie: false,
        tagged: false,
    }
}

fn ids(procs: &[&Proc]) -> BTreeSet<Ident> {
    procs.iter().map(|p| p.ident()).collect()
}

fn pids(set: &BTreeSet<Ident>) -> Vec<i32> {
    set.iter().map(|i| i.pid).collect()
}

fn select_with(table: &[Proc], known: &[&Proc]) -> Selection {
    let known = ids(known);
    select(table, true, &known, &known, &BTreeSet::new(), REAPER)
}

#[test]
fn parses_a_stat_line_whose_command_has_spaces_and_parentheses() {
    let line = "1234 (a) b (c) S 7 1234 1200 0 -1 4194304 100 0 0 0 1 2 0 0 20 0 1 0 98765 1 2";
    assert_eq!(
        parse_stat(line),
        Some(Proc {
            pid: 1234,
            ppid: 7,
            pgrp: 1234,
            sid: 1200,
            start: 98765,
            zombie: false,
            tagged: false,
        })
    );
    let zombie = line.replace(") S ", ") Z ");
    assert!(parse_stat(&zombie).is_some_and(|p| p.zombie));
    assert_eq!(parse_stat("garbage"), None);
    assert_eq!(parse_stat("12 (short) S 1 2 3"), None);
}

#[test]
fn parses_this_process() {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap();
    let me = parse_stat(&text).unwrap();
    assert_eq!(me.pid, i32::try_from(std::process::id()).unwrap());
    assert!(me.start > 0 && !me.zombie);
}

#[test]
fn descendants_of_a_root_are_members_and_strangers_are_not() {
    let root = proc(10, REAPER, 1000);
    let child = proc(11, 10, 1001);
    let grandchild = proc(12, 11, 1002);
    let stranger = proc(13, 1, 1003);
    let stranger_child = proc(14, 13, 1004);
    let table = [root, child, grandchild, stranger, stranger_child];
    let s = select_with(&table, &[&root]);
    assert_eq!(pids(&s.members), [10, 11, 12]);
    assert_eq!(s.live, s.members);
    assert!(s.reap.is_empty());
}

#[test]
fn a_known_orphan_adopted_by_the_reaper_stays_a_member_with_its_children() {
    // The daemon called setsid and its parent exited: only the earlier sighting ties it.
    let mut daemon = proc(20, REAPER, 1000);
    (daemon.pgrp, daemon.sid) = (20, 20);
    let worker = proc(21, 20, 1001);
    let table = [daemon, worker];
    assert_eq!(pids(&select_with(&table, &[&daemon]).members), [20, 21]);
    assert!(select_with(&table, &[]).members.is_empty());
}

#[test]
fn a_tagged_orphan_is_a_member_even_if_never_seen() {
    let mut daemon = proc(20, REAPER, 1000);
    daemon.tagged = true;
    let worker = proc(21, 20, 1001);
    assert_eq!(pids(&select_with(&[daemon, worker], &[]).members), [20, 21]);
}

#[test]
fn a_reused_pid_is_not_a_member() {
    let seen = proc(30, REAPER, 1000);
    // Pid 30 now names a process started later: the one seen before is gone.
    let reused = proc(30, REAPER, 5000);
    let child = proc(31, 30, 5001);
    let s = select_with(&[reused, child], &[&seen]);
    assert!(s.members.is_empty(), "{s:?}");
}

#[test]
fn a_child_older_than_its_parent_is_not_its_child() {
    // Read one at a time: 41's parent 40 died and pid 40 was reused before 40 was read.
    let root = proc(40, REAPER, 3000);
    let older = proc(41, 40, 2000);
    assert_eq!(pids(&select_with(&[root, older], &[&root]).members), [40]);
}

#[test]
fn the_reaper_and_init_are_never_members() {
    let mut reaper = proc(REAPER, 1, 10);
    reaper.tagged = true;
    let mut init = proc(1, 0, 1);
    init.tagged = true;
    let root = proc(10, REAPER, 1000);
    let s = select_with(&[reaper, init, root], &[&reaper, &init, &root]);
    assert_eq!(pids(&s.members), [10]);
}

#[test]
fn zombies_are_reaped_only_when_adopted_owned_and_not_roots() {
    let zombie = |pid, ppid| Proc {
        zombie: true,
        ..proc(pid, ppid, 2000)
    };
    let root = Proc {
        pgrp: 10,
        ..zombie(10, REAPER)
    };
    let member = proc(11, 10, 1500);
    let orphan = zombie(12, REAPER);
    let child_of_member = zombie(13, 14);
    let live_member = proc(14, REAPER, 1000);
    let stranger = zombie(15, REAPER);
    let table = [root, member, orphan, child_of_member, live_member, stranger];
    let known = ids(&[&root, &orphan, &live_member]);
    let roots = ids(&[&root]);
    let s = select(&table, true, &known, &roots, &BTreeSet::new(), REAPER);
    // The root is awaited through tokio; 13's parent reaps it; 15 is not the task's.
    assert_eq!(pids(&s.reap), [12]);
    assert_eq!(pids(&s.live), [14]);
}

#[test]
fn an_unseen_zombie_in_a_group_or_session_the_task_created_is_reaped() {
    let mut root = proc(10, REAPER, 1000);
    root.pgrp = 10;
    let mut daemon = proc(20, REAPER, 1100);
    (daemon.pgrp, daemon.sid) = (20, 20);
    let in_group = Proc {
        pgrp: 10,
        zombie: true,
        ..proc(11, REAPER, 1200)
    };
    let in_session = Proc {
        pgrp: 25,
        sid: 20,
        zombie: true,
        ..proc(26, REAPER, 1300)
    };
    // Leads a group whose id the task once used: maybe a stranger reusing the number.
    let leader = Proc {
        pgrp: 30,
        zombie: true,
        ..proc(30, REAPER, 1400)
    };
    let table = [root, daemon, in_group, in_session, leader];
    let known = ids(&[&root, &daemon]);
    let roots = ids(&[&root]);
    let s = select(&table, true, &known, &roots, &BTreeSet::from([30]), REAPER);
    assert_eq!(pids(&s.reap), [11, 26]);
    assert_eq!(s.groups, BTreeSet::from([10, 20, 30]));
}

#[test]
fn groups_are_forgotten_once_nothing_uses_them() {
    let s = select(
        &[proc(10, REAPER, 1)],
        true,
        &BTreeSet::new(),
        &BTreeSet::new(),
        &BTreeSet::from([77, 50]),
        REAPER,
    );
    assert_eq!(s.groups, BTreeSet::from([50]));
}

#[test]
fn an_incomplete_table_forgets_no_group() {
    // The run leading group 77 exited and its orphan was forked after the listing: neither is
    // in the table, yet the orphan's zombie will be in group 77.
    let s = select(
        &[proc(10, REAPER, 1)],
        false,
        &BTreeSet::new(),
        &BTreeSet::new(),
        &BTreeSet::from([77, 50, 1]),
        REAPER,
    );
    assert_eq!(s.groups, BTreeSet::from([50, 77]));
}

/// The definition, computed the slow way: seeds, then children (not older than their
/// parent) of members until nothing changes.
fn reference(table: &[Proc], known: &BTreeSet<Ident>) -> BTreeSet<Ident> {
    let by_pid: BTreeMap<i32, &Proc> = table.iter().map(|p| (p.pid, p)).collect();
    let mut members = BTreeSet::new();
    loop {
        let before = members.len();
        for p in by_pid.values() {
            if p.pid <= 1 || p.pid == REAPER {
                continue;
            }
            let seed = p.tagged || known.contains(&p.ident());
            let inherited = by_pid
                .get(&p.ppid)
                .is_some_and(|parent| members.contains(&parent.ident()) && p.start >= parent.start);
            if seed || inherited {
                members.insert(p.ident());
            }
        }
        if members.len() == before {
            return members;
        }
    }
}

/// xorshift64*: a deterministic generator, so a failing case is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }

    /// A pid among 0..=40 or the reaper.
    fn pid(&mut self) -> i32 {
        match self.below(42) {
            41 => REAPER,
            n => i32::try_from(n).unwrap_or(0),
        }
    }
}

/// Up to 30 rows with pids 2..=40 (and the reaper), parents among them, 0, 1 and the
/// reaper, and small start times so that reuse and out-of-order starts are common.
fn random_table(rng: &mut Rng) -> Vec<Proc> {
    let mut rows = BTreeMap::new();
    for _ in 0..rng.below(31) {
        let pid = rng.pid().max(2);
        let row = Proc {
            pid,
            ppid: rng.pid(),
            pgrp: rng.pid(),
            sid: rng.pid(),
            start: rng.below(20),
            zombie: rng.below(5) == 0,
            tagged: rng.below(10) == 0,
        };
        rows.insert(pid, row);
    }
    rows.into_values().collect()
}

/// Some rows' identities, a few with a shifted start time (the pid was reused since).
fn random_idents(rng: &mut Rng, table: &[Proc], most: u64) -> BTreeSet<Ident> {
    let len = u64::try_from(table.len()).unwrap_or(0);
    (0..rng.below(most + 1))
        .filter_map(|_| {
            let p = table.get(usize::try_from(rng.below(len)).ok()?)?;
            let shift = if rng.below(3) == 0 {
                1 + rng.below(3)
            } else {
                0
            };
            Some(Ident {
                pid: p.pid,
                start: p.start + shift,
            })
        })
        .collect()
}

#[test]
fn selection_matches_the_definition_on_random_tables() {
    for seed in 1..=3000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let table = random_table(&mut rng);
        let known = random_idents(&mut rng, &table, 8);
        let roots = random_idents(&mut rng, &table, 3);
        let groups: BTreeSet<i32> = (0..rng.below(5)).map(|_| rng.pid()).collect();
        let complete = rng.below(4) != 0;
        let case =
            format!("seed {seed}: {table:?} known {known:?} roots {roots:?} complete {complete}");
        let s = select(&table, complete, &known, &roots, &groups, REAPER);
        assert_eq!(s.members, reference(&table, &known), "{case}");
        let row = |id: &Ident| table.iter().find(|p| p.ident() == *id).copied();
        let live: BTreeSet<Ident> = s
            .members
            .iter()
            .copied()
            .filter(|id| row(id).is_some_and(|p| !p.zombie))
            .collect();
        assert_eq!(s.live, live, "{case}");
        for id in &s.reap {
            let p = row(id).unwrap_or_else(|| panic!("{case}: reaps {id:?}, not in the table"));
            assert!(p.zombie && p.ppid == REAPER, "{case}: reaps {p:?}");
            assert!(!roots.contains(id), "{case}: reaps root {id:?}");
        }
        for id in s.members.iter().chain(&s.reap) {
            assert!(id.pid > 1 && id.pid != REAPER, "{case}: selects {id:?}");
        }
        for g in &s.groups {
            assert!(
                table.iter().any(|p| p.pgrp == *g || p.sid == *g) || !complete,
                "{case}: keeps unused group {g}"
            );
            assert!(*g > 1, "{case}: keeps group {g}");
        }
        if !complete {
            let kept: BTreeSet<i32> = groups.iter().copied().filter(|g| *g > 1).collect();
            assert!(
                s.groups.is_superset(&kept),
                "{case}: forgets a group of {kept:?} from an incomplete table"
            );
        }
    }
}
