//! The session's file sync (BuildKit's `moby.filesync.v1.FileSync/DiffCopy`, fsutil's send
//! side): how docker's CLI hands BuildKit the context and the Dockerfile as two separate
//! folders. Used when `.dockerignore` excludes a Dockerfile that a `COPY` reaches: given
//! a context tar, BuildKit reads the Dockerfile from the tar and copies it with the rest;
//! given the Dockerfile apart, it does not.
//!
//! The protocol: one `STAT` packet per entry (parents before children, names sorted), an
//! empty `STAT` to end the list; the receiver asks for files by their index (`REQ`), each
//! answered by `DATA` packets and an empty `DATA`; a `FIN` from the receiver, echoed.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;

use bollard_buildkit_proto::fsutil::types::packet::PacketType;
use bollard_buildkit_proto::fsutil::types::{Packet, Stat};
use bollard_buildkit_proto::moby::filesync::v1::file_sync_server::FileSync;
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::context::{Entry, Kind};

/// Go's `os.ModeDir` and `os.ModeSymlink`, as fsutil's `Stat.mode` carries them.
const GO_MODE_DIR: u32 = 1 << 31;
const GO_MODE_SYMLINK: u32 = 1 << 27;
/// Bytes per `DATA` packet (fsutil sends 32 KiB).
const CHUNK: usize = 32 * 1024;

/// One entry of a synced folder, with where its bytes come from.
#[derive(Debug, Clone)]
pub struct SyncFile {
    pub stat: Stat,
    pub source: Source,
}

#[derive(Debug, Clone)]
pub enum Source {
    None,
    Path(std::path::PathBuf),
}

/// The folders the session serves, by the name BuildKit asks for (`context`,
/// `dockerfile`).
#[derive(Debug, Clone, Default)]
pub struct Dirs(pub Arc<BTreeMap<String, Vec<SyncFile>>>);

impl Dirs {
    /// The context as the walk kept it (docker's `.dockerignore` already applied, with
    /// git's modes, zero times and owners, as in the context tar), and the Dockerfile
    /// alone in a folder of its own, as `name`.
    pub fn new(entries: &[Entry], dockerfile: &std::path::Path, name: &str) -> Dirs {
        let context = entries
            .iter()
            .map(|e| {
                let (mode, size, linkname, source) = match &e.kind {
                    Kind::Dir => (GO_MODE_DIR | 0o755, 0, String::new(), Source::None),
                    Kind::File { size } => (
                        crate::context::normalized_mode(e.mode),
                        *size as i64,
                        String::new(),
                        Source::Path(e.abs.clone()),
                    ),
                    Kind::Symlink { target } => {
                        (GO_MODE_SYMLINK | 0o777, 0, target.clone(), Source::None)
                    }
                };
                SyncFile {
                    stat: Stat {
                        path: e.rel.clone(),
                        mode,
                        size,
                        linkname,
                        ..Stat::default()
                    },
                    source,
                }
            })
            .collect();
        let size = std::fs::metadata(dockerfile).map(|m| m.len()).unwrap_or(0);
        let dockerfile = vec![SyncFile {
            stat: Stat {
                path: name.to_string(),
                mode: 0o644,
                size: size as i64,
                ..Stat::default()
            },
            source: Source::Path(dockerfile.to_path_buf()),
        }];
        Dirs(Arc::new(BTreeMap::from([
            ("context".to_string(), context),
            ("dockerfile".to_string(), dockerfile),
        ])))
    }
}

/// gRPC metadata values of `key` (fsutil sends lists as repeated values).
fn values(req: &Request<tonic::Streaming<Packet>>, key: &str) -> Vec<String> {
    req.metadata()
        .get_all(key)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect()
}

/// Only `follow` and the folders above them, when BuildKit asks for some paths only (the
/// `.dockerignore`, the Dockerfile).
fn followed(files: &[SyncFile], follow: &[String]) -> Vec<SyncFile> {
    if follow.is_empty() {
        return files.to_vec();
    }
    let wanted = |p: &str| {
        follow.iter().any(|f| {
            let f = f.trim_start_matches("./").trim_start_matches('/');
            f == p || f.starts_with(&format!("{p}/"))
        })
    };
    files
        .iter()
        .filter(|f| wanted(&f.stat.path))
        .cloned()
        .collect()
}

fn packet(kind: PacketType) -> Packet {
    Packet {
        r#type: kind as i32,
        ..Packet::default()
    }
}

#[tonic::async_trait]
impl FileSync for Dirs {
    type DiffCopyStream = Pin<Box<dyn Stream<Item = Result<Packet, Status>> + Send>>;
    type TarStreamStream = Pin<Box<dyn Stream<Item = Result<Packet, Status>> + Send>>;

    async fn diff_copy(
        &self,
        req: Request<tonic::Streaming<Packet>>,
    ) -> Result<Response<Self::DiffCopyStream>, Status> {
        let dir = values(&req, "dir-name")
            .into_iter()
            .next()
            .unwrap_or_default();
        let Some(all) = self.0.get(&dir) else {
            return Err(Status::not_found(format!(
                "no folder {dir:?} in this session"
            )));
        };
        let files = followed(all, &values(&req, "followpaths"));
        let mut incoming = req.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Packet, Status>>(16);
        tokio::spawn(async move {
            for f in &files {
                let p = Packet {
                    stat: Some(f.stat.clone()),
                    ..packet(PacketType::PacketStat)
                };
                if tx.send(Ok(p)).await.is_err() {
                    return;
                }
            }
            if tx.send(Ok(packet(PacketType::PacketStat))).await.is_err() {
                return;
            }
            while let Some(msg) = incoming.next().await {
                let Ok(p) = msg else { return };
                match PacketType::try_from(p.r#type) {
                    Ok(PacketType::PacketReq) => {
                        let id = p.id;
                        let sent = match files.get(id as usize).map(|f| &f.source) {
                            Some(Source::Path(path)) => send_file(&tx, id, path).await,
                            _ => Err(SendError::NoFile(id)),
                        };
                        if let Err(e) = sent {
                            let _ = tx
                                .send(Ok(Packet {
                                    data: e.to_string().into_bytes(),
                                    ..packet(PacketType::PacketErr)
                                }))
                                .await;
                            return;
                        }
                    }
                    Ok(PacketType::PacketFin) => {
                        let _ = tx.send(Ok(packet(PacketType::PacketFin))).await;
                        return;
                    }
                    Ok(PacketType::PacketErr) => {
                        tracing::debug!(
                            "file sync: the daemon says {}",
                            String::from_utf8_lossy(&p.data)
                        );
                        return;
                    }
                    _ => {}
                }
            }
        });
        Ok(Response::new(Box::pin(futures::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|p| (p, rx)) },
        ))))
    }

    async fn tar_stream(
        &self,
        _req: Request<tonic::Streaming<Packet>>,
    ) -> Result<Response<Self::TarStreamStream>, Status> {
        Err(Status::unimplemented("tar streams are not served"))
    }
}

/// Why a file the daemon asked for was not sent (the text goes back to it).
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("no file with id {0}")]
    NoFile(u32),
    #[error("{}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the daemon stopped reading")]
    Closed,
}

async fn send_file(
    tx: &tokio::sync::mpsc::Sender<Result<Packet, Status>>,
    id: u32,
    path: &std::path::Path,
) -> Result<(), SendError> {
    use tokio::io::AsyncReadExt;
    let read = |source| SendError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut f = tokio::fs::File::open(path).await.map_err(read)?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = f.read(&mut buf).await.map_err(read)?;
        let done = n == 0;
        let p = Packet {
            id,
            data: buf[..n].to_vec(),
            ..packet(PacketType::PacketData)
        };
        tx.send(Ok(p)).await.map_err(|_| SendError::Closed)?;
        if done {
            return Ok(());
        }
    }
}
