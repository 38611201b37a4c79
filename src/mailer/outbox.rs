//! The embedded mailer: each reply is written, as the exact MIME that would be sent, to an
//! outbox folder.

use std::path::PathBuf;

use super::Mailer;
use crate::error::Error;
use crate::reply::Reply;

/// A folder of `.eml` files, one per reply, named after the reply's Message-ID.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    pub fn new(dir: impl Into<PathBuf>) -> Outbox {
        Outbox { dir: dir.into() }
    }

    /// The file a reply is written to. Our Message-IDs are hex and a host name, so the
    /// name is always safe; anything else is replaced anyway.
    pub fn path_for(&self, reply: &Reply) -> PathBuf {
        let name: String = reply
            .message_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "@.-_".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{name}.eml"))
    }
}

impl Mailer for Outbox {
    /// Writes to a temporary file and renames it, so the outbox never holds half a reply.
    async fn send(&self, reply: &Reply) -> Result<String, Error> {
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| Error::io(&self.dir, e))?;
        let path = self.path_for(reply);
        let partial = path.with_extension("eml.partial");
        tokio::fs::write(&partial, &reply.mime)
            .await
            .map_err(|e| Error::io(&partial, e))?;
        tokio::fs::rename(&partial, &path)
            .await
            .map_err(|e| Error::io(&path, e))?;
        Ok(path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default())
    }
}
