//! `opencode serve`: the session over HTTP, the `GET /event` stream, and the
//! polls that stand in for it when it breaks.

use super::{allowed, error_message, todos, tool_part};
use crate::agent::lines::{BoundedLines, MAX_STDERR_LINE};
use crate::agent::process::{self, Said, Spec, StderrTail};
use crate::agent::{AgentError, EventSink, Task};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// One `opencode serve` session, from the port line to idle.
pub(super) struct Session<'a> {
    pub(super) spec: &'a Spec,
    pub(super) stderr: &'a StderrTail,
    pub(super) model: Option<&'a str>,
    pub(super) event_stream: bool,
}

/// What the event stream and the polls have told so far.
#[derive(Default)]
struct Seen {
    busy: bool,
    idle: bool,
    error: Option<String>,
    answered: HashSet<String>,
    tools_done: HashSet<String>,
    last_text: Option<String>,
}

impl Session<'_> {
    fn died(&self, reason: String) -> AgentError {
        AgentError::Died {
            command: self.spec.display(),
            reason,
            stderr: self.stderr.lines(),
        }
    }

    pub(super) async fn drive(
        &self,
        stdout: tokio::process::ChildStdout,
        task: &Task,
        checkout: &Path,
        sink: EventSink<'_>,
    ) -> Result<process::Ending, AgentError> {
        let mut lines = BoundedLines::new(stdout, MAX_STDERR_LINE);
        let base = loop {
            match lines.next_line().await {
                Ok(Some(l)) => {
                    let l = l.text;
                    if let Some(at) = l.find("listening on http://") {
                        break l[at + "listening on ".len()..]
                            .trim()
                            .trim_end_matches('/')
                            .to_string();
                    }
                }
                _ => {
                    return Err(self.died("it exited before saying which port it listens on".into()))
                }
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        sink(crate::agent::AgentEvent::Log(format!(
            "opencode server at {base}"
        )));
        // The server is the agent's own, on loopback: no redirects anywhere.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| self.died(e.to_string()))?;
        let events = if self.event_stream {
            subscribe(&base)
        } else {
            tokio::sync::mpsc::unbounded_channel().1
        };
        let created = self
            .post(
                &http,
                &format!("{base}/session"),
                &json!({"title": task.plan.title}),
            )
            .await?;
        let id = created["id"]
            .as_str()
            .ok_or_else(|| self.died(format!("POST /session answered {created}")))?
            .to_string();
        let mut body = json!({"parts": [{"type": "text", "text": task.prompt}]});
        if let Some((provider, model)) = self.model.and_then(|m| m.split_once('/')) {
            body["model"] = json!({"providerID": provider, "modelID": model});
        }
        self.post(&http, &format!("{base}/session/{id}/prompt_async"), &body)
            .await?;
        let mut events = events;
        let mut seen = Seen::default();
        let mut ending = process::Ending::watched(task.runaway);
        let mut poll = tokio::time::interval(Duration::from_millis(750));
        let started = Instant::now();
        let mut stream_open = true;
        while !seen.idle && seen.error.is_none() {
            tokio::select! {
                ev = events.recv(), if stream_open => match ev {
                    Some(v) => {
                        for said in self.on_event(&http, &base, &id, &v, &mut seen).await {
                            process::forward(said, checkout, &mut ending, &mut *sink);
                        }
                    }
                    None => {
                        stream_open = false;
                        sink(crate::agent::AgentEvent::Log("opencode's event stream ended; polling instead".into()));
                    }
                },
                _ = poll.tick() => {
                    for said in self.poll(&http, &base, &id, &mut seen, started).await? {
                        process::forward(said, checkout, &mut ending, &mut *sink);
                    }
                }
                _ = tokio::time::sleep_until(ending.deadline()) => {
                    if let Some(why) = ending.timed_out() {
                        ending.looping.get_or_insert(why);
                    }
                }
            }
            // The caller kills the server's process group on the way out.
            if let Some(why) = ending.looping.take() {
                return Err(process::looped(why, &ending, sink));
            }
        }
        if let Some(e) = seen.error {
            return Err(self.died(format!("session error: {}", process::quote(&e))));
        }
        // The todo list and the final text may have changed after the last event.
        // Tool calls the events did not show (the stream broke, or never worked).
        let messages = self
            .get(&http, &format!("{base}/session/{id}/message"))
            .await
            .ok();
        // The session can go idle before its error event arrives: the last
        // answer's own error says it too.
        let last_answer = messages
            .as_ref()
            .and_then(Value::as_array)
            .and_then(|m| m.iter().rev().find(|m| m["info"]["role"] == "assistant"));
        if let Some(e) = last_answer.and_then(|m| m["info"].get("error").filter(|e| !e.is_null())) {
            return Err(self.died(format!(
                "session error: {}",
                process::quote(&error_message(e))
            )));
        }
        let fetched = messages.is_some();
        let messages = messages.unwrap_or_default();
        for part in messages
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|m| m["parts"].as_array().into_iter().flatten())
            .filter(|p| p["type"] == "tool" && p["tool"] != "todowrite")
        {
            let key = format!(
                "{}:{}",
                part["callID"].as_str().unwrap_or(""),
                part["state"]["status"].as_str().unwrap_or("")
            );
            if seen.tools_done.insert(key) {
                for said in tool_part(part) {
                    process::forward(said, checkout, &mut ending, &mut *sink);
                }
            }
        }
        if let Ok(t) = self.get(&http, &format!("{base}/session/{id}/todo")).await {
            process::forward(Said::Todos(todos(&t)), checkout, &mut ending, &mut *sink);
        }
        // Text parts from the events may be the prompt itself: only without
        // the message list does the last one stand in for the summary.
        ending.summary = last_assistant_text(&messages).or(seen.last_text.filter(|_| !fetched));
        Ok(ending)
    }

    async fn on_event(
        &self,
        http: &reqwest::Client,
        base: &str,
        id: &str,
        v: &Value,
        seen: &mut Seen,
    ) -> Vec<Said> {
        let props = &v["properties"];
        let session = props["sessionID"]
            .as_str()
            .or(props["part"]["sessionID"].as_str());
        if session != Some(id) {
            return Vec::new();
        }
        match v["type"].as_str().unwrap_or("") {
            "todo.updated" => vec![Said::Todos(todos(&props["todos"]))],
            "permission.asked" => self.answer(http, base, props, seen).await,
            "session.idle" => {
                seen.idle = true;
                Vec::new()
            }
            "session.status" => {
                match props["status"]["type"].as_str() {
                    Some("busy") => seen.busy = true,
                    Some("idle") if seen.busy => seen.idle = true,
                    _ => {}
                }
                Vec::new()
            }
            "session.error" => {
                seen.error = Some(error_message(&props["error"]));
                Vec::new()
            }
            "message.part.updated" => {
                let part = &props["part"];
                match part["type"].as_str() {
                    Some("tool") => {
                        let key = format!(
                            "{}:{}",
                            part["callID"].as_str().unwrap_or(""),
                            part["state"]["status"].as_str().unwrap_or("")
                        );
                        if seen.tools_done.insert(key) {
                            tool_part(part)
                        } else {
                            Vec::new()
                        }
                    }
                    Some("text") => {
                        seen.last_text = part["text"].as_str().map(String::from);
                        Vec::new()
                    }
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    /// Answers a permission request by medic's rules; it never waits for a human.
    async fn answer(
        &self,
        http: &reqwest::Client,
        base: &str,
        request: &Value,
        seen: &mut Seen,
    ) -> Vec<Said> {
        let Some(rid) = request["id"].as_str() else {
            return Vec::new();
        };
        if !seen.answered.insert(rid.to_string()) {
            return Vec::new();
        }
        let permission = request["permission"].as_str().unwrap_or("?");
        let reply = if allowed(permission) {
            "once"
        } else {
            "reject"
        };
        let sent = self
            .post(
                http,
                &format!("{base}/permission/{rid}/reply"),
                &json!({"reply": reply}),
            )
            .await;
        let mut said = vec![Said::Log(format!(
            "opencode asked for {permission} {}: {}",
            request["patterns"]
                .as_array()
                .map(|p| p
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" "))
                .unwrap_or_default(),
            if reply == "once" { "allowed" } else { "denied" }
        ))];
        if let Err(e) = sent {
            said.push(Said::Log(format!("could not answer it: {e}")));
        }
        said
    }

    async fn poll(
        &self,
        http: &reqwest::Client,
        base: &str,
        id: &str,
        seen: &mut Seen,
        started: Instant,
    ) -> Result<Vec<Said>, AgentError> {
        let mut said = Vec::new();
        if let Ok(t) = self.get(http, &format!("{base}/session/{id}/todo")).await {
            if t.as_array().is_some_and(|a| !a.is_empty()) {
                said.push(Said::Todos(todos(&t)));
            }
        }
        if let Ok(Value::Array(pending)) = self.get(http, &format!("{base}/permission")).await {
            for p in pending
                .iter()
                .filter(|p| p["sessionID"].as_str() == Some(id))
            {
                said.extend(self.answer(http, base, p, seen).await);
            }
        }
        let status = self.get(http, &format!("{base}/session/status")).await?;
        match status[id]["type"].as_str() {
            Some("busy") | Some("retry") => seen.busy = true,
            _ if seen.busy => seen.idle = true,
            // Never seen busy: done only if the last message is a finished answer.
            _ if started.elapsed() > Duration::from_secs(2) => {
                let messages = self
                    .get(http, &format!("{base}/session/{id}/message"))
                    .await?;
                if let Some(last) = messages.as_array().and_then(|m| m.last()) {
                    let info = &last["info"];
                    if info["role"] == "assistant"
                        && !info["time"]["completed"].is_null()
                        && info["finish"] != "tool-calls"
                    {
                        seen.idle = true;
                    }
                    if let Some(e) = info.get("error").filter(|e| !e.is_null()) {
                        seen.error = Some(error_message(e));
                    }
                }
            }
            _ => {}
        }
        Ok(said)
    }

    async fn get(&self, http: &reqwest::Client, url: &str) -> Result<Value, AgentError> {
        let r = http
            .get(url)
            .send()
            .await
            .map_err(|e| self.died(format!("GET {url}: {e}")))?;
        let status = r.status();
        let text = read_text(r)
            .await
            .map_err(|e| self.died(format!("GET {url}: {e}")))?;
        if !status.is_success() {
            return Err(self.died(format!("GET {url}: {status}: {}", process::quote(&text))));
        }
        serde_json::from_str(&text)
            .map_err(|_| self.died(format!("GET {url}: not JSON: {}", process::quote(&text))))
    }

    async fn post(
        &self,
        http: &reqwest::Client,
        url: &str,
        body: &Value,
    ) -> Result<Value, AgentError> {
        let r = http
            .post(url)
            .json(body)
            .send()
            .await
            .map_err(|e| self.died(format!("POST {url}: {e}")))?;
        let status = r.status();
        let text = read_text(r)
            .await
            .map_err(|e| self.died(format!("POST {url}: {e}")))?;
        if !status.is_success() {
            return Err(self.died(format!("POST {url}: {status}: {}", process::quote(&text))));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// A body of the agent's server, read in chunks up to `[http] max_body_bytes`.
async fn read_text(r: reqwest::Response) -> Result<String, String> {
    let cap = crate::sources::http::max_body_bytes();
    let body = crate::sources::http::read_capped(r, cap)
        .await
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// The text of the last assistant message in `GET /session/:id/message`.
fn last_assistant_text(messages: &Value) -> Option<String> {
    messages
        .as_array()?
        .iter()
        .rev()
        .filter(|m| m["info"]["role"] == "assistant")
        .find_map(|m| {
            let text: Vec<&str> = m["parts"]
                .as_array()?
                .iter()
                .filter(|p| p["type"] == "text")
                .filter_map(|p| p["text"].as_str())
                .collect();
            (!text.is_empty()).then(|| text.join("\n"))
        })
}

/// Reads `GET /event` (server-sent events) into a channel; it closes when the stream breaks.
fn subscribe(base: &str) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
    use futures_util::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let url = format!("{base}/event");
    tokio::spawn(async move {
        let Ok(client) = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
        else {
            return;
        };
        let Ok(resp) = client.get(&url).send().await else {
            return;
        };
        let mut stream = resp.bytes_stream();
        let mut buf: Vec<u8> = Vec::new();
        while let Some(Ok(chunk)) = stream.next().await {
            buf.extend_from_slice(&chunk);
            // One event frame never needs more than the body cap: a server that
            // never ends its frame loses its stream, not medic's memory.
            if buf.len() as u64 > crate::sources::http::max_body_bytes() {
                return;
            }
            while let Some(end) = find_frame_end(&buf) {
                let frame: Vec<u8> = buf.drain(..end).collect();
                if let Some(v) = parse_sse_frame(&String::from_utf8_lossy(&frame)) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

fn find_frame_end(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2)
}

/// The JSON of one SSE frame's `data:` lines.
pub(crate) fn parse_sse_frame(frame: &str) -> Option<Value> {
    let data: Vec<&str> = frame
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    if data.is_empty() {
        return None;
    }
    serde_json::from_str(&data.join("\n")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TodoStatus;

    #[test]
    fn sse_frames_and_messages() {
        // Captured from `GET /event` on opencode 1.18.33.
        let frame = "data: {\"id\":\"evt_1\",\"type\":\"todo.updated\",\"properties\":{\"sessionID\":\"ses_1\",\"todos\":[{\"content\":\"Raise limit\",\"status\":\"completed\",\"priority\":\"high\"}]}}\n\n";
        let v = parse_sse_frame(frame).unwrap();
        assert_eq!(
            todos(&v["properties"]["todos"])[0].status,
            TodoStatus::Completed
        );
        assert!(parse_sse_frame(": keep-alive\n\n").is_none());
        let msgs = json!([
            {"info": {"role": "user"}, "parts": [{"type": "text", "text": "fix it"}]},
            {"info": {"role": "assistant"}, "parts": [{"type": "step-start"}, {"type": "text", "text": "Raised it."}]}
        ]);
        assert_eq!(last_assistant_text(&msgs).as_deref(), Some("Raised it."));
    }
}
