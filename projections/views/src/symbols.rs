//! Dense ids for the keys events name: task ids, job keys, roles, configs, updates, hosts,
//! agents and actors.
//!
//! Views keep their records in [`ChunkVec`](crate::chunk::ChunkVec)s indexed by these ids
//! rather than in maps keyed by strings, for two reasons: a fold then does one hash lookup per
//! event instead of several ordered-map searches over long string keys, and ids handed out in
//! order of first appearance put recently created (and so recently changing) records side by
//! side, which keeps the copy-on-write cost of checkpoints small.
//!
//! The table only grows, and an id means the same key for everyone holding the table, so one
//! table is shared ([`Arc`]) by a view, its clones and every checkpoint taken of it; a view that
//! has not yet folded the event creating a record simply has no record at that id. It is behind
//! a lock because a time-travel view folds on its own thread while the live view keeps folding;
//! it is a cache of names, never of state, so sharing it cannot make two views disagree.
//!
//! Lookups never depend on iteration order: the hasher has a fixed seed, and nothing iterates
//! the hash maps. (foldhash rather than std's SipHash: hashing task ids was the largest single
//! cost of a fold.)

use std::borrow::Borrow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use aurora_events::{Actor, AgentId, ConfigHash, Identifier, JobKey, TaskId, UpdateKey};

use crate::activity::Names;

/// A dense id handed out by the table. 32 bits keep records small (a checkpoint's cost is the
/// records it copies); 4 billion distinct names of one kind is beyond any cluster's memory.
pub(crate) type Sym = u32;

/// A fixed seed: deterministic, and no randomness in the crate.
type FixedState = foldhash::fast::FixedState;

/// Task ids are long (`role-env-name-instance-<uuid>`) and differ in their last characters
/// (the UUID): hashing only the last [`SUFFIX`] bytes of each string written is as selective
/// and reads half as much. Equality still compares whole ids.
#[derive(Debug, Clone, Copy, Default)]
struct SuffixState;

const SUFFIX: usize = 24;

struct SuffixHasher(<FixedState as BuildHasher>::Hasher);

impl Hasher for SuffixHasher {
    fn finish(&self) -> u64 {
        self.0.finish()
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.write(&bytes[bytes.len().saturating_sub(SUFFIX)..]);
        self.0.write_usize(bytes.len());
    }

    fn write_u8(&mut self, byte: u8) {
        self.0.write_u8(byte);
    }
}

impl BuildHasher for SuffixState {
    type Hasher = SuffixHasher;

    fn build_hasher(&self) -> SuffixHasher {
        SuffixHasher(FixedState::default().build_hasher())
    }
}

/// One kind of key and the ids handed out for it.
#[derive(Debug)]
struct Table<K, S = FixedState> {
    ids: HashMap<K, Sym, S>,
    keys: Vec<K>,
}

impl<K, S: Default> Default for Table<K, S> {
    fn default() -> Self {
        Self {
            ids: HashMap::default(),
            keys: Vec::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, S: BuildHasher> Table<K, S> {
    fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<Sym>
    where
        K: Borrow<Q>,
    {
        self.ids.get(key).copied()
    }

    fn intern<Q>(&mut self, key: &Q) -> Sym
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized + ToKey<K>,
    {
        if let Some(id) = self.ids.get(key) {
            return *id;
        }
        self.intern_owned(key.to_key())
    }

    /// Interns a key that is likely new: one hash, through the entry.
    fn intern_owned(&mut self, key: K) -> Sym {
        // Past `Sym::MAX` names (beyond any memory this runs in) the last id would be reused.
        let next = Sym::try_from(self.keys.len()).unwrap_or(Sym::MAX);
        match self.ids.entry(key) {
            Entry::Occupied(entry) => *entry.get(),
            Entry::Vacant(entry) => {
                self.keys.push(entry.key().clone());
                entry.insert(next);
                next
            }
        }
    }
}

/// Makes the stored key from a borrowed one (`&str` → `Arc<str>` for host names).
trait ToKey<K> {
    fn to_key(&self) -> K;
}

impl<K: Clone> ToKey<K> for K {
    fn to_key(&self) -> K {
        self.clone()
    }
}

impl ToKey<Arc<str>> for str {
    fn to_key(&self) -> Arc<str> {
        Arc::from(self)
    }
}

/// The tables, read under the lock by queries ([`Symbols::names`]).
#[derive(Debug, Default)]
pub(crate) struct Tables {
    /// Port names (`http`, `health`): a handful, shared by every task.
    ports: Table<Arc<str>>,
    /// Distinct messages: the thousands of "Rescheduled" or "Killed by …" entries are one
    /// copy, and records hold a plain id (no reference count to touch when a record is made,
    /// copied or dropped). Grows with distinct messages only.
    messages: Table<Arc<str>>,
    tasks: Table<TaskId, SuffixState>,
    jobs: Table<JobKey>,
    roles: Table<Identifier>,
    configs: Table<ConfigHash>,
    updates: Table<UpdateKey>,
    hosts: Table<Arc<str>>,
    agents: Table<AgentId>,
    actors: Table<Actor>,
}

fn name_of<K: std::fmt::Display, S>(table: &Table<K, S>, id: Sym) -> String {
    table
        .keys
        .get(id as usize)
        .map_or_else(|| format!("#{id}"), |key| key.to_string())
}

fn actor_of(tables: &Tables, id: Sym) -> Actor {
    tables
        .actors
        .keys
        .get(id as usize)
        .cloned()
        // Ids come only from `actor`: unreachable, but named rather than a panic.
        .unwrap_or_else(|| Actor::User(format!("unknown actor #{id}")))
}

/// Lookups for queries, all under the one read guard the query holds. Queries must not call
/// back into [`Symbols`] while holding it (a second read lock could deadlock behind a waiting
/// writer).
impl Tables {
    pub(crate) fn find_task(&self, key: &TaskId) -> Option<Sym> {
        self.tasks.get(key)
    }

    pub(crate) fn find_job(&self, key: &JobKey) -> Option<Sym> {
        self.jobs.get(key)
    }

    pub(crate) fn find_role(&self, name: &str) -> Option<Sym> {
        // Identifiers are validated on construction; an invalid name names no role.
        let role = Identifier::new(name).ok()?;
        self.roles.get(&role)
    }

    pub(crate) fn find_update(&self, key: &UpdateKey) -> Option<Sym> {
        self.updates.get(key)
    }

    pub(crate) fn find_host(&self, name: &str) -> Option<Sym> {
        self.hosts.get(name)
    }

    pub(crate) fn find_config(&self, hash: &ConfigHash) -> Option<Sym> {
        self.configs.get(hash)
    }

    pub(crate) fn config_hash(&self, id: Sym) -> Option<ConfigHash> {
        self.configs.keys.get(id as usize).copied()
    }

    pub(crate) fn task_id(&self, id: Sym) -> Option<TaskId> {
        self.tasks.keys.get(id as usize).cloned()
    }

    pub(crate) fn agent_id(&self, id: Sym) -> Option<AgentId> {
        self.agents.keys.get(id as usize).cloned()
    }

    pub(crate) fn actor(&self, id: Sym) -> Actor {
        actor_of(self, id)
    }

    pub(crate) fn message_text(&self, id: Option<Sym>) -> Option<String> {
        id.map(|id| name_of(&self.messages, id))
    }

    pub(crate) fn port_name(&self, id: Sym) -> String {
        name_of(&self.ports, id)
    }
}

impl Names for Tables {
    fn task(&self, id: Sym) -> String {
        name_of(&self.tasks, id)
    }

    fn job(&self, id: Sym) -> String {
        name_of(&self.jobs, id)
    }

    fn host(&self, id: Sym) -> String {
        name_of(&self.hosts, id)
    }

    fn message(&self, id: Sym) -> String {
        name_of(&self.messages, id)
    }

    fn config(&self, id: Sym) -> String {
        self.config_hash(id)
            .map_or_else(|| format!("#{id}"), |hash| hash.short())
    }

    fn update(&self, id: Sym) -> String {
        self.updates.keys.get(id as usize).map_or_else(
            || format!("#{id}"),
            |key| format!("{} of {}", key.id, key.job),
        )
    }
}

/// The shared id table. Cloning the [`Arc`] shares it.
#[derive(Debug, Default)]
pub(crate) struct Symbols {
    tables: RwLock<Tables>,
}

/// Generates a lookup (`find_*`, never adds) and an interning (`*`, adds when new) method for
/// one table.
macro_rules! table_methods {
    ($field:ident, $find:ident, $intern:ident, $borrowed:ty) => {
        // Not every table is searched without interning.
        #[allow(dead_code)]
        pub(crate) fn $find(&self, key: &$borrowed) -> Option<Sym> {
            self.read().$field.get(key)
        }

        pub(crate) fn $intern(&self, key: &$borrowed) -> Sym {
            if let Some(id) = self.read().$field.get(key) {
                return id;
            }
            self.write().$field.intern(key)
        }
    };
}

impl Symbols {
    // A poisoned lock only means another thread panicked while interning; the tables are still
    // consistent (an id is pushed and mapped in two steps that cannot panic in between), so
    // carry on with them.
    fn read(&self) -> RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(|e| e.into_inner())
    }

    table_methods!(tasks, find_task, task, TaskId);

    /// The id of a task being created: almost always new, so straight to the write lock with
    /// one hash (a task id clone is a reference-count increment).
    pub(crate) fn new_task(&self, task: &TaskId) -> Sym {
        self.write().tasks.intern_owned(task.clone())
    }

    /// Looks up many task ids under one read guard, appending each id's symbol (or `None`) to
    /// `out`. Batched folds call it for the next few events: the lookups are independent, so
    /// their cache misses (the id's bytes, the table's control bytes and bucket) overlap instead
    /// of each waiting for the one before, and one lock round trip replaces one per event (a
    /// locked instruction also keeps later loads from starting early).
    pub(crate) fn find_tasks<'a>(
        &self,
        tasks: impl Iterator<Item = Option<&'a TaskId>>,
        out: &mut Vec<Option<Sym>>,
    ) {
        let tables = self.read();
        out.extend(tasks.map(|task| task.and_then(|task| tables.tasks.get(task))));
    }
    table_methods!(jobs, find_job, job, JobKey);
    table_methods!(roles, find_role, role, Identifier);
    table_methods!(configs, find_config, config, ConfigHash);
    table_methods!(updates, find_update, update, UpdateKey);
    table_methods!(hosts, find_host, host, str);
    table_methods!(agents, find_agent, agent, AgentId);
    table_methods!(actors, find_actor, actor, Actor);

    pub(crate) fn port(&self, name: &str) -> Sym {
        if let Some(id) = self.read().ports.get(name) {
            return id;
        }
        self.write().ports.intern(name)
    }

    table_methods!(messages, find_message, message, str);

    /// The tables for a query's lookups (see [`Tables`]).
    pub(crate) fn names(&self) -> RwLockReadGuard<'_, Tables> {
        self.read()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dense_in_order_of_first_appearance_and_stable() {
        let symbols = Symbols::default();
        let a = TaskId::from_raw("a");
        let b = TaskId::from_raw("b");
        assert_eq!(symbols.find_task(&a), None);
        assert_eq!(symbols.task(&b), 0);
        assert_eq!(symbols.task(&a), 1);
        assert_eq!(symbols.task(&b), 0);
        assert_eq!(symbols.find_task(&a), Some(1));
        assert_eq!(symbols.host("h1"), 0);
        assert_eq!(symbols.find_host("h1"), Some(0));
        let alice = Actor::User("alice".into());
        let id = symbols.actor(&alice);
        assert_eq!(symbols.names().actor(id), alice);
        assert_eq!(symbols.names().find_role("not valid!"), None);
        let m = symbols.message("Rescheduled");
        assert_eq!(symbols.message("Rescheduled"), m, "messages are shared");
        assert_eq!(
            symbols.names().message_text(Some(m)).as_deref(),
            Some("Rescheduled")
        );
        assert_eq!(symbols.new_task(&a), 1, "an existing task keeps its id");
    }
}
