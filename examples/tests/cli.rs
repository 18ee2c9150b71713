//! oauth2-cli as a user runs it: the real binary against a stub authorization server on 127.0.0.1:0.

use std::process::Stdio;
use std::time::Duration;

use oauth2_testkit::{CLIENT_ID, CLIENT_SECRET, PASSWORD, PUBLIC_CLIENT_ID, StubServer, USERNAME};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn last_err_line(&self) -> &str {
        self.stderr.lines().last().unwrap_or("")
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

async fn cli(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_oauth2-cli")).args(args).output().await.unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn secret_arg() -> String {
    format!("--client-secret={CLIENT_SECRET}")
}

#[tokio::test]
async fn help_names_every_subcommand() {
    let run = cli(&["--help"]).await;
    assert_eq!(run.code, 0);
    for sub in [
        "discover",
        "authorize",
        "device",
        "client-credentials",
        "password",
        "refresh",
        "revoke",
        "introspect",
        "userinfo",
    ] {
        assert!(run.stdout.contains(sub), "{sub} missing from --help");
    }
}

#[tokio::test]
async fn usage_errors_exit_2_with_an_error_line_last() {
    let run = cli(&["client-credentials", "--bogus"]).await;
    assert_eq!(run.code, 2);
    assert!(run.last_err_line().starts_with("error: usage: "), "{}", run.stderr);
    let run = cli(&["client-credentials", "--client-id", "x"]).await;
    assert_eq!(run.code, 2, "no token endpoint is a usage error");
    assert!(run.last_err_line().contains("--token-url"), "{}", run.stderr);
    let run = cli(&["discover"]).await;
    assert_eq!(run.code, 2);
    // Checked before any network call: an unreachable issuer does not turn a usage error into exit 1.
    let unreachable = format!("http://127.0.0.1:{}", common_free_port());
    let run = cli(&["client-credentials", "--issuer", &unreachable]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.last_err_line().starts_with("error: usage: --client-id is required"), "{}", run.stderr);
    let run = cli(&["client-credentials", "--issuer", &unreachable, "--client-id", "x", "--auth", "post"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.last_err_line().contains("--auth needs --client-secret"), "{}", run.stderr);
    // design.md §4: `device` takes its endpoints from --issuer's metadata.
    let run = cli(&["device", "--client-id", "tv"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.last_err_line().starts_with("error: usage: device needs --issuer"), "{}", run.stderr);
}

/// A port nothing listens on.
fn common_free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn rfc8414_discover_prints_the_metadata_as_sent() {
    let stub = StubServer::start().await;
    let run = cli(&["discover", "--issuer", &stub.base]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["issuer"], stub.base.as_str());
    assert_eq!(json["x_stub"], "kept");
}

#[tokio::test]
async fn rfc6749_4_4_client_credentials_via_issuer_and_via_explicit_url() {
    let stub = StubServer::start().await;
    let run = cli(&["client-credentials", "--issuer", &stub.base, "--client-id", CLIENT_ID, &secret_arg()]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let token = run.json();
    assert!(stub.state.is_valid_access_token(token["access_token"].as_str().unwrap()));
    assert_eq!(token["token_type"], "Bearer");

    let token_url = stub.url("/token");
    let run = cli(&[
        "client-credentials",
        "--token-url",
        &token_url,
        "--client-id",
        CLIENT_ID,
        &secret_arg(),
        "--auth",
        "post",
        "--scope",
        "read write",
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["scope"], "read write");
    let (auth, _) = stub.state.last_token_request.lock().unwrap().clone().unwrap();
    assert!(auth.is_none(), "--auth post sends no Authorization header");
}

#[tokio::test]
async fn rfc6749_5_2_provider_errors_end_with_code_and_description() {
    let stub = StubServer::start().await;
    let token_url = stub.url("/token");
    // A value that starts with '-' is a value, not a flag.
    let run =
        cli(&["client-credentials", "--token-url", &token_url, "--client-id", CLIENT_ID, "--client-secret", "-x"])
            .await;
    assert_eq!(run.code, 1);
    assert_eq!(run.last_err_line(), "error: invalid_client: client authentication failed");

    let run = cli(&[
        "password",
        "--token-url",
        &token_url,
        "--client-id",
        CLIENT_ID,
        &secret_arg(),
        "--username",
        USERNAME,
        "--password",
        "nope",
    ])
    .await;
    assert_eq!(run.code, 1);
    assert_eq!(run.last_err_line(), "error: invalid_grant: wrong username or password");
    assert!(run.stdout.is_empty());
}

#[tokio::test]
async fn rfc6749_4_3_password_then_6_refresh() {
    let stub = StubServer::start().await;
    let token_url = stub.url("/token");
    let run = cli(&[
        "password",
        "--token-url",
        &token_url,
        "--client-id",
        CLIENT_ID,
        &secret_arg(),
        "--username",
        USERNAME,
        "--password",
        PASSWORD,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let refresh = run.json()["refresh_token"].as_str().unwrap().to_owned();
    let run = cli(&[
        "refresh",
        "--token-url",
        &token_url,
        "--client-id",
        CLIENT_ID,
        &secret_arg(),
        "--refresh-token",
        &refresh,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(stub.state.is_valid_access_token(run.json()["access_token"].as_str().unwrap()));

    stub.state.add_refresh_token("-dash-token", "read");
    let run = cli(&[
        "refresh",
        &format!("--token-url={token_url}"),
        "--client-id",
        CLIENT_ID,
        &secret_arg(),
        "--refresh-token",
        "-dash-token",
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[tokio::test]
async fn rfc7009_revoke_prints_nothing_then_rfc7662_introspect_says_inactive() {
    let stub = StubServer::start().await;
    stub.state.add_access_token("at-live");
    let common = ["--issuer", stub.base.as_str(), "--client-id", CLIENT_ID];
    let secret = secret_arg();
    let run = cli(&[&["introspect", "--token", "at-live", &secret][..], &common].concat()).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["active"], true);
    let run =
        cli(&[&["revoke", "--token", "at-live", "--token-type-hint", "access_token", &secret][..], &common].concat())
            .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    let run = cli(&[&["introspect", "--token", "at-live", &secret][..], &common].concat()).await;
    assert_eq!(run.json(), serde_json::json!({"active": false}));
}

#[tokio::test]
async fn lenient_flag_reads_a_form_encoded_token_response_as_json() {
    let stub = StubServer::start().await;
    let url = stub.url("/token-form");
    let args = ["client-credentials", "--token-url", url.as_str(), "--client-id", CLIENT_ID];
    let strict = cli(&args).await;
    assert_eq!(strict.code, 1);
    assert!(strict.last_err_line().starts_with("error: unexpected_response: "), "{}", strict.stderr);
    let lenient = cli(&[&args[..], &["--lenient"]].concat()).await;
    assert_eq!(lenient.code, 0, "{}", lenient.stderr);
    assert_eq!(lenient.json()["token_type"], "bearer");
}

#[tokio::test]
async fn rfc6749_3_2_plain_http_is_refused_off_loopback() {
    let run = cli(&["client-credentials", "--token-url", "http://as.example/token", "--client-id", "x"]).await;
    assert_eq!(run.code, 1);
    assert!(run.last_err_line().starts_with("error: insecure_endpoint: "), "{}", run.stderr);
}

/// Starts `authorize`, returns the child, the URL it printed, and its stderr reader.
async fn start_authorize(
    stub: &StubServer,
    extra: &[&str],
) -> (tokio::process::Child, String, BufReader<tokio::process::ChildStderr>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oauth2-cli"))
        .args(["authorize", "--no-browser", "--issuer", &stub.base, "--client-id", PUBLIC_CLIENT_ID, "--scope", "read"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let url = loop {
        line.clear();
        let n = tokio::time::timeout(Duration::from_secs(20), stderr.read_line(&mut line)).await.unwrap().unwrap();
        assert!(n > 0, "the CLI exited before printing the URL");
        if line.starts_with(&stub.base) {
            break line.trim().to_owned();
        }
    };
    (child, url, stderr)
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

#[tokio::test]
async fn rfc8252_authorize_through_the_loopback_redirect() {
    let stub = StubServer::start().await;
    let (mut child, url, _stderr) = start_authorize(&stub, &[]).await;
    let parsed = url::Url::parse(&url).unwrap();
    let q: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["state"].len() >= 22, "state carries at least 128 bits");
    let redirect = url::Url::parse(&q["redirect_uri"]).unwrap();
    assert_eq!(redirect.host_str(), Some("127.0.0.1"));
    assert_eq!(redirect.path(), "/callback");

    let browser = no_redirects();
    // The listener is up before the URL is printed; paths other than /callback are 404.
    let other = format!("http://127.0.0.1:{}/favicon.ico", redirect.port().unwrap());
    assert_eq!(browser.get(&other).send().await.unwrap().status(), 404);
    // The "browser" visits the authorization URL; the stub approves and redirects back to the CLI.
    let resp = browser.get(&url).send().await.unwrap();
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("iss="));
    let page = browser.get(&location).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Authorized"));

    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await.unwrap().unwrap();
    assert!(status.success());
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).await.unwrap();
    let token: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(stub.state.is_valid_access_token(token["access_token"].as_str().unwrap()));
}

#[tokio::test]
async fn rfc6749_10_12_authorize_rejects_a_forged_state() {
    let stub = StubServer::start().await;
    let (mut child, url, mut stderr) = start_authorize(&stub, &[]).await;
    let browser = no_redirects();
    let location = browser.get(&url).send().await.unwrap().headers()["location"].to_str().unwrap().to_owned();
    let mut forged = url::Url::parse(&location).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .into_owned()
        .map(|(k, v)| if k == "state" { (k, "forged".to_owned()) } else { (k, v) })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    let page = browser.get(forged.as_str()).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("Authorization failed"));
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(1));
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).await.unwrap();
    assert!(rest.lines().last().unwrap_or("").starts_with("error: state_mismatch: "), "{rest}");
    assert_eq!(stub.state.grant_calls("authorization_code"), 0, "no code is redeemed after a state mismatch");
}

#[tokio::test]
async fn authorize_listens_on_the_requested_port() {
    let stub = StubServer::start().await;
    // A port free a moment ago may be taken by a parallel test before the CLI binds it; then try another.
    for _ in 0..5 {
        let port = common_free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_oauth2-cli"))
            .args(["authorize", "--no-browser", "--issuer", &stub.base, "--client-id", PUBLIC_CLIENT_ID])
            .args(["--redirect-port", &port.to_string()])
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            let n = tokio::time::timeout(Duration::from_secs(20), stderr.read_line(&mut line)).await.unwrap().unwrap();
            if n == 0 || line.starts_with("error: listen_failed") {
                break;
            }
            if line.starts_with(&stub.base) {
                assert!(line.contains(&format!("127.0.0.1%3A{port}%2Fcallback")), "{line}");
                child.kill().await.unwrap();
                return;
            }
        }
    }
    panic!("the CLI never listened on the port it was given");
}

#[tokio::test]
async fn rfc8252_7_3_authorize_prints_the_token_although_another_connection_hangs() {
    // A connection that sends half a request to the callback port and then waits: before the fix, the CLI
    // waited for it after the code was redeemed, timed out, and dropped the token.
    let stub = StubServer::start().await;
    let (mut child, url, _stderr) = start_authorize(&stub, &["--timeout", "15"]).await;
    let parsed = url::Url::parse(&url).unwrap();
    let q: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
    let port = url::Url::parse(&q["redirect_uri"]).unwrap().port().unwrap();
    let mut hanging = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut hanging, b"GET /callback?code=x HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();

    let browser = no_redirects();
    let location = browser.get(&url).send().await.unwrap().headers()["location"].to_str().unwrap().to_owned();
    let page = browser.get(&location).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("Authorized"));

    let status = tokio::time::timeout(Duration::from_secs(8), child.wait())
        .await
        .expect("the CLI still waits after the code was redeemed")
        .unwrap();
    assert!(status.success());
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).await.unwrap();
    let token: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(stub.state.is_valid_access_token(token["access_token"].as_str().unwrap()), "{stdout}");
    drop(hanging);
}

/// design.md §4: `authorize` checks an id_token before printing anything; one the issuer's keys do not verify
/// ends the run with `error: invalid_id_token: ...` and exit 1, and no token is printed.
#[tokio::test]
async fn oidc_core_3_1_3_7_authorize_refuses_an_id_token_signed_by_a_key_the_issuer_does_not_publish() {
    let stub = StubServer::start().await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims =
        serde_json::json!({"iss": stub.base, "sub": "x", "aud": PUBLIC_CLIENT_ID, "iat": now, "exp": now + 300});
    let forger = oauth2_core::jose::SigningKey::ed25519_from_seed("forged", &[3; 32]).unwrap();
    *stub.state.id_token.lock().unwrap() = Some(forger.sign(None, &claims).unwrap());
    let (mut child, url, mut stderr) = start_authorize(&stub, &[]).await;
    let browser = no_redirects();
    let location = browser.get(&url).send().await.unwrap().headers()["location"].to_str().unwrap().to_owned();
    let page = browser.get(&location).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("invalid_id_token"));
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(1));
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).await.unwrap();
    assert!(stdout.is_empty(), "nothing printed: {stdout}");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).await.unwrap();
    assert!(rest.lines().last().unwrap_or("").starts_with("error: invalid_id_token: "), "{rest}");
}
