//! JWT access tokens (RFC 9068) and resource indicators (RFC 8707) on both demo providers (design.md §4
//! "OpenID Connect and JWT"), and the example API, which trusts their JWTs with no call to them.

mod common;

use common::*;
use oauth2_core::jose::{Algorithm, JwkSet, Validation};
use serde_json::Value;

const PROVIDERS: [(&str, &str); 2] =
    [("provider-axum", env!("CARGO_BIN_EXE_provider-axum")), ("provider-actix", env!("CARGO_BIN_EXE_provider-actix"))];

const API: &str = env!("CARGO_BIN_EXE_example-api");

fn config(api: &str) -> TempFile {
    let text = format!(
        r#"
[[clients]]
id = "svc"
secret = "svc-secret"
grant_types = ["client_credentials", "password", "refresh_token"]
scopes = ["read", "profile", "openid"]

[[clients]]
id = "limited"
secret = "limited-secret"
grant_types = ["client_credentials"]
scopes = ["read"]
resources = ["{api}"]

[[clients]]
id = "api"
secret = "api-secret"
resource_server = true
resources = ["{api}"]

[[users]]
username = "alice"
password = "alice-password"
name = "Alice Liddell"
"#
    );
    TempFile::with_contents("jwt.toml", &text)
}

async fn post(base: &str, path: &str, auth: (&str, &str), form: &[(&str, &str)]) -> reqwest::Response {
    let body = oauth2_core::form::encode(form.iter().copied());
    reqwest::Client::new()
        .post(format!("{base}{path}"))
        .basic_auth(auth.0, Some(auth.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn token(base: &str, auth: (&str, &str), form: &[(&str, &str)]) -> Value {
    let r = post(base, "/token", auth, form).await;
    assert_eq!(r.status(), 200, "{form:?}");
    r.json().await.unwrap()
}

async fn introspect(base: &str, auth: (&str, &str), token: &str) -> Value {
    post(base, "/introspect", auth, &[("token", token)]).await.json().await.unwrap()
}

async fn api_get(api: &str, path: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new().get(format!("{api}{path}")).bearer_auth(token).send().await.unwrap()
}

const SVC: (&str, &str) = ("svc", "svc-secret");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc9068_2_2_jwt_access_tokens_on_both_providers_and_the_example_api() {
    for (name, bin) in PROVIDERS {
        let api_port = free_port();
        let api_uri = format!("http://127.0.0.1:{api_port}");
        let config = config(&api_uri);
        let provider = start(
            bin,
            &[
                "--listen",
                "127.0.0.1:0",
                "--config",
                config.as_str(),
                "--db",
                "memory",
                "--access-tokens",
                "jwt",
                "--access-token-alg",
                "EdDSA",
            ],
        )
        .await;
        let base = provider.base.clone();
        let listen = format!("127.0.0.1:{api_port}");
        let api = start(API, &["--listen", &listen, "--issuer", &base, "--alg", "EdDSA"]).await;
        let keys: JwkSet = reqwest::get(format!("{base}/jwks")).await.unwrap().json().await.unwrap();

        // Client credentials for the API: `aud` is the resource (design.md §4).
        let r =
            token(&base, SVC, &[("grant_type", "client_credentials"), ("scope", "read"), ("resource", &api_uri)]).await;
        let jwt = r["access_token"].as_str().unwrap();
        assert_eq!((r["token_type"].as_str(), r["expires_in"].as_u64()), (Some("Bearer"), Some(300)), "{name}");
        let claims: Value = Validation::new(&base, &api_uri, &[Algorithm::EdDsa], std::time::SystemTime::now())
            .typ("at+jwt")
            .decode(jwt, &keys)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((claims["sub"].as_str(), claims["client_id"].as_str()), (Some("svc"), Some("svc")), "{name}");
        for claim in ["iss", "aud", "scope", "jti", "iat", "exp"] {
            assert!(claims.get(claim).is_some(), "{name}: {claim}");
        }
        let whoami = api_get(&api.base, "/whoami", jwt).await;
        assert_eq!(whoami.status(), 200, "{name}: the API takes the provider's JWT");
        let who: Value = whoami.json().await.unwrap();
        assert_eq!((who["client_id"].as_str(), who["sub"].as_str()), (Some("svc"), None), "{name}: {who}");
        assert_eq!(api_get(&api.base, "/read", jwt).await.status(), 200, "{name}");

        // The API refuses a token for the issuer itself, one without the scope, and anything not a JWT of this issuer.
        let for_issuer = token(&base, SVC, &[("grant_type", "client_credentials"), ("scope", "read")]).await;
        let for_issuer = for_issuer["access_token"].as_str().unwrap();
        let refused = api_get(&api.base, "/whoami", for_issuer).await;
        assert_eq!(refused.status(), 401, "{name}: another audience");
        assert!(refused.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
        let narrow =
            token(&base, SVC, &[("grant_type", "client_credentials"), ("scope", "profile"), ("resource", &api_uri)])
                .await;
        let narrow = narrow["access_token"].as_str().unwrap();
        assert_eq!(api_get(&api.base, "/whoami", narrow).await.status(), 200, "{name}");
        assert_eq!(api_get(&api.base, "/read", narrow).await.status(), 403, "{name}: insufficient_scope");
        assert_eq!(api_get(&api.base, "/whoami", "opaque-looking-token").await.status(), 401, "{name}");

        // RFC 8707: two resources make an array; a limited client gets invalid_target for any other.
        let two = token(
            &base,
            SVC,
            &[("grant_type", "client_credentials"), ("resource", &api_uri), ("resource", "urn:example:b")],
        )
        .await;
        let claims: Value = Validation::new(&base, &api_uri, &[Algorithm::EdDsa], std::time::SystemTime::now())
            .decode(two["access_token"].as_str().unwrap(), &keys)
            .unwrap();
        assert_eq!(claims["aud"], serde_json::json!([api_uri, "urn:example:b"]), "{name}");
        let limited = post(
            &base,
            "/token",
            ("limited", "limited-secret"),
            &[("grant_type", "client_credentials"), ("resource", "urn:example:b")],
        )
        .await;
        assert_eq!(limited.status(), 400, "{name}");
        assert_eq!(limited.json::<Value>().await.unwrap()["error"], "invalid_target", "{name}");

        // Introspection reports JWTs like opaque tokens; the resource server sees those for it, not others.
        let info = introspect(&base, SVC, jwt).await;
        assert_eq!(
            (info["active"].as_bool(), info["aud"].as_str()),
            (Some(true), Some(api_uri.as_str())),
            "{name}: {info}"
        );
        assert_eq!(introspect(&base, ("api", "api-secret"), jwt).await["active"], true, "{name}");
        let elsewhere = token(&base, SVC, &[("grant_type", "client_credentials"), ("resource", "urn:example:b")]).await;
        let elsewhere = elsewhere["access_token"].as_str().unwrap();
        assert_eq!(introspect(&base, ("api", "api-secret"), elsewhere).await["active"], false, "{name}");

        // Revocation by jti: at once at the provider; the API, which never asks it, keeps it until exp (5 min).
        assert_eq!(post(&base, "/revoke", SVC, &[("token", jwt)]).await.status(), 200, "{name}");
        assert_eq!(introspect(&base, SVC, jwt).await, serde_json::json!({"active": false}), "{name}");

        // A user's JWT works at /userinfo until it is revoked, and its refresh's JWT too.
        let user = token(
            &base,
            SVC,
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "alice-password"),
                ("scope", "openid profile"),
            ],
        )
        .await;
        let user_jwt = user["access_token"].as_str().unwrap();
        let info = userinfo(&base, user_jwt).await;
        assert_eq!(info.status(), 200, "{name}");
        assert_eq!(info.json::<Value>().await.unwrap()["sub"], "alice", "{name}");
        let refreshed = token(
            &base,
            SVC,
            &[("grant_type", "refresh_token"), ("refresh_token", user["refresh_token"].as_str().unwrap())],
        )
        .await;
        let refreshed_jwt = refreshed["access_token"].as_str().unwrap();
        assert_eq!(userinfo(&base, refreshed_jwt).await.status(), 200, "{name}");
        // Reusing the spent refresh token revokes the family, the JWT included (RFC 9700 §4.14.2).
        let reuse = post(
            &base,
            "/token",
            SVC,
            &[("grant_type", "refresh_token"), ("refresh_token", user["refresh_token"].as_str().unwrap())],
        )
        .await;
        assert_eq!(reuse.status(), 400, "{name}");
        assert_eq!(userinfo(&base, refreshed_jwt).await.status(), 401, "{name}: the family's JWT is revoked");
        assert_eq!(introspect(&base, SVC, refreshed_jwt).await["active"], false, "{name}");
        drop(api);
        drop(provider);
    }
}

/// The deny-list and the signing keys are in the database: a revoked JWT stays revoked, and a live one stays live,
/// after the provider is killed and started again on the same SQLite file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc7009_2_a_jwt_revoked_before_a_sigkill_stays_revoked_after_it() {
    for (name, bin) in PROVIDERS {
        let config = config("https://api.example");
        let db = TempFile::with_contents("jwt.sqlite", "");
        let db_url = format!("sqlite:{}", db.as_str());
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let args = ["--listen", &listen, "--config", config.as_str(), "--db", &db_url, "--access-tokens", "jwt"];
        let mut provider = start(bin, &args).await;
        let base = provider.base.clone();
        let form = [("grant_type", "client_credentials"), ("scope", "read")];
        let revoked = token(&base, SVC, &form).await["access_token"].as_str().unwrap().to_owned();
        let live = token(&base, SVC, &form).await["access_token"].as_str().unwrap().to_owned();
        assert_eq!(post(&base, "/revoke", SVC, &[("token", &revoked)]).await.status(), 200, "{name}");
        provider.child.start_kill().unwrap();
        provider.child.wait().await.unwrap();
        let provider = start(bin, &args).await;
        assert_eq!(introspect(&provider.base, SVC, &revoked).await["active"], false, "{name}: still revoked");
        assert_eq!(introspect(&provider.base, SVC, &live).await["active"], true, "{name}: still live, same key");
    }
}
