//! A minimal reader of server-sent events (`text/event-stream`): feed it the body's chunks as
//! they arrive, take out the complete events. Only what the job event stream uses is kept:
//! `id`, `event` and `data` fields; comments (the server's keep-alives) are skipped.

/// One dispatched event.
#[derive(Debug, Default, PartialEq)]
pub struct SseEvent {
    /// The `id:` field, if the event had one.
    pub id: Option<String>,
    /// The `event:` field (`message` when absent, as in the standard).
    pub event: String,
    /// The `data:` lines, joined by newlines.
    pub data: String,
}

/// Accumulates bytes until whole lines and events are there (a chunk may end anywhere, even
/// inside a UTF-8 character).
#[derive(Default)]
pub struct SseParser {
    pending: Vec<u8>,
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    /// Adds a chunk and returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&raw[..end]);
            let line = line.strip_suffix('\r').unwrap_or(&line);
            if let Some(event) = self.line(line) {
                events.push(event);
            }
        }
        events
    }

    /// Handles one line; a blank line completes the event gathered so far.
    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            if self.data.is_none() && self.event.is_none() && self.id.is_none() {
                return None;
            }
            return Some(SseEvent {
                id: self.id.take(),
                event: self.event.take().unwrap_or_else(|| "message".to_string()),
                data: self.data.take().unwrap_or_default(),
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_string();
        match field {
            "id" => self.id = Some(value),
            "event" => self.event = Some(value),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(&value);
                }
                None => self.data = Some(value),
            },
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_are_reassembled() {
        let stream = "id: 1\nevent: queued\ndata: {\"seq\":1}\n\n: keep-alive\n\n\
                      id: 2\r\nevent: epoch\r\ndata: {\"seq\":2,\r\ndata: \"é\":1}\r\n\r\n";
        let bytes = stream.as_bytes();
        // Every split point, including inside the two-byte é.
        for cut in 0..bytes.len() {
            let mut parser = SseParser::default();
            let mut events = parser.push(&bytes[..cut]);
            events.extend(parser.push(&bytes[cut..]));
            assert_eq!(
                events,
                [
                    SseEvent {
                        id: Some("1".into()),
                        event: "queued".into(),
                        data: "{\"seq\":1}".into()
                    },
                    SseEvent {
                        id: Some("2".into()),
                        event: "epoch".into(),
                        data: "{\"seq\":2,\n\"é\":1}".into()
                    },
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn an_unfinished_event_is_held_back() {
        let mut parser = SseParser::default();
        assert!(parser.push(b"event: started\ndata: {}\n").is_empty());
        let events = parser.push(b"\n");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, "started");
        assert_eq!(events[0].id, None);
    }
}
