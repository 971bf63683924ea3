//! File bodies streamed in bounded chunks: a download of a many-GiB file (or a sparse one, which
//! costs the task nothing to make) holds at most a chunk or two in memory per response, never
//! the file. Each chunk is read with `pread` on the observer's own threads (`pool.rs`), when
//! the client is ready for it, so a slow client costs a descriptor, not a thread.
//!
//! A body is a byte range fixed when the file was opened: a log still being written is served
//! up to its length at that moment (the `Content-Length` sent). A file that shrinks meanwhile
//! ends the body with an error, so the client sees a cut-off response, not a short "complete" one.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use axum::body::Body;

use super::ObserverError;
use super::pool::FsPool;

/// The most read (and held) at once for one response.
pub const CHUNK: usize = 64 * 1024;

/// Where a body's stream has got to.
struct Cursor {
    pool: Arc<FsPool>,
    file: Arc<File>,
    offset: u64,
    remaining: u64,
}

/// The `len` bytes of `file` from `start`, read as the body is polled.
pub fn file_body(pool: Arc<FsPool>, file: File, start: u64, len: u64) -> Body {
    let cursor = Cursor {
        pool,
        file: Arc::new(file),
        offset: start,
        remaining: len,
    };
    Body::from_stream(futures::stream::try_unfold(cursor, next_chunk))
}

async fn next_chunk(mut cursor: Cursor) -> std::io::Result<Option<(Vec<u8>, Cursor)>> {
    if cursor.remaining == 0 {
        return Ok(None);
    }
    let want = usize::try_from(cursor.remaining).map_or(CHUNK, |r| r.min(CHUNK));
    let (file, offset) = (Arc::clone(&cursor.file), cursor.offset);
    let chunk = cursor
        .pool
        .run_when_free(move || read_chunk(&file, offset, want))
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "observer: a streamed file could not be read");
            std::io::Error::other(e.to_string())
        })?;
    if chunk.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the file shrank while it was being sent",
        ));
    }
    let read = chunk.len() as u64;
    cursor.offset += read;
    cursor.remaining = cursor.remaining.saturating_sub(read);
    Ok(Some((chunk, cursor)))
}

/// Up to `want` bytes at `offset`; empty at the end of the file.
fn read_chunk(file: &File, offset: u64, want: usize) -> Result<Vec<u8>, ObserverError> {
    let mut chunk = vec![0; want];
    loop {
        match file.read_at(&mut chunk, offset) {
            Ok(read) => {
                chunk.truncate(read);
                return Ok(chunk);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ObserverError::Io(format!("reading at {offset}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use futures::StreamExt;
    use pretty_assertions::assert_eq;

    use super::*;

    fn file_of(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    #[tokio::test]
    async fn a_range_arrives_whole_in_chunks_no_larger_than_a_chunk() {
        let bytes: Vec<u8> = (0..3 * CHUNK + 5).map(|i| (i % 251) as u8).collect();
        let (_dir, path) = file_of(&bytes);
        let pool = Arc::new(FsPool::new(1, 2));
        for (start, len) in [(0, bytes.len()), (7, 2 * CHUNK), (bytes.len(), 0)] {
            let body = file_body(
                Arc::clone(&pool),
                File::open(&path).unwrap(),
                start as u64,
                len as u64,
            );
            let mut stream = body.into_data_stream();
            let mut got = Vec::new();
            while let Some(frame) = stream.next().await {
                let frame = frame.unwrap();
                assert!(frame.len() <= CHUNK, "{}", frame.len());
                got.extend_from_slice(&frame);
            }
            assert_eq!(got, bytes[start..start + len], "{start}+{len}");
        }
    }

    #[tokio::test]
    async fn a_file_shorter_than_promised_ends_the_body_with_an_error() {
        let (_dir, path) = file_of(b"0123456789");
        let pool = Arc::new(FsPool::new(1, 2));
        let body = file_body(pool, File::open(&path).unwrap(), 4, 20);
        let error = axum::body::to_bytes(body, 1 << 20).await.unwrap_err();
        assert!(error.to_string().contains("shrank"), "{error}");
    }
}
