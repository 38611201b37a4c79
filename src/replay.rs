//! Stored messages on disk, for the CLI: single files, folders and mbox files.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// One message to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The file, with `#N` (from 1) for the Nth message of an mbox.
    pub source: String,
    pub raw: Vec<u8>,
}

/// Files in a folder that are never messages: our own golden files and notes.
const NOT_MAIL: &[&str] = &["json", "md", "tsv", "toml", "partial"];

/// Lists the message files under `paths`: files as given, folders walked recursively in
/// name order, hidden entries and [`NOT_MAIL`] extensions left out.
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.is_dir() {
            walk(path, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out)?;
        } else if !path
            .extension()
            .is_some_and(|ext| NOT_MAIL.contains(&ext.to_string_lossy().as_ref()))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Returns true if and only if `path` names an mbox file: `*.mbox`, `*.mbx`, or `mbox`.
///
/// The contents cannot decide it: many single messages start with the `From ` envelope
/// line of the mailbox they came from, and a bounce that quotes the original often holds
/// a second, unescaped `From ` line that would split it in two.
pub fn is_mbox(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    matches!(ext.as_deref(), Some("mbox" | "mbx")) || path.file_name().is_some_and(|n| n == "mbox")
}

/// One entry of a file: a message, or one refused unread for its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Message(Stored),
    TooLarge { source: String, size: u64 },
}

/// Reads one file into its messages: an mbox ([`is_mbox`]) gives each message it holds;
/// anything else is one message, with a leading `From ` envelope line dropped. A message
/// over `max_bytes` is refused unread.
///
/// Only regular files are read, and never more than `max_bytes + 1` bytes of one: a
/// FIFO would hang the run and `/dev/zero` would fill memory.
pub fn read(path: &Path, max_bytes: u64) -> Result<Vec<Entry>, Error> {
    let source = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        let kind = std::io::ErrorKind::InvalidInput;
        return Err(Error::io(
            path,
            std::io::Error::new(kind, "not a regular file"),
        ));
    }

    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut raw = Vec::new();
    let limit = if is_mbox(path) { meta.len() } else { max_bytes };
    file.take(limit.saturating_add(1))
        .read_to_end(&mut raw)
        .map_err(|e| Error::io(path, e))?;

    if !is_mbox(path) || !raw.starts_with(b"From ") {
        if raw.len() as u64 > max_bytes {
            return Ok(vec![Entry::TooLarge {
                source,
                size: meta.len().max(raw.len() as u64),
            }]);
        }
        if raw.starts_with(b"From ") {
            let line_end = raw
                .iter()
                .position(|b| *b == b'\n')
                .map_or(raw.len(), |i| i + 1);
            raw.drain(..line_end);
        }
        return Ok(vec![Entry::Message(Stored { source, raw })]);
    }

    let mut out = Vec::new();
    let messages = mail_parser::mailbox::mbox::MessageIterator::new(raw.as_slice());
    for (i, message) in messages.enumerate() {
        let message = message.map_err(|e| Error::io(path, e))?;
        let source = format!("{source}#{}", i + 1);
        let contents = message.unwrap_contents();
        out.push(if contents.len() as u64 > max_bytes {
            Entry::TooLarge {
                source,
                size: contents.len() as u64,
            }
        } else {
            Entry::Message(Stored {
                source,
                raw: contents,
            })
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_is_split_into_its_messages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("saved.mbox");
        std::fs::write(
            &path,
            "From a@example.org Mon Jan  1 00:00:00 2024\nSubject: one\n\n>From here\n\
             From b@example.org Mon Jan  1 00:00:01 2024\nSubject: two\n\nbody\n",
        )
        .unwrap();
        let messages: Vec<Stored> = read(&path, 1 << 20)
            .unwrap()
            .into_iter()
            .map(|entry| match entry {
                Entry::Message(stored) => stored,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(messages.len(), 2);
        assert!(messages[0].source.ends_with("saved.mbox#1"));
        assert!(String::from_utf8_lossy(&messages[0].raw).contains("From here"));
    }

    #[test]
    fn single_message_with_an_envelope_line_and_a_quoted_from_line_stays_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bounce.msg");
        std::fs::write(
            &path,
            "From MAILER-DAEMON Sat Oct  4 08:00:09 2025\nReturn-Path: <>\nSubject: bounce\n\n\
             The original:\n\nFrom someone@example.org Sat Oct  4 08:00:07 2025\nTo: x@y.z\n",
        )
        .unwrap();
        let messages = read(&path, 1 << 20).unwrap();
        let [Entry::Message(stored)] = messages.as_slice() else {
            panic!("{messages:?}");
        };
        assert!(stored.raw.starts_with(b"Return-Path: <>"));
    }

    #[test]
    fn mbox_without_a_from_line_is_one_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odd.mbox");
        std::fs::write(&path, "Subject: one\n\nbody\n").unwrap();
        let messages = read(&path, 1 << 20).unwrap();
        assert!(
            matches!(messages.as_slice(), [Entry::Message(_)]),
            "{messages:?}"
        );
    }

    #[test]
    fn devices_and_pipes_are_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("zero.eml");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let err = read(&link, 1024).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[test]
    fn a_file_growing_past_its_size_is_read_no_further_than_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.eml");
        std::fs::write(&path, vec![b'x'; 5000]).unwrap();
        let messages = read(&path, 1000).unwrap();
        assert!(matches!(
            messages.as_slice(),
            [Entry::TooLarge { size: 5000, .. }]
        ));
    }

    #[test]
    fn folders_are_walked_in_name_order_without_golden_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.eml", "a.eml", "a.json", ".hidden", "c.msg"] {
            std::fs::write(dir.path().join(name), "Subject: x\n\n").unwrap();
        }
        let names: Vec<String> = files(&[dir.path().to_path_buf()])
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.eml", "b.eml", "c.msg"]);
    }
}
