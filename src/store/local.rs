//! A folder standing in for S3: `<root>/<bucket>/<key>`.

use std::path::{Component, Path, PathBuf};

use tokio::io::AsyncReadExt;

use super::{Fetched, ObjectStore};
use crate::error::{Error, Retry};
use crate::event::ObjectRef;

/// Objects as files under a root folder, one subfolder per bucket.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    pub fn new(root: impl Into<PathBuf>) -> FileStore {
        FileStore { root: root.into() }
    }

    /// The file for an object; keys that would escape the root are refused.
    fn path_of(&self, object: &ObjectRef) -> Result<PathBuf, Error> {
        let relative = Path::new(&object.bucket).join(&object.key);
        let escapes = relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_)));
        if escapes || object.bucket.contains('/') {
            return Err(Error::Store {
                operation: format!("getting {object}"),
                message: "the key is not a plain relative path".to_string(),
                retry: Retry::Permanent,
            });
        }
        Ok(self.root.join(relative))
    }
}

impl ObjectStore for FileStore {
    async fn fetch(&self, object: &ObjectRef, max_bytes: u64) -> Result<Fetched, Error> {
        let path = self.path_of(object)?;
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|e| Error::io(&path, e))?;
        if !meta.is_file() {
            let kind = std::io::ErrorKind::InvalidInput;
            let error = std::io::Error::new(kind, "not a regular file");
            return Err(Error::io(&path, error));
        }
        if meta.len() > max_bytes {
            return Ok(Fetched::TooLarge { size: meta.len() });
        }

        // The file may grow between the two calls; never read past the limit.
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| Error::io(&path, e))?;
        let mut body = Vec::new();
        file.take(max_bytes + 1)
            .read_to_end(&mut body)
            .await
            .map_err(|e| Error::io(&path, e))?;
        if body.len() as u64 > max_bytes {
            return Ok(Fetched::TooLarge {
                size: body.len() as u64,
            });
        }
        Ok(Fetched::Body(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(bucket: &str, key: &str) -> ObjectRef {
        ObjectRef {
            bucket: bucket.into(),
            key: key.into(),
            size: None,
        }
    }

    #[tokio::test]
    async fn key_with_spaces_plus_and_unicode_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let key = "inbound/2024 05 06/msg+one café";
        std::fs::create_dir_all(dir.path().join("b/inbound/2024 05 06")).unwrap();
        std::fs::write(dir.path().join("b").join(key), b"From: a@b.c\r\n\r\n").unwrap();
        let got = FileStore::new(dir.path())
            .fetch(&object("b", key), 1 << 20)
            .await
            .unwrap();
        assert_eq!(got, Fetched::Body(b"From: a@b.c\r\n\r\n".to_vec()));
    }

    #[tokio::test]
    async fn oversized_object_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("b")).unwrap();
        std::fs::write(dir.path().join("b/big"), vec![b'x'; 4096]).unwrap();
        let got = FileStore::new(dir.path())
            .fetch(&object("b", "big"), 1024)
            .await
            .unwrap();
        assert_eq!(got, Fetched::TooLarge { size: 4096 });
    }

    #[tokio::test]
    async fn device_behind_a_key_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("b")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("b/zero")).unwrap();
        let err = FileStore::new(dir.path())
            .fetch(&object("b", "zero"), 1024)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[tokio::test]
    async fn missing_object_is_permanent() {
        let dir = tempfile::tempdir().unwrap();
        let err = FileStore::new(dir.path())
            .fetch(&object("b", "nope"), 1024)
            .await
            .unwrap_err();
        assert!(!err.is_retryable(), "{err}");
    }

    #[tokio::test]
    async fn traversal_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = FileStore::new(dir.path())
            .fetch(&object("b", "inbound/../../etc/passwd"), 1024)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("plain relative path"), "{err}");
    }
}
