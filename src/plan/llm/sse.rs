//! Server-sent events, as both providers stream them: bytes in, events out.
//!
//! Chunk boundaries fall anywhere (mid-line, mid-UTF-8 character); lines end
//! in `\n` or `\r\n`; `data:` lines of one event join with `\n`; a blank line
//! ends an event; `:` lines are comments (keep-alives).

/// One event: its `event:` name (empty when absent) and its joined data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, empty when the server sent none.
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// A line longer than this is a broken server, not a big answer.
const MAX_LINE: usize = 16 << 20;

/// Incremental parser: feed it chunks, take the events that completed.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    event: String,
    data: Vec<String>,
}

impl SseParser {
    /// Adds a chunk and returns the events it completed, in order.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, String> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(nl) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let mut line = &self.buf[start..start + nl];
            start += nl + 1;
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let line = std::str::from_utf8(line)
                .map_err(|e| format!("stream line is not UTF-8: {e}"))?
                .to_string();
            if let Some(ev) = self.line(&line) {
                out.push(ev);
            }
        }
        self.buf.drain(..start);
        if self.buf.len() > MAX_LINE {
            return Err(format!("stream line longer than {MAX_LINE} bytes"));
        }
        Ok(out)
    }

    /// Ends the stream: an event the server did not close with a blank line
    /// still counts (some servers end on `data: [DONE]` without one).
    pub fn finish(&mut self) -> Result<Option<SseEvent>, String> {
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            let line =
                String::from_utf8(rest).map_err(|e| format!("stream tail is not UTF-8: {e}"))?;
            if let Some(ev) = self.line(line.trim_end_matches('\r')) {
                return Ok(Some(ev));
            }
        }
        Ok(self.dispatch())
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.event = value.to_string(),
            "data" => self.data.push(value.to_string()),
            _ => {} // id, retry: not used by either provider
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        if self.data.is_empty() {
            self.event.clear();
            return None;
        }
        Some(SseEvent {
            event: std::mem::take(&mut self.event),
            data: std::mem::take(&mut self.data).join("\n"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(p.feed(c).unwrap());
        }
        out.extend(p.finish().unwrap());
        out
    }

    #[test]
    fn events_survive_any_chunking() {
        let text = "event: ping\r\ndata: {}\r\n\r\n: keep-alive\n\ndata: {\"a\":\ndata: \"é\"}\n\ndata: [DONE]";
        let whole = all(&[text.as_bytes()]);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].event, "ping");
        assert_eq!(whole[1].data, "{\"a\":\n\"é\"}");
        assert_eq!(whole[2].data, "[DONE]");
        // Every split point, including inside the two-byte `é`.
        let bytes = text.as_bytes();
        for cut in 0..bytes.len() {
            assert_eq!(all(&[&bytes[..cut], &bytes[cut..]]), whole, "cut at {cut}");
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(all(&singles), whole);
    }
}
