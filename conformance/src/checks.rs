//! What a module records while it runs, and how it stops early.

use crate::report::{Finding, Status};

/// Why a module stopped before its end.
#[derive(Debug)]
pub enum Halt {
    /// An expectation failed and the rest of the module depends on it (already recorded).
    Failed,
    /// The module does not apply to this provider or configuration.
    Skip(String),
    /// The runner could not carry on (network error, unexpected page); reported as FAILED.
    Error(String),
}

impl From<String> for Halt {
    fn from(e: String) -> Halt {
        Halt::Error(e)
    }
}

impl From<reqwest::Error> for Halt {
    fn from(e: reqwest::Error) -> Halt {
        Halt::Error(format!("HTTP: {e}"))
    }
}

pub type Step<T = ()> = Result<T, Halt>;

/// An optional value for a message: quoted when present, "absent" otherwise.
pub fn shown(v: Option<&str>) -> String {
    v.map_or_else(|| "absent".to_string(), |s| format!("{s:?}"))
}

pub fn skip<T>(reason: impl Into<String>) -> Step<T> {
    Err(Halt::Skip(reason.into()))
}

#[derive(Default)]
pub struct Checks {
    pub findings: Vec<Finding>,
    pub verbose: bool,
}

impl Checks {
    fn push(&mut self, status: Status, spec: &str, message: String) {
        if self.verbose {
            eprintln!("    {status:<8} [{spec}] {message}");
        }
        self.findings.push(Finding {
            status,
            spec: spec.to_string(),
            message,
        });
    }

    /// Records an unmet MUST and returns the halt to propagate: `return Err(c.fail(..))`.
    pub fn fail(&mut self, spec: &str, message: impl Into<String>) -> Halt {
        self.push(Status::Failed, spec, message.into());
        Halt::Failed
    }

    /// Records an unmet MUST when `ok` is false and carries on; returns `ok`.
    pub fn check(&mut self, ok: bool, spec: &str, message: impl Into<String>) -> bool {
        if !ok {
            self.push(Status::Failed, spec, message.into());
        }
        ok
    }

    /// Like `check`, but stops the module when the expectation is not met.
    pub fn require(&mut self, ok: bool, spec: &str, message: impl Into<String>) -> Step {
        if ok {
            Ok(())
        } else {
            Err(self.fail(spec, message))
        }
    }

    /// Records an unmet SHOULD when `ok` is false.
    pub fn should(&mut self, ok: bool, spec: &str, message: impl Into<String>) -> bool {
        if !ok {
            self.push(Status::Warning, spec, message.into());
        }
        ok
    }

    /// Something a person has to look at (e.g. the text of an error page).
    pub fn review(&mut self, spec: &str, message: impl Into<String>) {
        self.push(Status::Review, spec, message.into());
    }

    /// A passing observation, kept in the JSON report for the record.
    pub fn note(&mut self, spec: &str, message: impl Into<String>) {
        self.push(Status::Passed, spec, message.into());
    }

    /// The module's verdict: the worst finding, PASSED when there is none.
    pub fn verdict(&self) -> Status {
        self.findings
            .iter()
            .map(|f| f.status)
            .max()
            .unwrap_or(Status::Passed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_is_the_worst_finding() {
        let mut c = Checks::default();
        assert_eq!(c.verdict(), Status::Passed);
        c.note("x", "fine");
        c.review("x", "look");
        assert_eq!(c.verdict(), Status::Review);
        c.should(false, "x", "should");
        assert_eq!(c.verdict(), Status::Warning);
        assert!(!c.check(false, "x", "must"));
        assert_eq!(c.verdict(), Status::Failed);
    }

    #[test]
    fn require_halts_only_when_unmet() {
        let mut c = Checks::default();
        assert!(c.require(true, "x", "ok").is_ok());
        assert!(matches!(c.require(false, "x", "no"), Err(Halt::Failed)));
        assert_eq!(c.findings.len(), 1);
    }
}
