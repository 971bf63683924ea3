//! Names on the NATS side: the stream of a cluster, the subject of each event, and the filter
//! subjects consumers ask for.
//!
//! Every subject has six tokens, `aurora.<cluster>.<aggregate>.<role>.<env>.<job>`, so that a
//! filter can put a wildcard in any position (`aurora.prod.*.www-data.*.*` is everything about
//! role `www-data`). Events about no job carry [`NONE`] where the job's parts would be, except
//! quota events, which name their role. Names may contain `.` (Aurora allows it), which
//! separates tokens in NATS, so names are escaped: `.` becomes `%2E` and `%` becomes `%25`
//! (neither `%` nor whitespace nor `*`/`>` can occur in a role, env or job name, but cluster
//! names are escaped the same way to be safe).

use std::fmt::Write as _;

use aurora_events::{Aggregate, Event};

/// The first token of every subject.
pub const PREFIX: &str = "aurora";

/// The token standing for "no such part" (an event about no job). An escaped name never is a
/// lone `%`, so it cannot be mistaken for one.
pub const NONE: &str = "%";

/// `name` as one subject token.
pub fn token(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '.' | '%' | '*' | '>' => {
                let _ = write!(out, "%{:02X}", c as u32);
            }
            c if c.is_whitespace() || c.is_control() => {
                let mut buf = [0u8; 4];
                for byte in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "%{byte:02X}");
                }
            }
            c => out.push(c),
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

/// The JetStream stream holding cluster `cluster`'s events. Stream names allow fewer
/// characters than subjects; the subjects (see [`stream_subjects`]) keep clusters apart
/// even where two names map to the same stream name, and the mirror refuses a stream whose
/// subjects are not its cluster's.
pub fn stream_name(cluster: &str) -> String {
    let mut name = String::from("AURORA_");
    name.extend(cluster.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            c
        } else {
            '_'
        }
    }));
    name
}

/// The subjects the cluster's stream captures.
pub fn stream_subjects(cluster: &str) -> String {
    format!("{PREFIX}.{}.>", token(cluster))
}

/// The subject an event of cluster `cluster` is published under.
pub fn subject(cluster: &str, event: &Event) -> String {
    let aggregate: &'static str = event.aggregate().into();
    let (role, env, job) = match (event.job(), event) {
        (Some(job), _) => (
            token(job.role.as_str()),
            token(job.environment.as_str()),
            token(job.name.as_str()),
        ),
        (None, Event::QuotaSet { role, .. }) => (token(role.as_str()), NONE.into(), NONE.into()),
        (None, _) => (NONE.into(), NONE.into(), NONE.into()),
    };
    format!("{PREFIX}.{}.{aggregate}.{role}.{env}.{job}", token(cluster))
}

/// What a consumer wants to see, narrowed as far as one NATS filter subject can express it.
/// Anything left unset is a wildcard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectFilter {
    pub aggregate: Option<Aggregate>,
    pub role: Option<String>,
    pub environment: Option<String>,
    pub name: Option<String>,
}

impl SubjectFilter {
    /// The filter subject for cluster `cluster`: `aurora.<cluster>.>` when nothing is set.
    pub fn subject(&self, cluster: &str) -> String {
        if *self == Self::default() {
            return stream_subjects(cluster);
        }
        let part = |value: &Option<String>| value.as_deref().map_or("*".to_string(), token);
        let aggregate = self.aggregate.map_or("*", |a| -> &'static str { a.into() });
        format!(
            "{PREFIX}.{}.{aggregate}.{}.{}.{}",
            token(cluster),
            part(&self.role),
            part(&self.environment),
            part(&self.name)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_events::samples;

    #[test]
    fn names_become_single_tokens() {
        assert_eq!(token("www-data"), "www-data");
        assert_eq!(token("a.b"), "a%2Eb");
        assert_eq!(token("50%"), "50%25");
        assert_eq!(token("a b*>"), "a%20b%2A%3E");
        assert_eq!(token(""), "%00");
        for name in ["a.b", "x%2Ey", "..", "a b", "*", ">"] {
            let t = token(name);
            assert!(!t.contains(['.', ' ', '*', '>']), "{name} -> {t}");
            assert_ne!(t, NONE);
        }
        // Escaping is injective on distinct names that look alike once escaped.
        assert_ne!(token("a.b"), token("a%2Eb"));
    }

    #[test]
    fn every_event_has_a_six_token_subject_under_its_cluster() {
        for event in samples::events() {
            let subject = subject("prod.eu", &event);
            let tokens: Vec<&str> = subject.split('.').collect();
            assert_eq!(tokens.len(), 6, "{subject}");
            assert_eq!(tokens[0], "aurora");
            assert_eq!(tokens[1], "prod%2Eeu");
            let aggregate: &str = event.aggregate().into();
            assert_eq!(tokens[2], aggregate);
            if let Some(job) = event.job() {
                assert_eq!(tokens[3], token(job.role.as_str()));
                assert_eq!(tokens[5], token(job.name.as_str()));
            }
        }
    }

    #[test]
    fn filters_put_wildcards_where_nothing_is_asked() {
        assert_eq!(SubjectFilter::default().subject("c"), "aurora.c.>");
        let filter = SubjectFilter {
            aggregate: Some(Aggregate::Task),
            role: Some("www-data".into()),
            ..SubjectFilter::default()
        };
        assert_eq!(filter.subject("c"), "aurora.c.task.www-data.*.*");
        let job = SubjectFilter {
            role: Some("r".into()),
            environment: Some("prod".into()),
            name: Some("a.b".into()),
            ..SubjectFilter::default()
        };
        assert_eq!(job.subject("c"), "aurora.c.*.r.prod.a%2Eb");
    }

    #[test]
    fn stream_names_keep_only_what_jetstream_allows() {
        assert_eq!(stream_name("devcluster"), "AURORA_devcluster");
        assert_eq!(stream_name("prod.eu west"), "AURORA_prod_eu_west");
    }
}
