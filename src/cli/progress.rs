//! Push progress as it happens: `progress` events with `--json`, a spinner per layer on a
//! terminal, else one `REPOSITORY | layer I/N ...` line as each layer starts and ends (the
//! same `name | message` style as build lines), so a long push in CI is never silent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressStyle};

use super::output;
use crate::transfer::push::{OnProgress, PushProgress};

/// The printer for `log_mode` (`auto`, `plain`, `quiet`).
pub fn pushes(log_mode: &str) -> OnProgress {
    if output::json() {
        return OnProgress(Arc::new(|p: &PushProgress| {
            let Ok(serde_json::Value::Object(mut m)) = serde_json::to_value(p) else {
                return;
            };
            let name = m
                .remove("event")
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            output::event("progress", &name, serde_json::Value::Object(m));
        }));
    }
    if log_mode == "quiet" {
        return OnProgress(Arc::new(|_: &PushProgress| {}));
    }
    if log_mode == "auto" && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return bars();
    }
    OnProgress(Arc::new(|p: &PushProgress| eprintln!("{}", line(p))))
}

fn line(p: &PushProgress) -> String {
    match p {
        PushProgress::LayerStart {
            repository,
            layer,
            layers,
            size,
        } => format!(
            "{repository} | layer {layer}/{layers} pushing ({})",
            HumanBytes(*size)
        ),
        PushProgress::LayerDone {
            repository,
            layer,
            layers,
            digest,
            bytes,
            action,
        } => {
            let short = digest.get(..19).unwrap_or(digest);
            match *action {
                "uploaded" => format!(
                    "{repository} | layer {layer}/{layers} uploaded {} {short}",
                    HumanBytes(*bytes)
                ),
                a => format!("{repository} | layer {layer}/{layers} {a} {short}"),
            }
        }
    }
}

/// A spinner per layer in flight, left with its outcome.
fn bars() -> OnProgress {
    let multi = MultiProgress::new();
    let bars: Mutex<HashMap<(String, usize), ProgressBar>> = Mutex::default();
    let style = ProgressStyle::with_template("{spinner} {wide_msg} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    OnProgress(Arc::new(move |p: &PushProgress| {
        let Ok(mut bars) = bars.lock() else { return };
        match p {
            PushProgress::LayerStart {
                repository, layer, ..
            } => {
                let b = multi.add(ProgressBar::new_spinner());
                b.set_style(style.clone());
                b.set_message(line(p));
                b.enable_steady_tick(std::time::Duration::from_millis(120));
                bars.insert((repository.clone(), *layer), b);
            }
            PushProgress::LayerDone {
                repository, layer, ..
            } => {
                if let Some(b) = bars.remove(&(repository.clone(), *layer)) {
                    b.finish_with_message(line(p));
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_name_the_layer_and_bytes() {
        let start = PushProgress::LayerStart {
            repository: "r.example.com/app".into(),
            layer: 2,
            layers: 3,
            size: 250 * 1024 * 1024,
        };
        assert_eq!(
            line(&start),
            "r.example.com/app | layer 2/3 pushing (250.00 MiB)"
        );
        let done = PushProgress::LayerDone {
            repository: "r.example.com/app".into(),
            layer: 2,
            layers: 3,
            digest: format!("sha256:{}", "ab".repeat(32)),
            bytes: 1536,
            action: "uploaded",
        };
        assert_eq!(
            line(&done),
            "r.example.com/app | layer 2/3 uploaded 1.50 KiB sha256:abababababab"
        );
    }
}
