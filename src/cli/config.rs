//! `slipway config render|validate`.

use std::process::ExitCode;

use clap::Subcommand;

use super::output;
use crate::config;
use crate::settings::Settings;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print werf.yaml after Go-template rendering.
    Render {
        /// Print the Dockerfile Slipway generates for this stapel image or artifact
        /// instead (`~` for the nameless image). The base image's USER is not looked up
        /// here: a base that runs as another user also gets `USER 0:0` and its USER back.
        #[arg(long, value_name = "IMAGE")]
        dockerfile: Option<String>,
    },
    /// Check werf.yaml and report every error as FILE:LINE:COL.
    Validate,
}

pub async fn run(settings: &Settings, cmd: ConfigCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCommand::Render {
            dockerfile: Some(name),
        } => {
            let cfg = config::load(settings)?;
            let key = (name != crate::naming::name::NAMELESS).then_some(name.as_str());
            let node = cfg
                .node(key)
                .ok_or_else(|| anyhow::anyhow!("no image or artifact {name:?} in werf.yaml"))?;
            if let Some(d) = node.dockerfile() {
                anyhow::bail!(
                    "image {name} is a Dockerfile image: its Dockerfile is {}",
                    d.dockerfile_path.display()
                );
            }
            let env = crate::stapel::Env::new(&cfg);
            let g = crate::stapel::generate(&env, node, None)
                .map_err(|e| anyhow::anyhow!("image {name}: {e}"))?;
            output::out(&g.dockerfile);
            output::result(serde_json::json!({ "image": name, "dockerfile": g.dockerfile }))?;
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Render { dockerfile: None } => {
            let r = config::render_config(settings)?;
            output::out(&r.text);
            output::result(serde_json::json!({
                "path": r.path,
                "text": r.text,
            }))?;
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Validate => {
            let cfg = config::load(settings)?;
            let names: Vec<&str> = cfg.images.iter().map(|i| i.display_name()).collect();
            output::out(&format!(
                "{}: project {}, {} image(s): {}\n",
                cfg.path.display(),
                cfg.project,
                cfg.images.len(),
                names.join(", ")
            ));
            output::result(&cfg)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
