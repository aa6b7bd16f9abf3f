//! Thin binary: everything lives in the library so it can be tested alone.
fn main() -> std::process::ExitCode {
    slipway::cli::main()
}
