//! Both demo providers as deployed (design.md §4 "Storage and operation"): tokens across SIGTERM and SIGKILL
//! restarts, a SIGKILL under load, two processes on one PostgreSQL, a removed client, /healthz with the database
//! down, a graceful stop, and no secret in any log line.

mod common;

use std::time::{Duration, Instant};

use common::{Browser, Running, TempFile, free_port, start, start_logging};
use oauth2_testkit::postgres::{Cluster, database};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

const PROVIDERS: [(&str, &str); 2] =
    [("axum", env!("CARGO_BIN_EXE_provider-axum")), ("actix", env!("CARGO_BIN_EXE_provider-actix"))];

/// The built-in clients plus `extra` (password + refresh), whose entry `with_extra = false` leaves out.
fn config(web_port: u16, with_extra: bool) -> TempFile {
    let extra = if with_extra {
        "[[clients]]\nid = \"extra\"\nsecret = \"extra-secret\"\ngrant_types = [\"password\", \"refresh_token\"]\nscopes = [\"read\"]\n"
    } else {
        ""
    };
    let text = format!(
        r#"
[[clients]]
id = "demo-web"
secret = "demo-web-secret"
redirect_uris = ["http://127.0.0.1:{web_port}/callback"]
grant_types = ["authorization_code", "refresh_token", "password"]
scopes = ["profile", "read"]

[[clients]]
id = "demo-service"
secret = "demo-service-secret"
grant_types = ["client_credentials"]
scopes = ["read"]

[[clients]]
id = "demo-tv"
name = "Demo TV"
grant_types = ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
scopes = ["profile", "read"]

{extra}
[[users]]
username = "alice"
password = "alice-password"
name = "Alice Liddell"
"#
    );
    TempFile::with_contents("durable.toml", &text)
}

struct Provider {
    bin: &'static str,
    port: u16,
    args: Vec<String>,
    log: Option<std::path::PathBuf>,
    running: Option<Running>,
}

impl Provider {
    async fn start(bin: &'static str, port: u16, config: &TempFile, db: &str) -> Self {
        Self::start_with(bin, port, config, db, &[]).await
    }

    async fn start_with(bin: &'static str, port: u16, config: &TempFile, db: &str, extra: &[&str]) -> Self {
        let listen = format!("127.0.0.1:{port}");
        let args =
            ["--listen", &listen, "--config", config.as_str(), "--db", db].into_iter().chain(extra.iter().copied());
        let mut p = Self { bin, port, args: args.map(str::to_owned).collect(), log: None, running: None };
        p.up().await;
        p
    }

    async fn up(&mut self) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.running = Some(start_logging(self.bin, &args, self.log.as_deref()).await);
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> u32 {
        self.running.as_ref().and_then(|r| r.child.id()).expect("running")
    }

    /// Sends `signal` and waits for the exit; returns the exit code.
    async fn signal(&mut self, signal: &str) -> Option<i32> {
        let pid = self.pid().to_string();
        std::process::Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap();
        let mut running = self.running.take().unwrap();
        let status = tokio::time::timeout(Duration::from_secs(40), running.child.wait()).await.unwrap().unwrap();
        status.code()
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap()
}

async fn password_tokens(base: &str, client: (&str, &str)) -> Value {
    let form = [("grant_type", "password"), ("username", "alice"), ("password", "alice-password"), ("scope", "read")];
    let r = http().post(format!("{base}/token")).basic_auth(client.0, Some(client.1)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200, "password grant");
    r.json().await.unwrap()
}

async fn refresh(base: &str, client: (&str, &str), rt: &str) -> reqwest::Response {
    let form = [("grant_type", "refresh_token"), ("refresh_token", rt)];
    http().post(format!("{base}/token")).basic_auth(client.0, Some(client.1)).form(&form).send().await.unwrap()
}

async fn userinfo(base: &str, token: &str) -> u16 {
    http().get(format!("{base}/userinfo")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

async fn active(base: &str, token: &str) -> bool {
    let r = http()
        .post(format!("{base}/introspect"))
        .basic_auth("demo-service", Some("demo-service-secret"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["active"] == true
}

const WEB: (&str, &str) = ("demo-web", "demo-web-secret");

fn sqlite_db() -> String {
    format!("sqlite:{}/durable-{}-{}.sqlite", env!("CARGO_TARGET_TMPDIR"), std::process::id(), free_port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_survive_a_sigterm_and_a_sigkill_restart() {
    for (name, bin) in PROVIDERS {
        for db in [sqlite_db(), database()] {
            let config = config(free_port(), true);
            let mut p = Provider::start(bin, free_port(), &config, &db).await;
            let first = password_tokens(&p.base(), WEB).await;
            let code = p.signal("TERM").await;
            assert_eq!(code, Some(0), "[{name}] SIGTERM exits 0");
            p.up().await;
            assert_eq!(
                userinfo(&p.base(), first["access_token"].as_str().unwrap()).await,
                200,
                "[{name} {db}] SIGTERM"
            );
            let rotated = refresh(&p.base(), WEB, first["refresh_token"].as_str().unwrap()).await;
            assert_eq!(rotated.status(), 200, "[{name} {db}] the refresh token works after a restart");
            let rotated: Value = rotated.json().await.unwrap();
            p.signal("KILL").await;
            p.up().await;
            assert_eq!(userinfo(&p.base(), rotated["access_token"].as_str().unwrap()).await, 200, "[{name}] SIGKILL");
            // The rotation held across the restart: the old refresh token is spent, and its reuse revokes all.
            let reuse = refresh(&p.base(), WEB, first["refresh_token"].as_str().unwrap()).await;
            assert_eq!(reuse.status(), 400, "[{name} {db}] a rotated refresh token is still spent");
            assert_eq!(userinfo(&p.base(), rotated["access_token"].as_str().unwrap()).await, 401, "[{name}] revoked");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_under_load_loses_no_token_whose_answer_was_sent() {
    for (name, bin) in PROVIDERS {
        let config = config(free_port(), true);
        let db = sqlite_db();
        let mut p = Provider::start(bin, free_port(), &config, &db).await;
        let base = p.base();
        let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let mut load = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (base, answered) = (base.clone(), answered.clone());
            load.spawn(async move {
                let client = http();
                loop {
                    let r = client
                        .post(format!("{base}/token"))
                        .basic_auth("demo-service", Some("demo-service-secret"))
                        .form(&[("grant_type", "client_credentials")])
                        .send()
                        .await;
                    let Ok(r) = r else { return };
                    let Ok(body) = r.json::<Value>().await else { return };
                    if let Some(t) = body["access_token"].as_str() {
                        answered.lock().unwrap().push(t.to_owned());
                    }
                }
            });
        }
        while answered.lock().unwrap().len() < 200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        p.signal("KILL").await;
        while load.join_next().await.is_some() {}
        p.up().await;
        let tokens = answered.lock().unwrap().clone();
        for t in &tokens {
            assert!(active(&base, t).await, "[{name}] a token whose answer was sent is gone after SIGKILL");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_share_everything() {
    for (name, bin) in PROVIDERS {
        let web_port = free_port();
        let config = config(web_port, true);
        let db = database();
        let a = Provider::start(bin, free_port(), &config, &db).await;
        let b = Provider::start(bin, free_port(), &config, &db).await;
        // A code from one, redeemed at the other.
        let authorize = format!(
            "{}/authorize?response_type=code&client_id=demo-web&redirect_uri=http%3A%2F%2F127.0.0.1%3A{web_port}%2Fcallback&state=s",
            a.base()
        );
        let location = Browser::new().approve(&authorize).await;
        let code = url::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        let redirect = format!("http://127.0.0.1:{web_port}/callback");
        let form = [("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", &redirect)];
        let r =
            http().post(format!("{}/token", b.base())).basic_auth(WEB.0, Some(WEB.1)).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 200, "[{name}] a code of one instance redeems at the other");
        let tokens: Value = r.json().await.unwrap();
        assert_eq!(userinfo(&a.base(), tokens["access_token"].as_str().unwrap()).await, 200);
        // One refresh token presented to both at once rotates once.
        let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
        let mut race = tokio::task::JoinSet::new();
        for i in 0..20 {
            let (base, rt) = (if i % 2 == 0 { a.base() } else { b.base() }, rt.clone());
            race.spawn(async move { refresh(&base, WEB, &rt).await.status().as_u16() });
        }
        let mut ok = 0;
        while let Some(status) = race.join_next().await {
            ok += usize::from(status.unwrap() == 200);
        }
        assert_eq!(ok, 1, "[{name}] {ok} of 20 concurrent refreshes across two instances succeeded");
        // A revocation at one holds at the other within a second, though the other answers Bearer checks from
        // its cache (warmed here for longer than a poll of the feed takes).
        let t = password_tokens(&a.base(), WEB).await;
        let at = t["access_token"].as_str().unwrap();
        let warm = Instant::now() + Duration::from_millis(600);
        while Instant::now() < warm {
            assert_eq!(userinfo(&a.base(), at).await, 200);
        }
        let form = [("token", at)];
        let r = http()
            .post(format!("{}/revoke", b.base()))
            .basic_auth(WEB.0, Some(WEB.1))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let revoked = Instant::now();
        loop {
            let sent = revoked.elapsed();
            match userinfo(&a.base(), at).await {
                401 => break,
                200 => {
                    assert!(sent < Duration::from_secs(1), "[{name}] A still accepted it {sent:?} after B revoked it");
                }
                other => panic!("[{name}] userinfo said {other}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!("[{name}] A refused the token revoked at B after {:?}", revoked.elapsed());
        assert_eq!(userinfo(&b.base(), at).await, 401, "[{name}] and at B");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_the_configuration_no_longer_lists_loses_its_tokens() {
    for (name, bin) in PROVIDERS {
        let web_port = free_port();
        let (with, without) = (config(web_port, true), config(web_port, false));
        let db = sqlite_db();
        let mut p = Provider::start(bin, free_port(), &with, &db).await;
        let t = password_tokens(&p.base(), ("extra", "extra-secret")).await;
        p.signal("TERM").await;
        let mut p = Provider::start(bin, p.port, &without, &db).await;
        assert_eq!(userinfo(&p.base(), t["access_token"].as_str().unwrap()).await, 401, "[{name}] removed client");
        let r = refresh(&p.base(), ("extra", "extra-secret"), t["refresh_token"].as_str().unwrap()).await;
        assert_eq!(r.status(), 401, "[{name}] the removed client cannot authenticate");
        p.signal("TERM").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_follows_the_database_and_requests_fail_fast_while_it_is_down() {
    for (name, bin) in PROVIDERS {
        let cluster = Cluster::new().unwrap();
        let db = cluster.create_database().unwrap();
        let config = config(free_port(), true);
        let p = Provider::start(bin, free_port(), &config, &db).await;
        let health = || async { http().get(format!("{}/healthz", p.base())).send().await.unwrap() };
        let ok = health().await;
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.json::<Value>().await.unwrap(), serde_json::json!({"status": "ok"}));
        cluster.stop();
        let started = Instant::now();
        assert_eq!(health().await.status(), 503, "[{name}] healthz with the database down");
        assert!(started.elapsed() < Duration::from_secs(4), "[{name}] healthz waited {:?}", started.elapsed());
        let started = Instant::now();
        let r = http()
            .post(format!("{}/token", p.base()))
            .basic_auth("demo-service", Some("demo-service-secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503, "[{name}] a token request with the database down");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "temporarily_unavailable");
        assert!(started.elapsed() < Duration::from_secs(5), "[{name}] failed in {:?}", started.elapsed());
        cluster.start().unwrap();
        let mut back = false;
        for _ in 0..60 {
            if health().await.status() == 200 {
                back = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(back, "[{name}] healthz says 200 once the database is back");
        let t = password_tokens(&p.base(), WEB).await;
        assert!(t["access_token"].is_string(), "[{name}] and tokens are issued again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_requests_in_flight_then_exits_0() {
    for (name, bin) in PROVIDERS {
        let config = config(free_port(), true);
        let mut p = Provider::start(bin, free_port(), &config, &sqlite_db()).await;
        // A token request whose body is still on its way when SIGTERM arrives.
        let body = "grant_type=client_credentials";
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
        let head = format!(
            "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Authorization: Basic ZGVtby1zZXJ2aWNlOmRlbW8tc2VydmljZS1zZWNyZXQ=\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\ngrant_",
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let pid = p.pid().to_string();
        std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        s.write_all(&body.as_bytes()["grant_".len()..]).await.unwrap();
        let mut answer = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut s, &mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "[{name}] the request in flight was answered: {answer}");
        let mut running = p.running.take().unwrap();
        let status = tokio::time::timeout(Duration::from_secs(40), running.child.wait()).await.unwrap().unwrap();
        assert_eq!(status.code(), Some(0), "[{name}] and the provider exits 0");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_code_or_token_in_any_log_line() {
    for (name, bin) in PROVIDERS {
        let web_port = free_port();
        let config = config(web_port, true);
        let log = TempFile::with_contents("provider.log", "");
        let port = free_port();
        let args = ["--listen", &format!("127.0.0.1:{port}"), "--config", config.as_str(), "--db", "memory"];
        let running = start_logging(bin, &args, Some(&log.0)).await;
        let base = running.base.clone();
        let mut secrets: Vec<String> =
            ["demo-web-secret", "demo-service-secret", "extra-secret", "alice-password"].map(String::from).to_vec();
        // Every grant, refresh, introspection and revocation, and a login through the pages.
        let authorize = format!(
            "{base}/authorize?response_type=code&client_id=demo-web&redirect_uri=http%3A%2F%2F127.0.0.1%3A{web_port}%2Fcallback&state=st8"
        );
        let location = Browser::new().approve(&authorize).await;
        let code = url::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        let redirect = format!("http://127.0.0.1:{web_port}/callback");
        let form = [("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", &redirect)];
        let t: Value = http()
            .post(format!("{base}/token"))
            .basic_auth(WEB.0, Some(WEB.1))
            .form(&form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        secrets.push(code);
        let p = password_tokens(&base, WEB).await;
        let r: Value = refresh(&base, WEB, p["refresh_token"].as_str().unwrap()).await.json().await.unwrap();
        for tokens in [&t, &p, &r] {
            for field in ["access_token", "refresh_token"] {
                secrets.push(tokens[field].as_str().unwrap().to_owned());
            }
        }
        let introspected = http()
            .post(format!("{base}/introspect"))
            .basic_auth(WEB.0, Some(WEB.1))
            .form(&[("token", r["access_token"].as_str().unwrap())])
            .send()
            .await
            .unwrap();
        assert_eq!(introspected.json::<Value>().await.unwrap()["active"], true);
        let form = [("token", r["refresh_token"].as_str().unwrap())];
        http().post(format!("{base}/revoke")).basic_auth(WEB.0, Some(WEB.1)).form(&form).send().await.unwrap();
        let wrong = [("grant_type", "password"), ("username", "alice"), ("password", "a-wrong-guess")];
        http().post(format!("{base}/token")).basic_auth(WEB.0, Some(WEB.1)).form(&wrong).send().await.unwrap();
        secrets.push("a-wrong-guess".into());
        drop(running);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let text = std::fs::read_to_string(&log.0).unwrap();
        let lines = text.lines().filter(|l| l.contains("request")).count();
        assert!(lines >= 8, "[{name}] a log line per request: {text}");
        assert!(text.contains("client_id=demo-web") && text.contains("path=/token"), "[{name}] {text}");
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "[{name}] a secret in the log: {secret}\n{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_webs_refresh_works_across_provider_restarts() {
    for (name, bin) in PROVIDERS {
        let web_port = free_port();
        let config = config(web_port, true);
        let mut p = Provider::start(bin, free_port(), &config, &sqlite_db()).await;
        let web = start(
            env!("CARGO_BIN_EXE_client-web"),
            &["--listen", &format!("127.0.0.1:{web_port}"), "--issuer", &p.base()],
        )
        .await;
        let b = Browser::new();
        let to_provider = b.0.get(format!("{}/login", web.base)).send().await.unwrap();
        let callback = b.approve(&Browser::location(&to_provider)).await;
        b.0.get(&callback).send().await.unwrap();
        for signal in ["TERM", "KILL"] {
            p.signal(signal).await;
            p.up().await;
            let profile = b.0.get(format!("{}/profile", web.base)).send().await.unwrap().text().await.unwrap();
            let csrf = [("csrf", common::hidden(&profile, "csrf"))];
            let refreshed = b.0.post(format!("{}/refresh", web.base)).form(&csrf).send().await.unwrap();
            assert_eq!(Browser::location(&refreshed), "/profile", "[{name}] refresh after SIG{signal}");
            let profile = b.0.get(format!("{}/profile", web.base)).send().await.unwrap().text().await.unwrap();
            assert!(profile.contains("Alice Liddell"), "[{name}] the profile after SIG{signal}: {profile}");
        }
    }
}
