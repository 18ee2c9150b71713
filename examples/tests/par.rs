//! Pushed authorization requests (RFC 9126) end to end, against both demo providers: `oauth2-cli authorize --par`
//! (and unasked against `--require-par`), a client whose registration requires PAR, and `oauth2-reqwest`'s session
//! with `par(true)` and with a provider whose metadata requires it. The browser is the cookie-keeping stand-in;
//! the headless-Chromium test (browser.rs) runs one PAR login through client-web.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Browser, config_file, free_port, start, userinfo};
use oauth2_core::Client;
use oauth2_reqwest::Session;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

const PROVIDERS: [(&str, &str); 2] =
    [("provider-axum", env!("CARGO_BIN_EXE_provider-axum")), ("provider-actix", env!("CARGO_BIN_EXE_provider-actix"))];
const CLI: &str = env!("CARGO_BIN_EXE_oauth2-cli");

/// A demo provider with the e2e config (demo-web's redirect URI on the port returned), and `extra` flags.
async fn provider(bin: &str, extra: &[&str]) -> (common::Running, common::TempFile, u16) {
    let web_port = free_port();
    let config = config_file(web_port);
    let mut args = vec!["--listen", "127.0.0.1:0", "--config", config.as_str(), "--db", "memory"];
    args.extend_from_slice(extra);
    (start(bin, &args).await, config, web_port)
}

/// The query parameter names of `url`.
fn names(url: &str) -> Vec<String> {
    url::Url::parse(url).unwrap().query_pairs().map(|(k, _)| k.into_owned()).collect()
}

/// What one `oauth2-cli authorize` run came to.
struct Authorized {
    url: String,
    code: i32,
    stdout: String,
    last: String,
}

/// Runs `oauth2-cli authorize` for `client_id` against `base` with `extra` flags; a browser opens the URL it
/// prints, signs in as alice and allows where the provider shows the login page, and follows the redirect back to
/// the CLI's listener.
async fn cli_authorize(base: &str, client_id: &str, extra: &[&str]) -> Authorized {
    let mut child = tokio::process::Command::new(CLI)
        .args(["authorize", "--no-browser", "--issuer", base, "--client-id", client_id, "--scope", "profile read"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if line.starts_with(base) {
                return line.trim().to_owned();
            }
        }
        panic!("the CLI printed no URL")
    })
    .await
    .expect("the URL on stderr");
    let browser = Browser::new();
    let first = browser.0.get(&url).send().await.unwrap();
    let callback = if first.status() == 200 {
        // The request_uri works once: the page it gave is the one to fill in.
        browser.log_in_and_allow(base, &first.text().await.unwrap()).await
    } else {
        // Refused before any page: the error goes back to the client (the request's redirect URI is trusted).
        Browser::location(&first)
    };
    let page = browser.0.get(&callback).send().await.unwrap();
    assert_eq!(page.status(), 200, "the CLI's callback page");
    let mut stdout = String::new();
    let mut last = String::new();
    let status = tokio::time::timeout(Duration::from_secs(20), async {
        child.stdout.take().unwrap().read_to_string(&mut stdout).await.unwrap();
        while let Some(line) = stderr.next_line().await.unwrap() {
            last = line;
        }
        child.wait().await.unwrap()
    })
    .await
    .expect("the CLI ends after the callback");
    Authorized { url, code: status.code().unwrap_or(-1), stdout, last }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9126_oauth2_cli_authorize_par_against_both_providers() {
    for (name, bin) in PROVIDERS {
        let (running, _config, _) = provider(bin, &[]).await;
        let base = running.base.clone();
        // --par: the browser gets only client_id and request_uri.
        let run = cli_authorize(&base, "demo-cli", &["--par"]).await;
        assert_eq!(run.code, 0, "[{name}] {}", run.last);
        assert_eq!(names(&run.url), ["client_id", "request_uri"], "[{name}] {}", run.url);
        assert!(run.url.starts_with(&format!("{base}/authorize?")), "[{name}] {}", run.url);
        let token: Value = serde_json::from_str(run.stdout.trim()).unwrap();
        assert_eq!(userinfo(&base, token["access_token"].as_str().unwrap()).await.status(), 200, "[{name}]");

        // A client registered with require_pushed_authorization_requests: refused without --par (the error comes
        // back to the CLI), served with it.
        let refused = cli_authorize(&base, "demo-strict", &[]).await;
        assert_eq!(refused.code, 1, "[{name}] {}", refused.last);
        assert!(refused.last.starts_with("error: invalid_request: "), "[{name}] {}", refused.last);
        assert!(names(&refused.url).contains(&"code_challenge".to_owned()), "[{name}] an ordinary request");
        let pushed = cli_authorize(&base, "demo-strict", &["--par"]).await;
        assert_eq!(pushed.code, 0, "[{name}] {}", pushed.last);

        // --par needs the metadata's endpoint.
        let out = tokio::process::Command::new(CLI)
            .args(["authorize", "--par", "--auth-url", &format!("{base}/authorize"), "--client-id", "demo-cli"])
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "[{name}] a usage error");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9126_5_require_par_makes_every_client_push_and_the_cli_does_unasked() {
    for (name, bin) in PROVIDERS {
        let (running, _config, _) = provider(bin, &["--require-par"]).await;
        let base = running.base.clone();
        let metadata: Value =
            reqwest::get(format!("{base}/.well-known/oauth-authorization-server")).await.unwrap().json().await.unwrap();
        assert_eq!(metadata["require_pushed_authorization_requests"], true, "[{name}] {metadata}");
        assert_eq!(metadata["pushed_authorization_request_endpoint"], format!("{base}/par"), "[{name}]");
        let run = cli_authorize(&base, "demo-cli", &[]).await;
        assert_eq!(run.code, 0, "[{name}] {}", run.last);
        assert_eq!(names(&run.url), ["client_id", "request_uri"], "[{name}] pushed unasked: {}", run.url);

        // An ordinary request is refused, back to the client.
        let plain = url::Url::parse_with_params(
            &format!("{base}/authorize"),
            [
                ("response_type", "code"),
                ("client_id", "demo-cli"),
                ("redirect_uri", "http://127.0.0.1:9/callback"),
                ("state", "s"),
                ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
                ("code_challenge_method", "S256"),
            ],
        )
        .unwrap();
        let r = Browser::new().0.get(plain).send().await.unwrap();
        let location = Browser::location(&r);
        assert!(location.contains("error=invalid_request") && location.contains("state=s"), "[{name}] {location}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9126_oauth2_reqwest_session_pushes_against_both_providers() {
    for (name, bin) in PROVIDERS {
        for required in [false, true] {
            let extra: &[&str] = if required { &["--require-par"] } else { &[] };
            let (running, _config, web_port) = provider(bin, extra).await;
            let base = running.base.clone();
            let http = oauth2_reqwest::http_client().unwrap();
            let metadata = oauth2_reqwest::discover(&http, &base).await.unwrap();
            let client = Client::builder("demo-web")
                .secret("demo-web-secret")
                .metadata(&metadata)
                .redirect_uri(format!("http://127.0.0.1:{web_port}/callback"))
                .build()
                .unwrap();
            // Asked with par(true), or pushed because the metadata requires it.
            let session = Session::builder(client).par(!required).build().unwrap();
            assert!(session.pushes_authorization_requests(), "[{name}]");
            let (url, pending) = session.start_authorization("profile").await.unwrap();
            assert_eq!(names(url.as_str()), ["client_id", "request_uri"], "[{name}] {url}");
            let callback = Browser::new().approve(url.as_str()).await;
            session.finish_authorization(&pending, &callback).await.unwrap();
            let me: Value = session.get(format!("{base}/userinfo")).send().await.unwrap().json().await.unwrap();
            assert_eq!(me["sub"], "alice", "[{name}] required={required}");
            // The request_uri was used: a second visit is an error page, and no redirect.
            let again = Browser::new().0.get(url.as_str()).send().await.unwrap();
            assert_eq!(again.status(), 400, "[{name}] single use");
            assert!(again.headers().get("location").is_none());
        }
    }
}
