#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: (&str, &str)| {
    if let Ok(ig) = slipway::context::Ignore::parse(data.0, ".dockerignore") {
        let _ = ig.excluded(data.1);
    }
});
