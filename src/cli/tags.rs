//! Tag options shared by `images`, `build`, `publish` and `build-and-publish`.

use clap::Args;

#[derive(Debug, Clone, Default, Args)]
pub struct TagArgs {
    /// Custom tag (repeatable). werf's `WERF_TAG_CUSTOM_<ANY>` variables add more.
    #[arg(long = "tag-custom", value_delimiter = ',')]
    pub custom: Vec<String>,
    /// Tag by git branch (slugged).
    #[arg(long = "tag-git-branch")]
    pub git_branch: Option<String>,
    /// Tag by git tag (slugged).
    #[arg(long = "tag-git-tag")]
    pub git_tag: Option<String>,
    /// Tag by git commit.
    #[arg(long = "tag-git-commit")]
    pub git_commit: Option<String>,
    /// Tag by content signature (werf: --tag-by-stages-signature).
    #[arg(long = "tag-by-content", alias = "tag-by-stages-signature")]
    pub by_content: bool,
    /// Take branch, tag and commit from git in --dir when no tag option is given.
    #[arg(long = "tag-from-git")]
    pub from_git: bool,
}

/// Into the library's tag options; werf's `WERF_TAG_CUSTOM_*` variables add custom tags.
pub fn to_options(t: &TagArgs, settings: &crate::settings::Settings) -> crate::naming::TagOptions {
    let mut custom = t.custom.clone();
    for c in &settings.tag_custom_env {
        if !custom.contains(c) {
            custom.push(c.clone());
        }
    }
    crate::naming::TagOptions {
        custom,
        git_branch: t.git_branch.clone(),
        git_tag: t.git_tag.clone(),
        git_commit: t.git_commit.clone(),
        by_content: t.by_content,
        from_git: t.from_git,
    }
}
