use super::*;

#[test]
fn defaults_are_valid() {
    Config::default().validate().unwrap();
    assert_eq!(Config::default().issuer_str(), "http://127.0.0.1:8080");
}

#[test]
fn database_password_is_redacted() {
    let config = Config {
        database_url: "postgres://signoff:s3cr%21t@db:5432/signoff?password=other&sslmode=require"
            .into(),
        ..Config::default()
    };
    let shown = config.database_url_redacted();
    assert!(
        !shown.contains("s3cr") && !shown.contains("other"),
        "{shown}"
    );
    assert!(
        shown.contains("db:5432") && shown.contains("sslmode=require"),
        "{shown}"
    );
    let scrubbed = config.scrub_database_password("auth failed for s3cr!t, other, and s3cr%21t");
    assert!(
        !scrubbed.contains("s3cr") && !scrubbed.contains("other"),
        "{scrubbed}"
    );
}

#[test]
fn default_audience_must_be_an_absolute_uri() {
    let mut config = Config::default();
    assert_eq!(config.default_audience(), "http://127.0.0.1:8080");
    config.tokens.default_audience = Some("not a uri".into());
    assert!(config.validate().is_err());
    config.tokens.default_audience = Some("https://api.example.com".into());
    config.validate().unwrap();
    assert_eq!(config.default_audience(), "https://api.example.com");
}

#[test]
fn plain_http_issuer_is_refused_off_loopback() {
    let config = Config {
        issuer: Url::parse("http://idp.example.com").unwrap(),
        ..Config::default()
    };
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("must be https"), "{err}");
}

#[test]
fn logout_delivery_must_fit_in_the_claim_lease() {
    let mut config = Config::default();
    config.logout.delivery_timeout = Duration::from_secs(45);
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("logout.delivery_timeout"), "{err}");
}

#[test]
fn revocation_settings_are_checked() {
    let refused = |adjust: &dyn Fn(&mut RevocationConfig)| {
        let mut config = Config::default();
        adjust(&mut config.revocation);
        config.validate().unwrap_err().to_string()
    };
    assert!(refused(&|r| r.poll_interval = Duration::ZERO).contains("poll_interval"));
    assert!(refused(&|r| r.poll_interval = Duration::from_secs(61)).contains("poll_interval"));
    assert!(refused(&|r| r.gap_timeout = Duration::from_millis(500)).contains("gap_timeout"));
    assert!(
        refused(&|r| r.session_sweep_interval = Duration::from_millis(10))
            .contains("session_sweep_interval")
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("signoff.toml");
    std::fs::write(&file, "[revocation]\nconsistency = \"strict\"\n").unwrap();
    assert_eq!(
        Config::load(Some(&file)).unwrap().revocation.consistency,
        Consistency::Strict
    );
    std::fs::write(&file, "[revocation]\nconsistency = \"immediate\"\n").unwrap();
    let err = Config::load(Some(&file)).unwrap_err().to_string();
    assert!(err.contains("immediate"), "{err}");
}

#[test]
fn throttle_settings_are_checked() {
    let refused = |adjust: &dyn Fn(&mut ThrottleConfig)| {
        let mut config = Config::default();
        adjust(&mut config.throttle);
        config.validate().unwrap_err().to_string()
    };
    assert!(refused(&|t| t.max_concurrent_hashes = 0).contains("max_concurrent_hashes"));
    assert!(refused(&|t| t.account_failures = 0).contains("account_failures"));
    assert!(refused(&|t| t.window = Duration::from_millis(500)).contains("window"));
    assert!(refused(&|t| t.backoff_base = Duration::from_secs(3600)).contains("backoff_max"));
    assert!(refused(&|t| t.max_tracked = 10).contains("max_tracked"));
}

#[test]
fn http_limits_are_checked() {
    let refused = |adjust: &dyn Fn(&mut Config)| {
        let mut config = Config::default();
        adjust(&mut config);
        config.validate().unwrap_err().to_string()
    };
    assert!(refused(&|c| c.http.max_body_bytes = 10).contains("http.max_body_bytes"));
    assert!(
        refused(&|c| c.http.header_read_timeout = Duration::ZERO)
            .contains("http.header_read_timeout")
    );
    assert!(refused(&|c| c.http.request_timeout = Duration::ZERO).contains("http.request_timeout"));
    assert!(refused(&|c| c.http.max_connections = 0).contains("http.max_connections"));
    assert!(refused(&|c| c.sessions.interaction_burst = 0).contains("sessions.interaction_burst"));
    let mut off = Config::default();
    off.sessions.interactions_per_minute = 0;
    off.sessions.interaction_burst = 0;
    off.validate().unwrap();
}

#[test]
fn long_code_lifetime_is_refused() {
    let mut config = Config::default();
    config.tokens.authorization_code_ttl = Duration::from_secs(3600);
    assert!(config.validate().is_err());
}

#[test]
fn unknown_algorithm_names_are_refused_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("signoff.toml");
    for (toml, named) in [
        ("[keys]\nalgorithms = [\"RS256\", \"HS256\"]\n", "HS256"),
        ("[keys]\ndefault_alg = \"none\"\n", "none"),
    ] {
        std::fs::write(&file, toml).unwrap();
        let err = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(err.contains(named), "{err}");
    }
    std::fs::write(&file, "[keys]\ndefault_alg = \"ES256\"\n").unwrap();
    assert_eq!(
        Config::load(Some(&file)).unwrap().keys.default_alg,
        Algorithm::Es256
    );
}

#[test]
fn key_settings_are_checked() {
    let refused = |adjust: &dyn Fn(&mut KeyConfig)| {
        let mut config = Config::default();
        adjust(&mut config.keys);
        config.validate().unwrap_err().to_string()
    };
    assert!(refused(&|k| k.algorithms = vec![Algorithm::Es256]).contains("RS256"));
    assert!(
        refused(&|k| k.algorithms = vec![Algorithm::Rs256, Algorithm::Rs256]).contains("twice")
    );
    let lead = refused(&|k| k.rotate_every = Duration::from_secs(3600));
    assert!(lead.contains("keys.rotate_every"), "{lead}");
    assert!(refused(&|k| k.master_key = Some("short".into())).contains("keys.master_key"));
    assert!(
        refused(&|k| {
            k.master_key = Some(MasterKeys::generate(&crate::random::OsRandom).into());
            k.master_key_file = Some("keys.txt".into());
        })
        .contains("not both")
    );
    let mut config = Config::default();
    config.keys.algorithms = vec![Algorithm::Rs256, Algorithm::EdDsa];
    config.keys.default_alg = Algorithm::Es256;
    assert!(
        config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("keys.default_alg")
    );
    assert_eq!(format!("{:?}", Secret::from("hunter2")), "Secret(redacted)");
}

#[test]
fn dpop_settings_are_checked() {
    let refused = |adjust: &dyn Fn(&mut Config)| {
        let mut config = Config::default();
        adjust(&mut config);
        config.validate().unwrap_err().to_string()
    };
    assert!(refused(&|c| c.dpop.proof_window = Duration::ZERO).contains("dpop.proof_window"));
    assert!(
        refused(&|c| c.dpop.proof_window = Duration::from_secs(601)).contains("dpop.proof_window")
    );
    assert!(
        refused(&|c| c.dpop.nonce_rotation = Duration::from_secs(9))
            .contains("dpop.nonce_rotation")
    );
    assert!(
        refused(&|c| c.dpop.nonce_rotation = Duration::from_secs(3601))
            .contains("dpop.nonce_rotation")
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("signoff.toml");
    std::fs::write(
        &file,
        "[dpop]\nproof_window = \"2m\"\nrequire_nonce = true\nnonce_rotation = \"1m\"\n",
    )
    .unwrap();
    let dpop = Config::load(Some(&file)).unwrap().dpop;
    assert_eq!(dpop.proof_window, Duration::from_secs(120));
    assert!(dpop.require_nonce);
    assert_eq!(dpop.nonce_rotation, Duration::from_secs(60));
}

#[test]
fn par_and_client_auth_bounds_are_validated() {
    let mut config = Config::default();
    config.par.request_uri_ttl = Duration::from_secs(61);
    assert!(config.validate().is_err());
    config.par.request_uri_ttl = Duration::from_secs(0);
    assert!(config.validate().is_err());
    config.par.request_uri_ttl = Duration::from_secs(30);
    config.validate().unwrap();
    config.client_auth.assertion_max_lifetime = Duration::from_secs(2 * 3600);
    assert!(config.validate().is_err());
    config.client_auth.assertion_max_lifetime = Duration::from_secs(300);
    config.client_auth.jwks_uri_max_bytes = 10;
    assert!(config.validate().is_err());
    config.client_auth.jwks_uri_max_bytes = 64 * 1024;
    config.client_auth.jwks_uri_min_refetch = Duration::from_secs(3600);
    assert!(config.validate().is_err());
}
