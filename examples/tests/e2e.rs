//! The end-to-end matrix over real HTTP on loopback: {provider-axum, provider-actix} × {oauth2-reqwest session,
//! oauth2-cli, client-web} × {authorization code + PKCE → userinfo → refresh → revoke, client credentials,
//! password}. client-web is a browser app, so it runs the code flow only.

mod common;

use std::process::Stdio;

use common::{Browser, config_file, free_port, hidden, start, userinfo};
use oauth2_core::Client;
use oauth2_core::introspection::TokenTypeHint;
use oauth2_reqwest::Session;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

const PROVIDERS: [(&str, &str); 2] =
    [("provider-axum", env!("CARGO_BIN_EXE_provider-axum")), ("provider-actix", env!("CARGO_BIN_EXE_provider-actix"))];

// ---------------------------------------------------------------- oauth2-reqwest session

async fn session_flows(provider: &str, base: &str, web_port: u16) {
    let http = oauth2_reqwest::http_client().unwrap();
    let metadata = oauth2_reqwest::discover(&http, base).await.unwrap();
    assert_eq!(metadata.userinfo_endpoint.as_deref(), Some(format!("{base}/userinfo").as_str()));

    // Code + PKCE → userinfo → refresh → revoke.
    let web = Client::builder("demo-web")
        .secret("demo-web-secret")
        .metadata(&metadata)
        .redirect_uri(format!("http://127.0.0.1:{web_port}/callback"))
        .build()
        .unwrap();
    let session = Session::new(web.clone()).unwrap();
    let (url, pending) = session.authorization_url("profile").unwrap();
    let callback = Browser::new().approve(url.as_str()).await;
    session.finish_authorization(&pending, &callback).await.unwrap();
    let me: serde_json::Value = session.get(format!("{base}/userinfo")).send().await.unwrap().json().await.unwrap();
    // design.md §4: `sub`, `name` and `preferred_username`; no `email`, which was not granted (nor configured).
    let expected = serde_json::json!({"sub": "alice", "name": "Alice Liddell", "preferred_username": "alice"});
    assert_eq!(me, expected, "[{provider}] session userinfo");
    let refreshed = session.refresh().await.unwrap();
    assert_eq!(session.get(format!("{base}/userinfo")).send().await.unwrap().status(), 200);
    let rt = refreshed.refresh_token.clone().unwrap();
    session.revoke(rt.secret(), Some(TokenTypeHint::RefreshToken)).await.unwrap();
    assert_eq!(userinfo(base, refreshed.access_token.secret()).await.status(), 401, "[{provider}] revoked grant");

    // Client credentials.
    let svc = Client::builder("demo-service").secret("demo-service-secret").metadata(&metadata).build().unwrap();
    let s = Session::new(svc).unwrap();
    let token = s.client_credentials("read").await.unwrap();
    assert!(s.introspect(token.access_token.secret(), None).await.unwrap().active);

    // Password.
    let s = Session::new(web).unwrap();
    let token = s.password("alice", "alice-password", "profile").await.unwrap();
    assert_eq!(userinfo(base, token.access_token.secret()).await.status(), 200, "[{provider}] password grant");
    let err = s.password("alice", "wrong", "profile").await.unwrap_err();
    assert_eq!(err.code(), "invalid_grant");
}

// ---------------------------------------------------------------- oauth2-cli

struct CliRun {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn cli(args: &[&str]) -> CliRun {
    let out = Command::new(env!("CARGO_BIN_EXE_oauth2-cli")).args(args).output().await.unwrap();
    CliRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json_of(run: &CliRun) -> serde_json::Value {
    assert_eq!(run.code, 0, "cli failed: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|_| panic!("not JSON: {}", run.stdout))
}

async fn cli_flows(provider: &str, base: &str) {
    // Code + PKCE through the CLI's loopback listener.
    let mut child = Command::new(env!("CARGO_BIN_EXE_oauth2-cli"))
        .args(["authorize", "--no-browser", "--issuer", base, "--client-id", "demo-cli", "--scope", "profile read"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let url = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).await.unwrap() > 0, "[{provider}] cli exited before printing the URL");
        if line.starts_with(base) {
            break line.trim().to_owned();
        }
    };
    let callback = Browser::new().approve(&url).await;
    let page = reqwest::get(&callback).await.unwrap().text().await.unwrap();
    assert!(page.contains("Authorized"), "[{provider}] cli callback page: {page}");
    assert!(child.wait().await.unwrap().success());
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).await.unwrap();
    let token: serde_json::Value = serde_json::from_str(&out).unwrap();
    let at = token["access_token"].as_str().unwrap();
    assert_eq!(userinfo(base, at).await.status(), 200, "[{provider}] cli token at userinfo");
    let rt = token["refresh_token"].as_str().unwrap();
    let refreshed =
        json_of(&cli(&["refresh", "--issuer", base, "--client-id", "demo-cli", "--refresh-token", rt]).await);
    let rt2 = refreshed["refresh_token"].as_str().unwrap();
    let revoke = cli(&["revoke", "--issuer", base, "--client-id", "demo-cli", "--token", rt2]).await;
    assert_eq!((revoke.code, revoke.stdout.as_str()), (0, ""), "{}", revoke.stderr);
    assert_eq!(userinfo(base, refreshed["access_token"].as_str().unwrap()).await.status(), 401);

    // Client credentials, then introspection.
    let svc = ["--issuer", base, "--client-id", "demo-service", "--client-secret", "demo-service-secret"];
    let token = json_of(&cli(&[&["client-credentials"][..], &svc].concat()).await);
    assert_eq!(token["token_type"], "Bearer");
    let at = token["access_token"].as_str().unwrap();
    assert_eq!(json_of(&cli(&[&["introspect", "--token", at][..], &svc].concat()).await)["active"], true);

    // Password, and its failure.
    let web =
        ["--issuer", base, "--client-id", "demo-web", "--client-secret", "demo-web-secret", "--username", "alice"];
    let token = json_of(&cli(&[&["password", "--password", "alice-password"][..], &web].concat()).await);
    assert_eq!(userinfo(base, token["access_token"].as_str().unwrap()).await.status(), 200);
    let bad = cli(&[&["password", "--password", "nope"][..], &web].concat()).await;
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.lines().last().unwrap_or("").starts_with("error: invalid_grant: "), "{}", bad.stderr);
}

// ---------------------------------------------------------------- client-web

async fn client_web_flow(provider: &str, base: &str, web_port: u16) {
    let web =
        start(env!("CARGO_BIN_EXE_client-web"), &["--listen", &format!("127.0.0.1:{web_port}"), "--issuer", base])
            .await;
    let b = Browser::new();
    let home = b.0.get(&web.base).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("Log in with the demo provider"));
    let to_provider = b.0.get(format!("{}/login", web.base)).send().await.unwrap();
    let authorize = Browser::location(&to_provider);
    assert!(authorize.starts_with(&format!("{base}/authorize?")), "{authorize}");
    let callback = b.approve(&authorize).await;
    let to_profile = b.0.get(&callback).send().await.unwrap();
    assert_eq!(Browser::location(&to_profile), "/profile", "[{provider}] client-web callback");
    let profile = b.0.get(format!("{}/profile", web.base)).send().await.unwrap().text().await.unwrap();
    assert!(profile.contains("Alice Liddell"), "[{provider}] profile page: {profile}");
    // The profile's forms carry a CSRF token; without it, refresh and logout are refused.
    let csrf = [("csrf", hidden(&profile, "csrf"))];
    let forged = b.0.post(format!("{}/logout", web.base)).send().await.unwrap();
    assert_eq!(forged.status(), 403, "[{provider}] a logout without the CSRF token is refused");
    let refreshed = b.0.post(format!("{}/refresh", web.base)).form(&csrf).send().await.unwrap();
    assert_eq!(Browser::location(&refreshed), "/profile");
    let profile = b.0.get(format!("{}/profile", web.base)).send().await.unwrap().text().await.unwrap();
    assert!(profile.contains("Alice Liddell"), "[{provider}] profile after refresh");
    let out = b.0.post(format!("{}/logout", web.base)).form(&csrf).send().await.unwrap();
    assert_eq!(Browser::location(&out), "/");
    let home = b.0.get(&web.base).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("Log in with the demo provider"), "[{provider}] logged out");
    drop(web.child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_matrix() {
    for (provider, bin) in PROVIDERS {
        let web_port = free_port();
        let config = config_file(web_port);
        let running = start(bin, &["--listen", "127.0.0.1:0", "--config", config.as_str()]).await;
        let base = running.base.clone();
        session_flows(provider, &base, web_port).await;
        common::report(&format!(
            "[{provider}] × oauth2-reqwest session: code+PKCE → userinfo → refresh → revoke, client credentials, password ... ok"
        ));
        cli_flows(provider, &base).await;
        common::report(&format!(
            "[{provider}] × oauth2-cli: code+PKCE → userinfo → refresh → revoke, client credentials, password ... ok"
        ));
        client_web_flow(provider, &base, web_port).await;
        common::report(&format!(
            "[{provider}] × client-web: code+PKCE → profile (userinfo) → refresh → logout (revoke) ... ok"
        ));
        drop(running.child);
    }
}

#[tokio::test]
async fn providers_print_builtin_demo_data_and_serve_design_metadata() {
    for (_, bin) in PROVIDERS {
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = String::new();
        let base = loop {
            let line = lines.next_line().await.unwrap().unwrap();
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        while !printed.contains("Alice Liddell") && printed.len() < 4000 {
            match lines.next_line().await.unwrap() {
                Some(line) => printed.push_str(&line),
                None => break,
            }
        }
        assert!(printed.contains("demo-web") && printed.contains("alice"), "{bin}: demo data printed: {printed}");
        let m: serde_json::Value =
            reqwest::get(format!("{base}/.well-known/oauth-authorization-server")).await.unwrap().json().await.unwrap();
        assert_eq!(m["issuer"], base.as_str(), "issuer is http://HOST:PORT, no trailing slash");
        for key in [
            "authorization_endpoint",
            "token_endpoint",
            "revocation_endpoint",
            "introspection_endpoint",
            "userinfo_endpoint",
        ] {
            assert!(m[key].as_str().unwrap_or("").starts_with(&base), "{bin}: {key}");
        }
        for key in [
            "grant_types_supported",
            "response_types_supported",
            "scopes_supported",
            "token_endpoint_auth_methods_supported",
        ] {
            assert!(m[key].is_array(), "{bin}: {key}");
        }
        assert_eq!(m["code_challenge_methods_supported"], serde_json::json!(["S256"]));
        assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    }
}

#[tokio::test]
async fn every_authorization_request_shows_login_then_consent_even_with_a_kept_session() {
    let running = start(env!("CARGO_BIN_EXE_provider-axum"), &["--listen", "127.0.0.1:0"]).await;
    let url = format!(
        "{}/authorize?response_type=code&client_id=demo-web&redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Fcallback&state=s",
        running.base
    );
    let browser = Browser::new();
    // The first flow logs in; the second, with the same cookies, must show the login form again (design.md §4).
    let first = browser.approve(&url).await;
    assert!(first.contains("code=") && first.contains("state=s"));
    let second = browser.approve(&url).await;
    assert!(second.contains("code="));
}

/// What a provider must refuse, over real HTTP on both frameworks: untrusted clients and redirect URIs get a page
/// and no redirect, login and consent forms check their CSRF token, a wrong password shows the login form again, a
/// denial goes back as `access_denied` with `state` and `iss`, and `/userinfo` needs a token that speaks for a user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_refuse_what_design_md_says_they_must() {
    for (provider, bin) in PROVIDERS {
        let web_port = free_port();
        let config = config_file(web_port);
        let running = start(bin, &["--listen", "127.0.0.1:0", "--config", config.as_str()]).await;
        let base = running.base.as_str();
        let b = Browser::new();
        let authorize = |client: &str, redirect: &str| {
            format!(
                "{base}/authorize?response_type=code&client_id={client}&redirect_uri={}&state=s-1&scope=profile",
                url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
            )
        };
        let callback = format!("http://127.0.0.1:{web_port}/callback");

        // RFC 6749 §4.1.2.1: unknown client, unregistered redirect, and (design.md §3) a confidential client's
        // loopback redirect on another port: an error page, never a redirect.
        let other_port = format!("http://127.0.0.1:{}/callback", free_port());
        for url in [
            authorize("nobody", &callback),
            authorize("demo-web", "https://evil.example/callback"),
            authorize("demo-web", &other_port),
        ] {
            let r = b.0.get(&url).send().await.unwrap();
            assert_eq!(r.status(), 400, "[{provider}] {url}");
            assert!(r.headers().get("location").is_none(), "[{provider}] no redirect for {url}");
        }

        // The login form: a wrong password shows it again; a forged CSRF token is refused.
        let login = b.0.get(authorize("demo-web", &callback)).send().await.unwrap().text().await.unwrap();
        let (csrf, request) = (common::hidden(&login, "csrf"), common::hidden(&login, "request"));
        let post_login = |password: &str, csrf: &str| {
            let form = [("username", "alice"), ("password", password), ("csrf", csrf), ("request", request.as_str())];
            b.0.post(format!("{base}/login")).form(&form).send()
        };
        let wrong = post_login("not-her-password", &csrf).await.unwrap();
        assert_eq!(wrong.status(), 401, "[{provider}] wrong password");
        let page = wrong.text().await.unwrap();
        assert!(page.contains("name=\"password\"") && page.contains("not right"), "[{provider}] {page}");
        let forged = post_login("alice-password", "forged-csrf").await.unwrap();
        assert_eq!(forged.status(), 400, "[{provider}] forged CSRF token");
        assert!(!forged.text().await.unwrap().contains("name=\"decision\""), "[{provider}] no consent page");

        // Consent: deny goes back as access_denied, with state and iss (RFC 6749 §4.1.2.1, RFC 9207).
        let consent = post_login("alice-password", &csrf).await.unwrap().text().await.unwrap();
        let form = [
            ("decision", "deny".to_owned()),
            ("csrf", common::hidden(&consent, "csrf")),
            ("request", common::hidden(&consent, "request")),
        ];
        let denied = b.0.post(format!("{base}/consent")).form(&form).send().await.unwrap();
        assert_eq!(denied.status(), 302, "[{provider}] deny redirects");
        let to = url::Url::parse(&Browser::location(&denied)).unwrap();
        let param = |k: &str| to.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
        assert_eq!(param("error").as_deref(), Some("access_denied"), "[{provider}] {to}");
        assert_eq!(param("state").as_deref(), Some("s-1"));
        assert_eq!(param("iss").as_deref(), Some(base));
        assert!(param("code").is_none());

        // /userinfo with a client-credentials token: no user, so no user info.
        let cc = reqwest::Client::new()
            .post(format!("{base}/token"))
            .basic_auth("demo-service", Some("demo-service-secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        let cc: serde_json::Value = cc.json().await.unwrap();
        let r = userinfo(base, cc["access_token"].as_str().unwrap()).await;
        assert_eq!(r.status(), 403, "[{provider}] userinfo for a client's token");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.contains("insufficient_scope"), "[{provider}] {challenge}");
        drop(running.child);
    }
}

/// design.md §4: the issuer is `http://HOST:PORT` of `--listen` (as written), or `--issuer`, and `iss` and the
/// metadata use it byte for byte.
#[tokio::test]
async fn the_issuer_follows_listen_or_the_issuer_flag() {
    for (_, bin) in PROVIDERS {
        let running = start(bin, &["--listen", "localhost:0"]).await;
        let port = url::Url::parse(&running.base).unwrap().port().unwrap();
        let issuer = format!("http://localhost:{port}");
        let m: serde_json::Value =
            reqwest::get(format!("http://127.0.0.1:{port}/.well-known/oauth-authorization-server"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        assert_eq!(m["issuer"], issuer.as_str(), "{bin}: the host as written in --listen");
        drop(running.child);

        let running = start(bin, &["--listen", "127.0.0.1:0", "--issuer", "https://as.example.test"]).await;
        let m: serde_json::Value = reqwest::get(format!("{}/.well-known/oauth-authorization-server", running.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(m["issuer"], "https://as.example.test", "{bin}: --issuer");
        assert_eq!(m["token_endpoint"], "https://as.example.test/token");
    }
}
