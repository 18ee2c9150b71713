//! The device authorization grant (RFC 8628) end to end, against both demo providers: `oauth2-cli device` with a
//! "browser" on the `/device` pages, the `oauth2` crate's device flow, `oauth2-reqwest`'s session, and the pages'
//! refusals (wrong codes, guessing, forms from elsewhere); and one device code polled at two instances on one
//! PostgreSQL.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Browser, config_file, free_port, start, userinfo};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

const PROVIDERS: [(&str, &str); 2] =
    [("provider-axum", env!("CARGO_BIN_EXE_provider-axum")), ("provider-actix", env!("CARGO_BIN_EXE_provider-actix"))];
const CLI: &str = env!("CARGO_BIN_EXE_oauth2-cli");

/// A demo provider with the e2e config, polling every second.
async fn provider(bin: &str) -> (common::Running, common::TempFile) {
    let config = config_file(free_port());
    let args = ["--listen", "127.0.0.1:0", "--config", config.as_str(), "--db", "memory", "--device-interval", "1"];
    (start(bin, &args).await, config)
}

/// `oauth2-cli device` against `base`, answered by a browser with `decision`: the exit code, stdout, and the last
/// stderr line.
async fn cli_device(base: &str, decision: &str) -> (i32, String, String) {
    let mut child = tokio::process::Command::new(CLI)
        .args(["device", "--issuer", base, "--client-id", "demo-tv", "--scope", "profile read", "--no-browser"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut last = String::new();
    let user_code = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if let Some(code) = line.split("enter the code ").nth(1) {
                assert!(line.contains(&format!("{base}/device")), "the verification URI is printed: {line}");
                return code.trim().to_owned();
            }
        }
        panic!("the CLI printed no user code")
    })
    .await
    .expect("a user code on stderr");
    let page = Browser::new().answer_device(base, &user_code, decision).await;
    let expected = if decision == "allow" { "You may continue on your device" } else { "was not given access" };
    assert!(page.contains(expected), "the last page: {page}");
    let mut stdout = String::new();
    let mut out = child.stdout.take().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), async {
        out.read_to_string(&mut stdout).await.unwrap();
        while let Some(line) = stderr.next_line().await.unwrap() {
            last = line;
        }
        child.wait().await.unwrap()
    })
    .await
    .expect("the CLI ends once the user answered");
    (status.code().unwrap_or(-1), stdout, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc8628_oauth2_cli_device_signs_in_through_the_device_pages_of_both_providers() {
    for (name, bin) in PROVIDERS {
        let (running, _config) = provider(bin).await;
        let base = running.base.clone();
        let (code, stdout, last) = cli_device(&base, "allow").await;
        assert_eq!(code, 0, "[{name}] the CLI succeeds: {last}");
        let token: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("[{name}] {e}: {stdout}"));
        assert_eq!(token["token_type"], "Bearer");
        assert!(token["refresh_token"].is_string(), "[{name}] a refresh token: {token}");
        let me = userinfo(&base, token["access_token"].as_str().unwrap()).await;
        assert_eq!(me.status(), 200);
        assert_eq!(me.json::<Value>().await.unwrap()["sub"], "alice", "[{name}] the token is alice's");

        let (code, stdout, last) = cli_device(&base, "deny").await;
        assert_eq!((code, stdout.as_str()), (1, ""), "[{name}] a denied sign-in fails");
        assert!(last.starts_with("error: access_denied: "), "[{name}] {last}");
        common::report(&format!("[{name}] oauth2-cli device: allow and deny through /device ... ok"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc8628_5_1_the_device_pages_refuse_wrong_codes_throttle_guessing_and_check_the_form() {
    for (name, bin) in PROVIDERS {
        let (running, _config) = provider(bin).await;
        let base = running.base.clone();
        let browser = Browser::new();
        for i in 0..5 {
            let page = browser.enter_device_code(&base, "BCDF-GHJK").await;
            assert_eq!(page.status, 400, "[{name}] wrong code {i}");
            assert!(
                page.html.contains("name=\"user_code\"") && page.html.contains("not right"),
                "[{name}] {}",
                page.html
            );
        }
        let page = browser.enter_device_code(&base, "BCDF-GHJK").await;
        assert_eq!(page.status, 429, "[{name}] the 6th code of a session waits");
        assert!(page.html.contains("Wait"), "[{name}] the page says to wait: {}", page.html);
        // A form without the browser's CSRF cookie is refused before any code is looked at.
        let r = reqwest::Client::new()
            .post(format!("{base}/device"))
            .form(&[("user_code", "BCDF-GHJK"), ("csrf", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "[{name}] no CSRF cookie");
        // The form is filled in from the query, escaped.
        let r = reqwest::get(format!("{base}/device?user_code=%3Cb%3E")).await.unwrap();
        let html = r.text().await.unwrap();
        assert!(html.contains("value=\"&lt;b&gt;\"") && !html.contains("<b>"), "[{name}] {html}");
        common::report(&format!("[{name}] /device: wrong codes, 429 after 5 per session, CSRF ... ok"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_rs_device_flow_against_both_providers() {
    use oauth2::basic::BasicClient;
    use oauth2::{
        ClientId, DeviceAuthorizationUrl, Scope, StandardDeviceAuthorizationResponse, TokenResponse, TokenUrl,
    };
    for (name, bin) in PROVIDERS {
        let (running, _config) = provider(bin).await;
        let base = running.base.clone();
        let http = oauth2_reqwest::http_client().unwrap();
        let send = |req: oauth2::HttpRequest| {
            let http = http.clone();
            async move { oauth2_reqwest::execute(&http, req).await }
        };
        let client = BasicClient::new(ClientId::new("demo-tv".into()))
            .set_device_authorization_url(DeviceAuthorizationUrl::new(format!("{base}/device_authorization")).unwrap())
            .set_token_uri(TokenUrl::new(format!("{base}/token")).unwrap());
        let details: StandardDeviceAuthorizationResponse = client
            .exchange_device_code()
            .add_scope(Scope::new("read".into()))
            .request_async(&send)
            .await
            .unwrap_or_else(|e| panic!("[{name}] oauth2-rs device authorization: {e:?}"));
        assert_eq!(details.verification_uri().as_str(), format!("{base}/device"));
        let answer = {
            let (base, code) = (base.clone(), details.user_code().secret().clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                Browser::new().answer_device(&base, &code, "allow").await
            })
        };
        let token = client
            .exchange_device_access_token(&details)
            .request_async(&send, tokio::time::sleep, Some(Duration::from_secs(30)))
            .await
            .unwrap_or_else(|e| panic!("[{name}] oauth2-rs device token: {e:?}"));
        answer.await.unwrap();
        assert_eq!(userinfo(&base, token.access_token().secret()).await.status(), 200, "[{name}]");
        common::report(&format!("[{name}] × oauth2-rs: device flow ... ok"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_reqwest_sessions_device_flow_against_both_providers() {
    for (name, bin) in PROVIDERS {
        let (running, _config) = provider(bin).await;
        let base = running.base.clone();
        let discovered = oauth2_reqwest::discover(&oauth2_reqwest::http_client().unwrap(), &base).await.unwrap();
        let client =
            oauth2_core::Client::builder("demo-tv").allow_insecure_http(true).metadata(&discovered).build().unwrap();
        let session = oauth2_reqwest::Session::builder(client).allow_insecure_http(true).build().unwrap();
        // Cancelling: a wait that is dropped leaves nothing running.
        let abandoned = session.device_authorization("read").await.unwrap();
        assert!(tokio::time::timeout(Duration::from_millis(1500), abandoned.wait()).await.is_err());
        assert!(session.token().is_none(), "[{name}] no token from a cancelled flow");

        let flow = session.device_authorization("profile read").await.unwrap();
        assert_eq!(flow.codes.verification_uri, format!("{base}/device"));
        let complete = flow.codes.verification_uri_complete.clone().expect("verification_uri_complete");
        assert!(complete.contains(&flow.codes.user_code), "[{name}] {complete}");
        let code = flow.codes.user_code.clone();
        let answer = {
            let base = base.clone();
            tokio::spawn(async move { Browser::new().answer_device(&base, &code, "allow").await })
        };
        let token = flow.wait().await.unwrap_or_else(|e| panic!("[{name}] {e}"));
        answer.await.unwrap();
        assert_eq!(session.token().as_ref().map(|t| t.access_token.secret()), Some(token.access_token.secret()));
        let me: Value = session.get(format!("{base}/userinfo")).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["sub"], "alice", "[{name}] the session calls APIs with it");
        let refreshed = session.refresh().await.unwrap_or_else(|e| panic!("[{name}] refresh: {e}"));
        assert_ne!(
            refreshed.access_token.secret(),
            token.access_token.secret(),
            "[{name}] it refreshes like any other"
        );
        // A denied flow is Error::Device with the RFC's code.
        let flow = session.device_authorization("read").await.unwrap();
        let code = flow.codes.user_code.clone();
        let answer = {
            let base = base.clone();
            tokio::spawn(async move { Browser::new().answer_device(&base, &code, "deny").await })
        };
        let error = flow.wait().await.unwrap_err();
        answer.await.unwrap();
        assert_eq!(error.code(), "access_denied", "[{name}] {error}");
        common::report(&format!("[{name}] oauth2-reqwest Session::device_authorization: allow, deny, cancel ... ok"));
    }
}

/// RFC 8628 §3.5 across instances: a device code asked at one instance and approved at the other gives exactly one
/// token to 100 polls spread over both at once; the others are `slow_down` or `invalid_grant`, and polling again
/// revokes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_code_gives_one_token_across_two_processes_on_one_postgres() {
    for (name, bin) in PROVIDERS {
        let config = config_file(free_port());
        let db = oauth2_testkit::postgres::database();
        let args = ["--listen", "127.0.0.1:0", "--config", config.as_str(), "--db", &db, "--device-interval", "1"];
        let (a, b) = (start(bin, &args).await, start(bin, &args).await);
        let r = reqwest::Client::new()
            .post(format!("{}/device_authorization", a.base.clone()))
            .form(&[("client_id", "demo-tv")])
            .send()
            .await;
        let codes: Value = r.unwrap().json().await.unwrap();
        let device_code = codes["device_code"].as_str().unwrap().to_owned();
        let page = Browser::new().answer_device(&b.base.clone(), codes["user_code"].as_str().unwrap(), "allow").await;
        assert!(page.contains("continue on your device"), "[{name}] approved at B: {page}");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let poll = |base: String, device_code: String| async move {
            let form = [
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", &device_code),
                ("client_id", "demo-tv"),
            ];
            let r = reqwest::Client::new().post(format!("{base}/token")).form(&form).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        };
        let mut race = tokio::task::JoinSet::new();
        for i in 0..100 {
            let base = if i % 2 == 0 { a.base.clone() } else { b.base.clone() };
            race.spawn(poll(base, device_code.clone()));
        }
        let mut tokens = Vec::new();
        while let Some(answer) = race.join_next().await {
            match answer.unwrap() {
                (200, body) => tokens.push(body),
                (400, body) => {
                    assert!(body["error"] == "slow_down" || body["error"] == "invalid_grant", "[{name}] {body}");
                }
                other => panic!("[{name}] {other:?}"),
            }
        }
        assert_eq!(tokens.len(), 1, "[{name}] {} of 100 polls across two instances got a token", tokens.len());
        let at = tokens[0]["access_token"].as_str().unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (status, body) = poll(a.base.clone(), device_code.clone()).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "[{name}] a second redemption");
        assert_eq!(userinfo(&a.base, at).await.status(), 200, "[{name}] and it revoked nothing, at A");
        assert_eq!(userinfo(&b.base, at).await.status(), 200, "[{name}] nor at B");
    }
}
