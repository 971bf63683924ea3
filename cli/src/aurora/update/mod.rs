//! `aurora update ...`: rolling updates driven by the scheduler (Aurora's `update.py`), one
//! file per concern — starting one, steering the active one, waiting for one to end, listing
//! and showing them — and the lookups they share.

mod info;
mod list;
mod lookup;
mod start;
mod steer;
mod verbs;
mod wait;

pub(crate) use lookup::update_url;
pub(crate) use start::{fresh_client_update_id, post_retrying_once};
pub(crate) use verbs::{UpdateVerb, run};
pub(crate) use wait::{Goal, exit_code, follow};
