#![no_main]
use libfuzzer_sys::fuzz_target;

// Any text: parsing and executing it (with sprig and some data) never panics.
fuzz_target!(|data: (&str, &str)| {
    let t = gotemplate::Templates::with_sprig();
    if t.parse("t", data.0).is_ok() {
        let root = serde_json::from_str(data.1)
            .map(|j| gotemplate::Value::from_json(&j))
            .unwrap_or(gotemplate::Value::Nil);
        let _ = t.execute("t", &root);
    }
});
