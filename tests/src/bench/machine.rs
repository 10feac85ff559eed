//! The machine's own limits, measured in the same run as everything else
//! so that every figure can also be read as a ratio: F1, the rate of 4 KiB
//! appends each followed by `fdatasync` on the data dirs' filesystem, and
//! R1, the rate of sequential TCP round trips over loopback.

use std::{
    fs::OpenOptions,
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    time::{Duration, Instant},
};

use super::error::Result;

/// F1's block.
pub const BLOCK: usize = 4096;
/// R1's message.
pub const PING: usize = 32;

/// F1: appends of 4 KiB, each made durable with `sync_data`, per second,
/// to a new file in `dir` for `length`.
pub fn fsync_rate(dir: &Path, length: Duration) -> Result<f64> {
    let path = dir.join(format!("f1-{}.bin", std::process::id()));
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    let block = [0x5au8; BLOCK];
    let start = Instant::now();
    let mut ops = 0u64;
    while start.elapsed() < length {
        file.write_all(&block)?;
        file.sync_data()?;
        ops += 1;
    }
    let rate = ops as f64 / start.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(rate)
}

/// R1: one client sends a small message and waits for its echo over
/// 127.0.0.1 (TCP_NODELAY both ends), sequentially, for `length`; round
/// trips per second.
pub fn loopback_rate(length: Duration) -> Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; PING];
        loop {
            match s.read_exact(&mut buf) {
                Ok(()) => s.write_all(&buf)?,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    });
    let mut client = TcpStream::connect(addr)?;
    client.set_nodelay(true)?;
    let mut buf = [0x42u8; PING];
    let start = Instant::now();
    let mut trips = 0u64;
    while start.elapsed() < length {
        client.write_all(&buf)?;
        client.read_exact(&mut buf)?;
        trips += 1;
    }
    let rate = trips as f64 / start.elapsed().as_secs_f64();
    drop(client);
    echo.join()
        .map_err(|_| super::error::Error::other("the echo thread panicked"))??;
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_limits_are_positive() -> Result<()> {
        let dir = tempfile::tempdir()?;
        assert!(fsync_rate(dir.path(), Duration::from_millis(50))? > 0.0);
        assert!(loopback_rate(Duration::from_millis(50))? > 0.0);
        // The fsync file is gone.
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 0);
        Ok(())
    }
}
