//! Scope parameters (RFC 6749 §3.3), as sent to /authorize and /token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signoff::scope::Scope;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let stored = Scope::from_stored(value);
    match Scope::parse(value) {
        Ok(scope) => {
            // A parsed scope is written into responses as is: it must round
            // trip and hold only RFC 6749 §3.3 characters.
            let shown = scope.to_string();
            assert!(
                shown
                    .bytes()
                    .all(|b| b == b' ' || matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
            );
            assert_eq!(Scope::parse(&shown).as_ref(), Ok(&scope));
            assert_eq!(stored, scope);
            assert!(scope.is_subset_of(&scope.union(&stored)));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let _ = Scope::parse_all(&[value, value]);
});
