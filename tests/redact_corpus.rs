//! Redaction against a generated corpus: realistic secrets in the shapes
//! logs carry them (every format three times, random but seeded: nothing
//! here is a real credential, and no literal in this file looks like a live
//! one — tokens are built at test time from a prefix and random characters)
//! and look-alikes that must survive (UUIDs, SHAs, base64 images, trace ids,
//! pod names, digests, hashes in URLs, versions, timestamps). Reports recall
//! and precision; then properties: idempotence, no secret in the output, no
//! panic on any input, markers only of known kinds.

use medic::triage::redact::{kinds, redact, redact_str};
use proptest::prelude::*;

/// Secret shapes: `«…»` marks the secret; `{X:n}` is n random characters of
/// class X (see [`fill`]); `{G}` a UUID.
const SECRETS: &[(&str, &str)] = &[
    ("aws-access-key-env", "AWS_ACCESS_KEY_ID=«AKIA{Y:16}»"),
    ("aws-secret-env", "AWS_SECRET_ACCESS_KEY=«{B:40}»"),
    ("aws-secret-ini", "aws_secret_access_key = «{B:40}»"),
    ("github-pat-env", "export GITHUB_TOKEN=«ghp_{R:36}»"),
    ("github-in-url", "git clone https://x-access-token:«ghs_{R:36}»@github.com/org/repo.git"),
    ("github-fine-grained", "{\"token\": \"«github_pat_{R:22}_{R:59}»\"}"),
    ("gitlab-pat", "gitlab rejected «glpat-{W:20}» for push"),
    ("slack-bot", "SLACK_BOT_TOKEN=«xoxb-{D:12}-{D:12}-{R:24}»"),
    ("slack-webhook", "POST «https://hooks.slack.com/services/T{U:8}/B{U:8}/{R:24}» 200"),
    ("stripe-live", "stripe.api_key = '«sk_live_{R:24}»'"),
    ("stripe-webhook", "STRIPE_WEBHOOK_SECRET=«whsec_{R:32}»"),
    ("jwt-param", "GET /cb?id_token=«eyJ{W:20}.eyJ{W:40}.{W:43}» HTTP/1.1"),
    ("bearer-header", "Authorization: Bearer «{R:40}»"),
    ("basic-header", "Authorization: Basic «{B:30}==»"),
    ("api-key-header", "curl -H \"X-Api-Key: «{R:32}»\" https://api.example.com/v1"),
    ("cookie-header", "Cookie: _ga=GA1.2.{D:9}.{D:10}; session=«{R:32}»; lang=en"),
    ("set-cookie", "Set-Cookie: sid=«{R:32}»; Path=/; HttpOnly; Secure"),
    ("postgres-dsn", "postgres://app:«{Q:16}»@db.internal:5432/orders"),
    ("mysql-dsn", "dial mysql://root:«{Q:14}»@10.0.0.5:3306/app failed"),
    ("mongodb-dsn", "MONGO_URL=mongodb+srv://svc:«{Q:18}»@cluster0.abcde.mongodb.net/test"),
    ("redis-dsn", "connecting to redis://default:«{Q:16}»@cache:6379/0"),
    ("amqp-dsn", "amqp://guest:«{Q:12}»@rabbit:5672/ connection refused"),
    ("ftp-dsn", "upload to ftp://backup:«{Q:12}»@ftp.example.com/db.tar"),
    ("smtp-dsn", "smtp://apikey:«SG.{W:22}.{W:43}»@smtp.sendgrid.net:587"),
    ("url-token-userinfo", "fetch https://«{R:40}»@hooks.example.com/x 403"),
    ("json-password", "{\"password\":\"«{P:14}»\",\"user\":\"bob\"}"),
    ("escaped-json", "body=\"{\\\"password\\\":\\\"«{P:14}»\\\",\\\"user\\\":\\\"bob\\\"}\""),
    ("double-escaped-json", "msg=\"{\\\\\\\"client_secret\\\\\\\":\\\\\\\"«{R:32}»\\\\\\\"}\""),
    ("nested-log-json", "{\"log\":\"{\\\"level\\\":\\\"info\\\",\\\"auth\\\":{\\\"token\\\":\\\"«{R:40}»\\\"}}\"}"),
    ("yaml-password", "  password: «{P:12}»"),
    ("toml-api-key", "api_key = \"«{R:32}»\""),
    ("env-db-pass", "DB_PASS=«{P:12}»"),
    ("cli-password-space", "mysqldump --password «{Q:12}» orders"),
    ("cli-password-eq", "pg_dump --password=«{Q:12}» --host db"),
    ("cli-curl-user", "curl -u deploy:«{Q:14}» https://ci.example.com/job"),
    ("cli-mysql-p", "mysql -h db -u root -p«{Q:12}» orders"),
    ("cli-token-flag", "vault login --token «hvs.{R:24}»"),
    ("cli-api-key-flag", "tool --api-key=«{R:32}» sync"),
    ("query-access-token", "GET /callback?code=abc&access_token=«{R:40}»&state=xyz HTTP/1.1"),
    ("query-signature", "GET /b/o.png?X-Amz-Date=20261204T180000Z&X-Amz-Signature=«{H:64}» 200"),
    ("query-sas-sig", "PUT https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sig=«{R:43}»&se=2026-12-05"),
    ("google-api-key", "GOOGLE_API_KEY=«AIza{W:35}»"),
    ("sendgrid", "SENDGRID_API_KEY=«SG.{W:22}.{W:43}»"),
    ("npm-token", "//registry.npmjs.org/:_authToken=«npm_{R:36}»"),
    ("pypi-token", "password = «pypi-{W:60}»"),
    ("digitalocean", "DIGITALOCEAN_TOKEN=«dop_v1_{H:64}»"),
    ("twilio-key", "TWILIO_API_KEY=«SK{H:32}»"),
    ("mailgun-key", "MAILGUN_API_KEY=«key-{H:32}»"),
    ("pem-rsa-block", "loaded key:\n«-----BEGIN RSA PRIVATE KEY-----\n{B:64}\n{B:64}\n{B:20}==\n-----END RSA PRIVATE KEY-----»\nready"),
    ("pem-cut", "«-----BEGIN PRIVATE KEY-----\n{B:64}\n{B:40}»\nINFO next request ok"),
    ("pem-openssh", "«-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE{B:45}\n{B:70}\n-----END OPENSSH PRIVATE KEY-----»"),
    ("pem-escaped", "{\"private_key\":\"«-----BEGIN PRIVATE KEY-----\\n{B:64}\\n{B:64}\\n-----END PRIVATE KEY-----\\n»\"}"),
    ("env-dump-password", "env: DATABASE_PASSWORD=«{P:16}» HOME=/root"),
    ("rails-secret-key-base", "SECRET_KEY_BASE=«{H:128}»"),
    ("django-secret-key", "SECRET_KEY = '«{P:50}»'"),
    ("oauth-client-secret", "client_secret=«{R:40}»"),
    ("json-refresh-token", "{\"refresh_token\": \"«{R:64}»\", \"expires_in\": 3600}"),
    ("x-auth-token", "X-Auth-Token: «{R:32}»"),
    ("gitlab-private-token", "Private-Token: «glpat-{W:20}»"),
    ("camel-api-key", "config: {apiKey: \"«{R:32}»\", region: \"eu\"}"),
    ("xml-password", "<password>«{P:14}»</password>"),
    ("spring-password", "spring.datasource.password=«{P:14}»"),
    ("pgpassword", "PGPASSWORD=«{P:14}» psql -h db -U app"),
    ("heroku-uuid-key", "HEROKU_API_KEY=«{G}»"),
    ("session-id", "session_id=«{R:32}» user=42"),
    ("session-token", "sessionToken: «{R:64}»"),
    ("jdbc-password", "jdbc:postgresql://db:5432/app?user=app&password=«{P:14}»"),
    ("proxy-authorization", "Proxy-Authorization: Basic «{B:28}»"),
    ("discord-bot", "Authorization: Bot «M{R:25}.{W:6}.{W:27}»"),
    ("anthropic-key-env", "ANTHROPIC_API_KEY=«sk-ant-api03-{R:93}»"),
    ("huggingface-bare", "downloading weights with «hf_{R:34}»"),
    ("shopify-header", "X-Shopify-Access-Token: «shpat_{H:32}»"),
    ("databricks-env", "DATABRICKS_TOKEN=«dapi{H:32}»"),
    ("openai-project-env", "OPENAI_API_KEY=«sk-proj-{R:48}»"),
    ("openai-bare", "retrying call with «sk-{R:48}» after 429"),
    ("telegram-env", "TELEGRAM_BOT_TOKEN=«{D:10}:{W:35}»"),
    ("datadog-env", "DD_API_KEY=«{H:32}»"),
    ("newrelic-license", "NEW_RELIC_LICENSE_KEY=«{H:40}»"),
    ("vault-token-colon", "vault token: «hvs.{R:24}»"),
    ("passwd-yaml", "passwd: «{P:12}»"),
    ("pwd-json", "{\"pwd\":\"«{P:12}»\"}"),
    ("encryption-key", "ENCRYPTION_KEY=«{B:43}=»"),
    ("master-key", "master_key: «{H:32}»"),
    ("slack-signing-secret", "signing_secret: «{H:32}»"),
    ("json-authorization", "{\"authorization\":\"Bearer «{R:40}»\"}"),
    ("grpc-metadata", "metadata: authorization: bearer «{R:40}»"),
    ("azure-api-key-header", "api-key: «{H:32}»"),
    ("apim-subscription-key", "Ocp-Apim-Subscription-Key: «{H:32}»"),
    ("azure-account-key", "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=«{B:86}==»;EndpointSuffix=core.windows.net"),
    ("servicebus-shared-key", "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=«{B:43}=»"),
    ("percent-encoded", "GET /login?q=user%3Dbob%26password%3D«{R:12}» HTTP/1.1"),
    ("fullwidth-name", "ｐａｓｓｗｏｒｄ=«{P:12}»"),
    ("zero-width-name", "pass\u{200B}word: «{P:12}»"),
    ("docker-env-flag", "docker run -e POSTGRES_PASSWORD=«{Q:14}» postgres:16"),
    ("kubectl-literal", "kubectl create secret generic db --from-literal=password=«{Q:14}»"),
    ("auth-token-pair", "auth_token=«{R:40}»"),
    ("json-credentials", "{\"credentials\": \"«{R:48}»\"}"),
    ("curl-quoted-bearer", "curl -H 'Authorization: Bearer «{R:40}»' https://api"),
    ("netrc", "machine api.example.com login deploy password «{R:24}»"),
    ("short-token", "GET /feed?token=«{R:10}» 200"),
    ("email", "password reset sent to «{L:8}@example.com» at 10:00"),
];

/// Things that look like secrets and are not: redaction must leave them.
const LOOKALIKES: &[&str] = &[
    "request_id={G} took 41ms",
    "X-Request-Id: {G}",
    "idempotency_key={G}",
    "commit {H:40} deployed",
    "rolled back to {H:7} (was {H:7})",
    "data:image/png;base64,iVBORw0KGgo{B:200}",
    "{\"thumbnail\":\"iVBORw0KGgoAAAANSUhEUg{R:80}\"}",
    "<img src=\"data:image/gif;base64,R0lGODlh{B:60}\">",
    "trace_id={H:32} span_id={H:16}",
    "traceparent: 00-{H:32}-{H:16}-01",
    "X-Amzn-Trace-Id: Root=1-{H:8}-{H:24}",
    "cf-ray: {H:16}-SJC",
    "pod/checkout-{L:10}-{L:5} OOMKilled",
    "Successfully assigned default/api-7d9f8b6c5d-{L:5} to node-3",
    "image registry.example.com/team/api@sha256:{H:64}",
    "Pulling image \"nginx:1.25.3-alpine\"",
    "GET /static/app.{H:20}.js 200",
    "GET /assets/{H:32}/logo.png 304",
    "GET /api/v1/users/{D:6}/orders?page=2&limit=50 200",
    "version v1.24.3 (build 1.2.3-rc.1+build.5)",
    "2026-12-04T18:00:00.123Z INFO api: started",
    "ts=1790000000123 level=info msg=\"done\"",
    "token_count=1234 max_tokens=4096",
    "tokens_used: 512",
    "tokenizer=cl100k_base",
    "password_min_length=12",
    "password_reset=true",
    "password: ${DB_PASSWORD}",
    "password=<redacted>",
    "password=********",
    "password=changeme",
    "api_key={{ .Values.apiKey }}",
    "secret_name: orders-db-credentials",
    "keyspace=orders primary_key=id",
    "cache_key=orders:page:{D:3}",
    "lock key: {H:16}",
    "Authorization: Bearer ${TOKEN}",
    "session_timeout=30m sessions_active=42",
    "session ended for user 42",
    "author: Jane Doe",
    "auth=ok",
    "token expired, refreshing",
    "invalid token for user bob",
    "ulid={Y:26}",
    "ObjectId(\"{H:24}\")",
    "md5: {H:32}",
    "sha1 {H:40}",
    "ETag: \"{H:32}\"",
    "fe80::1ff:fe23:4567:890a",
    "mac 00:1a:2b:3c:4d:5e",
    "    at com.example.orders.OrderService.placeOrder(OrderService.java:42)",
    "Exception in thread \"main\" java.lang.NullPointerException",
    "git@github.com:org/repo.git",
    "icon@2x.png",
    "Set-Cookie: theme=dark; Path=/",
    "Cookie: _ga=GA1.2.{D:9}.{D:10}; lang=en",
    "cookie consent: accepted",
    "https://{H:32}@o{D:6}.ingest.sentry.io/{D:7}",
    "kafka partition=3 offset={D:9}",
    "guid ({G})",
    "api_version=2023-10-01",
    "key_id: {H:16}",
    "compass=north bypass=false",
    "PWD=/home/app OLDPWD=/",
    "mysql -h db -u root -p orders",
    "docker run -p 8080:80 -p8443:443 app",
    "gcc -pthread -o app main.c",
    "signal SIGTERM received",
    "design doc: https://docs.example.com/d/{H:12}",
    "passthrough mode enabled",
    "integrity sha512-{B:86}==",
    "checksum sha256:{H:64}",
    "Deployment api scaled to 6 replicas",
    "memory 31.2 GiB of 32 GiB (97%)",
    "uptime 3d4h12m",
    "user-agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
    "HTTP/1.1 503 Service Unavailable",
    "\"level\":\"warn\",\"msg\":\"retrying\",\"attempt\":3",
    "job_id={D:12} queue=emails",
    "order #{D:8} placed by customer {D:7}",
    "git describe: v2.3.1-14-g{H:7}",
    "Container ID: containerd://{H:64}",
    "node i-{H:17} ready",
    "arn:aws:iam::{D:12}:role/api-prod",
    "subnet-{H:17} vpc-{H:17}",
    "s3://bucket-prod/logs/2026/12/04/{H:16}.gz",
    "x-request-start: t={D:16}",
    "span {H:16} parent {H:16}",
    "build #{D:5} passed in 4m12s",
    "color=#1a2b3c background=#ffffff",
    "sku=ABC-{D:5}-XL",
    "phone +1-555-{D:3}-{D:4}",
    "ipv4 10.{D:1}.{D:2}.{D:2}:8080",
    "region=eu-west-1 az=eu-west-1a",
    "helm upgrade api ./chart --set image.tag=v1.2.3",
    "redis://cache:6379/0 connected",
    "postgres://db.internal:5432/orders ping ok",
    "oauth scope=read:user repo",
    "secrets: 3 mounted",
    "key=value pairs parsed: 12",
    "sessionid cookie missing",
    "the key is in vault",
    "password=vault:secret/data/db#password",
    "token=env:API_TOKEN",
    "password reset link sent to the user",
    "token 42 of 50 used",
    "the session 7 timed out",
    "oauth scope=read:user repo",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick(&mut self, set: &[u8]) -> char {
        set[(self.next() % set.len() as u64) as usize] as char
    }
}

/// `n` random characters of class `class`.
fn fill(rng: &mut Rng, class: char, n: usize) -> String {
    let set: &[u8] = match class {
        'R' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        'L' => b"abcdefghijklmnopqrstuvwxyz0123456789",
        'U' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        'H' => b"0123456789abcdef",
        'D' => b"0123456789",
        'B' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        'W' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
        'Y' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
        'P' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#%^*_-",
        // What may stand unescaped in a URL's userinfo or a shell word.
        'Q' => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~!",
        other => panic!("unknown class {other}"),
    };
    loop {
        let s: String = (0..n).map(|_| rng.pick(set)).collect();
        // Generated credentials mix their classes; a 12-character password
        // of only lower case is not what a generator produces.
        let mixed = |s: &str| {
            s.bytes().any(|b| b.is_ascii_uppercase())
                && s.bytes().any(|b| b.is_ascii_lowercase())
                && s.bytes().any(|b| b.is_ascii_digit())
        };
        if s.starts_with(['-', '.']) {
            continue;
        }
        if !matches!(class, 'R' | 'P' | 'Q' | 'B' | 'W') || n < 8 || mixed(&s) {
            return s;
        }
    }
}

/// Expands `{X:n}` and `{G}` in a template; other braces stay as they are.
fn expand(rng: &mut Rng, template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        let spec = tail.find('}').map(|j| &tail[..j]);
        let class = spec.and_then(|s| {
            let c = s.chars().next()?;
            let n = s
                .strip_prefix(c)?
                .strip_prefix(':')?
                .parse::<usize>()
                .ok()?;
            c.is_ascii_uppercase().then_some((c, n))
        });
        match (spec, class) {
            (Some("G"), _) => {
                let h = fill(rng, 'H', 32);
                out.push_str(&format!(
                    "{}-{}-{}-{}-{}",
                    &h[..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..]
                ));
                rest = &tail[2..];
            }
            (Some(s), Some((c, n))) => {
                out.push_str(&fill(rng, c, n));
                rest = &tail[s.len() + 1..];
            }
            _ => {
                out.push('{');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A corpus secret: its format, the line as a log would show it, and the
/// secret's byte range in that line.
struct Case {
    format: &'static str,
    line: String,
    secret: std::ops::Range<usize>,
}

fn cases() -> Vec<Case> {
    let mut rng = Rng(0x0005_EED0_F5EC_2E75);
    let mut out = Vec::new();
    for _ in 0..3 {
        for (format, template) in SECRETS {
            let marked = expand(&mut rng, template);
            let open = marked.find('«').expect("« opens the secret");
            let close = marked.find('»').expect("» closes the secret");
            let line = marked.replace(['«', '»'], "");
            out.push(Case {
                format,
                line,
                secret: open..close - '«'.len_utf8(),
            });
        }
    }
    out
}

fn lookalikes() -> Vec<String> {
    let mut rng = Rng(0x0010_0CA1_11CE);
    (0..2)
        .flat_map(|_| {
            LOOKALIKES
                .iter()
                .map(|t| expand(&mut rng, t))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Caught: every non-blank byte of the secret is inside a finding, and no
/// finding reaches outside the secret (a redaction never swallows more).
fn caught(c: &Case) -> Result<(), String> {
    let r = redact(&c.line);
    for f in &r.findings {
        if f.start < c.secret.start || f.end > c.secret.end {
            return Err(format!("swallowed more: {}", r.text));
        }
    }
    let covered = |i: usize| r.findings.iter().any(|f| f.start <= i && i < f.end);
    let missed = c.secret.clone().find(|&i| {
        !c.line.as_bytes()[i].is_ascii_whitespace() && c.line.is_char_boundary(i) && !covered(i)
    });
    match missed {
        Some(_) => Err(format!("left: {}", r.text)),
        None => Ok(()),
    }
}

#[test]
fn corpus_recall_and_precision() {
    let cases = cases();
    let looks = lookalikes();
    let formats: std::collections::BTreeSet<_> = cases.iter().map(|c| c.format).collect();
    assert!(
        cases.len() >= 150 && formats.len() >= 50 && looks.len() >= 100,
        "corpus too small"
    );
    let misses: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            caught(c)
                .err()
                .map(|e| format!("  {}: {}\n    {e}", c.format, c.line))
        })
        .collect();
    let touched: Vec<String> = looks
        .iter()
        .filter_map(|l| {
            let out = redact_str(l);
            (out != *l).then(|| format!("  {l}\n    got {out}"))
        })
        .collect();
    let recall = (cases.len() - misses.len()) as f64 / cases.len() as f64;
    let precision = (looks.len() - touched.len()) as f64 / looks.len() as f64;
    println!(
        "redaction corpus: recall {:.1}% ({}/{} secrets, {} formats), precision {:.1}% ({}/{} look-alikes untouched)",
        recall * 100.0,
        cases.len() - misses.len(),
        cases.len(),
        formats.len(),
        precision * 100.0,
        looks.len() - touched.len(),
        looks.len()
    );
    if !misses.is_empty() || !touched.is_empty() {
        println!(
            "missed secrets:\n{}\ntouched look-alikes:\n{}",
            misses.join("\n"),
            touched.join("\n")
        );
    }
    assert!(
        recall >= 0.99 && precision >= 0.95,
        "recall {recall:.3}, precision {precision:.3}\nmissed:\n{}\ntouched:\n{}",
        misses.join("\n"),
        touched.join("\n")
    );
}

#[test]
fn a_whole_log_redacts_like_its_lines() {
    let cases = cases();
    let log: String = cases.iter().map(|c| c.line.clone() + "\n").collect();
    let out = redact_str(&log);
    for c in &cases {
        let secret = &c.line[c.secret.clone()];
        assert!(!out.contains(secret), "{}: {}", c.format, c.line);
    }
    for l in lookalikes() {
        assert!(redact_str(&format!("{l}\n")).contains(&l), "{l}");
    }
}

/// Pieces that make redaction's job hard when glued together: secrets,
/// look-alikes, markers, key names, separators and arbitrary text.
fn piece() -> impl Strategy<Value = String> {
    let cases = cases();
    let secret_lines: Vec<String> = cases.iter().map(|c| c.line.clone()).collect();
    let secrets: Vec<String> = cases
        .iter()
        .map(|c| c.line[c.secret.clone()].to_string())
        .collect();
    prop_oneof![
        proptest::sample::select(secret_lines),
        proptest::sample::select(secrets),
        proptest::sample::select(lookalikes()),
        proptest::sample::select(kinds().to_vec()).prop_map(|k| format!("[REDACTED:{k}]")),
        proptest::sample::select(vec![
            "password=",
            "token: ",
            "\"secret\": \"",
            "api_key=",
            "Authorization: Bearer ",
            "Cookie: ",
            "https://u:",
            "@",
            "@example.com",
            "://",
            "=",
            ":",
            "\"",
            "'",
            "\\\"",
            "%3D",
            "\u{200B}",
            " ",
            "\n",
            "]",
            "[",
            "{",
            "}",
            "-----BEGIN PRIVATE KEY-----",
            "-----END PRIVATE KEY-----",
            "_",
            "x",
            "AKIA",
            "ghp_",
            "eyJ",
            ".",
            "/",
        ])
        .prop_map(String::from),
        any::<String>(),
        "[A-Za-z0-9_./+=-]{0,48}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn redacting_twice_is_redacting_once(parts in proptest::collection::vec(piece(), 0..8)) {
        let text = parts.concat();
        let once = redact_str(&text);
        prop_assert_eq!(redact_str(&once), once);
    }

    #[test]
    fn output_never_contains_the_secret(
        i in 0usize..1000,
        before in any::<String>(),
        after in any::<String>(),
        sep1 in "[ \n\t]",
        sep2 in "[ \n\t]",
    ) {
        let cases = cases();
        let c = &cases[i % cases.len()];
        let secret = &c.line[c.secret.clone()];
        let text = format!("{before}{sep1}{}{sep2}{after}", c.line);
        let out = redact_str(&text);
        prop_assert!(!out.contains(secret), "{secret:?} survived in {out:?}");
    }

    #[test]
    fn any_unicode_is_safe(text in any::<String>()) {
        let r = redact(&text);
        // Findings are ordered, disjoint, on char boundaries, and the text is
        // exactly the original with each finding replaced by its marker.
        let mut rebuilt = String::new();
        let mut pos = 0;
        for f in &r.findings {
            prop_assert!(pos <= f.start && f.start < f.end && f.end <= text.len());
            prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
            prop_assert!(kinds().contains(&f.kind));
            rebuilt.push_str(&text[pos..f.start]);
            rebuilt.push_str(&format!("[REDACTED:{}]", f.kind));
            pos = f.end;
        }
        rebuilt.push_str(&text[pos..]);
        prop_assert_eq!(rebuilt, r.text);
    }
}
