//! The Alertmanager receiver stays bounded under a long alert stream and
//! against clients that hold connections: a 120k-alert stream (webhook
//! payloads, version 4) keeps the inbox at its cap; resolved alerts expire;
//! a silent client is disconnected; connections beyond the cap wait; a
//! listener beyond loopback without a token is warned about.

use medic::sources::alertmanager::{self, exposure_warning, Inbox, InboxLimits};
use medic::sources::listener::Limits;
use medic::units::rfc3339;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const T0: i64 = 1_790_000_000_000;

fn alert(n: usize, status: &str, starts: i64, ends: Option<i64>) -> Value {
    json!({
        "status": status,
        "labels": {"alertname": "HighErrorRate", "service": format!("svc-{}", n % 500), "pod": format!("pod-{n}")},
        "annotations": {"summary": "5xx above 5%"},
        "startsAt": rfc3339(starts),
        "endsAt": ends.map(rfc3339).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": format!("{n:016x}"),
    })
}

fn webhook(status: &str, alerts: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"HighErrorRate\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "medic",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }))
    .unwrap()
}

#[test]
fn a_120k_alert_stream_keeps_the_inbox_bounded() {
    let inbox = Inbox::default();
    let cap = InboxLimits::default().max_alerts;
    let (total, batch) = (120_000usize, 100usize);
    let mut max_len = 0;
    let started = Instant::now();
    // Every alert fires, and resolves 30 minutes later; a minute between
    // batches. Resolved alerts expire after an hour, so expiry alone keeps
    // it bounded (about 90 batches' worth), below the cap.
    for b in 0..total / batch {
        let now = T0 + b as i64 * 60_000;
        let firing = (0..batch)
            .map(|i| alert(b * batch + i, "firing", now, None))
            .collect();
        inbox.accept_at(&webhook("firing", firing), now).unwrap();
        if b >= 30 {
            let r = b - 30;
            let starts = T0 + r as i64 * 60_000;
            let resolved = (0..batch)
                .map(|i| alert(r * batch + i, "resolved", starts, Some(now)))
                .collect();
            inbox
                .accept_at(&webhook("resolved", resolved), now)
                .unwrap();
        }
        max_len = max_len.max(inbox.len());
    }
    eprintln!(
        "{total} alerts: at most {max_len} kept (cap {cap}), {} dropped for the cap, in {:.1} s",
        inbox.dropped(),
        started.elapsed().as_secs_f64()
    );
    assert!(max_len <= cap, "the inbox grew to {max_len}");
    assert_eq!(inbox.dropped(), 0, "expiry, not the cap, keeps it small");
    // The alerts still firing (the last 30 batches) are all there.
    let firing = inbox
        .flags()
        .iter()
        .filter(|f| f.state == medic::model::AlertState::Firing)
        .count();
    assert_eq!(firing, 30 * batch);

    // Only firing alerts, never resolved: the cap holds, the newest stay.
    let inbox = Inbox::with_limits(InboxLimits {
        max_alerts: 1_000,
        ..InboxLimits::default()
    });
    for b in 0..total / batch {
        let now = T0 + b as i64 * 1_000;
        let firing = (0..batch)
            .map(|i| alert(b * batch + i, "firing", now, None))
            .collect();
        inbox.accept_at(&webhook("firing", firing), now).unwrap();
        assert!(inbox.len() <= 1_000, "{}", inbox.len());
    }
    assert_eq!(inbox.dropped() + inbox.len() as u64, total as u64);
    let newest = format!("{:016x}", total - 1);
    assert!(inbox.alerts().iter().any(|a| a.fingerprint == newest));
}

#[test]
fn resolved_alerts_expire_and_the_cap_drops_resolved_first() {
    let limits = InboxLimits {
        max_alerts: 3,
        resolved_ttl_ms: 60_000,
    };
    let inbox = Inbox::with_limits(limits);
    inbox
        .accept_at(
            &webhook(
                "firing",
                vec![
                    alert(1, "firing", T0, None),
                    alert(2, "resolved", T0, Some(T0 + 1_000)),
                    alert(3, "firing", T0 + 2_000, None),
                ],
            ),
            T0 + 2_000,
        )
        .unwrap();
    // Full: a new alert pushes out the resolved one, not a firing one.
    inbox
        .accept_at(
            &webhook("firing", vec![alert(4, "firing", T0 + 3_000, None)]),
            T0 + 3_000,
        )
        .unwrap();
    let mut kept: Vec<String> = inbox.alerts().into_iter().map(|a| a.fingerprint).collect();
    kept.sort();
    assert_eq!(kept, [1, 3, 4].map(|n| format!("{n:016x}")));
    // A resolved alert is forgotten once its TTL is over.
    inbox
        .accept_at(
            &webhook(
                "resolved",
                vec![alert(3, "resolved", T0 + 2_000, Some(T0 + 4_000))],
            ),
            T0 + 4_000,
        )
        .unwrap();
    assert_eq!(inbox.len(), 3);
    inbox
        .accept_at(&webhook("firing", vec![]), T0 + 4_000 + 60_001)
        .unwrap();
    assert_eq!(inbox.len(), 2, "{:?}", inbox.alerts());
}

async fn receiver(limits: Limits) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(alertmanager::serve_with(
        listener,
        Inbox::default(),
        None,
        limits,
    ));
    port
}

/// POSTs one webhook with a plain socket; the status code.
fn post(port: u16) -> u16 {
    let body = webhook("firing", vec![alert(1, "firing", T0, None)]);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        alertmanager::PATH,
        body.len()
    )
    .unwrap();
    s.write_all(&body).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_cut_off_and_extra_connections_wait_their_turn() {
    let limits = Limits {
        idle: Duration::from_millis(400),
        lifetime: Duration::from_secs(5),
        max_connections: 2,
    };
    let port = receiver(limits).await;
    let results = tokio::task::spawn_blocking(move || {
        // A slowloris: half a request line, then silence.
        let mut slow: Vec<TcpStream> = (0..2)
            .map(|_| {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.write_all(b"POST /webhook/alert").unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                s
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        // Both slots are taken: this waits until a silent one is cut off.
        let status = post(port);
        let waited = started.elapsed();
        let mut buf = [0u8; 64];
        let cut = slow
            .iter_mut()
            .map(|s| matches!(s.read(&mut buf), Ok(0) | Err(_)))
            .collect::<Vec<_>>();
        (status, waited, cut, Instant::now())
    })
    .await
    .unwrap();
    let (status, waited, cut, _) = results;
    assert_eq!(status, 200);
    assert!(
        waited >= Duration::from_millis(300),
        "the third connection was served beside two held ones ({waited:?})"
    );
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    assert!(
        cut.iter().all(|c| *c),
        "a silent client kept its connection"
    );
    // A well-behaved client is served at once when slots are free.
    let started = Instant::now();
    assert_eq!(
        tokio::task::spawn_blocking(move || post(port))
            .await
            .unwrap(),
        200
    );
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[test]
fn listening_beyond_loopback_without_a_token_is_warned_about() {
    let open: std::net::SocketAddr = "0.0.0.0:9095".parse().unwrap();
    let lo: std::net::SocketAddr = "127.0.0.1:9095".parse().unwrap();
    let w = exposure_warning(open, false).unwrap();
    assert!(
        w.contains("without a token") && w.contains("token_env"),
        "{w}"
    );
    assert!(exposure_warning(open, true).is_none());
    assert!(exposure_warning(lo, false).is_none());
    assert!(exposure_warning("[::1]:9095".parse().unwrap(), false).is_none());
}
