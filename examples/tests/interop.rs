//! Interop with clients we did not write, against both demo providers: the `oauth2` crate (oauth2-rs) and
//! Python's requests-oauthlib (in a virtual environment that .ci/run creates).

mod common;

use common::{Browser, config_file, free_port, start, userinfo};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl,
    ResourceOwnerPassword, ResourceOwnerUsername, Scope, TokenResponse, TokenUrl,
};

const PROVIDERS: [(&str, &str); 2] =
    [("provider-axum", env!("CARGO_BIN_EXE_provider-axum")), ("provider-actix", env!("CARGO_BIN_EXE_provider-actix"))];

/// oauth2-rs: authorization code + PKCE, refresh, client credentials and password, with its own request building
/// and parsing (client_secret_basic), carried over our HTTP executor.
async fn oauth2_rs_flows(provider: &str, base: &str, web_port: u16) {
    let http = oauth2_reqwest::http_client().unwrap();
    let send = |req: oauth2::HttpRequest| {
        let http = http.clone();
        async move { oauth2_reqwest::execute(&http, req).await }
    };
    let redirect = format!("http://127.0.0.1:{web_port}/callback");
    let client = BasicClient::new(ClientId::new("demo-web".into()))
        .set_client_secret(ClientSecret::new("demo-web-secret".into()))
        .set_auth_uri(AuthUrl::new(format!("{base}/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(format!("{base}/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(redirect).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let callback = url::Url::parse(&Browser::new().approve(url.as_str()).await).unwrap();
    let param = |k: &str| callback.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
    assert_eq!(param("state").as_deref(), Some(csrf.secret().as_str()), "[{provider}] state round trip");
    assert_eq!(param("iss").as_deref(), Some(base), "[{provider}] iss");
    let token = client
        .exchange_code(AuthorizationCode::new(param("code").unwrap()))
        .set_pkce_verifier(verifier)
        .request_async(&send)
        .await
        .unwrap_or_else(|e| panic!("[{provider}] oauth2-rs code exchange: {e:?}"));
    assert_eq!(userinfo(base, token.access_token().secret()).await.status(), 200);
    let refreshed = client
        .exchange_refresh_token(token.refresh_token().unwrap())
        .request_async(&send)
        .await
        .unwrap_or_else(|e| panic!("[{provider}] oauth2-rs refresh: {e:?}"));
    assert_ne!(refreshed.access_token().secret(), token.access_token().secret());
    let password = client
        .exchange_password(
            &ResourceOwnerUsername::new("alice".into()),
            &ResourceOwnerPassword::new("alice-password".into()),
        )
        .request_async(&send)
        .await
        .unwrap_or_else(|e| panic!("[{provider}] oauth2-rs password: {e:?}"));
    assert_eq!(userinfo(base, password.access_token().secret()).await.status(), 200);

    let service = BasicClient::new(ClientId::new("demo-service".into()))
        .set_client_secret(ClientSecret::new("demo-service-secret".into()))
        .set_token_uri(TokenUrl::new(format!("{base}/token")).unwrap());
    let cc = service
        .exchange_client_credentials()
        .add_scope(Scope::new("read".into()))
        .request_async(&send)
        .await
        .unwrap_or_else(|e| panic!("[{provider}] oauth2-rs client credentials: {e:?}"));
    assert!(cc.refresh_token().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_rs_client_against_both_providers() {
    for (provider, bin) in PROVIDERS {
        let web_port = free_port();
        let config = config_file(web_port);
        let running = start(bin, &["--listen", "127.0.0.1:0", "--config", config.as_str()]).await;
        oauth2_rs_flows(provider, &running.base, web_port).await;
        common::report(&format!("[{provider}] × oauth2-rs: code+PKCE, refresh, password, client credentials ... ok"));
    }
}

/// The venv's Python: $OAUTH2_INTEROP_PYTHON, or target/interop-venv (what .ci/run creates).
fn python() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("OAUTH2_INTEROP_PYTHON") {
        return Some(p.into());
    }
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).parent()?.to_path_buf();
    let candidate = target.join("interop-venv").join("bin").join("python");
    candidate.exists().then_some(candidate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_oauthlib_against_both_providers() {
    let Some(python) = python() else {
        // CI installs it (.ci/run); there, its absence is a failure, not a skip.
        assert!(std::env::var_os("CI").is_none(), "CI must provide the requests-oauthlib venv (see .ci/run)");
        common::report("SKIPPED requests-oauthlib interop: no venv at target/interop-venv (run .ci/run's pip step)");
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/requests_oauthlib_flows.py");
    for (provider, bin) in PROVIDERS {
        let web_port = free_port();
        let config = config_file(web_port);
        let running = start(bin, &["--listen", "127.0.0.1:0", "--config", config.as_str()]).await;
        let redirect = format!("http://127.0.0.1:{web_port}/callback");
        let out =
            tokio::process::Command::new(&python).args([script, &running.base, &redirect]).output().await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "[{provider}] requests-oauthlib failed:\n{stdout}\n{stderr}");
        common::report(&format!("[{provider}] × {}", stdout.trim()));
    }
}

/// The `openidconnect` crate (crates.io) as a relying party against both demo providers, over our reqwest:
/// discovery, the code grant with PKCE and a nonce, its id_token checked by that crate (signature against the
/// provider's JWKS, iss, aud, exp, nonce, and at_hash), then UserInfo with its `sub` check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openidconnect_crate_as_relying_party_against_both_providers() {
    use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
    use openidconnect::{
        AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
        PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
    };
    let transport = oauth2_reqwest::http_client().unwrap();
    let http = |request: openidconnect::HttpRequest| {
        let transport = transport.clone();
        async move { oauth2_reqwest::execute(&transport, request).await }
    };
    let redirect = "http://127.0.0.1:7/cb";
    let config = common::TempFile::with_contents(
        "openidconnect.toml",
        &format!(
            r#"
[[clients]]
id = "rp"
secret = "rp-secret"
redirect_uris = ["{redirect}"]
scopes = ["openid", "profile", "email"]

[[users]]
username = "alice"
password = "alice-password"
name = "Alice Liddell"
email = "alice@example.com"
"#
        ),
    );
    for (provider, bin) in PROVIDERS {
        let running = start(bin, &["--listen", "127.0.0.1:0", "--config", config.as_str(), "--db", "memory"]).await;
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(running.base.clone()).unwrap(), &http)
            .await
            .unwrap_or_else(|e| panic!("[{provider}] discovery: {e:?}"));
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new("rp".into()),
            Some(ClientSecret::new("rp-secret".into())),
        )
        .set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge)
            .url();
        let back = url::Url::parse(&Browser::new().approve(url.as_str()).await).unwrap();
        let param = |name: &str| back.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        assert_eq!(param("state").as_deref(), Some(state.secret().as_str()), "[{provider}]");
        let token = client
            .exchange_code(AuthorizationCode::new(param("code").unwrap()))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("[{provider}] token: {e:?}"));
        let id_token = token.id_token().expect("an id_token");
        let verifier = client.id_token_verifier();
        let claims = id_token.claims(&verifier, &nonce).unwrap_or_else(|e| panic!("[{provider}] id_token: {e:?}"));
        assert_eq!(claims.subject().as_str(), "alice", "[{provider}]");
        let expected = claims.access_token_hash().expect("at_hash");
        let computed = AccessTokenHash::from_token(
            token.access_token(),
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&verifier).unwrap(),
        )
        .unwrap();
        assert_eq!(&computed, expected, "[{provider}] at_hash");
        let info: CoreUserInfoClaims = client
            .user_info(token.access_token().clone(), Some(claims.subject().clone()))
            .unwrap()
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("[{provider}] userinfo: {e:?}"));
        assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.com"), "[{provider}]");
        common::report(&format!("[{provider}] × openidconnect: discovery, id_token, at_hash, UserInfo ok"));
    }
}
