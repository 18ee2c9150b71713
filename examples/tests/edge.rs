//! The HTTP edge of both demo providers under hostile traffic: slow sockets, floods of anonymous requests, consent
//! without a fresh login, password guessing at the login page; and client-web's session fixation.

mod common;

use std::time::{Duration, Instant};

use common::{Browser, Running, config_file, free_port, hidden, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PROVIDERS: [(&str, &str); 2] =
    [("axum", env!("CARGO_BIN_EXE_provider-axum")), ("actix", env!("CARGO_BIN_EXE_provider-actix"))];

/// A provider started through `sh` with `ulimit -n` set first, so it has only that many file descriptors.
async fn start_limited(bin: &str, fds: u32, args: &[&str]) -> Running {
    let script = format!("ulimit -n {fds} && exec \"$0\" \"$@\"");
    let mut full = vec!["-c", script.as_str(), bin];
    full.extend_from_slice(args);
    start("/bin/sh", &full).await
}

fn addr(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

async fn client_credentials(base: &str) -> reqwest::StatusCode {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let form = [("grant_type", "client_credentials")];
    let r = http.post(format!("{base}/token")).basic_auth("demo-service", Some("demo-service-secret")).form(&form);
    r.send().await.map(|r| r.status()).unwrap_or(reqwest::StatusCode::REQUEST_TIMEOUT)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_sockets_under_a_low_file_limit_leave_room_for_normal_requests() {
    for (name, bin) in PROVIDERS {
        let config = config_file(free_port());
        let provider =
            start_limited(bin, 256, &["--listen", "127.0.0.1:0", "--config", config.as_str(), "--header-timeout", "2"])
                .await;
        let target = addr(&provider.base);
        // 300 sockets that never finish their headers: a third send nothing, the rest half a request.
        let mut slow = Vec::new();
        for i in 0..300 {
            let Ok(mut s) = TcpStream::connect(&target).await else { continue };
            if i % 3 != 0 {
                let _ = s.write_all(b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-").await;
            }
            slow.push(s);
        }
        let started = Instant::now();
        let status = client_credentials(&provider.base).await;
        let took = started.elapsed();
        assert_eq!(status, 200, "[{name}] a normal token request among 300 slow sockets");
        assert!(took < Duration::from_secs(4), "[{name}] answered in {took:?}, more than the header timeout + 2 s");
        drop(slow);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_and_unfinished_headers_are_closed() {
    for (name, bin) in PROVIDERS {
        let config = config_file(free_port());
        let provider =
            start(bin, &["--listen", "127.0.0.1:0", "--config", config.as_str(), "--header-timeout", "1"]).await;
        let target = addr(&provider.base);
        // One request, then silence: the server closes the connection after the header timeout.
        let mut idle = TcpStream::connect(&target).await.unwrap();
        let metadata = "GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: x\r\n\r\n";
        idle.write_all(metadata.as_bytes()).await.unwrap();
        let mut partial = TcpStream::connect(&target).await.unwrap();
        partial.write_all(b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost:").await.unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let started = Instant::now();
        for (what, socket) in [("an idle keep-alive connection", &mut idle), ("unfinished headers", &mut partial)] {
            let closed = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            })
            .await;
            assert!(closed.is_ok(), "[{name}] {what} is still open after {:?}", started.elapsed());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_anonymous_authorize_requests_evicts_no_one() {
    for (name, bin) in PROVIDERS {
        let web_port = free_port();
        let config = config_file(web_port);
        let provider = start(bin, &["--listen", "127.0.0.1:0", "--config", config.as_str()]).await;
        let authorize = format!(
            "{}/authorize?response_type=code&client_id=demo-web&redirect_uri=http%3A%2F%2F127.0.0.1%3A{web_port}%2Fcallback&state=s",
            provider.base
        );
        // The victim opens the login page ...
        let victim = Browser::new();
        let login_page = victim.0.get(&authorize).send().await.unwrap().text().await.unwrap();
        // ... while 10,001 cookieless requests arrive (each with a 2 KiB state) ...
        let flood = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let big = format!("{authorize}{}", "x".repeat(2000));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..10_001 {
            let (flood, url) = (flood.clone(), big.clone());
            tasks.spawn(async move { flood.get(url).send().await.map(|r| r.status().as_u16()).unwrap_or(0) });
            if i % 64 == 63 {
                while tasks.len() > 32 {
                    tasks.join_next().await;
                }
            }
        }
        while let Some(status) = tasks.join_next().await {
            assert_eq!(status.unwrap(), 200, "[{name}] flood request");
        }
        // ... and the victim's login still goes through to consent and back to the client.
        let form = [
            ("username", "alice".to_owned()),
            ("password", "alice-password".to_owned()),
            ("csrf", hidden(&login_page, "csrf")),
            ("request", hidden(&login_page, "request")),
        ];
        let consent = victim.0.post(format!("{}/login", provider.base)).form(&form).send().await.unwrap();
        assert_eq!(consent.status(), 200, "[{name}] the victim's login was refused after the flood");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_needs_the_login_of_its_own_request() {
    for (name, bin) in PROVIDERS {
        let web_port = free_port();
        let config = config_file(web_port);
        let provider = start(bin, &["--listen", "127.0.0.1:0", "--config", config.as_str()]).await;
        let authorize = |state: &str| {
            format!(
                "{}/authorize?response_type=code&client_id=demo-web&redirect_uri=http%3A%2F%2F127.0.0.1%3A{web_port}%2Fcallback&state={state}",
                provider.base
            )
        };
        let b = Browser::new();
        // A full login and consent for the first request.
        let location = b.approve(&authorize("first")).await;
        assert!(location.contains("code="), "[{name}] {location}");
        // A second request: login is shown again, and the consent form of the first login cannot be replayed for
        // it (nor at all: its authority ended with its consent).
        let second = b.0.get(authorize("second")).send().await.unwrap().text().await.unwrap();
        assert!(second.contains("name=\"password\""), "[{name}] no login page for the second request");
        let page = login(&b, &provider.base, &authorize("third")).await;
        let consent =
            [("decision", "allow".to_owned()), ("csrf", hidden(&page, "csrf")), ("request", hidden(&page, "request"))];
        let allowed = b.0.post(format!("{}/consent", provider.base)).form(&consent).send().await.unwrap();
        assert_eq!(allowed.status(), 302, "[{name}] the third request's own consent");
        let replay = b.0.post(format!("{}/consent", provider.base)).form(&consent).send().await.unwrap();
        assert_eq!(replay.status(), 400, "[{name}] a consent form posted twice");
        assert!(replay.headers().get("location").is_none(), "[{name}] no code without a fresh login");
    }
}

/// Opens `authorize` and signs in as alice: the consent page.
async fn login(b: &Browser, base: &str, authorize: &str) -> String {
    let page = b.0.get(authorize).send().await.unwrap().text().await.unwrap();
    let form = [
        ("username", "alice".to_owned()),
        ("password", "alice-password".to_owned()),
        ("csrf", hidden(&page, "csrf")),
        ("request", hidden(&page, "request")),
    ];
    b.0.post(format!("{base}/login")).form(&form).send().await.unwrap().text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc6749_4_3_2_the_login_page_throttles_password_guessing() {
    for (name, bin) in PROVIDERS {
        let web_port = free_port();
        let config = config_file(web_port);
        let provider = start(bin, &["--listen", "127.0.0.1:0", "--config", config.as_str()]).await;
        let authorize = format!(
            "{}/authorize?response_type=code&client_id=demo-web&redirect_uri=http%3A%2F%2F127.0.0.1%3A{web_port}%2Fcallback",
            provider.base
        );
        let b = Browser::new();
        let page = b.0.get(&authorize).send().await.unwrap().text().await.unwrap();
        let form = |password: &str| {
            [
                ("username", "alice".to_owned()),
                ("password", password.to_owned()),
                ("csrf", hidden(&page, "csrf")),
                ("request", hidden(&page, "request")),
            ]
        };
        for i in 0..10 {
            let r = b.0.post(format!("{}/login", provider.base)).form(&form("guess")).send().await.unwrap();
            assert_eq!(r.status(), 401, "[{name}] wrong password {i}");
        }
        let r = b.0.post(format!("{}/login", provider.base)).form(&form("alice-password")).send().await.unwrap();
        assert_eq!(r.status(), 429, "[{name}] the eleventh attempt is refused, the right password too");
        assert_eq!(r.headers()["retry-after"], "60");
        assert!(r.text().await.unwrap().contains("Wait 60 seconds"), "[{name}] the page says to wait");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_web_replaces_the_session_cookie_at_login() {
    let web_port = free_port();
    let config = config_file(web_port);
    let provider = start(PROVIDERS[0].1, &["--listen", "127.0.0.1:0", "--config", config.as_str()]).await;
    let web = start(
        env!("CARGO_BIN_EXE_client-web"),
        &["--listen", &format!("127.0.0.1:{web_port}"), "--issuer", &provider.base],
    )
    .await;
    // The attacker plants a session cookie in the victim's browser, then the victim logs in.
    let planted = "planted-by-the-attacker";
    let b = Browser::new();
    let cookie = format!("client_web={planted}");
    let to_provider = b.0.get(format!("{}/login", web.base)).header("cookie", &cookie).send().await.unwrap();
    let callback = b.approve(&Browser::location(&to_provider)).await;
    let done = b.0.get(&callback).send().await.unwrap();
    let set: Vec<String> =
        done.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let session = set.iter().find(|c| c.starts_with("client_web=")).expect("a session cookie is set at login");
    assert!(!session.contains(planted), "the planted id was kept: {session}");
    // With only the planted cookie, the attacker sees no profile.
    let attacker = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let profile = attacker.get(format!("{}/profile", web.base)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(Browser::location(&profile), "/", "the planted cookie names no session");
}
