//! `slipway build [IMAGE...]`.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use crate::build::{self, BuiltImage, Event, Parallel};
use crate::project::{BuildRequest, Project, Run};

/// `1`, `true`, `yes` mean on (werf's booleans); `0`, `false`, `no` off; `N` ≥ 2 a count.
pub fn parse_parallel(s: &str) -> anyhow::Result<Parallel> {
    if let Ok(b) = crate::settings::werf_names::parse_bool(s) {
        return Ok(if b { Parallel::On } else { Parallel::Off });
    }
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 2 => Ok(Parallel::Limit(n)),
        _ => anyhow::bail!("{s:?}: use true or false (werf), or a number of images built at once"),
    }
}

/// How build output is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogMode {
    /// A progress bar per image on a terminal, else prefixed lines.
    #[default]
    Auto,
    Plain,
    Quiet,
}

impl LogMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LogMode::Auto => "auto",
            LogMode::Plain => "plain",
            LogMode::Quiet => "quiet",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct BuildFlags {
    /// Build images in parallel: bare or true (as many at once as CPUs, the default), false
    /// (one at a time), or a number.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = parse_parallel)]
    pub parallel: Option<Parallel>,
    /// Images built at once when parallel [default: number of CPUs].
    #[arg(long)]
    pub parallel_tasks_limit: Option<usize>,
    /// Plain build flags, declared where the build reads them (`--force`).
    #[command(flatten)]
    pub build: build::BuildSettings,
    /// BuildKit when the daemon supports it (auto), always (on) or never (off: the classic
    /// builder). Needed for `RUN --mount`, werf's `secrets:` and `ssh:`. Without the flag and
    /// SLIPWAY_BUILDKIT, Docker's DOCKER_BUILDKIT=1|0 means on|off [default: auto].
    #[arg(long, value_enum)]
    pub buildkit: Option<build::BuildKitMode>,
    /// Reuse the layers published under this tag in the images repo (BuildKit). Repeatable;
    /// a branch name is slugged like --tag-git-branch, e.g. `main` or the branch: fast
    /// rebuilds on runners without a local cache. Needs --images-repo.
    #[arg(long = "cache-from", value_delimiter = ',')]
    pub cache_from: Vec<String>,
    /// How build output is shown.
    #[arg(long, value_enum, default_value = "auto")]
    pub log_mode: LogMode,
    /// After the build, run a shell (or the command after `--`) as root in the image of
    /// one werf stage of a stapel image: IMAGE/STAGE, e.g. `app/install` (`slipway build`
    /// only; werf's stage names).
    #[arg(long = "introspect-stage", value_name = "IMAGE/STAGE")]
    pub introspect_stage: Vec<String>,
    #[command(flatten)]
    pub werf_ignored: super::werf_compat::IgnoredBuild,
}

impl BuildFlags {
    /// The flags every build path takes (build, run, build-and-publish) as the library's
    /// plain value; the library resolves `--parallel` and `--buildkit` against the
    /// environment ([`build::ParsedBuildFlags::resolve`]).
    pub fn parsed(&self) -> build::ParsedBuildFlags {
        build::ParsedBuildFlags {
            settings: self.build.clone(),
            parallel: self.parallel,
            parallel_tasks_limit: self.parallel_tasks_limit,
            buildkit: self.buildkit,
        }
    }
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Images to build (with their dependencies) [default: all].
    pub images: Vec<String>,
    #[command(flatten)]
    pub tags: super::tags::TagArgs,
    #[command(flatten)]
    pub flags: BuildFlags,
    /// With --introspect-stage: the command to run in the stage (after `--`)
    /// [default: /bin/sh, interactive].
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// Prints build events: JSON lines with `--json`; on a terminal (log mode `auto`) one
/// indicatif bar per image showing its current step; otherwise `image | line` on stderr.
pub fn printer(json: bool, log_mode: &str) -> Arc<dyn Fn(&Event) + Send + Sync> {
    let quiet = log_mode == "quiet";
    if json {
        return Arc::new(|e: &Event| {
            let Ok(serde_json::Value::Object(mut m)) = serde_json::to_value(e) else {
                return;
            };
            let name = m
                .remove("event")
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let kind = match e {
                Event::Start { .. } => "start",
                Event::Log { .. } => "log",
                Event::Skipped { .. } | Event::Done { .. } | Event::Stages { .. } => "progress",
            };
            super::output::event(kind, &name, serde_json::Value::Object(m));
        });
    }
    if log_mode == "auto" && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return bars();
    }
    Arc::new(move |e: &Event| match e {
        Event::Log { image, line } if !quiet => eprintln!("{image} | {line}"),
        Event::Start { image } => eprintln!("{image} | building"),
        Event::Skipped { image, image_id } => {
            eprintln!(
                "{image} | unchanged: same content signature as local image {image_id}, not rebuilt"
            )
        }
        Event::Done { image, seconds, .. } => eprintln!("{image} | built in {seconds:.1}s"),
        _ => {}
    })
}

/// A spinner per image with its latest step line.
fn bars() -> Arc<dyn Fn(&Event) + Send + Sync> {
    use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
    let multi = MultiProgress::new();
    let bars: std::sync::Mutex<std::collections::HashMap<String, ProgressBar>> = Default::default();
    let style = ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    Arc::new(move |e: &Event| {
        let Ok(mut bars) = bars.lock() else { return };
        let bar = |bars: &mut std::collections::HashMap<String, ProgressBar>, image: &str| {
            bars.entry(image.to_string())
                .or_insert_with(|| {
                    let b = multi.add(ProgressBar::new_spinner());
                    b.set_style(style.clone());
                    b.set_prefix(image.to_string());
                    b.enable_steady_tick(std::time::Duration::from_millis(120));
                    b
                })
                .clone()
        };
        match e {
            Event::Start { image } => bar(&mut bars, image).set_message("building"),
            Event::Log { image, line } if build::is_step_line(line) => {
                bar(&mut bars, image).set_message(line.clone())
            }
            Event::Log { .. } | Event::Stages { .. } => {}
            Event::Skipped { image, .. } => {
                bar(&mut bars, image).finish_with_message("unchanged, not rebuilt")
            }
            Event::Done { image, seconds, .. } => {
                bar(&mut bars, image).finish_with_message(format!("built in {seconds:.1}s"))
            }
        }
    })
}

pub fn summary(built: &[BuiltImage]) -> String {
    let mut s = format!(
        "{:<20} {:<8} {:<20} {:>8}\n",
        "IMAGE", "STATUS", "IMAGE ID", "SECONDS"
    );
    for b in built {
        let id = b.image_id.trim_start_matches("sha256:");
        s.push_str(&format!(
            "{:<20} {:<8} {:<20} {:>8.1}\n",
            crate::naming::name::ImageName::from(b.name.as_deref()),
            if b.skipped { "skipped" } else { "built" },
            &id[..id.len().min(12)],
            b.seconds
        ));
    }
    s
}

pub async fn run(run: &Run, args: BuildArgs) -> anyhow::Result<ExitCode> {
    let introspect_stage = match args.flags.introspect_stage.as_slice() {
        [] => None,
        [spec] => Some(spec.clone()),
        _ => anyhow::bail!("--introspect-stage: give one IMAGE/STAGE"),
    };
    if introspect_stage.is_none() && !args.command.is_empty() {
        anyhow::bail!(
            "a command after `--` runs in a stage: give --introspect-stage IMAGE/STAGE too"
        );
    }
    let mut project = Project::open(run)?;
    let prepared = project
        .prepare_build(BuildRequest {
            images: args.images,
            tags: Some(args.tags.options()),
            flags: args.flags.parsed(),
            cache_from: args.flags.cache_from.clone(),
            introspect_stage,
            on_event: printer(super::output::json(), args.flags.log_mode.as_str()),
        })
        .await?;
    let built = project.build(prepared.options, &prepared.sigs).await?;
    super::output::out(&summary(&built));
    if let Some(t) = prepared.introspect {
        let image = project.introspect_image(&prepared.sigs, &t).await?;
        return introspect_run(&image, t.stage, &args.command).await;
    }
    super::output::result(serde_json::json!({"images": built}))?;
    Ok(ExitCode::SUCCESS)
}

/// Run `command` (else an interactive `/bin/sh`) as root in a stage's image with the
/// docker CLI; its exit code is Slipway's.
async fn introspect_run(image: &str, stage: &str, command: &[String]) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let (entrypoint, rest) = match command.split_first() {
        Some((first, rest)) => (first.as_str(), rest),
        None => ("/bin/sh", &[][..]),
    };
    tracing::info!("stage {stage}: running {entrypoint} in {image}");
    let mut c = tokio::process::Command::new("docker");
    c.args(["run", "--rm", "-i", "--user", "0:0"]);
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        c.arg("-t");
    }
    let status = c
        .args(["--entrypoint", entrypoint, image])
        .args(rest)
        .status()
        .await
        .map_err(|e| anyhow::anyhow!("starting the docker CLI (docker run {image}): {e}"))?;
    Ok(match status.code() {
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::from(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_is_werf_boolean_or_a_count() {
        assert_eq!(parse_parallel("true").ok(), Some(Parallel::On));
        assert_eq!(parse_parallel("1").ok(), Some(Parallel::On));
        assert_eq!(parse_parallel("no").ok(), Some(Parallel::Off));
        assert_eq!(parse_parallel("4").ok(), Some(Parallel::Limit(4)));
        assert!(parse_parallel("many").is_err());
        assert_eq!(Parallel::resolve(None, None, 8), 8);
        assert_eq!(Parallel::resolve(Some(Parallel::On), Some(3), 8), 3);
        assert_eq!(Parallel::resolve(Some(Parallel::Off), Some(3), 8), 1);
        assert_eq!(Parallel::resolve(Some(Parallel::Limit(2)), None, 8), 2);
    }
}
