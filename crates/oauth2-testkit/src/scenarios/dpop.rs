//! The DPoP (RFC 9449) scenarios: a token request with a proof gets a token bound to its key, which the adapter's
//! resource check takes only under the `DPoP` scheme with a proof of that key; proofs for another request, old,
//! replayed or without `ath` are refused with the right error and challenge; a public client's refresh token is
//! bound.

use std::time::SystemTime;

use oauth2_core::dpop::DpopKey;
use oauth2_core::jose::Algorithm;
use oauth2_core::random::OsRng;

use super::*;

fn fresh_key() -> Result<DpopKey, String> {
    DpopKey::generate(Algorithm::EdDsa, &mut OsRng).map_err(|e| e.to_string())
}

/// A proof of `key` for `method` at `url`, with the `ath` of an access token, made at `at`.
fn sign(key: &DpopKey, method: &str, url: &str, ath: Option<&str>, at: SystemTime) -> Result<String, String> {
    key.proof(method, url, ath, None, at, &mut OsRng).map_err(|e| e.to_string())
}

impl Target {
    /// A token request with `form`, as `auth`, with `proof` in a `DPoP` header.
    async fn token_with_proof(
        &self,
        form: &[(&str, &str)],
        auth: Option<(&str, &str)>,
        proof: Option<&str>,
    ) -> Result<Reply, String> {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let mut req =
            self.http.post(self.url("/token")).header("content-type", "application/x-www-form-urlencoded").body(body);
        if let Some((id, secret)) = auth {
            req = req.header("authorization", basic(id, secret));
        }
        if let Some(proof) = proof {
            req = req.header("dpop", proof);
        }
        self.reply(req).await
    }

    /// A DPoP-bound client credentials token of `svc` for `key`.
    async fn bound_token(&self, key: &DpopKey) -> Result<String, String> {
        let proof = sign(key, "POST", &self.url("/token"), None, SystemTime::now())?;
        let form = [("grant_type", "client_credentials"), ("scope", "read")];
        let r = self.token_with_proof(&form, Some(SVC), Some(&proof)).await?;
        check!(r.status == StatusCode::OK, "token: {} {}", r.status, r.body);
        check!(r.str("token_type") == "DPoP", "token_type: {}", r.body);
        Ok(r.str("access_token"))
    }

    /// GET `path` with `Authorization: <scheme> <token>` and `proof`.
    async fn resource(&self, path: &str, scheme: &str, token: &str, proof: Option<&str>) -> Result<Reply, String> {
        let mut req = self.http.get(self.url(path)).header("authorization", format!("{scheme} {token}"));
        if let Some(proof) = proof {
            req = req.header("dpop", proof);
        }
        self.reply(req).await
    }
}

/// A refusal at a resource: 401, with a `DPoP` challenge naming the algorithms and `error`.
fn dpop_refusal(r: &Reply, error: &str) -> Outcome {
    let challenge = r.header("www-authenticate");
    check!(r.status == StatusCode::UNAUTHORIZED, "status {} ({challenge})", r.status);
    check!(challenge.starts_with("DPoP ") && challenge.contains("algs=\""), "challenge: {challenge}");
    check!(challenge.contains(&format!("error=\"{error}\"")), "expected {error}: {challenge}");
    Ok(())
}

/// RFC 9449 §5, §5.1, §6.2, §7.1: the metadata lists the proof algorithms; a token request with a proof gets
/// `token_type: DPoP`; introspection names the key (`cnf.jkt`); the resource takes the token with a proof of it.
async fn rfc9449_7_1_a_bound_token_works_with_its_proof(t: &Target) -> Outcome {
    let meta = t.reply(t.http.get(t.url("/.well-known/oauth-authorization-server"))).await?;
    let algs = meta.body["dpop_signing_alg_values_supported"].to_string();
    check!(algs.contains("ES256") && algs.contains("EdDSA"), "metadata: {}", meta.body);
    let key = fresh_key()?;
    let token = t.bound_token(&key).await?;
    let info = t.form("/introspect", &[("token", &token)], Some(SVC)).await?;
    check!(info.body["token_type"] == "DPoP", "introspection: {}", info.body);
    check!(info.body["cnf"]["jkt"] == key.thumbprint(), "cnf.jkt: {}", info.body);
    let proof = sign(&key, "GET", &t.url("/api/read"), Some(&token), SystemTime::now())?;
    let r = t.resource("/api/read", "DPoP", &token, Some(&proof)).await?;
    check!(r.status == StatusCode::OK, "resource: {} {}", r.status, r.body);
    check!(r.body["client_id"] == SVC.0, "grant: {}", r.body);
    Ok(())
}

/// RFC 9449 §4.3, §11.1: at the token endpoint, a proof for another URL or method, one too old, and a replayed
/// one are `invalid_dpop_proof` (400), and no token is issued.
async fn rfc9449_4_3_the_token_endpoint_refuses_proofs_for_another_request(t: &Target) -> Outcome {
    let key = fresh_key()?;
    let now = SystemTime::now();
    let token_url = t.url("/token");
    let form = [("grant_type", "client_credentials"), ("scope", "read")];
    let cases = [
        ("another htu", sign(&key, "POST", &t.url("/par"), None, now)?),
        ("another htm", sign(&key, "GET", &token_url, None, now)?),
        ("an old iat", sign(&key, "POST", &token_url, None, now - Duration::from_secs(300))?),
    ];
    for (what, proof) in cases {
        let r = t.token_with_proof(&form, Some(SVC), Some(&proof)).await?;
        check!(r.status == StatusCode::BAD_REQUEST && r.body["error"] == "invalid_dpop_proof", "{what}: {}", r.body);
        check!(r.body.get("access_token").is_none(), "{what}: a token was issued");
    }
    let proof = sign(&key, "POST", &token_url, None, now)?;
    let first = t.token_with_proof(&form, Some(SVC), Some(&proof)).await?;
    check!(first.status == StatusCode::OK, "first use: {}", first.body);
    let replay = t.token_with_proof(&form, Some(SVC), Some(&proof)).await?;
    check!(replay.body["error"] == "invalid_dpop_proof", "a replayed jti: {} {}", replay.status, replay.body);
    Ok(())
}

/// RFC 9449 §7.1, §7.2: through the adapter's scope check, a bound token as Bearer, a proof without `ath`, a proof
/// of another key and a replayed proof are each refused with a `DPoP` challenge and the right error.
async fn rfc9449_7_2_the_resource_refuses_a_bound_token_without_its_proof(t: &Target) -> Outcome {
    let key = fresh_key()?;
    let token = t.bound_token(&key).await?;
    let url = t.url("/api/read");
    dpop_refusal(&t.resource("/api/read", "Bearer", &token, None).await?, "invalid_token")?;
    let no_ath = sign(&key, "GET", &url, None, SystemTime::now())?;
    dpop_refusal(&t.resource("/api/read", "DPoP", &token, Some(&no_ath)).await?, "invalid_dpop_proof")?;
    dpop_refusal(&t.resource("/api/read", "DPoP", &token, None).await?, "invalid_dpop_proof")?;
    let other = sign(&fresh_key()?, "GET", &url, Some(&token), SystemTime::now())?;
    dpop_refusal(&t.resource("/api/read", "DPoP", &token, Some(&other)).await?, "invalid_token")?;
    let proof = sign(&key, "GET", &url, Some(&token), SystemTime::now())?;
    let first = t.resource("/api/read", "DPoP", &token, Some(&proof)).await?;
    check!(first.status == StatusCode::OK, "first use: {} {}", first.status, first.body);
    dpop_refusal(&t.resource("/api/read", "DPoP", &token, Some(&proof)).await?, "invalid_dpop_proof")?;
    // An unbound token under the DPoP scheme, with a proof, is no better.
    let plain = t.token(&[("grant_type", "client_credentials"), ("scope", "read")], Some(SVC)).await?;
    let plain = plain.str("access_token");
    let proof = sign(&key, "GET", &url, Some(&plain), SystemTime::now())?;
    dpop_refusal(&t.resource("/api/read", "DPoP", &plain, Some(&proof)).await?, "invalid_token")?;
    // With no credentials at all, both schemes are offered.
    let none = t.reply(t.http.get(&url)).await?;
    let schemes: Vec<&str> = none.headers.get_all("www-authenticate").iter().filter_map(|v| v.to_str().ok()).collect();
    check!(schemes.len() == 2 && schemes[0].starts_with("Bearer ") && schemes[1].starts_with("DPoP "), "{schemes:?}");
    Ok(())
}

/// RFC 9449 §5, §10: a public client's code bound by `dpop_jkt` needs a proof of that key; its refresh token is bound
/// to the key: refused without a proof, served with one.
async fn rfc9449_5_a_public_clients_code_and_refresh_token_are_bound(t: &Target) -> Outcome {
    let key = fresh_key()?;
    let ch = challenge(VERIFIER);
    let redirect = "http://127.0.0.1/callback";
    let q = [
        ("response_type", "code"),
        ("client_id", SPA),
        ("redirect_uri", redirect),
        ("scope", "read"),
        ("state", "st-dpop"),
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
        ("dpop_jkt", key.thumbprint()),
    ];
    let (status, location) = t.authorize(&q, "allow").await?;
    check!(status == StatusCode::FOUND, "authorize: {status}");
    let location = location.ok_or("no Location")?;
    let code = params(location.query().unwrap_or(""))("code").ok_or_else(|| format!("no code: {location}"))?;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", SPA),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("code_verifier", VERIFIER),
    ];
    let without = t.token_with_proof(&form, None, None).await?;
    check!(without.body["error"] == "invalid_dpop_proof", "a bound code without a proof: {}", without.body);
    let proof = sign(&key, "POST", &t.url("/token"), None, SystemTime::now())?;
    let r = t.token_with_proof(&form, None, Some(&proof)).await?;
    check!(r.status == StatusCode::OK && r.str("token_type") == "DPoP", "redeem: {} {}", r.status, r.body);
    let refresh = r.str("refresh_token");
    let form = [("grant_type", "refresh_token"), ("client_id", SPA), ("refresh_token", refresh.as_str())];
    let without = t.token_with_proof(&form, None, None).await?;
    check!(without.body["error"] == "invalid_dpop_proof", "refresh without a proof: {}", without.body);
    let proof = sign(&key, "POST", &t.url("/token"), None, SystemTime::now())?;
    let again = t.token_with_proof(&form, None, Some(&proof)).await?;
    check!(again.status == StatusCode::OK && again.str("token_type") == "DPoP", "refresh: {}", again.body);
    Ok(())
}

pub(super) const SCENARIOS: &[(&str, Run)] = table![
    rfc9449_7_1_a_bound_token_works_with_its_proof,
    rfc9449_4_3_the_token_endpoint_refuses_proofs_for_another_request,
    rfc9449_7_2_the_resource_refuses_a_bound_token_without_its_proof,
    rfc9449_5_a_public_clients_code_and_refresh_token_are_bound,
];
