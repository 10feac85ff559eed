//! The first stage of an import: the file's rows, parsed in order on a
//! thread of their own, at most [`LOOKAHEAD`] ahead of the row being
//! sent. Nothing is looked up here: a row's report is created
//! optimistically and looked up only when the store says it exists
//! (`send`, `receive`).

use std::{
    fmt,
    io::{BufRead, BufReader, Read},
    sync::{Arc, atomic::AtomicBool},
};

use tokio::sync::mpsc;
use truce_client::ClientError;

use super::{Format, acled, apply::Row, jsonl};

/// Rows parsed ahead of the one being sent (the bound of the channel
/// between the reading and the sending stage).
pub const LOOKAHEAD: usize = 64;

/// A row on its way to the sending stage.
pub struct Pending {
    /// The row's physical line.
    pub line: u64,
    /// The byte offset read so far (for the progress bar).
    pub offset: u64,
    pub row: Result<Row, String>,
}

fn read_error(label: &str, e: impl fmt::Display) -> ClientError {
    ClientError::Request(format!("cannot read {label}: {e}"))
}

/// A row as read: its line, the offset read so far, and the row or why it
/// cannot be read.
pub type ReadRow = (u64, u64, Result<Row, String>);

/// The rows of a file, parsed one at a time.
pub enum Rows<R: Read> {
    Jsonl {
        reader: BufReader<R>,
        buf: Vec<u8>,
        line: u64,
        offset: u64,
    },
    Acled {
        reader: csv::Reader<R>,
        header: acled::Header,
        record: csv::StringRecord,
    },
}

impl<R: Read> Rows<R> {
    /// Opens the rows; an ACLED header that lacks columns is refused here,
    /// before anything is sent.
    pub fn new(format: Format, input: R, label: &str) -> Result<Self, ClientError> {
        Ok(match format {
            Format::Jsonl => Self::Jsonl {
                reader: BufReader::new(input),
                buf: Vec::new(),
                line: 0,
                offset: 0,
            },
            Format::AcledCsv => {
                let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
                let names = reader.headers().map_err(|e| read_error(label, e))?.clone();
                let header = acled::Header::new(&names)
                    .map_err(|e| ClientError::Request(format!("{label}:1: {e}")))?;
                Self::Acled {
                    reader,
                    header,
                    record: csv::StringRecord::new(),
                }
            }
        })
    }

    /// The next row. None at the end; an error if the file cannot be
    /// read.
    pub fn next(&mut self, label: &str) -> Result<Option<ReadRow>, ClientError> {
        match self {
            Self::Jsonl {
                reader,
                buf,
                line,
                offset,
            } => loop {
                buf.clear();
                let n = reader
                    .read_until(b'\n', buf)
                    .map_err(|e| read_error(label, e))?;
                if n == 0 {
                    return Ok(None);
                }
                *line += 1;
                *offset += n as u64;
                let row = match std::str::from_utf8(buf) {
                    Ok(text) if text.trim().is_empty() => continue,
                    Ok(text) => jsonl::parse(text.trim()).map(|l| Row::jsonl(Format::Jsonl, l)),
                    Err(e) => Err(format!("not UTF-8: {e}")),
                };
                return Ok(Some((*line, *offset, row)));
            },
            Self::Acled {
                reader,
                header,
                record,
            } => {
                let (line, row) = match reader.read_record(record) {
                    Ok(false) => return Ok(None),
                    Ok(true) => {
                        let values = header.row(record);
                        let line = record.position().map_or(0, csv::Position::line);
                        let row = acled::report(&values)
                            .map(|r| Row::acled(Format::AcledCsv, r, &values));
                        (line, row)
                    }
                    Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                        return Err(read_error(label, e));
                    }
                    Err(e) => (
                        e.position().map_or(0, csv::Position::line),
                        Err(e.to_string()),
                    ),
                };
                Ok(Some((line, reader.position().byte(), row)))
            }
        }
    }
}

/// The reading stage, on a thread of its own: the file may be a pipe
/// that waits for input, and the other stages must go on meanwhile (a
/// thread, not the runtime's blocking pool, so that a run that stopped
/// does not wait at exit for a read that never returns).
pub struct Reading {
    pub label: String,
    pub stop: Arc<AtomicBool>,
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl Reading {
    fn stopping(&self) -> bool {
        super::pipeline::stopping(&self.stop, self.interrupt.as_ref())
    }

    /// Reads every row into `out` until the end, a stop, or the sending
    /// stage is gone.
    pub fn run<R: Read>(
        self,
        mut rows: Rows<R>,
        out: mpsc::Sender<Pending>,
    ) -> Result<(), ClientError> {
        while !self.stopping() {
            let Some((line, offset, row)) = rows.next(&self.label)? else {
                break;
            };
            let pending = Pending { line, offset, row };
            if out.blocking_send(pending).is_err() {
                break;
            }
        }
        Ok(())
    }
}
