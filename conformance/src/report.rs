//! Module outcomes, the summary table and the machine-readable JSON report.

use serde::Serialize;
use std::fmt;

/// The verdict of one module, in the OpenID Foundation suite's vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Passed,
    Review,
    Warning,
    Skipped,
    Failed,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Passed => "PASSED",
            Status::Review => "REVIEW",
            Status::Warning => "WARNING",
            Status::Skipped => "SKIPPED",
            Status::Failed => "FAILED",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One observation made while a module ran: an unmet expectation, a SHOULD, or a note.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// FAILED, WARNING, REVIEW or PASSED (an informational note).
    pub status: Status,
    /// The specification section the expectation comes from, e.g. "OIDC Core 3.1.3.7".
    pub spec: String,
    pub message: String,
}

/// The result of one module.
#[derive(Clone, Debug, Serialize)]
pub struct ModuleResult {
    /// The Foundation's plan id.
    pub plan: String,
    pub plan_title: String,
    pub module: String,
    pub status: Status,
    /// Why the module was skipped, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_because: Option<String>,
    pub findings: Vec<Finding>,
    pub duration_ms: u128,
}

impl ModuleResult {
    /// One line for the console: status, module, and the reason or first unmet expectation.
    pub fn headline(&self) -> String {
        let reason = if let Some(why) = &self.skipped_because {
            why.clone()
        } else {
            self.findings
                .iter()
                .filter(|f| f.status == self.status && self.status != Status::Passed)
                .map(|f| format!("[{}] {}", f.spec, f.message))
                .next()
                .unwrap_or_default()
        };
        if reason.is_empty() {
            format!("{:<8} {}", self.status.label(), self.module)
        } else {
            format!("{:<8} {} - {}", self.status.label(), self.module, reason)
        }
    }
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub warning: usize,
    pub skipped: usize,
    pub review: usize,
}

impl Totals {
    pub fn of(results: &[ModuleResult]) -> Totals {
        let mut t = Totals::default();
        for r in results {
            match r.status {
                Status::Passed => t.passed += 1,
                Status::Failed => t.failed += 1,
                Status::Warning => t.warning += 1,
                Status::Skipped => t.skipped += 1,
                Status::Review => t.review += 1,
            }
        }
        t
    }

    /// The closing line, exactly as run.sh and CI expect it.
    pub fn line(&self) -> String {
        format!(
            "PASSED {}, FAILED {}, WARNING {}, SKIPPED {}, REVIEW {}",
            self.passed, self.failed, self.warning, self.skipped, self.review
        )
    }
}

/// A Markdown table of every module, suitable for the README.
pub fn table(results: &[ModuleResult]) -> String {
    let mut out = String::from("| plan | module | result | detail |\n|---|---|---|---|\n");
    for r in results {
        let detail = r
            .skipped_because
            .clone()
            .or_else(|| {
                r.findings
                    .iter()
                    .find(|f| f.status == r.status && r.status != Status::Passed)
                    .map(|f| format!("{}: {}", f.spec, f.message))
            })
            .unwrap_or_default()
            .replace('|', "\\|")
            .replace('\n', " ");
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.plan_title, r.module, r.status, detail
        ));
    }
    out
}

#[derive(Serialize)]
struct Report<'a> {
    issuer: &'a str,
    totals: Totals,
    modules: &'a [ModuleResult],
}

pub fn json(issuer: &str, results: &[ModuleResult]) -> String {
    let report = Report {
        issuer,
        totals: Totals::of(results),
        modules: results,
    };
    serde_json::to_string_pretty(&report).expect("the report holds only strings and numbers")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: Status) -> ModuleResult {
        ModuleResult {
            plan: "p".into(),
            plan_title: "P".into(),
            module: "m".into(),
            status,
            skipped_because: None,
            findings: vec![],
            duration_ms: 0,
        }
    }

    #[test]
    fn totals_line_counts_each_status() {
        let rs = [
            result(Status::Passed),
            result(Status::Passed),
            result(Status::Failed),
            result(Status::Review),
        ];
        assert_eq!(
            Totals::of(&rs).line(),
            "PASSED 2, FAILED 1, WARNING 0, SKIPPED 0, REVIEW 1"
        );
    }

    #[test]
    fn table_escapes_pipes() {
        let mut r = result(Status::Failed);
        r.findings.push(Finding {
            status: Status::Failed,
            spec: "RFC 1".into(),
            message: "a|b".into(),
        });
        assert!(table(&[r]).contains("a\\|b"));
    }
}
