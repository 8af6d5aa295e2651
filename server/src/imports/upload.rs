//! Cutting an upload, as it arrives, into chunks of whole records (`BATCH_ROWS` each), so
//! that memory stays flat whatever the file's size: at most one chunk and one record are held.

use chrono::Utc;
use entity::import_job::Model as Job;
use uuid::Uuid;

use crate::domain::csv::{RecordEnds, records};
use crate::domain::patient_import::{BATCH_ROWS, ImportStatus, RECORD_MAX_BYTES};
use crate::error::{AppError, AppResult};
use crate::store::{Store, imports};

/// Receives a job's upload: each piece as it arrives, kept as chunks; then queues the job.
pub struct Receiver {
    store: Store,
    job_id: Uuid,
    chunker: Chunker,
    seq: i32,
    rows: i64,
    lease: chrono::Duration,
}

impl Receiver {
    pub fn new(
        store: Store,
        job: &Job,
        quoted: bool,
        first_line: u32,
        lease: std::time::Duration,
    ) -> Self {
        Receiver {
            store,
            job_id: job.id,
            chunker: Chunker::new(quoted, first_line),
            seq: 0,
            rows: 0,
            lease: chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30)),
        }
    }

    pub async fn push(&mut self, bytes: &[u8]) -> AppResult<()> {
        let chunks = self.chunker.push(bytes).map_err(unusable)?;
        self.keep(chunks).await
    }

    async fn keep(&mut self, chunks: impl IntoIterator<Item = Chunk>) -> AppResult<()> {
        for chunk in chunks {
            let kept = imports::add_chunk(
                &self.store,
                self.job_id,
                self.seq,
                chunk.first_line as i32,
                chunk.rows as i32,
                &chunk.text,
                Utc::now() + self.lease,
            )
            .await?;
            if !kept {
                return Err(AppError::Conflict(
                    "the import was cancelled during its upload".into(),
                ));
            }
            self.seq += 1;
            self.rows += i64::from(chunk.rows);
        }
        Ok(())
    }

    /// The upload ended: the job waits for a worker.
    pub async fn finish(mut self) -> AppResult<Job> {
        let chunker = std::mem::replace(&mut self.chunker, Chunker::new(false, 1));
        let last = chunker.finish().map_err(unusable)?;
        self.keep(last).await?;
        let rows =
            i32::try_from(self.rows).map_err(|_| AppError::invalid("body", "too many rows"))?;
        imports::queue(&self.store, self.job_id, rows, self.seq)
            .await?
            .ok_or_else(|| AppError::Conflict("the import was cancelled during its upload".into()))
    }

    /// The upload failed (`err`): nothing of it is imported, and the job says why.
    pub async fn abandon(self, err: &AppError) -> AppResult<()> {
        let reason = format!("the upload was refused: {}", err.message());
        imports::end(
            &self.store,
            self.job_id,
            ImportStatus::Failed,
            Some(&reason),
        )
        .await?;
        Ok(())
    }
}

fn unusable(u: Unusable) -> AppError {
    AppError::invalid("body", u.message())
}

/// Part of an upload: whole records from line `first_line`, `rows` of them not blank.
#[derive(Debug, PartialEq, Eq)]
pub struct Chunk {
    pub first_line: u32,
    pub rows: u32,
    pub text: String,
}

/// Why an upload cannot be imported at all.
#[derive(Debug, PartialEq, Eq)]
pub enum Unusable {
    TooLong { line: u32 },
    NotUtf8 { line: u32 },
}

impl Unusable {
    pub fn message(&self) -> String {
        match self {
            Unusable::TooLong { line } => format!(
                "the record at line {line} is longer than {} KiB: not a patient (is the file's format the one declared?)",
                RECORD_MAX_BYTES / 1024
            ),
            Unusable::NotUtf8 { line } => {
                format!("line {line} is not UTF-8 text: save the file as UTF-8")
            }
        }
    }
}

pub struct Chunker {
    quoted: bool,
    ends: RecordEnds,
    buf: Vec<u8>,
    /// Offsets in `buf` just past each complete record.
    cut: Vec<usize>,
    /// The line `buf` starts on.
    line: u32,
}

impl Chunker {
    pub fn new(quoted: bool, first_line: u32) -> Self {
        Chunker {
            quoted,
            ends: RecordEnds::new(quoted),
            buf: Vec::new(),
            cut: Vec::new(),
            line: first_line,
        }
    }

    /// Takes the next bytes; returns the chunks they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Chunk>, Unusable> {
        let base = self.buf.len();
        let mut ends = Vec::new();
        self.ends.feed(bytes, &mut ends);
        self.buf.extend_from_slice(bytes);
        self.cut.extend(ends.into_iter().map(|e| e + base));
        let mut out = Vec::new();
        while self.cut.len() >= BATCH_ROWS {
            let end = self.cut[BATCH_ROWS - 1];
            out.push(self.take(end)?);
        }
        let open_from = self.cut.last().copied().unwrap_or(0);
        if self.buf.len() - open_from > RECORD_MAX_BYTES {
            let line = self.line + newlines(&self.buf[..open_from]);
            return Err(Unusable::TooLong { line });
        }
        Ok(out)
    }

    /// The rest, once the upload ended (a last record needs no line break).
    pub fn finish(mut self) -> Result<Option<Chunk>, Unusable> {
        if self.buf.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let end = self.buf.len();
        self.take(end).map(Some)
    }

    fn take(&mut self, end: usize) -> Result<Chunk, Unusable> {
        let rest = self.buf.split_off(end);
        let bytes = std::mem::replace(&mut self.buf, rest);
        self.cut = self
            .cut
            .iter()
            .filter(|e| **e > end)
            .map(|e| e - end)
            .collect();
        let first_line = self.line;
        self.line += newlines(&bytes);
        let text = String::from_utf8(bytes).map_err(|e| {
            let line = first_line + newlines(&e.as_bytes()[..e.utf8_error().valid_up_to()]);
            Unusable::NotUtf8 { line }
        })?;
        // A byte-order mark at the very start is the editor's, not the data's.
        let text = match (first_line, text.strip_prefix('\u{feff}')) {
            (1, Some(rest)) => rest.to_owned(),
            _ => text,
        };
        let rows = records(&text, self.quoted, first_line).len() as u32;
        Ok(Chunk {
            first_line,
            rows,
            text,
        })
    }
}

fn newlines(bytes: &[u8]) -> u32 {
    bytes.iter().filter(|b| **b == b'\n').count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_hold_whole_records_and_know_their_lines() {
        let mut text = String::new();
        for i in 0..2_500 {
            text.push_str(&format!("{{\"externalPatientId\":\"P{i}\"}}\n"));
            if i == 10 {
                text.push('\n');
            }
        }
        let mut chunker = Chunker::new(false, 1);
        let mut chunks = vec![];
        for piece in text.as_bytes().chunks(777) {
            chunks.extend(chunker.push(piece).unwrap());
        }
        chunks.extend(chunker.finish().unwrap());
        assert_eq!(chunks.len(), 3);
        assert_eq!(
            chunks.iter().map(|c| c.rows).collect::<Vec<_>>(),
            vec![999, 1000, 501]
        );
        assert_eq!(chunks[1].first_line, 1001);
        let joined: String = chunks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn a_record_without_end_or_not_utf8_makes_the_upload_unusable() {
        let mut chunker = Chunker::new(true, 2);
        chunker.push(b"a,b\n\"open quote\n").unwrap();
        let err = chunker.push(&vec![b'x'; RECORD_MAX_BYTES + 1]).unwrap_err();
        assert_eq!(err, Unusable::TooLong { line: 3 });
        let mut chunker = Chunker::new(false, 1);
        chunker.push(b"{}\n{}\n{\"firstName\":\"\xff\"}\n").unwrap();
        assert_eq!(chunker.finish().unwrap_err(), Unusable::NotUtf8 { line: 3 });
    }
}
