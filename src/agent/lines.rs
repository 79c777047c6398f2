//! Reading an agent's output line by line without trusting its size: a line
//! is kept up to a byte limit and the rest of it is dropped as it streams
//! by, so a process printing gigabytes without a newline costs medic no
//! more than the limit.

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// Longest stdout line kept (an agent's JSON event can carry a whole file).
pub(crate) const MAX_EVENT_LINE: usize = 4 * 1024 * 1024;
/// Longest stderr line kept before it is quoted (and cut further).
pub(crate) const MAX_STDERR_LINE: usize = 16 * 1024;

/// One line, and whether it was longer than the limit (then `text` is its head).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// The line without its newline, lossily decoded, at most the limit.
    pub(crate) text: String,
    /// Bytes dropped from its end.
    pub(crate) cut: usize,
}

/// Lines of at most `max` bytes from a stream.
pub(crate) struct BoundedLines<R> {
    reader: BufReader<R>,
    max: usize,
}

impl<R: AsyncRead + Unpin> BoundedLines<R> {
    /// Reads `r` in lines of at most `max` bytes.
    pub(crate) fn new(r: R, max: usize) -> BoundedLines<R> {
        BoundedLines {
            reader: BufReader::new(r),
            max,
        }
    }

    /// The next line, `None` at the end of the stream.
    pub(crate) async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        let mut kept: Vec<u8> = Vec::new();
        let mut cut = 0usize;
        let mut any = false;
        loop {
            let buf = self.reader.fill_buf().await?;
            if buf.is_empty() {
                break;
            }
            any = true;
            let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
                Some(at) => (&buf[..at], Some(at + 1)),
                None => (buf, None),
            };
            let room = self.max - kept.len();
            let take = room.min(chunk.len());
            kept.extend_from_slice(&chunk[..take]);
            cut += chunk.len() - take;
            let used = done.unwrap_or(buf.len());
            self.reader.consume(used);
            if done.is_some() {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        if kept.last() == Some(&b'\r') {
            kept.pop();
        }
        Ok(Some(Line {
            text: String::from_utf8_lossy(&kept).into_owned(),
            cut,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn long_lines_are_cut_and_the_rest_still_reads() {
        let mut input = b"short\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 100_000));
        input.extend(b"\nlast");
        let mut lines = BoundedLines::new(&input[..], 10);
        let a = lines.next_line().await.unwrap().unwrap();
        assert_eq!((a.text.as_str(), a.cut), ("short", 0));
        let b = lines.next_line().await.unwrap().unwrap();
        assert_eq!((b.text.len(), b.cut), (10, 99_990));
        let c = lines.next_line().await.unwrap().unwrap();
        assert_eq!((c.text.as_str(), c.cut), ("last", 0));
        assert_eq!(lines.next_line().await.unwrap(), None);
    }
}
