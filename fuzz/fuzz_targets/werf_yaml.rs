#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    let input = slipway::config::render::RenderInput { dir: std::env::temp_dir(), ..Default::default() };
    let text = slipway::config::render::render("werf.yaml", data, &input).unwrap_or_else(|_| data.to_string());
    let rendered = slipway::config::Rendered {
        path: "/nonexistent/werf.yaml".into(),
        dir: "/nonexistent".into(),
        text,
        origins: Default::default(),
        werf_version: None,
        monorepo: false,
    };
    let _ = slipway::config::load::parse(&rendered);
});
