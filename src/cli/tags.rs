//! Tag options shared by `images`, `build`, `publish` and `build-and-publish`.

use clap::Args;

#[derive(Debug, Clone, Default, Args)]
pub struct TagArgs {
    /// Custom tag (repeatable).
    #[arg(long = "tag-custom", env = "SLIPWAY_TAG_CUSTOM", value_delimiter = ',')]
    pub custom: Vec<String>,
    /// Tag by git branch (slugged).
    #[arg(long = "tag-git-branch", env = "SLIPWAY_TAG_GIT_BRANCH")]
    pub git_branch: Option<String>,
    /// Tag by git tag (slugged).
    #[arg(long = "tag-git-tag", env = "SLIPWAY_TAG_GIT_TAG")]
    pub git_tag: Option<String>,
    /// Tag by git commit.
    #[arg(long = "tag-git-commit", env = "SLIPWAY_TAG_GIT_COMMIT")]
    pub git_commit: Option<String>,
    /// Tag by content signature (werf: --tag-by-stages-signature).
    #[arg(
        long = "tag-by-content",
        alias = "tag-by-stages-signature",
        env = "SLIPWAY_TAG_BY_CONTENT"
    )]
    pub by_content: bool,
    /// Take branch, tag and commit from git in --dir when no tag option is given.
    #[arg(long = "tag-from-git", env = "SLIPWAY_TAG_FROM_GIT")]
    pub from_git: bool,
}

/// Into the library's tag options.
pub fn to_options(t: &TagArgs) -> crate::naming::TagOptions {
    crate::naming::TagOptions {
        custom: t.custom.clone(),
        git_branch: t.git_branch.clone(),
        git_tag: t.git_tag.clone(),
        git_commit: t.git_commit.clone(),
        by_content: t.by_content,
        from_git: t.from_git,
    }
}
