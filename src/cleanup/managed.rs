//! `managed-images ls|add|rm` (werf 1.1's command): the images cleanup looks after besides
//! werf.yaml's. `ls` reads werf 1.1's `managed-image-*` records (in the stages storage of
//! `-s`) and Slipway's list (the image names of its records in the images repo); `add` and
//! `rm` change Slipway's list, and `rm` also deletes werf's record. `add` and `rm` are
//! plans first ([`plan_add`], [`plan_rm`]) that `--dry-run` prints.

use std::collections::BTreeMap;

use super::CleanupError;
use super::run::{WerfNotRead, WerfSource, read_werf};
use crate::daemon::Connection;
use crate::naming::Naming;
use crate::naming::name::ImageName;
use crate::records::{self, werf};
use crate::registry::{Client, Repository};

/// Where the managed images are kept for this run, as the command resolved it.
pub struct Lists<'a> {
    pub client: &'a Client,
    /// Slipway's list (`--images-repo`), if given.
    pub naming: Option<&'a Naming>,
    /// werf 1.1's records (`-s`).
    pub werf: &'a WerfSource,
    /// The project's name, for werf's records in the local daemon (werf 1.1 reads werf.yaml
    /// for it only if it loads: `GetOptionalWerfConfig`; without it the name is empty).
    pub project: &'a str,
    pub daemon: &'a Connection,
}

impl<'a> Lists<'a> {
    /// Both lists, or the error that says neither was given.
    pub fn new(
        client: &'a Client,
        naming: Option<&'a Naming>,
        werf: &'a WerfSource,
        project: &'a str,
        daemon: &'a Connection,
    ) -> Result<Self, CleanupError> {
        if naming.is_none() && matches!(werf, WerfSource::NotGiven) {
            return Err(CleanupError::NoManagedImagesList);
        }
        Ok(Lists {
            client,
            naming,
            werf,
            project,
            daemon,
        })
    }
}

/// What `ls` found: each name with (in werf's records, in Slipway's list), and why werf's
/// records were not read, if they were not.
pub struct Listing {
    pub names: BTreeMap<String, (bool, bool)>,
    pub werf_not_read: Option<WerfNotRead>,
}

/// Read both lists.
pub async fn list(lists: &Lists<'_>) -> Result<Listing, CleanupError> {
    let mut names: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    let mut werf_not_read = None;
    if !matches!(lists.werf, WerfSource::NotGiven) {
        match read_werf(lists.werf, lists.project, lists.client, lists.daemon).await? {
            Ok(w) => {
                for n in w.managed_names() {
                    let name = ImageName::from(n.as_deref()).to_string();
                    names.entry(name).or_default().0 = true;
                }
            }
            Err(why) => werf_not_read = Some(why),
        }
    }
    if let Some(naming) = lists.naming {
        let read = records::read(lists.client, naming).await?;
        for n in records::image_names(&read) {
            let name = ImageName::from(n.as_deref()).to_string();
            names.entry(name).or_default().1 = true;
        }
    }
    Ok(Listing {
        names,
        werf_not_read,
    })
}

/// One record `add` or `rm` writes or deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Slipway's name record in the images repo.
    SlipwayList { repo: Repository, tag: String },
    /// werf 1.1's `managed-image-<slug>` record in its stages storage.
    WerfRecord { repo: Repository, tag: String },
    /// werf 1.1's record in the local daemon (`-s :local`).
    WerfLocal { project: String, slug: String },
}

/// `add NAME` or `rm NAME`: the records it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPlan {
    /// As given on the command line (`~`: the nameless image).
    pub name: String,
    /// The image it means.
    image: Option<String>,
    pub add: bool,
    pub changes: Vec<Change>,
}

impl std::fmt::Display for ManagedPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, c) in self.changes.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            match (self.add, c) {
                (true, Change::SlipwayList { repo, tag }) => {
                    write!(f, "add {}: record {repo}:{tag}", self.name)?
                }
                (false, Change::SlipwayList { repo, tag }) => {
                    write!(f, "delete {repo}:{tag} (Slipway's list)")?
                }
                (_, Change::WerfRecord { repo, tag }) => {
                    write!(f, "delete {repo}:{tag} (werf 1.1's record)")?
                }
                (_, Change::WerfLocal { project, slug }) => write!(
                    f,
                    "delete {}/{project}:{slug} in the local daemon (werf 1.1's record)",
                    werf::LOCAL_MANAGED_REPO
                )?,
            }
        }
        Ok(())
    }
}

/// `add NAME`: a record in Slipway's list (werf's records are werf's to write).
pub fn plan_add(lists: &Lists<'_>, name: &str) -> Result<ManagedPlan, CleanupError> {
    let naming = lists.naming.ok_or(CleanupError::NoImagesRepo {
        command: "managed-images add",
    })?;
    let image = ImageName::parse(name).into_option();
    let (repo, tag) = records::name_record(naming, image.as_deref())?;
    Ok(ManagedPlan {
        name: name.to_string(),
        image,
        add: true,
        changes: vec![Change::SlipwayList { repo, tag }],
    })
}

/// `rm NAME`: Slipway's record and werf's, wherever each list is.
pub fn plan_rm(lists: &Lists<'_>, name: &str) -> Result<ManagedPlan, CleanupError> {
    let image = ImageName::parse(name).into_option();
    let mut changes = Vec::new();
    if let Some(n) = lists.naming {
        let (repo, tag) = records::name_record(n, image.as_deref())?;
        changes.push(Change::SlipwayList { repo, tag });
    }
    let slug = werf::slug_image(image.as_deref());
    match lists.werf {
        WerfSource::Repo(r) => changes.push(Change::WerfRecord {
            repo: r.clone(),
            tag: format!("{}{slug}", werf::MANAGED_PREFIX),
        }),
        WerfSource::Local => changes.push(Change::WerfLocal {
            project: lists.project.to_string(),
            slug,
        }),
        WerfSource::NotGiven => {}
    }
    Ok(ManagedPlan {
        name: name.to_string(),
        image,
        add: false,
        changes,
    })
}

/// Carry a plan out; `false`: nothing changed (the name was already in the list, or in
/// none of them).
pub async fn apply(lists: &Lists<'_>, plan: &ManagedPlan) -> Result<bool, CleanupError> {
    let image = plan.image.as_deref();
    let mut changed = false;
    for c in &plan.changes {
        changed |= match c {
            // Planned only where `--images-repo` names the list.
            Change::SlipwayList { .. } => {
                let Some(n) = lists.naming else { continue };
                if plan.add {
                    records::add_image_name(lists.client, n, image).await?
                } else {
                    records::remove_image_name(lists.client, n, image).await?
                }
            }
            Change::WerfRecord { repo, .. } => {
                werf::remove_managed(lists.client, repo, image).await?
            }
            Change::WerfLocal { project, .. } => {
                let docker = lists.daemon.get().await?;
                werf::remove_managed_local(docker, project, image).await?
            }
        };
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rm_plans_every_list_given_and_add_only_slipways() {
        let settings = crate::settings::Settings {
            images_repo: Some("r.example/proj".into()),
            ..Default::default()
        };
        let naming = Naming::new(&settings).expect("naming").expect("a repo");
        let client = Client::new(Default::default());
        let daemon = Connection::new(Default::default());
        let werf = WerfSource::Repo(Repository::parse("r.example/stages").expect("repo"));
        let lists = Lists::new(&client, Some(&naming), &werf, "shop", &daemon).expect("lists");
        let rm = plan_rm(&lists, "web/api").expect("plan");
        let text = rm.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].ends_with("(Slipway's list)"), "{text}");
        assert_eq!(
            lines[1],
            "delete r.example/stages:managed-image-web__slash__api (werf 1.1's record)"
        );
        let add = plan_add(&lists, "web/api").expect("plan");
        assert_eq!(add.changes.len(), 1);
        assert!(add.to_string().starts_with("add web/api: record "), "{add}");

        let local = WerfSource::Local;
        let lists = Lists::new(&client, None, &local, "shop", &daemon).expect("lists");
        assert_eq!(
            plan_rm(&lists, "~").expect("plan").to_string(),
            format!(
                "delete {}/shop:{} in the local daemon (werf 1.1's record)",
                werf::LOCAL_MANAGED_REPO,
                werf::slug_image(None)
            )
        );
        assert!(matches!(
            plan_add(&lists, "app"),
            Err(CleanupError::NoImagesRepo { .. })
        ));
        let none = WerfSource::NotGiven;
        assert!(matches!(
            Lists::new(&client, None, &none, "", &daemon),
            Err(CleanupError::NoManagedImagesList)
        ));
    }
}
