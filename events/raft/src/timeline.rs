//! Marks on an append's way through the replicas, for finding where its time goes.
//!
//! Each mark is a `trace` event of target [`TARGET`] with a `node` field (the replica it
//! happened on, or the follower an RPC went to) and a fixed message naming the step. Nothing
//! records them unless a subscriber asks for that target at trace level, and then only the
//! callsite's interest check runs on the hot path; `bench-replicated --timeline` does, and
//! prints each step's time after the append was received.

/// The tracing target of the marks.
pub const TARGET: &str = "aurora_raft::timeline";

/// Marks step `$step` (a string literal) on replica `$node`.
macro_rules! mark {
    ($node:expr, $step:literal) => {
        tracing::trace!(target: "aurora_raft::timeline", node = $node, $step)
    };
}
pub(crate) use mark;

#[cfg(test)]
mod tests {
    #[test]
    fn the_macro_s_target_is_the_published_one() {
        // The macro needs a literal; this keeps it and the constant the same.
        let targets = {
            struct Catch(std::sync::Mutex<Vec<String>>);
            impl tracing::Subscriber for Catch {
                fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
                    true
                }
                fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
                    tracing::span::Id::from_u64(1)
                }
                fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
                fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
                fn event(&self, event: &tracing::Event<'_>) {
                    if let Ok(mut targets) = self.0.lock() {
                        targets.push(event.metadata().target().to_string());
                    }
                }
                fn enter(&self, _: &tracing::span::Id) {}
                fn exit(&self, _: &tracing::span::Id) {}
            }
            let catch = std::sync::Arc::new(Catch(std::sync::Mutex::default()));
            tracing::subscriber::with_default(std::sync::Arc::clone(&catch), || {
                mark!(1_u64, "a step");
            });
            catch.0.lock().map(|t| t.clone()).unwrap_or_default()
        };
        assert_eq!(targets, vec![super::TARGET.to_string()]);
    }
}
