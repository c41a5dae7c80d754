//! Runner configuration: a TOML file and/or command-line flags (flags win).
//!
//! The runner knows nothing of the provider beyond its issuer URL, the test clients'
//! credentials and the test user; everything else comes from discovery.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

pub const USAGE: &str = "\
signoff-conformance: run OpenID Foundation-style conformance plans against an OpenID Provider

USAGE:
  signoff-conformance --issuer URL [--plan PLAN]... [options]

OPTIONS:
  --config FILE                TOML configuration (see conformance/reference/conformance.toml)
  --issuer URL                 the provider's issuer identifier
  --plan PLAN                  basic | config | rp-logout | backchannel | frontchannel | tokens | all
                               (repeatable; the OpenID Foundation plan ids are accepted too)
  --module NAME                run only this module (repeatable)
  --client-id ID               the main test client (client_secret_basic)
  --client-secret SECRET
  --client ROLE=ID[:SECRET]    another test client; ROLE is one of post, second, unsigned,
                               backchannel, frontchannel (repeatable)
  --username NAME              the test user
  --password PASSWORD
  --receiver-bind ADDR         where the runner's redirect/logout receiver listens (127.0.0.1:8975)
  --redirect-uri URI           defaults to http://ADDR/cb
  --post-logout-redirect-uri URI  defaults to http://ADDR/logged-out
  --idp-logout-command CMD     shell command that ends the user's session at the provider
                               (gets CONFORMANCE_SUB, CONFORMANCE_SID, CONFORMANCE_USERNAME)
  --report FILE                write a JSON report
  --fast                       shorten the 30-second wait of oidcc-codereuse-30seconds to 2 seconds
  -v, --verbose                print every page and request the runner makes
";

/// A plan: the short name used on the command line, the Foundation's plan id, a title.
pub struct Plan {
    pub short: &'static str,
    pub id: &'static str,
    pub title: &'static str,
}

/// Plans in the order they run.
pub const PLANS: &[Plan] = &[
    Plan {
        short: "config",
        id: "oidcc-config-certification-test-plan",
        title: "Config OP",
    },
    Plan {
        short: "basic",
        id: "oidcc-basic-certification-test-plan",
        title: "Basic OP",
    },
    Plan {
        short: "rp-logout",
        id: "oidcc-rp-initiated-logout-certification-test-plan",
        title: "RP-Initiated Logout OP",
    },
    Plan {
        short: "backchannel",
        id: "oidcc-backchannel-rp-initiated-logout-certification-test-plan",
        title: "Back-Channel Logout OP",
    },
    Plan {
        short: "frontchannel",
        id: "oidcc-frontchannel-rp-initiated-logout-certification-test-plan",
        title: "Front-Channel Logout OP",
    },
    Plan {
        short: "tokens",
        id: "signoff-oauth-token-management-test-plan",
        title: "OAuth token management",
    },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCfg {
    pub id: String,
    pub secret: Option<String>,
    #[serde(default = "default_auth")]
    pub auth: AuthMethod,
}

fn default_auth() -> AuthMethod {
    AuthMethod::ClientSecretBasic
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserCfg {
    pub username: Option<String>,
    pub password: Option<String>,
}

/// The TOML file, every field optional so flags can fill the gaps.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    issuer: Option<String>,
    plans: Option<Vec<String>>,
    receiver_bind: Option<String>,
    redirect_uri: Option<String>,
    post_logout_redirect_uri: Option<String>,
    idp_logout_command: Option<String>,
    #[serde(default)]
    user: UserCfg,
    /// Roles: main, post, second, unsigned, backchannel, frontchannel.
    #[serde(default)]
    clients: BTreeMap<String, ClientCfg>,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub issuer: String,
    /// Short plan names, in run order.
    pub plans: Vec<&'static str>,
    pub modules: Vec<String>,
    pub receiver_bind: SocketAddr,
    pub redirect_uri: String,
    pub post_logout_redirect_uri: String,
    pub backchannel_logout_uri: String,
    pub frontchannel_logout_uri: String,
    pub username: String,
    pub password: String,
    /// The main confidential client (client_secret_basic).
    pub main: ClientCfg,
    /// A client authenticating with client_secret_post; SKIPPED modules without it.
    pub post: Option<ClientCfg>,
    /// A second confidential client, for cross-client checks.
    pub second: Option<ClientCfg>,
    /// A client registered with id_token_signed_response_alg=none.
    pub unsigned: Option<ClientCfg>,
    /// A client registered with backchannel_logout_uri = backchannel_logout_uri above.
    pub backchannel: Option<ClientCfg>,
    /// A client registered with frontchannel_logout_uri = frontchannel_logout_uri above.
    pub frontchannel: Option<ClientCfg>,
    pub idp_logout_command: Option<String>,
    pub report: Option<PathBuf>,
    pub fast: bool,
    pub verbose: bool,
}

/// Maps a plan name (short or the Foundation's id) to its short name.
pub fn plan_short_name(name: &str) -> Option<&'static str> {
    PLANS
        .iter()
        .find(|p| p.short == name || p.id == name)
        .map(|p| p.short)
}

fn parse_client_flag(value: &str) -> Result<(String, ClientCfg), String> {
    let (role, rest) = value
        .split_once('=')
        .ok_or_else(|| format!("--client expects ROLE=ID[:SECRET], got {value:?}"))?;
    let (id, secret) = match rest.split_once(':') {
        Some((id, secret)) => (id.to_string(), Some(secret.to_string())),
        None => (rest.to_string(), None),
    };
    let auth = match (role, &secret) {
        ("post", _) => AuthMethod::ClientSecretPost,
        (_, None) => AuthMethod::None,
        _ => AuthMethod::ClientSecretBasic,
    };
    Ok((role.to_string(), ClientCfg { id, secret, auth }))
}

impl Config {
    /// Parses the command line (without the program name). `Ok(None)` means `--help`.
    pub fn from_args(args: &[String]) -> Result<Option<Config>, String> {
        let mut flags: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut fast = false;
        let mut verbose = false;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
                _ => (arg.as_str(), None),
            };
            let name = match name {
                "-h" | "--help" => return Ok(None),
                "-v" | "--verbose" => {
                    verbose = true;
                    continue;
                }
                "--fast" => {
                    fast = true;
                    continue;
                }
                "--config"
                | "--issuer"
                | "--plan"
                | "--module"
                | "--client-id"
                | "--client-secret"
                | "--client"
                | "--username"
                | "--password"
                | "--receiver-bind"
                | "--redirect-uri"
                | "--post-logout-redirect-uri"
                | "--idp-logout-command"
                | "--report" => name,
                other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
            };
            let value = match inline {
                Some(v) => v,
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))?,
            };
            flags.entry(name.to_string()).or_default().push(value);
        }
        let last = |k: &str| flags.get(k).and_then(|v| v.last().cloned());

        let file: FileConfig = match last("--config") {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {path}: {e}"))?;
                toml::from_str(&text).map_err(|e| format!("{path}: {e}"))?
            }
            None => FileConfig::default(),
        };
        let mut clients = file.clients;
        for value in flags.get("--client").into_iter().flatten() {
            let (role, client) = parse_client_flag(value)?;
            clients.insert(role, client);
        }
        if let Some(id) = last("--client-id") {
            clients.insert(
                "main".into(),
                ClientCfg {
                    id,
                    secret: last("--client-secret"),
                    auth: AuthMethod::ClientSecretBasic,
                },
            );
        }
        for role in clients.keys() {
            if ![
                "main",
                "post",
                "second",
                "unsigned",
                "backchannel",
                "frontchannel",
            ]
            .contains(&role.as_str())
            {
                return Err(format!("unknown client role {role:?}"));
            }
        }

        let issuer = last("--issuer")
            .or(file.issuer)
            .ok_or("--issuer (or issuer in the config file) is required")?;
        let plan_names = match flags.get("--plan") {
            Some(p) => p.clone(),
            None => file.plans.unwrap_or_else(|| vec!["all".into()]),
        };
        let mut plans = Vec::new();
        for name in plan_names.iter().flat_map(|p| p.split(',')) {
            if name == "all" {
                plans = PLANS.iter().map(|p| p.short).collect();
                break;
            }
            let short = plan_short_name(name).ok_or_else(|| format!("unknown plan {name:?}"))?;
            if !plans.contains(&short) {
                plans.push(short);
            }
        }
        // Keep the canonical order so reports line up between runs.
        plans.sort_by_key(|p| PLANS.iter().position(|x| x.short == *p));

        let bind = last("--receiver-bind")
            .or(file.receiver_bind)
            .unwrap_or_else(|| "127.0.0.1:8975".into());
        let receiver_bind: SocketAddr = bind
            .parse()
            .map_err(|e| format!("--receiver-bind {bind:?}: {e}"))?;
        let base = format!("http://{receiver_bind}");
        let main = clients
            .remove("main")
            .ok_or("the main client is required (--client-id/--client-secret or [clients.main])")?;
        let username = last("--username")
            .or(file.user.username)
            .ok_or("--username (or [user] username) is required")?;
        let password = last("--password")
            .or(file.user.password)
            .ok_or("--password (or [user] password) is required")?;
        Ok(Some(Config {
            issuer,
            plans,
            modules: flags.get("--module").cloned().unwrap_or_default(),
            receiver_bind,
            redirect_uri: last("--redirect-uri")
                .or(file.redirect_uri)
                .unwrap_or_else(|| format!("{base}/cb")),
            post_logout_redirect_uri: last("--post-logout-redirect-uri")
                .or(file.post_logout_redirect_uri)
                .unwrap_or_else(|| format!("{base}/logged-out")),
            backchannel_logout_uri: format!("{base}/backchannel"),
            frontchannel_logout_uri: format!("{base}/frontchannel"),
            username,
            password,
            main,
            post: clients.remove("post"),
            second: clients.remove("second"),
            unsigned: clients.remove("unsigned"),
            backchannel: clients.remove("backchannel"),
            frontchannel: clients.remove("frontchannel"),
            idp_logout_command: last("--idp-logout-command").or(file.idp_logout_command),
            report: last("--report").map(PathBuf::from),
            fast,
            verbose,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn flags_build_a_config() {
        let cfg = Config::from_args(&args(
            "--issuer http://op --plan basic,config --client-id c --client-secret s \
             --username alice --password pw --client post=p:ps --client second=x",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(cfg.plans, vec!["config", "basic"]);
        assert_eq!(cfg.main.secret.as_deref(), Some("s"));
        assert_eq!(cfg.post.unwrap().auth, AuthMethod::ClientSecretPost);
        assert_eq!(cfg.second.unwrap().auth, AuthMethod::None);
        assert_eq!(cfg.redirect_uri, "http://127.0.0.1:8975/cb");
    }

    #[test]
    fn unknown_plan_is_an_error() {
        let err = Config::from_args(&args(
            "--issuer x --plan nope --client-id c --username a --password b",
        ))
        .unwrap_err();
        assert!(err.contains("unknown plan"));
    }

    #[test]
    fn missing_client_is_an_error() {
        assert!(Config::from_args(&args("--issuer x --username a --password b")).is_err());
    }

    #[test]
    fn help_returns_none() {
        assert!(Config::from_args(&args("--help")).unwrap().is_none());
    }
}
