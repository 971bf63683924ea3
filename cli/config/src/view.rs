//! [`View`]: a struct instance seen from inside the job being materialised, reading its fields
//! with templates resolved through the scopes that enclose it.

use std::sync::Arc;

use crate::coerce::coerce_text;
use crate::error::ConfigError;
use crate::template::{Chain, Ref, resolve};
use crate::value::{Datum, Instance, Ty};

/// A struct instance seen from inside the job: reads fields with templates resolved.
#[derive(Clone)]
pub(crate) struct View {
    pub inst: Arc<Instance>,
    pub chain: Chain,
}

/// Where a runtime reference such as `{{mesos.instance}}` may stay unresolved.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Runtime {
    Allowed,
    Refused,
}

pub(crate) type R<T> = Result<T, ConfigError>;

impl View {
    pub fn err(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::at(&self.inst.origin, message)
    }

    pub fn raw(&self, field: &str) -> Option<&Datum> {
        self.inst.get(field)
    }

    pub fn ty(&self, field: &str) -> Ty {
        self.inst
            .schema
            .index(field)
            .map_or(Ty::String, |i| self.inst.schema.fields[i].ty.clone())
    }

    /// A struct field, seen from inside it.
    pub fn child(&self, field: &str) -> Option<View> {
        let inst = self.raw(field)?.as_instance()?.clone();
        Some(View {
            chain: self.chain.enter(&inst),
            inst,
        })
    }

    /// A list-of-structs field.
    pub fn children(&self, field: &str) -> Vec<View> {
        self.raw(field)
            .and_then(Datum::as_list)
            .unwrap_or_default()
            .iter()
            .filter_map(Datum::as_instance)
            .map(|inst| View {
                chain: self.chain.enter(inst),
                inst: inst.clone(),
            })
            .collect()
    }

    /// Text with templates resolved, and the references nothing bound.
    pub fn resolved(&self, datum: &Datum, field: &str, runtime: Runtime) -> R<(String, Vec<Ref>)> {
        let (text, unbound) = match datum {
            Datum::Str(s) => resolve(s, &self.chain)
                .map_err(|e| self.err(format!("{}: {e}", self.field_name(field))))?,
            other => (other.python_str().unwrap_or_default(), Vec::new()),
        };
        for r in &unbound {
            if r.address().starts_with("docker.image[") {
                return Err(self.err(format!(
                    "{{{{{r}}}}} asks the client to look the image up in the cluster's Docker \
                     registry, which this client does not do: write the image itself, e.g. \
                     'name:tag' (in {})",
                    self.field_name(field)
                )));
            }
            if !r.is_runtime() {
                return Err(self.err(format!(
                    "unbound template variable {r} (in {})",
                    self.field_name(field)
                )));
            }
            if runtime == Runtime::Refused {
                return Err(self.err(format!(
                    "{{{{{r}}}}} is only known when the task runs: it may be used in process \
                     command lines and shell health checks, not in {}",
                    self.field_name(field)
                )));
            }
        }
        Ok((text, unbound))
    }

    pub fn field_name(&self, field: &str) -> String {
        format!("{}.{field}", self.inst.schema.name)
    }

    /// A simple field, resolved and coerced to its type.
    pub fn value(&self, field: &str) -> R<Option<Datum>> {
        let Some(datum) = self.raw(field) else {
            return Ok(None);
        };
        if !matches!(datum, Datum::Str(_)) {
            return Ok(Some(datum.clone()));
        }
        let (text, _) = self.resolved(datum, field, Runtime::Refused)?;
        coerce_text(&text, &self.ty(field))
            .map(Some)
            .map_err(|e| self.err(format!("{}: {e}", self.field_name(field))))
    }

    pub fn string(&self, field: &str) -> R<Option<String>> {
        Ok(self.value(field)?.and_then(|d| d.python_str()))
    }

    pub fn required_string(&self, field: &str, owner: &str) -> R<String> {
        self.string(field)?
            .ok_or_else(|| self.err(format!("{owner} has no {field}")))
    }

    /// A command line: runtime references stay for the executor.
    pub fn command(&self, field: &str) -> R<Option<(String, Vec<Ref>)>> {
        match self.raw(field) {
            None => Ok(None),
            Some(datum) => self.resolved(datum, field, Runtime::Allowed).map(Some),
        }
    }

    pub fn int(&self, field: &str) -> R<Option<i64>> {
        match self.value(field)? {
            None => Ok(None),
            Some(Datum::Int(i)) => Ok(Some(i)),
            Some(Datum::Float(f)) => Ok(Some(f as i64)),
            Some(Datum::Bool(b)) => Ok(Some(i64::from(b))),
            Some(other) => Err(self.err(format!(
                "{} must be an integer, got {}",
                self.field_name(field),
                other.describe()
            ))),
        }
    }

    pub fn float(&self, field: &str) -> R<Option<f64>> {
        match self.value(field)? {
            None => Ok(None),
            Some(Datum::Int(i)) => Ok(Some(i as f64)),
            Some(Datum::Float(f)) => Ok(Some(f)),
            Some(other) => Err(self.err(format!(
                "{} must be a number, got {}",
                self.field_name(field),
                other.describe()
            ))),
        }
    }

    pub fn bool(&self, field: &str) -> R<bool> {
        match self.value(field)? {
            None => Ok(false),
            Some(Datum::Bool(b)) => Ok(b),
            Some(Datum::Int(i)) => Ok(i != 0),
            Some(other) => Err(self.err(format!(
                "{} must be a boolean, got {}",
                self.field_name(field),
                other.describe()
            ))),
        }
    }

    /// A non-negative integer field that fits `T` (absent = 0).
    pub fn count<T: TryFrom<i64>>(&self, field: &str) -> R<T> {
        let value = self.int(field)?.unwrap_or(0);
        T::try_from(value).map_err(|_| {
            self.err(format!(
                "{} must be a non-negative integer in range, got {value}",
                self.field_name(field)
            ))
        })
    }

    /// Whole seconds from a Float field, rounded up (a 0.5 s timeout waits 1 s, not 0).
    pub fn seconds(&self, field: &str) -> R<u32> {
        let value = self.float(field)?.unwrap_or(0.0);
        if !(0.0..=f64::from(u32::MAX)).contains(&value) {
            return Err(self.err(format!(
                "{} must be a non-negative number of seconds, got {value}",
                self.field_name(field)
            )));
        }
        Ok(value.ceil() as u32)
    }

    pub fn strings(&self, field: &str) -> R<Vec<String>> {
        let Some(Datum::List(items)) = self.raw(field) else {
            return Ok(Vec::new());
        };
        items
            .iter()
            .map(|d| Ok(self.resolved(d, field, Runtime::Refused)?.0))
            .collect()
    }

    pub fn string_map(&self, field: &str) -> R<Vec<(String, String)>> {
        let Some(Datum::Map(pairs)) = self.raw(field) else {
            return Ok(Vec::new());
        };
        pairs
            .iter()
            .map(|(k, v)| {
                Ok((
                    self.resolved(k, field, Runtime::Refused)?.0,
                    self.resolved(v, field, Runtime::Refused)?.0,
                ))
            })
            .collect()
    }
}
