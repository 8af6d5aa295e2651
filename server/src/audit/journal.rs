//! SQLite: the read journal, a file each process appends its reads' audit events to before
//! answering them, and from which they reach the trail's tables a few milliseconds later.
//!
//! Why: on SQLite an audited read waiting for its own commit cost Q2 and Q1 a fifth of their
//! throughput, spread over small commits' fixed work and each read's park and wake-up
//! (docs/benchmarks-history.md). An append to a file is as durable as one of SQLite's commits
//! here (WAL with `synchronous = NORMAL`: a `write` to the log, no `fsync`): it survives the
//! process's crash, and a power loss can take the last of either. The events then go into the
//! trail in larger batches from memory; the file is only read back when its process died
//! before that (`Orphan`), by the next process that opens the trail or reads it.
//!
//! Layout, in a directory beside the database (`<db>.read-journal/`): each process has a lock
//! file `<process>.lock`, held (`flock`) as long as it runs, and its segments
//! `<process>.<seq>.log`, each a run of records `[length u32][crc32 u32][rows]`. A segment is
//! deleted once every row in it is in the trail; a new one is begun past `SEGMENT_BYTES`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::DateTime;
use entity::audit_event::Model;
use uuid::Uuid;

/// A segment's size past which the next append begins a new one.
const SEGMENT_BYTES: u64 = 16 << 20;

pub struct Journal {
    dir: PathBuf,
    process: String,
    open: Mutex<Segment>,
    /// The first of this process's segments not yet deleted.
    oldest: Mutex<u64>,
    /// Held while the process runs: its journal is not an orphan.
    _lock: File,
}

struct Segment {
    seq: u64,
    file: File,
    len: u64,
}

/// The journals' directory beside the database at `url`: none unless it is a SQLite file.
pub fn dir_for(url: &str) -> Option<PathBuf> {
    let db = crate::store::sqlite_file(url)?;
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".read-journal");
    Some(db.with_file_name(name))
}

impl Journal {
    /// This process's journal in `dir` (made when missing).
    pub fn open(dir: &Path) -> io::Result<Journal> {
        fs::create_dir_all(dir)?;
        let process = Uuid::now_v7().simple().to_string();
        let lock = File::create(dir.join(format!("{process}.lock")))?;
        lock.try_lock().map_err(io::Error::other)?;
        let segment = Segment::create(dir, &process, 0)?;
        Ok(Journal {
            dir: dir.to_owned(),
            process,
            open: Mutex::new(segment),
            oldest: Mutex::new(0),
            _lock: lock,
        })
    }

    /// Where it is.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends a record (`encode`) and, still in order with every other append, calls
    /// `then` with the segment it is in (the hand-over to the writer, so that it receives
    /// the rows in the file's order). Returns once the record is written.
    pub fn append<T>(&self, record: &[u8], then: impl FnOnce(u64) -> T) -> io::Result<T> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.len >= SEGMENT_BYTES {
            *open = Segment::create(&self.dir, &self.process, open.seq + 1)?;
        }
        open.file.write_all(record)?;
        open.len += record.len() as u64;
        Ok(then(open.seq))
    }

    /// Deletes this process's segments before `seq`: every row in them is in the trail.
    pub fn stored_before(&self, seq: u64) {
        let mut oldest = self.oldest.lock().unwrap_or_else(|e| e.into_inner());
        while *oldest < seq {
            let _ = fs::remove_file(segment_path(&self.dir, &self.process, *oldest));
            *oldest += 1;
        }
    }

    /// After a clean shutdown, every row is in the trail: the segments and the lock go.
    pub fn close(&self) {
        let seq = self.open.lock().unwrap_or_else(|e| e.into_inner()).seq;
        self.stored_before(seq + 1);
        let _ = fs::remove_file(self.dir.join(format!("{}.lock", self.process)));
    }
}

impl Segment {
    fn create(dir: &Path, process: &str, seq: u64) -> io::Result<Segment> {
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(segment_path(dir, process, seq))?;
        Ok(Segment { seq, file, len: 0 })
    }
}

fn segment_path(dir: &Path, process: &str, seq: u64) -> PathBuf {
    dir.join(format!("{process}.{seq:010}.log"))
}

/// The journal of a process that ended without storing all of it, held (its lock taken)
/// until `remove`.
pub struct Orphan {
    lock_path: PathBuf,
    segments: Vec<PathBuf>,
    _lock: File,
}

/// The journals in `dir` whose processes are gone.
pub fn orphans(dir: &Path) -> io::Result<Vec<Orphan>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut found = Vec::new();
    for lock_name in names.iter().filter(|n| n.ends_with(".lock")) {
        let process = lock_name.trim_end_matches(".lock");
        let lock_path = dir.join(lock_name);
        let Ok(lock) = File::open(&lock_path) else {
            continue; // adopted and removed meanwhile
        };
        if lock.try_lock().is_err() {
            continue; // its process is running
        }
        let prefix = format!("{process}.");
        let segments = names
            .iter()
            .filter(|n| n.starts_with(&prefix) && n.ends_with(".log"))
            .map(|n| dir.join(n))
            .collect();
        found.push(Orphan {
            lock_path,
            segments,
            _lock: lock,
        });
    }
    Ok(found)
}

impl Orphan {
    /// Its rows, in the order they were appended; a record cut short by the crash (never
    /// answered) and whatever follows it in its segment are left out.
    pub fn rows(&self) -> io::Result<Vec<Model>> {
        let mut rows = Vec::new();
        for path in &self.segments {
            match fs::read(path) {
                Ok(bytes) => rows.extend(decode(&bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(rows)
    }

    /// Deletes the journal once its rows are in the trail.
    pub fn remove(self) -> io::Result<()> {
        for path in &self.segments {
            match fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        let _ = fs::remove_file(&self.lock_path);
        Ok(())
    }
}

/// `rows` as one record of the journal.
pub fn encode(rows: &[&Model]) -> Vec<u8> {
    let mut body = Vec::with_capacity(256 * rows.len());
    body.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    for m in rows {
        body.extend_from_slice(m.id.as_bytes());
        body.extend_from_slice(&m.occurred_at.timestamp_micros().to_le_bytes());
        for text in [
            &m.actor_kind,
            &m.actor_id,
            &m.actor_label,
            &m.action,
            &m.operation,
            &m.record_type,
            &m.record_ids,
            &m.fields,
        ] {
            put(&mut body, Some(text));
        }
        for text in [
            &m.actor_on_behalf_of,
            &m.actor_role,
            &m.operation_name,
            &m.ip,
        ] {
            put(&mut body, text.as_ref());
        }
    }
    let mut record = Vec::with_capacity(body.len() + 8);
    record.extend_from_slice(&(body.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    record.extend_from_slice(&body);
    record
}

/// A text as its length and bytes; none as `u32::MAX`.
fn put(out: &mut Vec<u8>, text: Option<&String>) {
    match text {
        Some(t) => {
            out.extend_from_slice(&(t.len() as u32).to_le_bytes());
            out.extend_from_slice(t.as_bytes());
        }
        None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
    }
}

/// The rows of every whole record in `bytes`, up to the first that is cut short or damaged.
fn decode(mut bytes: &[u8]) -> Vec<Model> {
    let mut rows = Vec::new();
    while bytes.len() >= 8 {
        let len = u32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
        let Some(body) = bytes.get(8..8 + len) else {
            break;
        };
        if crc32fast::hash(body) != crc {
            break;
        }
        match Reader(body).record() {
            Some(record) => rows.extend(record),
            None => break,
        }
        bytes = &bytes[8 + len..];
    }
    rows
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn text(&mut self) -> Option<Option<String>> {
        match self.u32()? {
            u32::MAX => Some(None),
            n => Some(Some(
                String::from_utf8(self.take(n as usize)?.to_vec()).ok()?,
            )),
        }
    }

    fn required(&mut self) -> Option<String> {
        self.text()?
    }

    fn record(&mut self) -> Option<Vec<Model>> {
        let count = self.u32()?;
        (0..count).map(|_| self.row()).collect()
    }

    fn row(&mut self) -> Option<Model> {
        let id = Uuid::from_slice(self.take(16)?).ok()?;
        let micros = i64::from_le_bytes(self.take(8)?.try_into().ok()?);
        Some(Model {
            id,
            occurred_at: DateTime::from_timestamp_micros(micros)?,
            actor_kind: self.required()?,
            actor_id: self.required()?,
            actor_label: self.required()?,
            action: self.required()?,
            operation: self.required()?,
            record_type: self.required()?,
            record_ids: self.required()?,
            fields: self.required()?,
            actor_on_behalf_of: self.text()?,
            actor_role: self.text()?,
            operation_name: self.text()?,
            ip: self.text()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use chrono::Utc;
    use entity::audit_event::Model;
    use uuid::Uuid;

    use super::{Journal, orphans};
    use crate::scratch::Scratch;

    fn row(ip: Option<&str>) -> Model {
        Model {
            id: Uuid::now_v7(),
            occurred_at: Utc::now(),
            actor_kind: "API_KEY".into(),
            actor_id: Uuid::now_v7().to_string(),
            actor_label: "a key — ünïcode".into(),
            actor_on_behalf_of: None,
            actor_role: Some(String::new()),
            action: "READ".into(),
            operation: "query patient".into(),
            operation_name: None,
            record_type: "patient".into(),
            record_ids: format!("[\"{}\"]", Uuid::now_v7()),
            fields: "[\"firstName\"]".into(),
            ip: ip.map(str::to_owned),
        }
    }

    /// What a process appended is read back whole once it is gone, in order; a record cut
    /// short by the crash is left out with nothing after it; a running process's journal is
    /// not taken, and a removed one is gone.
    #[test]
    fn a_gone_processs_rows_are_read_back_in_order_without_a_torn_tail() {
        let dir = Scratch::new();
        let (a, b, c) = (row(Some("203.0.113.9")), row(None), row(None));
        let journal = Journal::open(dir.path()).unwrap();
        journal.append(&super::encode(&[&a, &b]), |_| ()).unwrap();
        journal.append(&super::encode(&[&c]), |_| ()).unwrap();
        assert!(orphans(dir.path()).unwrap().is_empty(), "its process runs");
        // A crash in the middle of a third append: only part of it reached the file.
        let torn = super::encode(&[&row(None)]);
        let path = super::segment_path(dir.path(), &journal.process, 0);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(&torn[..torn.len() / 2]).unwrap();
        drop(journal); // its lock with it, as the process's death would
        let found = orphans(dir.path()).unwrap();
        assert_eq!(found.len(), 1);
        let rows = found[0].rows().unwrap();
        let time = |m: &Model| m.occurred_at.timestamp_micros();
        assert_eq!(rows.len(), 3);
        for (got, want) in rows.iter().zip([&a, &b, &c]) {
            assert_eq!((got.id, time(got)), (want.id, time(want)));
            assert_eq!(
                Model {
                    occurred_at: want.occurred_at,
                    ..got.clone()
                },
                *want
            );
        }
        found.into_iter().next().unwrap().remove().unwrap();
        assert!(orphans(dir.path()).unwrap().is_empty());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// Segments whose rows are all stored are deleted; a clean close leaves nothing.
    #[test]
    fn stored_segments_are_deleted_and_a_clean_close_leaves_nothing() {
        let dir = Scratch::new();
        let journal = Journal::open(dir.path()).unwrap();
        let big = Model {
            record_ids: "x".repeat(1 << 20),
            ..row(None)
        };
        let mut seqs = Vec::new();
        for _ in 0..20 {
            seqs.push(journal.append(&super::encode(&[&big]), |seq| seq).unwrap());
        }
        assert!(seqs.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*seqs.last().unwrap(), 1, "a second segment past 16 MiB");
        journal.stored_before(1);
        let logs = |dir: &std::path::Path| {
            std::fs::read_dir(dir)
                .unwrap()
                .filter(|e| e.as_ref().unwrap().path().extension().unwrap() == "log")
                .count()
        };
        assert_eq!(logs(dir.path()), 1);
        journal.close();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
