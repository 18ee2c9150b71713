//! DPoP (RFC 9449) end to end, against both demo providers: `oauth2-cli --dpop` and `--dpop-key FILE` (with the
//! providers' nonces on), `oauth2-reqwest`'s session with a DPoP key (code flow, UserInfo, refresh), a client
//! registered with `dpop_bound_access_tokens`, and JWT access tokens at the example API, which takes them under the
//! DPoP scheme with a proof.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Browser, TempFile, config_file, free_port, start, userinfo};
use oauth2_core::Client;
use oauth2_core::dpop::DpopKey;
use oauth2_core::jose::Algorithm;
use oauth2_core::random::OsRng;
use oauth2_reqwest::{DpopSigner, Session};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

const PROVIDERS: [(&str, &str); 2] =
    [("provider-axum", env!("CARGO_BIN_EXE_provider-axum")), ("provider-actix", env!("CARGO_BIN_EXE_provider-actix"))];
const CLI: &str = env!("CARGO_BIN_EXE_oauth2-cli");
const API: &str = env!("CARGO_BIN_EXE_example-api");

/// A demo provider with the e2e config and `extra` flags.
async fn provider(bin: &str, extra: &[&str]) -> (common::Running, TempFile, u16) {
    let web_port = free_port();
    let config = config_file(web_port);
    let mut args = vec!["--listen", "127.0.0.1:0", "--config", config.as_str(), "--db", "memory"];
    args.extend_from_slice(extra);
    (start(bin, &args).await, config, web_port)
}

/// What one CLI run came to: its exit code, stdout and stderr.
struct Run {
    code: i32,
    stdout: String,
    /// What it wrote on stderr (for `authorize`, from the line after the URL).
    stderr: String,
}

impl Run {
    /// The last line of stderr: where the CLI says `error: <code>: <description>`.
    fn last(&self) -> &str {
        self.stderr.lines().last().unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {} / {}", self.stdout, self.last()))
    }
}

async fn cli(args: &[&str]) -> Run {
    let out = tokio::process::Command::new(CLI).args(args).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: stderr.into_owned(),
    }
}

/// `oauth2-cli authorize` for demo-cli with `extra` flags; a browser signs in as alice and allows. The URL it
/// printed, and the run.
async fn cli_authorize(base: &str, extra: &[&str]) -> (String, Run) {
    let mut child = tokio::process::Command::new(CLI)
        .args(["authorize", "--no-browser", "--issuer", base, "--client-id", "demo-cli", "--scope", "profile read"])
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
    let callback = Browser::new().approve(&url).await;
    let page = reqwest::get(&callback).await.unwrap();
    assert_eq!(page.status(), 200, "the CLI's callback page");
    let mut stdout = String::new();
    let mut rest = String::new();
    let status = tokio::time::timeout(Duration::from_secs(20), async {
        child.stdout.take().unwrap().read_to_string(&mut stdout).await.unwrap();
        while let Some(line) = stderr.next_line().await.unwrap() {
            rest.push_str(&line);
            rest.push('\n');
        }
        child.wait().await.unwrap()
    })
    .await
    .expect("the CLI ends after the callback");
    (url, Run { code: status.code().unwrap_or(-1), stdout, stderr: rest })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9449_oauth2_cli_dpop_against_both_providers_with_nonces() {
    for (name, bin) in PROVIDERS {
        let (running, _config, _) = provider(bin, &["--dpop-nonce"]).await;
        let base = running.base.clone();
        let metadata: Value =
            reqwest::get(format!("{base}/.well-known/oauth-authorization-server")).await.unwrap().json().await.unwrap();
        let algs = metadata["dpop_signing_alg_values_supported"].to_string();
        assert!(algs.contains("ES256") && algs.contains("EdDSA"), "[{name}] {metadata}");

        // --dpop-key FILE: made with mode 0600, and the code is bound to it (dpop_jkt).
        let key_file = TempFile::with_contents("dpop.jwk", "");
        std::fs::remove_file(&key_file.0).unwrap();
        let (url, run) = cli_authorize(&base, &["--dpop-key", key_file.as_str()]).await;
        assert_eq!(run.code, 0, "[{name}] {}", run.last());
        let token = run.json();
        assert_eq!(token["token_type"], "DPoP", "[{name}] {token}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key_file.0).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "[{name}] the key file is the user's alone");
        }
        let key = DpopKey::from_private_jwk(&std::fs::read_to_string(&key_file.0).unwrap()).unwrap();
        let jkt =
            url::Url::parse(&url).unwrap().query_pairs().find(|(k, _)| k == "dpop_jkt").map(|(_, v)| v.into_owned());
        assert_eq!(jkt.as_deref(), Some(key.thumbprint()), "[{name}] {url}");
        let at = token["access_token"].as_str().unwrap();
        let rt = token["refresh_token"].as_str().unwrap();

        // UserInfo with the same key: DPoP scheme, proof with ath. As a Bearer token, or with another key: refused.
        let info = cli(&["userinfo", "--issuer", &base, "--token", at, "--dpop-key", key_file.as_str()]).await;
        assert_eq!(info.code, 0, "[{name}] {}", info.last());
        assert_eq!(info.json()["sub"], "alice", "[{name}]");
        assert!(!info.stderr.contains("warning"), "[{name}] {}", info.stderr);
        // A key file others can read is reused as it is, with a warning.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key_file.0, std::fs::Permissions::from_mode(0o644)).unwrap();
            let shared = cli(&["userinfo", "--issuer", &base, "--token", at, "--dpop-key", key_file.as_str()]).await;
            assert_eq!(shared.code, 0, "[{name}] {}", shared.last());
            assert!(
                shared.stderr.contains("warning: ") && shared.stderr.contains("mode 644"),
                "[{name}] {}",
                shared.stderr
            );
            std::fs::set_permissions(&key_file.0, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let bearer = cli(&["userinfo", "--issuer", &base, "--token", at]).await;
        assert_eq!(bearer.code, 1, "[{name}]");
        assert!(bearer.last().starts_with("error: invalid_token: "), "[{name}] {}", bearer.last());
        assert_eq!(userinfo(&base, at).await.status(), 401, "[{name}] a bound token is no Bearer token");
        let other = cli(&["userinfo", "--issuer", &base, "--token", at, "--dpop"]).await;
        assert!(other.last().starts_with("error: invalid_token: "), "[{name}] another key: {}", other.last());

        // The public client's refresh token is bound: refused without the key, served with it.
        let args = ["refresh", "--issuer", &base, "--client-id", "demo-cli", "--refresh-token", rt];
        let without = cli(&args).await;
        assert!(without.last().starts_with("error: invalid_dpop_proof: "), "[{name}] {}", without.last());
        let with = cli(&[&args[..], &["--dpop-key", key_file.as_str()]].concat()).await;
        assert_eq!(with.code, 0, "[{name}] {}", with.last());
        assert_eq!(with.json()["token_type"], "DPoP", "[{name}]");

        // --dpop: a fresh key; introspection reports the binding.
        let svc = ["--issuer", &base, "--client-id", "demo-service", "--client-secret", "demo-service-secret"];
        let cc = cli(&[&["client-credentials", "--dpop"][..], &svc].concat()).await;
        assert_eq!(cc.code, 0, "[{name}] {}", cc.last());
        let cc_token = cc.json()["access_token"].as_str().unwrap().to_owned();
        let seen = cli(&[&["introspect", "--token", &cc_token][..], &svc].concat()).await.json();
        assert_eq!(seen["token_type"], "DPoP", "[{name}] {seen}");
        assert_eq!(seen["cnf"]["jkt"].as_str().map(str::len), Some(43), "[{name}] {seen}");

        // A client registered with dpop_bound_access_tokens must send a proof.
        let dpop_client = ["--issuer", &base, "--client-id", "demo-dpop", "--client-secret", "demo-dpop-secret"];
        let refused = cli(&[&["client-credentials"][..], &dpop_client].concat()).await;
        assert!(refused.last().starts_with("error: invalid_dpop_proof: "), "[{name}] {}", refused.last());
        let served = cli(&[&["client-credentials", "--dpop"][..], &dpop_client].concat()).await;
        assert_eq!(served.code, 0, "[{name}] {}", served.last());
    }
}

/// A token response from `base`'s token endpoint, with a proof of `signer` when given.
async fn token_request(
    base: &str,
    auth: (&str, &str),
    form: &[(&str, &str)],
    signer: Option<&DpopSigner>,
) -> (u16, Value) {
    let request = http::Request::post(format!("{base}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {}", base64_basic(auth)))
        .body(oauth2_core::form::encode(form.iter().copied()).into_bytes())
        .unwrap();
    let http = oauth2_reqwest::http_client().unwrap();
    let response = match signer {
        Some(signer) => signer.execute(&http, request, None).await.unwrap(),
        None => oauth2_reqwest::execute(&http, request).await.unwrap(),
    };
    (response.status().as_u16(), serde_json::from_slice(response.body()).unwrap_or_default())
}

fn base64_basic((id, secret): (&str, &str)) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9449_oauth2_reqwest_session_with_a_dpop_key_against_both_providers() {
    for ((name, bin), nonces) in PROVIDERS.into_iter().zip([true, false]) {
        let extra: &[&str] = if nonces { &["--dpop-nonce"] } else { &[] };
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
        let key = DpopKey::generate(Algorithm::EdDsa, &mut OsRng).unwrap();
        let session = Session::builder(client).dpop(key).build().unwrap();
        let (url, pending) = session.start_authorization("profile").await.unwrap();
        let callback = Browser::new().approve(url.as_str()).await;
        let token = session.finish_authorization(&pending, &callback).await.unwrap();
        assert_eq!(format!("{:?}", token.token_type), "Other(\"DPoP\")", "[{name}] nonces={nonces}");
        // Every API call carries a fresh proof: twice in a row works (no jti replay).
        for _ in 0..2 {
            let me = session.get(format!("{base}/userinfo")).send().await.unwrap();
            assert_eq!(me.status(), 200, "[{name}] nonces={nonces}");
            assert_eq!(me.json::<Value>().await.unwrap()["sub"], "alice");
        }
        // Refresh keeps the key: the new token is bound to it too.
        let fresh = session.refresh().await.unwrap();
        assert_ne!(fresh.access_token.secret(), token.access_token.secret());
        let me = session.get(format!("{base}/userinfo")).send().await.unwrap();
        assert_eq!(me.status(), 200, "[{name}] after the refresh");
        assert_eq!(userinfo(&base, fresh.access_token.secret()).await.status(), 401, "[{name}] not as Bearer");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9449_6_1_jwt_access_tokens_carry_cnf_and_the_example_api_wants_the_proof() {
    for (name, bin) in PROVIDERS {
        let (running, _config, _) = provider(bin, &["--access-tokens", "jwt", "--access-token-alg", "EdDSA"]).await;
        let base = running.base.clone();
        let api_port = free_port();
        let listen = format!("127.0.0.1:{api_port}");
        // The provider's tokens name no resource: the API takes the issuer as its audience here.
        let api = start(API, &["--listen", &listen, "--issuer", &base, "--alg", "EdDSA", "--audience", &base]).await;
        let signer = DpopSigner::new(DpopKey::generate(Algorithm::Es256, &mut OsRng).unwrap());
        let svc = ("demo-service", "demo-service-secret");
        let (status, token) =
            token_request(&base, svc, &[("grant_type", "client_credentials"), ("scope", "read")], Some(&signer)).await;
        assert_eq!(status, 200, "[{name}] {token}");
        assert_eq!(token["token_type"], "DPoP");
        let jwt = token["access_token"].as_str().unwrap();
        let payload: Value = {
            use base64::Engine;
            let part = jwt.split('.').nth(1).unwrap();
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
        };
        assert_eq!(payload["cnf"]["jkt"], signer.key().thumbprint(), "[{name}] {payload}");

        let whoami = format!("{}/whoami", api.base);
        let http = oauth2_reqwest::http_client().unwrap();
        let get = |scheme: &str, proof: Option<http::HeaderValue>| {
            let mut r = http.get(&whoami).header("authorization", format!("{scheme} {jwt}"));
            if let Some(p) = proof {
                r = r.header("dpop", p);
            }
            r.send()
        };
        let proof = signer.proof("GET", &whoami, Some(jwt)).unwrap();
        let ok = get("DPoP", Some(proof.clone())).await.unwrap();
        assert_eq!(ok.status(), 200, "[{name}]");
        assert_eq!(ok.json::<Value>().await.unwrap()["jkt"], signer.key().thumbprint());
        let replayed = get("DPoP", Some(proof)).await.unwrap();
        assert_eq!(replayed.status(), 401, "[{name}] a proof is used once");
        assert!(replayed.headers()["www-authenticate"].to_str().unwrap().contains("invalid_dpop_proof"));
        let no_ath = get("DPoP", Some(signer.proof("GET", &whoami, None).unwrap())).await.unwrap();
        assert_eq!(no_ath.status(), 401, "[{name}] a proof without ath");
        let challenge = no_ath.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.starts_with("DPoP ") && challenge.contains("algs=\"") && challenge.contains("invalid_dpop_proof"),
            "[{name}] {challenge}"
        );
        let as_bearer = get("Bearer", None).await.unwrap();
        assert_eq!(as_bearer.status(), 401, "[{name}] a bound token as Bearer");
        assert!(as_bearer.headers()["www-authenticate"].to_str().unwrap().starts_with("DPoP "));
        let other = DpopSigner::new(DpopKey::generate(Algorithm::Es256, &mut OsRng).unwrap());
        let wrong_key = get("DPoP", Some(other.proof("GET", &whoami, Some(jwt)).unwrap())).await.unwrap();
        assert_eq!(wrong_key.status(), 401, "[{name}] another key");
        assert!(wrong_key.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    }
}
