#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    if let Ok(r) = slipway::registry::reference::Reference::parse(data) {
        let again = slipway::registry::reference::Reference::parse(&r.to_string());
        assert_eq!(again.ok(), Some(r));
    }
});
