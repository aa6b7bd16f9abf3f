//! `slipway login HOST -u USER --password-stdin` and `slipway ls REPO`: docker's login for
//! runners without the docker CLI (a static binary, Slipway's image), and a look at what a
//! repository holds when a pipeline misbehaves.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::output;
use crate::project::Run;
use crate::registry::keychain::Keychain;
use crate::registry::{Client, Repository};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  slipway login \"$CI_REGISTRY\" -u \"$CI_REGISTRY_USER\" \\
    --password-stdin <<< \"$CI_REGISTRY_PASSWORD\"
  slipway login ghcr.io -u octocat --password-stdin < token.txt")]
pub struct LoginArgs {
    /// Registry host, with its port if any (`registry.example.com:5000`).
    pub host: String,
    /// User name.
    #[arg(short = 'u', long)]
    pub username: String,
    /// Read the password (or token) from standard input; a trailing line break is dropped.
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  slipway ls registry.example.com/shop/backend
  slipway ls ghcr.io/owner/app --json")]
pub struct LsArgs {
    /// Repository (`HOST/PATH`, no tag).
    pub repo: String,
}

pub async fn login(run: &Run, args: LoginArgs) -> anyhow::Result<ExitCode> {
    let settings = &run.settings;
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("reading the password from standard input")?;
    // `echo "$TOKEN" |` adds a line break that is not part of the password (docker's rule).
    let password = password.trim_end_matches(['\n', '\r']).to_string();
    anyhow::ensure!(
        !password.is_empty(),
        "no password on standard input (pipe it: `echo \"$TOKEN\" | slipway login {} -u {} --password-stdin`)",
        args.host,
        args.username
    );
    let host = args.host.trim_end_matches('/').to_string();
    // Only the given credentials: a stale login in config.json must not make a wrong
    // password look right.
    let mut opts = run.registry_options();
    opts.keychain = Keychain {
        docker_config_dir: None,
        explicit: Some((args.username.clone(), password.clone())),
        podman_auth_files: Vec::new(),
    };
    Client::new(opts)
        .ping(&host)
        .await
        .with_context(|| format!("logging in to {host} as {}", args.username))?;
    let dir = settings
        .docker_config
        .clone()
        .or_else(|| settings.host_env.docker_config_dir())
        .context("no docker config folder: give --docker-config or set DOCKER_CONFIG or HOME")?;
    let stored = crate::registry::login::store(&dir, &host, &args.username, &password)?;
    if let Some(helper) = &stored.removed_helper {
        tracing::warn!(
            "removed credHelpers entry {helper:?} for {host} from {}: it would have been used instead of this login",
            stored.path.display()
        );
    }
    output::out(&format!(
        "Login Succeeded: {host} as {} (saved in {})\n",
        args.username,
        stored.path.display()
    ));
    output::result(serde_json::json!({
        "host": host,
        "username": args.username,
        "config": stored.path,
    }))?;
    Ok(ExitCode::SUCCESS)
}

pub async fn ls(run: &Run, args: LsArgs) -> anyhow::Result<ExitCode> {
    let repo = Repository::parse(&args.repo)?;
    let tags = run
        .client()
        .list_tags(&repo)
        .await
        .with_context(|| format!("listing the tags of {repo}"))?;
    let mut text = String::new();
    let mut referrer_indexes = Vec::new();
    for t in &tags {
        text.push_str(t);
        // OCI 1.1's fallback tag: the index of another manifest's referrers (provenance),
        // not an image; cleanup deletes it with its subject.
        if crate::provenance::attach::is_fallback_tag(t) {
            let subject = t.replacen('-', ":", 1);
            text.push_str(&format!("  (referrers of {subject})"));
            referrer_indexes.push(t.clone());
        }
        text.push('\n');
    }
    output::out(&text);
    output::result(serde_json::json!({
        "repository": repo.to_string(),
        "tags": tags,
        "referrer_indexes": referrer_indexes,
    }))?;
    Ok(ExitCode::SUCCESS)
}
