//! OpenID Connect on both demo providers (design.md §4): the provider metadata and JWKS, id_tokens on the code
//! grant and on refresh checked against the JWKS, `prompt=none`, UserInfo, and key rotation by the command.

mod common;

use common::*;
use oauth2_core::jose::{Algorithm, JwkSet, Validation, half_hash};
use serde_json::Value;

const PROVIDERS: [(&str, &str); 2] =
    [("provider-axum", env!("CARGO_BIN_EXE_provider-axum")), ("provider-actix", env!("CARGO_BIN_EXE_provider-actix"))];

const REDIRECT: &str = "http://127.0.0.1:7/cb";

fn config() -> TempFile {
    let text = format!(
        r#"
[[clients]]
id = "rp"
secret = "rp-secret"
redirect_uris = ["{REDIRECT}"]
scopes = ["openid", "profile", "email", "read"]

[[clients]]
id = "rp-ed"
secret = "rp-secret"
redirect_uris = ["{REDIRECT}"]
scopes = ["openid"]
id_token_signed_response_alg = "EdDSA"

[[clients]]
id = "cli"
redirect_uris = ["http://127.0.0.1/callback"]
scopes = ["openid", "email"]

[[users]]
username = "alice"
password = "alice-password"
name = "Alice Liddell"
email = "alice@example.com"
"#
    );
    TempFile::with_contents("oidc.toml", &text)
}

async fn get_json(url: &str) -> Value {
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.json().await.unwrap()
}

/// The code of an authorization for `client` with `query` added, approved as alice.
async fn code(base: &str, client: &str, query: &str) -> String {
    let url = format!("{base}/authorize?response_type=code&client_id={client}&redirect_uri={REDIRECT}&state=s1{query}");
    let back = url::Url::parse(&Browser::new().approve(&url).await).unwrap();
    back.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).expect("a code")
}

async fn token(base: &str, client: &str, form: &[(&str, &str)]) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{base}/token"))
        .basic_auth(client, Some("rp-secret"))
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn redeem(base: &str, client: &str, code: &str) -> Value {
    token(base, client, &[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT)]).await
}

fn claims(base: &str, client: &str, id_token: &str, keys: &JwkSet, alg: Algorithm) -> Value {
    Validation::new(base, client, &[alg], std::time::SystemTime::now())
        .decode(id_token, keys)
        .expect("a valid id_token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_core_3_1_3_3_both_demo_providers_issue_id_tokens_that_their_jwks_verifies() {
    let config = config();
    for (name, bin) in PROVIDERS {
        let db = TempFile::with_contents("oidc.sqlite", "");
        let db = format!("sqlite:{}", db.as_str());
        let p = start(bin, &["--listen", "127.0.0.1:0", "--config", config.as_str(), "--db", &db]).await;
        let base = p.base.as_str();
        let meta = get_json(&format!("{base}/.well-known/openid-configuration")).await;
        assert_eq!(meta["issuer"], base, "{name}");
        assert_eq!(meta["id_token_signing_alg_values_supported"], serde_json::json!(["RS256", "ES256", "EdDSA"]));
        assert_eq!(meta["subject_types_supported"], serde_json::json!(["public"]));
        let rfc8414 = get_json(&format!("{base}/.well-known/oauth-authorization-server")).await;
        assert_eq!(rfc8414["jwks_uri"], meta["jwks_uri"], "{name}: both documents list jwks_uri");
        let keys: JwkSet = serde_json::from_value(get_json(meta["jwks_uri"].as_str().unwrap()).await).unwrap();
        assert_eq!(keys.keys.len(), 3, "{name}: one key per algorithm");

        let c = code(base, "rp", "&scope=openid%20profile%20email&nonce=n-0S6_WzA2Mj").await;
        let first = redeem(base, "rp", &c).await;
        let id_token = first["id_token"].as_str().expect("an id_token");
        let access = first["access_token"].as_str().unwrap();
        let c1 = claims(base, "rp", id_token, &keys, Algorithm::Rs256);
        assert_eq!((c1["sub"].as_str(), c1["nonce"].as_str()), (Some("alice"), Some("n-0S6_WzA2Mj")), "{name}");
        assert_eq!(c1["at_hash"], half_hash(Algorithm::Rs256, access), "{name}");
        assert_eq!((c1["azp"].as_str(), c1["auth_time"].is_u64()), (Some("rp"), true), "{name}");

        // OIDC Core §5.3.2: the same sub at UserInfo, and the email that was granted.
        let info: Value = userinfo(base, access).await.json().await.unwrap();
        assert_eq!(info["sub"], c1["sub"], "{name}");
        assert_eq!((info["name"].as_str(), info["email"].as_str()), (Some("Alice Liddell"), Some("alice@example.com")));

        // §12.2: a refresh brings a new id_token with the same sub and auth_time and no nonce.
        let refresh = first["refresh_token"].as_str().unwrap();
        let second = token(base, "rp", &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
        let c2 = claims(base, "rp", second["id_token"].as_str().expect("a new id_token"), &keys, Algorithm::Rs256);
        assert_eq!((&c2["sub"], &c2["auth_time"]), (&c1["sub"], &c1["auth_time"]), "{name}");
        assert!(c2.get("nonce").is_none(), "{name}: no nonce on a refresh");

        // A client registered for EdDSA gets EdDSA.
        let ed = redeem(base, "rp-ed", &code(base, "rp-ed", "&scope=openid").await).await;
        claims(base, "rp-ed", ed["id_token"].as_str().unwrap(), &keys, Algorithm::EdDsa);

        // §3.1.2.6: prompt=none never shows a page here: login_required, by redirect, with state and iss.
        let url = format!(
            "{base}/authorize?response_type=code&client_id=rp&redirect_uri={REDIRECT}&scope=openid&state=s2&prompt=none"
        );
        let r = Browser::new().0.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 302, "{name}");
        let back = url::Url::parse(&Browser::location(&r)).unwrap();
        let q: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
        assert_eq!(q.get("error").map(String::as_str), Some("login_required"), "{name}");
        assert_eq!((q["state"].as_str(), q["iss"].as_str()), ("s2", base), "{name}");
        report(&format!("oidc: {name}: id_token, refresh, UserInfo and prompt=none ok"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_signs_and_the_old_one_stays_published() {
    let config = config();
    for (name, bin) in PROVIDERS {
        let file = TempFile::with_contents("rotate.sqlite", "");
        let db = format!("sqlite:{}", file.as_str());
        // The same address both times, so that the issuer stays the same.
        let listen = format!("127.0.0.1:{}", free_port());
        let args = ["--listen", &listen, "--config", config.as_str(), "--db", &db];
        let mut p = start(bin, &args).await;
        let before: JwkSet = serde_json::from_value(get_json(&format!("{}/jwks", p.base)).await).unwrap();
        let old = redeem(&p.base, "rp-ed", &code(&p.base, "rp-ed", "&scope=openid").await).await;
        p.child.kill().await.unwrap();

        let out = tokio::process::Command::new(bin)
            .args(["rotate-signing-key", "--db", &db, "--alg", "EdDSA"])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        let kid =
            printed.split("kid ").nth(1).and_then(|r| r.split_whitespace().next()).expect("the new kid").to_owned();

        let p = start(bin, &args).await;
        let after: JwkSet = serde_json::from_value(get_json(&format!("{}/jwks", p.base)).await).unwrap();
        assert_eq!(after.keys.len(), before.keys.len() + 1, "{name}: the old EdDSA key stays published");
        let new = redeem(&p.base, "rp-ed", &code(&p.base, "rp-ed", "&scope=openid").await).await;
        let header = new["id_token"].as_str().unwrap().split('.').next().unwrap().to_owned();
        let header: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
        )
        .unwrap();
        assert_eq!(header["kid"].as_str(), Some(kid.as_str()), "{name}: the new key signs");
        // A token signed before the rotation still verifies against the published keys.
        claims(&p.base, "rp-ed", old["id_token"].as_str().unwrap(), &after, Algorithm::EdDsa);
        let bad =
            tokio::process::Command::new(bin).args(["rotate-signing-key", "--db", &db, "--alg", "HS256"]).output();
        let bad = bad.await.unwrap();
        assert_eq!(bad.status.code(), Some(1), "{name}: an unknown algorithm is refused");
        assert!(String::from_utf8_lossy(&bad.stderr).starts_with("error: "));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_core_3_1_3_7_our_client_logs_in_with_openid_connect_on_both_providers() {
    use oauth2_core::Client;
    use oauth2_reqwest::Session;
    let config = config();
    for (name, bin) in PROVIDERS {
        let p = start(bin, &["--listen", "127.0.0.1:0", "--config", config.as_str(), "--db", "memory"]).await;
        let http = oauth2_reqwest::http_client().unwrap();
        let metadata = oauth2_reqwest::discover(&http, &p.base).await.unwrap();
        let client =
            Client::builder("rp").secret("rp-secret").metadata(&metadata).redirect_uri(REDIRECT).build().unwrap();
        let session = Session::new(client).unwrap();
        let (url, pending) = session.authorization_url("openid profile email").unwrap();
        assert!(pending.nonce.is_some(), "{name}: an openid request carries a nonce");
        let callback = Browser::new().approve(url.as_str()).await;
        session.finish_authorization(&pending, &callback).await.expect("the id_token passes every check");
        let claims = session.id_token_claims().expect("the session keeps the id_token's claims");
        assert_eq!((claims.sub.as_str(), claims.nonce.as_deref()), ("alice", pending.nonce.as_deref()), "{name}");
        let info = session.userinfo().await.expect("UserInfo, with the same sub");
        assert_eq!(info["email"], "alice@example.com", "{name}");
        session.refresh().await.expect("the refreshed id_token passes too");
        let refreshed = session.id_token_claims().unwrap();
        assert_eq!((&refreshed.sub, refreshed.auth_time), (&claims.sub, claims.auth_time), "{name}");
        assert!(refreshed.nonce.is_none() && refreshed.iat >= claims.iat, "{name}");
        // A pending value whose nonce is another request's does not accept this callback's id_token (a replayed
        // or injected id_token, OIDC Core §3.1.3.7 #11).
        let (url, sent) = session.authorization_url("openid").unwrap();
        let (_, other) = session.authorization_url("openid").unwrap();
        let callback = Browser::new().approve(url.as_str()).await;
        let mismatched = oauth2_core::PendingAuthorization { nonce: other.nonce, ..sent };
        let refused = session.finish_authorization(&mismatched, &callback).await.unwrap_err();
        assert_eq!(refused.code(), "invalid_id_token", "{name}: {refused}");
        assert_eq!(
            session.id_token_claims().map(|c| c.iat),
            Some(refreshed.iat),
            "{name}: the session kept the old one"
        );
        report(&format!("oidc: {name}: oauth2-reqwest login, UserInfo and refresh ok"));
    }
}

/// design.md §4 (CLI): `authorize` with `openid` checks the id_token before printing; `userinfo --token T` prints
/// the UserInfo JSON, and a bad token ends with `error: invalid_token: ...`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_core_5_3_2_the_cli_authorizes_with_openid_and_prints_userinfo() {
    use tokio::io::AsyncBufReadExt;
    let config = config();
    for (name, bin) in PROVIDERS {
        let p = start(bin, &["--listen", "127.0.0.1:0", "--config", config.as_str(), "--db", "memory"]).await;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_oauth2-cli"))
            .args(["authorize", "--no-browser", "--issuer", &p.base, "--client-id", "cli", "--scope", "openid email"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let url = loop {
            line.clear();
            assert!(stderr.read_line(&mut line).await.unwrap() > 0, "{name}: the CLI exited before printing the URL");
            if line.starts_with(&p.base) {
                break line.trim().to_owned();
            }
        };
        assert!(url.contains("nonce="), "{name}: {url}");
        let back = Browser::new().approve(&url).await;
        let delivered = reqwest::get(&back).await.unwrap();
        assert_eq!(delivered.status(), 200, "{name}");
        let out = child.wait_with_output().await.unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(printed["id_token"].is_string(), "{name}: {printed}");
        let token = printed["access_token"].as_str().unwrap();

        let cli = |args: Vec<String>| async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_oauth2-cli")).args(args).output().await.unwrap()
        };
        let info =
            cli(vec!["userinfo".into(), "--issuer".into(), p.base.clone(), "--token".into(), token.into()]).await;
        assert!(info.status.success(), "{name}: {}", String::from_utf8_lossy(&info.stderr));
        let info: Value = serde_json::from_slice(&info.stdout).unwrap();
        assert_eq!(
            (info["sub"].as_str(), info["email"].as_str()),
            (Some("alice"), Some("alice@example.com")),
            "{name}"
        );
        let bad =
            cli(vec!["userinfo".into(), "--issuer".into(), p.base.clone(), "--token".into(), "nope".into()]).await;
        assert_eq!(bad.status.code(), Some(1), "{name}");
        let stderr = String::from_utf8_lossy(&bad.stderr);
        assert!(
            stderr.trim_end().lines().last().unwrap_or("").starts_with("error: invalid_token: "),
            "{name}: {stderr}"
        );
        report(&format!("oidc: {name}: oauth2-cli authorize (id_token checked) and userinfo ok"));
    }
}

/// design.md §4: client-web logs in with OpenID Connect where the provider offers `openid`, and shows the
/// id_token's claims beside UserInfo (and still after a refresh).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_web_logs_in_with_openid_connect_and_shows_the_id_token() {
    for (name, bin) in PROVIDERS {
        let web_port = free_port();
        let config = TempFile::with_contents(
            "web.toml",
            &format!(
                r#"
[[clients]]
id = "demo-web"
secret = "demo-web-secret"
redirect_uris = ["http://127.0.0.1:{web_port}/callback"]
scopes = ["openid", "profile", "email", "read"]

[[users]]
username = "alice"
password = "alice-password"
name = "Alice Liddell"
email = "alice@example.com"
"#
            ),
        );
        let p = start(bin, &["--listen", "127.0.0.1:0", "--config", config.as_str(), "--db", "memory"]).await;
        let listen = format!("127.0.0.1:{web_port}");
        let web = start(env!("CARGO_BIN_EXE_client-web"), &["--listen", &listen, "--issuer", &p.base]).await;
        let b = Browser::new();
        let to_provider = b.0.get(format!("{}/login", web.base)).send().await.unwrap();
        let authorize = Browser::location(&to_provider);
        assert!(authorize.contains("scope=openid") && authorize.contains("nonce="), "{name}: {authorize}");
        let callback = b.approve(&authorize).await;
        assert_eq!(Browser::location(&b.0.get(&callback).send().await.unwrap()), "/profile", "{name}");
        let profile = b.0.get(format!("{}/profile", web.base)).send().await.unwrap().text().await.unwrap();
        for shown in
            [format!("id=\"iss\">{}<", p.base), "id=\"id-sub\">alice<".into(), "id=\"email\">alice@example.com<".into()]
        {
            assert!(profile.contains(&shown), "{name}: {shown} missing from {profile}");
        }
        let csrf = [("csrf", hidden(&profile, "csrf"))];
        let refreshed = b.0.post(format!("{}/refresh", web.base)).form(&csrf).send().await.unwrap();
        assert_eq!(Browser::location(&refreshed), "/profile", "{name}: the refreshed id_token passes");
        let profile = b.0.get(format!("{}/profile", web.base)).send().await.unwrap().text().await.unwrap();
        assert!(profile.contains("id=\"id-sub\">alice<"), "{name}: {profile}");
    }
}

/// design.md §3: with `OAUTH2_KEY_ENCRYPTION_KEY` set, the private keys are stored sealed (AES-256-GCM); a
/// provider started on that database without the key, or with another, refuses to start and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_keys_are_sealed_at_rest_under_the_key_encryption_key() {
    use oauth2_core::jose::KeySealer;
    use oauth2_core::server::store::KeyStore;
    const KEK: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
    let config = config();
    for (name, bin) in PROVIDERS {
        let file = TempFile::with_contents("sealed.sqlite", "");
        let db = format!("sqlite:{}", file.as_str());
        let args = ["--listen", "127.0.0.1:0", "--config", config.as_str(), "--db", &db];
        let mut child = tokio::process::Command::new(bin)
            .args(args)
            .env("OAUTH2_KEY_ENCRYPTION_KEY", KEK)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stdout.take().unwrap()));
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("listening on") {
                break;
            }
        }
        child.kill().await.unwrap();
        let store = oauth2_sqlx::SqliteStore::connect(&db).await.unwrap();
        let keys = store.signing_keys().await.unwrap();
        assert_eq!(keys.len(), 3, "{name}");
        assert!(keys.iter().all(|k| KeySealer::is_sealed(&k.private_key)), "{name}: every private key is sealed");
        drop(store);
        for (kek, why) in
            [(None, "no key-encryption key"), (Some("CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg="), "another key")]
        {
            let mut command = tokio::process::Command::new(bin);
            command.args(args).env_remove("OAUTH2_KEY_ENCRYPTION_KEY");
            if let Some(kek) = kek {
                command.env("OAUTH2_KEY_ENCRYPTION_KEY", kek);
            }
            let out =
                tokio::time::timeout(std::time::Duration::from_secs(20), command.output()).await.unwrap().unwrap();
            assert_eq!(out.status.code(), Some(1), "{name}: {why}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.trim_end().lines().last().unwrap_or("");
            assert!(last.starts_with("error: signing keys: signing key "), "{name}: {why}: {stderr}");
        }
    }
}
