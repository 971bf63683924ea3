//! Job keys as users type them: `CLUSTER/ROLE/ENV/NAME`, optionally followed by `/INSTANCES`
//! with Aurora's syntax (`0-2`, `0,1-3,5`).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use aurora_events::{InstanceId, JobKey};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("{input:?} is not a job key: expected CLUSTER/ROLE/ENV/NAME")]
    Shape { input: String },
    #[error("{input:?}: {source}")]
    Part {
        input: String,
        source: aurora_events::Error,
    },
    #[error("{input:?}: invalid pattern: {reason}")]
    Pattern { input: String, reason: String },
    #[error("{input:?}: invalid instance spec {spec:?}: {reason}")]
    Instances {
        input: String,
        spec: String,
        reason: String,
    },
}

/// A job in a named cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterJobKey {
    pub cluster: String,
    pub job: JobKey,
}

impl fmt::Display for ClusterJobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.cluster, self.job)
    }
}

impl FromStr for ClusterJobKey {
    type Err = KeyError;
    fn from_str(input: &str) -> Result<Self, KeyError> {
        let parts: Vec<&str> = input.split('/').collect();
        let [cluster, role, env, name] = parts.as_slice() else {
            return Err(KeyError::Shape {
                input: input.to_string(),
            });
        };
        if cluster.is_empty() {
            return Err(KeyError::Shape {
                input: input.to_string(),
            });
        }
        let job = JobKey::new(role, env, name).map_err(|source| KeyError::Part {
            input: input.to_string(),
            source,
        })?;
        Ok(Self {
            cluster: cluster.to_string(),
            job,
        })
    }
}

/// A job key with an optional instance set: `None` means every instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    pub key: ClusterJobKey,
    pub instances: Option<BTreeSet<InstanceId>>,
}

impl FromStr for InstanceSpec {
    type Err = KeyError;
    fn from_str(input: &str) -> Result<Self, KeyError> {
        let parts: Vec<&str> = input.split('/').collect();
        match parts.len() {
            4 => Ok(Self {
                key: input.parse()?,
                instances: None,
            }),
            5 => {
                let key = parts[..4].join("/").parse()?;
                let instances =
                    parse_instances(parts[4]).map_err(|reason| KeyError::Instances {
                        input: input.to_string(),
                        spec: parts[4].to_string(),
                        reason,
                    })?;
                Ok(Self {
                    key,
                    instances: Some(instances),
                })
            }
            _ => Err(KeyError::Shape {
                input: input.to_string(),
            }),
        }
    }
}

/// Parses `0`, `0-2`, `0,1-3,5` into a set of instance ids.
pub fn parse_instances(spec: &str) -> Result<BTreeSet<InstanceId>, String> {
    let mut out = BTreeSet::new();
    for part in spec.split(',') {
        let part = part.trim();
        let number = |s: &str| {
            s.trim()
                .parse::<InstanceId>()
                .map_err(|_| format!("{s:?} is not an instance number"))
        };
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (number(first)?, number(last)?);
                if first > last {
                    return Err(format!("range {first}-{last} is backwards"));
                }
                if last - first >= 100_000 {
                    return Err(format!("range {first}-{last} is too large"));
                }
                out.extend(first..=last);
            }
            None => {
                out.insert(number(part)?);
            }
        }
    }
    Ok(out)
}

/// `CLUSTER[/ROLE[/ENV[/NAME]]]` for `job status` and `job list`; the role, environment and
/// name may hold shell-style wildcards (`*`, `?`, `[ab]`), and a missing part matches anything.
#[derive(Debug, Clone)]
pub struct KeyPattern {
    pub cluster: String,
    parts: Vec<globset::GlobMatcher>,
    text: String,
}

impl KeyPattern {
    /// Whether `job` matches.
    pub fn matches(&self, job: &JobKey) -> bool {
        let values = [
            job.role.as_str(),
            job.environment.as_str(),
            job.name.as_str(),
        ];
        self.parts
            .iter()
            .zip(values)
            .all(|(glob, value)| glob.is_match(value))
    }

    /// The role, when the pattern names one literally (lets the scheduler filter).
    pub fn literal_role(&self) -> Option<&str> {
        self.literal_part(1)
    }

    /// The environment, when the pattern names one literally.
    pub fn literal_environment(&self) -> Option<&str> {
        self.literal_part(2)
    }

    /// The job name, when the pattern names one literally.
    pub fn literal_name(&self) -> Option<&str> {
        self.literal_part(3)
    }

    fn literal_part(&self, index: usize) -> Option<&str> {
        let part = self.text.split('/').nth(index)?;
        (!part.contains(['*', '?', '['])).then_some(part)
    }
}

impl fmt::Display for KeyPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for KeyPattern {
    type Err = KeyError;
    fn from_str(input: &str) -> Result<Self, KeyError> {
        let mut pieces = input.split('/');
        let cluster = pieces.next().unwrap_or_default();
        let rest: Vec<&str> = pieces.collect();
        if cluster.is_empty() || rest.len() > 3 || rest.iter().any(|p| p.is_empty()) {
            return Err(KeyError::Shape {
                input: input.to_string(),
            });
        }
        let parts = rest
            .iter()
            .map(|part| {
                globset::Glob::new(part)
                    .map(|glob| glob.compile_matcher())
                    .map_err(|e| KeyError::Pattern {
                        input: input.to_string(),
                        reason: e.kind().to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            cluster: cluster.to_string(),
            parts,
            text: input.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_and_instances_like_aurora() {
        let spec: InstanceSpec = "devcluster/www-data/prod/hello/0,1-3,5".parse().unwrap();
        assert_eq!(spec.key.to_string(), "devcluster/www-data/prod/hello");
        assert_eq!(spec.instances, Some(BTreeSet::from([0, 1, 2, 3, 5])));
        let all: InstanceSpec = "devcluster/www-data/prod/hello".parse().unwrap();
        assert_eq!(all.instances, None);
    }

    #[test]
    fn errors_name_the_problem() {
        let shape = "devcluster/www-data/hello"
            .parse::<ClusterJobKey>()
            .unwrap_err();
        assert!(
            shape.to_string().contains("CLUSTER/ROLE/ENV/NAME"),
            "{shape}"
        );
        let part = "c/www data/prod/hello"
            .parse::<ClusterJobKey>()
            .unwrap_err();
        assert!(part.to_string().contains("www data"), "{part}");
        let backwards = "c/r/prod/j/3-1".parse::<InstanceSpec>().unwrap_err();
        assert!(backwards.to_string().contains("backwards"), "{backwards}");
        let junk = "c/r/prod/j/1,x".parse::<InstanceSpec>().unwrap_err();
        assert!(junk.to_string().contains("\"x\""), "{junk}");
    }

    #[test]
    fn patterns_match_with_wildcards_and_missing_parts() {
        let job = |text: &str| text.parse::<ClusterJobKey>().unwrap().job;
        let all: KeyPattern = "devcluster".parse().unwrap();
        assert!(all.matches(&job("devcluster/www-data/prod/hello")));
        let some: KeyPattern = "devcluster/www-data/*/hel*".parse().unwrap();
        assert!(some.matches(&job("devcluster/www-data/prod/hello")));
        assert!(!some.matches(&job("devcluster/www-data/prod/world")));
        assert!(!some.matches(&job("devcluster/other/prod/hello")));
        assert_eq!(some.literal_role(), Some("www-data"));
        assert_eq!(some.literal_environment(), None);
        assert_eq!(some.literal_name(), None);
        let exact: KeyPattern = "devcluster/www-data/prod/hello".parse().unwrap();
        assert_eq!(exact.literal_environment(), Some("prod"));
        assert_eq!(exact.literal_name(), Some("hello"));
        let wild: KeyPattern = "devcluster/w*".parse().unwrap();
        assert_eq!(wild.literal_role(), None);
        assert!("devcluster/a/b/c/d".parse::<KeyPattern>().is_err());
        assert!("/a".parse::<KeyPattern>().is_err());
    }
}
