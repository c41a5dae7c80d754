//! Form and query parameters (`Params::parse`): every endpoint's first step.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signoff::http::extract::Params;

fuzz_target!(|data: &[u8]| {
    let params = Params::parse(data);
    let malformed = params.reject_malformed();
    if let Err(e) = &malformed {
        // RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
        if let Some(d) = e.description() {
            assert!(
                d.bytes()
                    .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e)),
                "error_description outside RFC 6749 §5.2: {d:?}"
            );
        }
    }
    for name in ["client_id", "redirect_uri", "scope", "state", "code", ""] {
        let _ = params.get(name);
        let _ = params.is_duplicated(name);
        if let Err(e) = params.require(name) {
            assert_eq!(e.code(), "invalid_request");
        }
    }
    // Re-encoding (a POSTed request repeated as a GET) keeps every value.
    let again = Params::parse(params.to_urlencoded().as_bytes());
    assert!(again.reject_malformed().is_ok() || malformed.is_err());
    for name in ["client_id", "redirect_uri", "scope", "state"] {
        assert_eq!(params.get(name), again.get(name));
    }
});
