#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let p = dir.path().join("x.tar");
    if std::fs::write(&p, data).is_ok() {
        let _ = slipway::archive::read(&p);
    }
});
