//! The one place the CLI prints. Human mode: results on stdout, notes on stderr. `--json`:
//! one stream of JSON lines on stdout (docs/json.md, docs/json-events.schema.json) — a
//! `start` event, then `progress` and `log` events, then exactly one final object with
//! `ok` (`type: result`, or `type: error` carrying the error), whatever happened.

use std::io::Write;
use std::process::ExitCode;
use std::sync::{Mutex, OnceLock};

use serde_json::{Map, Value, json};

struct Mode {
    json: bool,
    command: String,
}

static MODE: OnceLock<Mode> = OnceLock::new();
/// The command's result, printed in the final object.
static RESULT: Mutex<Option<(Value, Option<String>)>> = Mutex::new(None);
/// Serializes lines from concurrent builds and pushes.
static STDOUT: Mutex<()> = Mutex::new(());

/// Set the mode once, before anything is printed; with `--json` the stream starts here.
pub fn init(json: bool, command: &str) {
    let _ = MODE.set(Mode {
        json,
        command: command.to_string(),
    });
    if json {
        event(
            "start",
            "command",
            json!({"version": env!("CARGO_PKG_VERSION")}),
        );
    }
}

/// Whether `--json` is in effect.
pub fn json() -> bool {
    MODE.get().is_some_and(|m| m.json)
}

fn command() -> &'static str {
    MODE.get().map(|m| m.command.as_str()).unwrap_or("slipway")
}

/// One JSON line: `type`, `event`, `command`, timestamps, then `fields`' own keys.
fn emit(kind: &str, name: &str, fields: Value) {
    let now = chrono::Utc::now();
    let mut m = Map::new();
    m.insert("type".into(), kind.into());
    m.insert("event".into(), name.into());
    m.insert("command".into(), command().into());
    m.insert(
        "time".into(),
        now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            .into(),
    );
    m.insert("time_ms".into(), now.timestamp_millis().into());
    if let Value::Object(f) = fields {
        for (k, v) in f {
            m.entry(k).or_insert(v);
        }
    }
    let line = Value::Object(m).to_string();
    let _guard = STDOUT.lock();
    let mut out = std::io::stdout().lock();
    // A closed stdout ends the program quietly (src/main.rs).
    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// A non-final event (`start`, `progress`, `log`); nothing in human mode.
pub fn event(kind: &str, name: &str, fields: Value) {
    if json() {
        emit(kind, name, fields);
    }
}

/// The command's result, printed in the final object (`ok: true`).
pub fn result(value: impl serde::Serialize) -> anyhow::Result<()> {
    let v = serde_json::to_value(value)?;
    if let Ok(mut r) = RESULT.lock() {
        *r = Some((v, None));
    }
    Ok(())
}

/// A result that is a failure (e.g. a doctor check failed): the final object has
/// `ok: false`, this message as the error, and the result.
pub fn failed(value: impl serde::Serialize, message: &str) -> anyhow::Result<()> {
    let v = serde_json::to_value(value)?;
    if let Ok(mut r) = RESULT.lock() {
        *r = Some((v, Some(message.to_string())));
    }
    Ok(())
}

/// Human result text on stdout (silent with `--json`: the final object holds it).
pub fn out(text: &str) {
    if !json() {
        let mut o = std::io::stdout().lock();
        if o.write_all(text.as_bytes())
            .and_then(|_| o.flush())
            .is_err()
        {
            std::process::exit(0);
        }
    }
}

/// [`out`] for a long text, written as it is formatted: a cleanup plan of many thousand
/// lines is never held whole.
pub fn out_display(text: &dyn std::fmt::Display) {
    if !json() {
        let mut o = std::io::BufWriter::new(std::io::stdout().lock());
        if write!(o, "{text}").and_then(|_| o.flush()).is_err() {
            std::process::exit(0);
        }
    }
}

/// A human summary on stderr, so stdout stays the references scripts read (nothing with
/// `--json`: the final object holds it).
pub fn table(text: &str) {
    if !json() {
        eprint!("{text}");
    }
}

/// A human line on stderr; with `--json` a `log` event.
pub fn note(text: &str) {
    if json() {
        emit("log", "log", json!({"level": "info", "message": text}));
    } else {
        eprintln!("{text}");
    }
}

/// What the final object says about an error: its message, and the werf.yaml position
/// when a config error is in the chain.
fn error_value(err: &anyhow::Error) -> Value {
    let mut e = json!({"message": format!("{err:#}")});
    if let Some(c) = err.chain().find_map(|c| {
        // `ProjectError` is transparent, so its config errors are not a link of the chain.
        c.downcast_ref::<crate::config::ConfigErrors>().or(
            match c.downcast_ref::<crate::project::ProjectError>() {
                Some(crate::project::ProjectError::Config(e)) => Some(e),
                _ => None,
            },
        )
    }) {
        let all: Vec<Value> =
            c.0.iter()
                .map(|c| {
                    let mut v = json!({"file": c.file, "message": c.message});
                    if c.line > 0 {
                        v["line"] = c.line.into();
                        v["column"] = c.col.into();
                    }
                    v
                })
                .collect();
        if let Some(first) = all.first() {
            for k in ["file", "line", "column"] {
                if let Some(v) = first.get(k) {
                    e[k] = v.clone();
                }
            }
        }
        e["errors"] = all.into();
    }
    e
}

/// End the command: with `--json` the one final object; in human mode an error on
/// stderr. Returns the exit code.
pub fn finish(res: anyhow::Result<ExitCode>) -> ExitCode {
    let recorded = RESULT.lock().ok().and_then(|mut r| r.take());
    match res {
        Ok(code) => {
            if json() {
                let (value, message) = recorded.unwrap_or((Value::Null, None));
                let failed = message.is_some() || code != ExitCode::SUCCESS;
                if failed {
                    let message = message.unwrap_or_else(|| format!("{} failed", command()));
                    emit(
                        "error",
                        "finish",
                        json!({"ok": false, "error": {"message": message}, "result": value}),
                    );
                } else {
                    emit("result", "finish", json!({"ok": true, "result": value}));
                }
            }
            code
        }
        Err(err) => {
            fail(&err);
            ExitCode::from(1)
        }
    }
}

/// Report an error that ends the program (also before any command started).
pub fn fail(err: &anyhow::Error) {
    if json() {
        emit(
            "error",
            "finish",
            json!({"ok": false, "error": error_value(err)}),
        );
    } else {
        eprintln!("error: {err:#}");
    }
}

/// `--json` before parsing: on the command line (`--json`, `--json=BOOL`) or in
/// `SLIPWAY_JSON`/`WERF_JSON`, so failures of parsing itself can be reported in JSON.
pub fn wants_json(argv: &[std::ffi::OsString], env: &super::Env) -> bool {
    let truthy = |s: &str| crate::settings::werf_names::parse_bool(s).unwrap_or(false);
    for a in argv.iter().skip(1) {
        let a = a.to_string_lossy();
        if a == "--" {
            break;
        }
        if a == "--json" {
            return true;
        }
        if let Some(v) = a.strip_prefix("--json=") {
            return truthy(v);
        }
    }
    env.get("SLIPWAY_JSON").is_some_and(|v| truthy(v))
}

/// A tracing layer that turns log records into `log` events (with `--json`).
pub struct JsonLogs;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for JsonLogs {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        struct Visit(Map<String, Value>);
        impl tracing::field::Visit for Visit {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                self.0.insert(f.name().into(), format!("{v:?}").into());
            }
            fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
                self.0.insert(f.name().into(), v.into());
            }
        }
        let mut v = Visit(Map::new());
        event.record(&mut v);
        let mut m = v.0;
        m.insert(
            "level".into(),
            event.metadata().level().as_str().to_lowercase().into(),
        );
        emit("log", "log", Value::Object(m));
    }
}
