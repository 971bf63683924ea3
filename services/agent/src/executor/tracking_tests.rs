//! Unit tests of `tracking.rs`: reading a process table that changes while it is read.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};

use super::*;

const REAPER: i32 = 100;

/// A run leading its own group, started by the reaper.
fn run(pid: i32, start: u64) -> Proc {
    Proc {
        pid,
        ppid: REAPER,
        pgrp: pid,
        sid: 1,
        start,
        zombie: false,
        tagged: false,
    }
}

/// Replays a table that changes as it is read: `listings[i]` is what the i-th listing names
/// (the last one repeats), and `rows` what reading a pid returns (absent: it is gone).
fn replay(
    listings: &[&[i32]],
    rows: &BTreeMap<i32, Proc>,
) -> std::io::Result<(Vec<Proc>, bool, usize)> {
    let listed = Cell::new(0usize);
    let list = || {
        let i = listed.get();
        listed.set(i + 1);
        let names = listings
            .get(i)
            .or(listings.last())
            .map_or_else(Vec::new, |l| l.to_vec());
        Ok(names)
    };
    let (table, complete) = read_settled(list, |pid| rows.get(&pid).copied())?;
    Ok((table, complete, listed.get()))
}

#[test]
fn a_run_gone_before_it_was_read_leaves_its_orphan_and_group_in_the_table() {
    // What a scan met at a run's start: the listing named the run (pid 10), which forked an
    // orphan (pid 12) in its group and exited, and was reaped, before its row was read.
    let orphan = Proc {
        pid: 12,
        pgrp: 10,
        tagged: true,
        ..run(12, 1001)
    };
    let main = run(5, 900);
    let rows = BTreeMap::from([(5, main), (12, orphan)]);
    let (table, complete, listings) = replay(&[&[5, 10], &[5, 12]], &rows).unwrap();
    assert_eq!(table, [main, orphan]);
    assert!(complete);
    assert_eq!(listings, 3);

    // The group of the run stays the task's, so the orphan's zombie is reaped later.
    let root = run(10, 1000);
    let known = BTreeSet::from([root.ident(), main.ident()]);
    let roots = known.clone();
    let groups = BTreeSet::from([5, 10]);
    let s = tree::select(&table, complete, &known, &roots, &groups, REAPER);
    assert_eq!(s.groups, groups);
    let zombie = Proc {
        zombie: true,
        tagged: false,
        ..orphan
    };
    let later = tree::select(&[main, zombie], true, &s.members, &roots, &s.groups, REAPER);
    assert_eq!(later.reap, BTreeSet::from([orphan.ident()]));
}

#[test]
fn a_table_that_keeps_growing_is_read_a_bounded_number_of_times_and_is_incomplete() {
    let listings: Vec<Vec<i32>> = (1..=10).map(|n| (1..=n).collect()).collect();
    let listings: Vec<&[i32]> = listings.iter().map(Vec::as_slice).collect();
    let rows: BTreeMap<i32, Proc> = (1..=10).map(|pid| (pid, run(pid, 1))).collect();
    let (table, complete, listed) = replay(&listings, &rows).unwrap();
    assert!(!complete);
    assert_eq!(listed, LISTINGS);
    let pids: Vec<i32> = table.iter().map(|p| p.pid).collect();
    let expected: Vec<i32> = (1..=i32::try_from(LISTINGS).unwrap()).collect();
    assert_eq!(pids, expected);
}

#[test]
fn a_pid_is_read_once_per_scan() {
    let reads = Cell::new(0usize);
    let rows = BTreeMap::from([(7, run(7, 1))]);
    let read = |pid| {
        reads.set(reads.get() + 1);
        rows.get(&pid).copied()
    };
    let (table, complete) = read_settled(|| Ok(vec![7]), read).unwrap();
    assert_eq!((table.len(), complete, reads.get()), (1, true, 1));
}

#[test]
fn a_listing_error_is_returned() {
    let failing = || Err(std::io::Error::other("no /proc"));
    assert!(read_settled(failing, |_| None).is_err());
}
