//! Placement: matching pending tasks to agents (first fit), with the reasons a task stays
//! pending. Pure: plain data in, assignments and reasons out.
//!
//! (Skeleton: being written.)
