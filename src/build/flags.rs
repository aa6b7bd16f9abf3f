//! The build flags as parsed, resolved into [`BuildSettings`] against the environment: the
//! two whose value depends on it (`--parallel`: the CPU count; `--buildkit`: Docker's
//! `DOCKER_BUILDKIT`) are resolved here, in the library, for every build path (build, run,
//! build-and-publish).

use super::{BuildError, BuildKitMode, BuildSettings};

/// `--parallel`: werf's boolean (bare, `=true`, `=false`) or Slipway's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parallel {
    On,
    Off,
    Limit(usize),
}

impl Parallel {
    /// How many at once, given the default when on and `--parallel-tasks-limit`.
    pub fn resolve(p: Option<Parallel>, limit: Option<usize>, default: usize) -> usize {
        match (p, limit) {
            (Some(Parallel::Off), _) => 1,
            (Some(Parallel::Limit(n)), _) => n,
            (_, Some(n)) => n.max(1),
            _ => default.max(1),
        }
    }
}

/// The build flags as the command line gave them.
#[derive(Debug, Clone, Default)]
pub struct ParsedBuildFlags {
    /// The plain flags, as declared on [`BuildSettings`].
    pub settings: BuildSettings,
    pub parallel: Option<Parallel>,
    pub parallel_tasks_limit: Option<usize>,
    pub buildkit: Option<BuildKitMode>,
}

impl ParsedBuildFlags {
    /// The settings a build takes: as many images at once as CPUs unless `--parallel` or
    /// `--parallel-tasks-limit` say otherwise; `--buildkit`, else Docker's `DOCKER_BUILDKIT`
    /// (`Settings::docker_buildkit`), else auto.
    pub fn resolve(self, docker_buildkit: Option<&str>) -> Result<BuildSettings, BuildError> {
        Ok(BuildSettings {
            parallel: Parallel::resolve(self.parallel, self.parallel_tasks_limit, num_cpus::get()),
            buildkit: buildkit_mode(self.buildkit, docker_buildkit)?,
            ..self.settings
        })
    }
}

fn buildkit_mode(
    flag: Option<BuildKitMode>,
    docker_buildkit: Option<&str>,
) -> Result<BuildKitMode, BuildError> {
    use BuildKitMode::*;
    Ok(match (flag, docker_buildkit.map(str::trim)) {
        (Some(m), _) => m,
        (None, None | Some("")) => Auto,
        (None, Some(v)) if v == "1" || v.eq_ignore_ascii_case("true") => On,
        (None, Some(v)) if v == "0" || v.eq_ignore_ascii_case("false") => Off,
        (None, Some(v)) => return Err(BuildError::DockerBuildkit(v.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use BuildKitMode::*;

    #[test]
    fn buildkit_mode_from_flag_then_docker_buildkit() {
        assert_eq!(buildkit_mode(None, None).expect("ok"), Auto);
        assert_eq!(buildkit_mode(None, Some("1")).expect("ok"), On);
        assert_eq!(buildkit_mode(None, Some("false")).expect("ok"), Off);
        assert_eq!(buildkit_mode(Some(Auto), Some("0")).expect("ok"), Auto);
        let e = buildkit_mode(None, Some("yes")).unwrap_err().to_string();
        assert!(e.contains("DOCKER_BUILDKIT=\"yes\""), "{e}");
    }
}
