//! Thin binary: everything lives in the library so it can be tested alone.

/// The static (musl) builds: musl's malloc serialises every thread on one lock, which cost
/// the multi-threaded publish path ~20 % against glibc (docs/benchmarks.md).
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
fn main() -> std::process::ExitCode {
    quiet_on_closed_stdout();
    slipway::cli::main()
}

/// `slipway images --json | head -1`: when the reader goes away, std's printing panics
/// with "Broken pipe". Like ripgrep, end quietly with success instead: the reader has
/// what it wanted. Any other panic keeps the default report.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if payload.contains("Broken pipe") || payload.contains("os error 32") {
            std::process::exit(0);
        }
        default(info);
    }));
}
