//! signoff-conformance: OpenID Foundation-style conformance plans for any OpenID Provider.
//!
//! The runner is an RP (the `openidconnect` crate) and a person (`browser`), configured
//! only with the issuer, test clients and a test user. See conformance/README.md.

mod browser;
mod checks;
mod client_auth;
mod config;
mod jwt;
mod op;
mod plans;
mod proof;
mod receiver;
mod report;

use checks::{Checks, Halt};
use config::{Config, PLANS};
use report::{ModuleResult, Status, Totals};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// No module may take longer than this (the longest waits 30 seconds by design).
const MODULE_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `--print-jwks KEY.pem`: the public JWK Set to register a private_key_jwt client with.
    if let [flag, path] = args.as_slice()
        && flag == "--print-jwks"
    {
        return match proof::SigningKey::from_pem_file(std::path::Path::new(path)) {
            Ok(key) => {
                println!("{}", key.public_jwks());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("signoff-conformance: {e}");
                ExitCode::from(2)
            }
        };
    }
    let cfg = match Config::from_args(&args) {
        Ok(Some(cfg)) => cfg,
        Ok(None) => {
            print!("{}", config::usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("signoff-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    match run(cfg).await {
        Ok(failed) if !failed => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("signoff-conformance: {e}");
            println!(
                "{}",
                Totals {
                    failed: 1,
                    ..Totals::default()
                }
                .line()
            );
            ExitCode::FAILURE
        }
    }
}

/// Runs every selected module; returns whether any FAILED.
async fn run(cfg: Config) -> Result<bool, String> {
    let known: Vec<&str> = PLANS.iter().flat_map(|p| plans::modules(p.short)).collect();
    if let Some(m) = cfg.modules.iter().find(|m| !known.contains(&m.as_str())) {
        return Err(format!("unknown module {m:?}"));
    }
    let rx = receiver::Receiver::start(cfg.receiver_bind).await?;
    let op = op::Op::discover(cfg.clone(), rx).await?;
    println!("issuer {}", cfg.issuer);
    println!(
        "RP endpoints: redirect_uri {}, post_logout_redirect_uri {}, backchannel_logout_uri {}, \
         frontchannel_logout_uri {}",
        cfg.redirect_uri,
        cfg.post_logout_redirect_uri,
        cfg.backchannel_logout_uri,
        cfg.frontchannel_logout_uri
    );
    let mut results = Vec::new();
    for plan in &cfg.plans {
        let plan = PLANS
            .iter()
            .find(|p| p.short == *plan)
            .expect("plans are validated by Config");
        let selected: Vec<&str> = plans::modules(plan.short)
            .into_iter()
            .filter(|m| cfg.modules.is_empty() || cfg.modules.iter().any(|x| x == m))
            .collect();
        if selected.is_empty() {
            continue;
        }
        if plan.variant.is_empty() {
            println!("\n== {} ({})", plan.title, plan.id);
        } else {
            println!("\n== {} ({}[{}])", plan.title, plan.id, plan.variant);
        }
        for module in selected {
            let result = run_module(&op, plan, module).await;
            println!("{}", result.headline());
            if cfg.verbose || result.status == Status::Failed {
                for f in result
                    .findings
                    .iter()
                    .filter(|f| f.status != Status::Passed)
                {
                    println!("           {} [{}] {}", f.status, f.spec, f.message);
                }
            }
            results.push(result);
        }
    }
    println!("\n{}", report::table(&results));
    if let Some(path) = &cfg.report {
        std::fs::write(path, report::json(&cfg.issuer, &results))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let totals = Totals::of(&results);
    println!("{}", totals.line());
    Ok(totals.failed > 0)
}

async fn run_module(op: &op::Op, plan: &config::Plan, module: &str) -> ModuleResult {
    let started = Instant::now();
    let mut c = Checks {
        verbose: op.cfg.verbose,
        ..Checks::default()
    };
    if op.cfg.verbose {
        eprintln!("  -- {module}");
    }
    let outcome = match tokio::time::timeout(
        MODULE_TIMEOUT,
        plans::run(plan.short, module, op, &mut c),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(Halt::Error(format!(
            "the module did not finish within {}s",
            MODULE_TIMEOUT.as_secs()
        ))),
    };
    let mut skipped_because = None;
    let status = match outcome {
        Ok(()) | Err(Halt::Failed) => c.verdict(),
        Err(Halt::Skip(why)) => {
            skipped_because = Some(why);
            // A module may only skip before it found anything wrong.
            match c.verdict() {
                Status::Failed | Status::Warning => c.verdict(),
                _ => Status::Skipped,
            }
        }
        Err(Halt::Error(e)) => {
            c.fail("runner", e);
            Status::Failed
        }
    };
    ModuleResult {
        plan: plan.id.to_string(),
        plan_title: if plan.variant.is_empty() {
            plan.title.to_string()
        } else {
            format!("{} [{}]", plan.title, plan.variant)
        },
        module: module.to_string(),
        status,
        skipped_because,
        findings: c.findings,
        duration_ms: started.elapsed().as_millis(),
    }
}
