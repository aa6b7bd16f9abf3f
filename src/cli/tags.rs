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

impl TagArgs {
    /// The flags as the library's tag options; the library adds werf's
    /// `WERF_TAG_CUSTOM_*` variables ([`crate::naming::TagOptions::with_custom_env`]).
    pub fn options(&self) -> crate::naming::TagOptions {
        crate::naming::TagOptions {
            custom: self.custom.clone(),
            git_branch: self.git_branch.clone(),
            git_tag: self.git_tag.clone(),
            git_commit: self.git_commit.clone(),
            by_content: self.by_content,
            from_git: self.from_git,
        }
    }
}
