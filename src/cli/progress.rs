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
    plain()
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
        PushProgress::LayerBytes {
            repository,
            layer,
            layers,
            read,
            size,
        } => format!(
            "{repository} | layer {layer}/{layers} {}% of {}",
            read.saturating_mul(100) / (*size).max(1),
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

/// Plain lines: every start and end, and a big layer's progress at each quarter, so a CI
/// log shows a long upload moving without a line per chunk.
fn plain() -> OnProgress {
    let quarters: Mutex<HashMap<(String, usize), u64>> = Mutex::default();
    OnProgress(Arc::new(move |p: &PushProgress| {
        let Ok(mut seen) = quarters.lock() else {
            return;
        };
        if let Some(l) = plain_line(&mut seen, p) {
            eprintln!("{l}");
        }
    }))
}

/// The plain line for `p`, if it gets one; `seen` holds each layer's last quarter shown.
fn plain_line(seen: &mut HashMap<(String, usize), u64>, p: &PushProgress) -> Option<String> {
    if let PushProgress::LayerBytes {
        repository,
        layer,
        read,
        size,
        ..
    } = p
    {
        let q = read.saturating_mul(4) / (*size).max(1);
        let last = seen.entry((repository.clone(), *layer)).or_insert(0);
        if q <= *last {
            return None;
        }
        *last = q;
    }
    Some(line(p))
}

/// A bar per layer in flight (bytes and rate for layers big enough to report them, a
/// spinner for the rest), left with its outcome.
fn bars() -> OnProgress {
    let multi = MultiProgress::new();
    let bars: Mutex<HashMap<(String, usize), ProgressBar>> = Mutex::default();
    let spinner = ProgressStyle::with_template("{spinner} {wide_msg} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let bar = ProgressStyle::with_template(
        "{spinner} {msg} [{bar:24}] {bytes}/{total_bytes} {bytes_per_sec} {elapsed}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    OnProgress(Arc::new(move |p: &PushProgress| {
        let Ok(mut bars) = bars.lock() else { return };
        match p {
            PushProgress::LayerStart {
                repository,
                layer,
                layers,
                size,
            } => {
                let b = multi.add(ProgressBar::new(*size));
                if *size > BAR_ABOVE {
                    b.set_style(bar.clone());
                    b.set_message(format!("{repository} | layer {layer}/{layers}"));
                } else {
                    b.set_style(spinner.clone());
                    b.set_message(line(p));
                }
                b.enable_steady_tick(std::time::Duration::from_millis(120));
                bars.insert((repository.clone(), *layer), b);
            }
            PushProgress::LayerBytes {
                repository,
                layer,
                read,
                ..
            } => {
                if let Some(b) = bars.get(&(repository.clone(), *layer)) {
                    b.set_position(*read);
                }
            }
            PushProgress::LayerDone {
                repository, layer, ..
            } => {
                if let Some(b) = bars.remove(&(repository.clone(), *layer)) {
                    b.set_style(spinner.clone());
                    b.finish_with_message(line(p));
                }
            }
        }
    }))
}

/// Layers above this size get a byte bar (smaller ones finish before it would move).
const BAR_ABOVE: u64 = 16 * 1024 * 1024;

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

    #[test]
    fn plain_mode_shows_a_big_layer_at_each_quarter_only() {
        let mut seen = HashMap::new();
        let mib = 1024 * 1024;
        let shown: Vec<String> = (1..=12)
            .map(|i| PushProgress::LayerBytes {
                repository: "r/app".into(),
                layer: 1,
                layers: 2,
                read: i * 16 * mib,
                size: 200 * mib,
            })
            .filter_map(|p| plain_line(&mut seen, &p))
            .collect();
        assert_eq!(
            shown,
            [
                "r/app | layer 1/2 32% of 200.00 MiB",
                "r/app | layer 1/2 56% of 200.00 MiB",
                "r/app | layer 1/2 80% of 200.00 MiB",
            ]
        );
    }
}
