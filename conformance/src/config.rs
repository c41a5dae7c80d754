//! Runner configuration: a TOML file and/or command-line flags (flags win).
//!
//! The runner knows nothing of the provider beyond its issuer URL, the test clients'
//! credentials and the test user; everything else comes from discovery.

use clap::{CommandFactory, Parser};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The command line. Repeatable options collect; a single-valued option given
/// twice keeps the last value, as a flag overriding the file does.
#[derive(Parser, Debug)]
#[command(
    name = "signoff-conformance",
    about = "Run OpenID Foundation-style conformance plans against an OpenID Provider",
    args_override_self = true
)]
struct Args {
    /// TOML configuration (see conformance/reference/conformance.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The provider's issuer identifier.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// basic | basic-private-key-jwt | formpost-basic | config | rp-logout | backchannel |
    /// frontchannel | tokens | ssf | fapi2 | all, comma-separated or repeated; the OpenID
    /// Foundation plan ids are accepted too.
    #[arg(long = "plan", value_name = "PLAN")]
    plans: Vec<String>,
    /// Run only this module (repeatable).
    #[arg(long = "module", value_name = "NAME")]
    modules: Vec<String>,
    /// The main test client (client_secret_basic).
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    #[arg(long, value_name = "SECRET")]
    client_secret: Option<String>,
    /// Another test client; ROLE is one of post, second, unsigned, backchannel, frontchannel,
    /// ssf (client_credentials, scope ssf.manage), ssf_read (scope ssf.read) (repeatable).
    /// The private_key_jwt and fapi2 roles need a key file: configure them in the TOML file.
    #[arg(long = "client", value_name = "ROLE=ID[:SECRET]", value_parser = parse_client_flag)]
    clients: Vec<(String, ClientCfg)>,
    /// The test user.
    #[arg(long, value_name = "NAME")]
    username: Option<String>,
    #[arg(long, value_name = "PASSWORD")]
    password: Option<String>,
    /// Where the runner's redirect/logout receiver listens [default: 127.0.0.1:8975].
    #[arg(long, value_name = "ADDR")]
    receiver_bind: Option<String>,
    /// Defaults to http://ADDR/cb.
    #[arg(long, value_name = "URI")]
    redirect_uri: Option<String>,
    /// Defaults to http://ADDR/logged-out.
    #[arg(long, value_name = "URI")]
    post_logout_redirect_uri: Option<String>,
    /// Shell command that ends the user's session at the provider (gets CONFORMANCE_SUB,
    /// CONFORMANCE_SID, CONFORMANCE_USERNAME).
    #[arg(long, value_name = "CMD")]
    idp_logout_command: Option<String>,
    /// Write a JSON report.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Shorten the 30-second wait of oidcc-codereuse-30seconds to 2 seconds.
    #[arg(long)]
    fast: bool,
    /// Stand a defective Shared Signals transmitter in for the provider in this module
    /// (openid-ssf-*): the module must then FAIL.
    #[arg(long, value_name = "MODULE")]
    ssf_fault: Option<String>,
    /// Print every page and request the runner makes.
    #[arg(short, long)]
    verbose: bool,
}

/// The `--help` text.
pub fn usage() -> String {
    Args::command().render_help().to_string()
}

/// A plan: the short name used on the command line, the Foundation's plan id, a title, and
/// the Foundation's variant parameters where the plan is one plan id run with other variants
/// (the suite's `plan[param=value]` notation), empty otherwise.
pub struct Plan {
    pub short: &'static str,
    pub id: &'static str,
    pub title: &'static str,
    pub variant: &'static str,
}

/// Plans in the order they run.
pub const PLANS: &[Plan] = &[
    Plan {
        short: "config",
        id: "oidcc-config-certification-test-plan",
        title: "Config OP",
        variant: "",
    },
    Plan {
        short: "basic",
        id: "oidcc-basic-certification-test-plan",
        title: "Basic OP",
        variant: "",
    },
    Plan {
        short: "basic-private-key-jwt",
        id: "oidcc-basic-certification-test-plan",
        title: "Basic OP",
        variant: "client_auth_type=private_key_jwt",
    },
    Plan {
        short: "formpost-basic",
        id: "oidcc-formpost-basic-certification-test-plan",
        title: "Form Post Basic OP",
        variant: "response_mode=form_post",
    },
    Plan {
        short: "rp-logout",
        id: "oidcc-rp-initiated-logout-certification-test-plan",
        title: "RP-Initiated Logout OP",
        variant: "",
    },
    Plan {
        short: "backchannel",
        id: "oidcc-backchannel-rp-initiated-logout-certification-test-plan",
        title: "Back-Channel Logout OP",
        variant: "",
    },
    Plan {
        short: "frontchannel",
        id: "oidcc-frontchannel-rp-initiated-logout-certification-test-plan",
        title: "Front-Channel Logout OP",
        variant: "",
    },
    Plan {
        short: "tokens",
        id: "signoff-oauth-token-management-test-plan",
        title: "OAuth token management",
        variant: "",
    },
    Plan {
        short: "ssf",
        id: "openid-ssf-transmitter-test-plan",
        title: "Shared Signals Transmitter",
        variant: "",
    },
    Plan {
        short: "fapi2",
        id: "fapi2-security-profile-final-test-plan",
        title: "FAPI2 Security Profile (PAR, DPoP)",
        variant: "client_auth_type=private_key_jwt][sender_constrain=dpop][openid=openid_connect\
                  ][fapi_profile=plain_fapi",
    },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// RFC 7523 §2.2 / OIDC Core 9: a signed assertion; the client's `key` signs it.
    PrivateKeyJwt,
    None,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCfg {
    pub id: String,
    pub secret: Option<String>,
    #[serde(default = "default_auth")]
    pub auth: AuthMethod,
    /// private_key_jwt: a PEM file with the client's P-256 private key (ES256).
    #[serde(default)]
    pub key: Option<PathBuf>,
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
    /// Roles: main, post, second, unsigned, backchannel, frontchannel, ssf, ssf_read,
    /// private_key_jwt, fapi2.
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
    /// A Shared Signals receiver: client_credentials with scope ssf.manage.
    pub ssf: Option<ClientCfg>,
    /// The same with scope ssf.read only.
    pub ssf_read: Option<ClientCfg>,
    /// A client authenticating with private_key_jwt (the Basic plan's private_key_jwt variant).
    pub private_key_jwt: Option<ClientCfg>,
    /// A private_key_jwt client registered with dpop_bound_access_tokens (the FAPI2 modules).
    pub fapi2: Option<ClientCfg>,
    /// The response_mode every authorization request carries (a plan's variant), or none.
    pub response_mode: Option<&'static str>,
    /// The module run against a defective transmitter (fault injection).
    pub ssf_fault: Option<String>,
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
    Ok((
        role.to_string(),
        ClientCfg {
            id,
            secret,
            auth,
            key: None,
        },
    ))
}

impl Config {
    /// Parses the command line (without the program name). `Ok(None)` means `--help`.
    pub fn from_args(args: &[String]) -> Result<Option<Config>, String> {
        let args = match Args::try_parse_from(
            std::iter::once("signoff-conformance").chain(args.iter().map(String::as_str)),
        ) {
            Ok(args) => args,
            Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => return Ok(None),
            Err(e) => return Err(e.render().to_string()),
        };
        let file: FileConfig = match &args.config {
            Some(path) => {
                let path = path.display();
                let text = std::fs::read_to_string(path.to_string())
                    .map_err(|e| format!("cannot read {path}: {e}"))?;
                toml::from_str(&text).map_err(|e| format!("{path}: {e}"))?
            }
            None => FileConfig::default(),
        };
        let mut clients = file.clients;
        for (role, client) in args.clients {
            clients.insert(role, client);
        }
        if let Some(id) = args.client_id {
            clients.insert(
                "main".into(),
                ClientCfg {
                    id,
                    secret: args.client_secret,
                    auth: AuthMethod::ClientSecretBasic,
                    key: None,
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
                "ssf",
                "ssf_read",
                "private_key_jwt",
                "fapi2",
            ]
            .contains(&role.as_str())
            {
                return Err(format!("unknown client role {role:?}"));
            }
        }
        for (role, client) in &clients {
            if client.auth == AuthMethod::PrivateKeyJwt && client.key.is_none() {
                return Err(format!(
                    "client role {role:?} uses private_key_jwt but has no key file"
                ));
            }
        }

        let issuer = args
            .issuer
            .or(file.issuer)
            .ok_or("--issuer (or issuer in the config file) is required")?;
        let plan_names = if args.plans.is_empty() {
            file.plans.unwrap_or_else(|| vec!["all".into()])
        } else {
            args.plans
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

        let bind = args
            .receiver_bind
            .or(file.receiver_bind)
            .unwrap_or_else(|| "127.0.0.1:8975".into());
        let receiver_bind: SocketAddr = bind
            .parse()
            .map_err(|e| format!("--receiver-bind {bind:?}: {e}"))?;
        let base = format!("http://{receiver_bind}");
        let main = clients
            .remove("main")
            .ok_or("the main client is required (--client-id/--client-secret or [clients.main])")?;
        let username = args
            .username
            .or(file.user.username)
            .ok_or("--username (or [user] username) is required")?;
        let password = args
            .password
            .or(file.user.password)
            .ok_or("--password (or [user] password) is required")?;
        Ok(Some(Config {
            issuer,
            plans,
            modules: args.modules,
            receiver_bind,
            redirect_uri: args
                .redirect_uri
                .or(file.redirect_uri)
                .unwrap_or_else(|| format!("{base}/cb")),
            post_logout_redirect_uri: args
                .post_logout_redirect_uri
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
            ssf: clients.remove("ssf"),
            ssf_read: clients.remove("ssf_read"),
            private_key_jwt: clients.remove("private_key_jwt"),
            fapi2: clients.remove("fapi2"),
            response_mode: None,
            ssf_fault: args.ssf_fault,
            idp_logout_command: args.idp_logout_command.or(file.idp_logout_command),
            report: args.report,
            fast: args.fast,
            verbose: args.verbose,
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
        assert!(Config::from_args(&args("-h")).unwrap().is_none());
        assert!(usage().contains("--idp-logout-command"));
    }

    #[test]
    fn unknown_flags_and_bad_clients_are_errors() {
        let err = Config::from_args(&args("--issuer x --nope")).unwrap_err();
        assert!(err.contains("--nope"), "{err}");
        let err = Config::from_args(&args(
            "--issuer x --client-id c --username a --password b --client nosep",
        ))
        .unwrap_err();
        assert!(err.contains("ROLE=ID"), "{err}");
    }

    fn config_file(name: &str, text: &str) -> String {
        let path = std::env::temp_dir().join(format!(
            "signoff-conformance-{}-{name}.toml",
            std::process::id()
        ));
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    #[test]
    fn a_private_key_jwt_client_needs_a_key_file_and_keeps_it() {
        let base = "issuer = \"http://op\"\n[user]\nusername = \"a\"\npassword = \"b\"\n\
                    [clients.main]\nid = \"m\"\nsecret = \"s\"\n";
        let without = config_file(
            "nokey",
            &format!("{base}[clients.private_key_jwt]\nid = \"p\"\nauth = \"private_key_jwt\"\n"),
        );
        let err = Config::from_args(&args(&format!("--config {without}"))).unwrap_err();
        assert!(err.contains("no key file"), "{err}");
        let with = config_file(
            "key",
            &format!(
                "{base}[clients.fapi2]\nid = \"f\"\nauth = \"private_key_jwt\"\nkey = \"/k.pem\"\n"
            ),
        );
        let cfg = Config::from_args(&args(&format!("--config {with}")))
            .unwrap()
            .unwrap();
        let fapi2 = cfg.fapi2.unwrap();
        assert_eq!(fapi2.auth, AuthMethod::PrivateKeyJwt);
        assert_eq!(fapi2.key.unwrap().display().to_string(), "/k.pem");
        assert!(cfg.private_key_jwt.is_none());
        assert!(cfg.plans.contains(&"fapi2") && cfg.plans.contains(&"formpost-basic"));
    }

    #[test]
    fn a_repeated_single_flag_keeps_the_last_value_and_equals_forms_work() {
        let cfg = Config::from_args(&args(
            "--issuer=http://first --issuer http://op --client-id c --username a --password b \
             --module m1 --module m2 -v --fast",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(cfg.issuer, "http://op");
        assert_eq!(cfg.modules, vec!["m1", "m2"]);
        assert!(cfg.verbose && cfg.fast);
        assert_eq!(cfg.plans.len(), PLANS.len());
    }
}
