//! The JWT table: RFC 9068 access tokens and RFC 8707 resource indicators, at the provider (whose own resources
//! check its JWTs with revocations seen at once) and at an API that stands alone (the JWKS only), and
//! resource-server introspection (RFC 7662 §2.1).

use super::*;

impl Target {
    fn api_url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    /// GET on the API that stands alone.
    async fn standalone(&self, path: &str, token: &str) -> Result<Reply, String> {
        self.reply(self.http.get(self.api_url(path)).bearer_auth(token)).await
    }

    async fn jwt_for(&self, scope: &str, resources: &[&str]) -> Result<String, String> {
        let mut form = vec![("grant_type", "client_credentials"), ("scope", scope)];
        form.extend(resources.iter().map(|r| ("resource", *r)));
        let r = self.token(&form, Some(SVC)).await?;
        check!(r.status == StatusCode::OK, "client credentials: {} {}", r.status, r.body);
        Ok(r.str("access_token"))
    }
}

fn part(jwt: &str, i: usize) -> Result<Value, String> {
    let segment = jwt.split('.').nth(i).ok_or("not a JWS")?;
    let bytes = URL_SAFE_NO_PAD.decode(segment).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

fn invalid_token(r: &Reply) -> Outcome {
    let c = r.header("www-authenticate");
    check!(r.status == StatusCode::UNAUTHORIZED && c.contains("error=\"invalid_token\""), "{} {c}", r.status);
    Ok(())
}

async fn rfc9068_2_1_client_credentials_get_an_at_jwt_for_the_resource(t: &Target) -> Outcome {
    let jwt = t.jwt_for("read", &[JWT_API]).await?;
    let (header, claims) = (part(&jwt, 0)?, part(&jwt, 1)?);
    check!(header["typ"] == "at+jwt" && header["alg"] == "EdDSA" && header["kid"].is_string(), "header {header}");
    check!(claims["aud"] == JWT_API && claims["iss"] == t.base.as_str(), "claims {claims}");
    check!(claims["sub"] == SVC.0 && claims["client_id"] == SVC.0 && claims["scope"] == "read", "claims {claims}");
    let api = t.standalone("/api/read", &jwt).await?;
    check!(api.status == StatusCode::OK && api.body["client_id"] == SVC.0, "the API: {} {}", api.status, api.body);
    check!(api.body["sub"].is_null(), "a client acting for itself has no subject: {}", api.body);
    // RFC 8707: a token for the API is not for the provider's own resources; one naming no resource is.
    invalid_token(&t.api("/api/read", &jwt).await?)?;
    let own = t.api("/api/read", &t.jwt_for("read", &[]).await?).await?;
    check!(own.status == StatusCode::OK, "the provider's own resource: {} {}", own.status, own.body);
    Ok(())
}

async fn rfc9068_4_the_api_refuses_another_audience(t: &Target) -> Outcome {
    let for_issuer = t.jwt_for("read", &[]).await?;
    check!(part(&for_issuer, 1)?["aud"] == t.base.as_str(), "no resource: the issuer is the audience");
    invalid_token(&t.standalone("/api/read", &for_issuer).await?)?;
    let elsewhere = t.jwt_for("read", &["https://elsewhere.example"]).await?;
    invalid_token(&t.standalone("/api/read", &elsewhere).await?)
}

async fn rfc9068_4_the_api_checks_scope(t: &Target) -> Outcome {
    let jwt = t.jwt_for("write", &[JWT_API]).await?;
    let r = t.standalone("/api/read", &jwt).await?;
    let c = r.header("www-authenticate");
    check!(r.status == StatusCode::FORBIDDEN && c.contains("insufficient_scope"), "{} {c}", r.status);
    Ok(())
}

async fn rfc9068_4_forged_tokens_are_refused(t: &Target) -> Outcome {
    let jwt = t.jwt_for("read", &[JWT_API]).await?;
    let payload = jwt.split('.').nth(1).unwrap_or_default();
    let head = |h: &str| URL_SAFE_NO_PAD.encode(h.as_bytes());
    let forged = [
        format!("{}.{payload}.", head(r#"{"alg":"none","typ":"at+jwt"}"#)),
        format!("{}.{payload}.c2ln", head(r#"{"alg":"HS256","typ":"at+jwt","kid":"testkit-ed25519"}"#)),
        // The provider's header and claims, another signature.
        format!("{}.{payload}.{}", jwt.split('.').next().unwrap_or_default(), URL_SAFE_NO_PAD.encode([7u8; 64])),
        // An unknown key: the API fetches the JWKS again (at most once a minute) and still refuses it.
        format!(
            "{}.{payload}.{}",
            head(r#"{"alg":"EdDSA","typ":"at+jwt","kid":"nobody"}"#),
            URL_SAFE_NO_PAD.encode([7u8; 64])
        ),
    ];
    for token in &forged {
        invalid_token(&t.standalone("/api/read", token).await?)?;
        invalid_token(&t.api("/api/read", token).await?)?;
    }
    Ok(())
}

async fn rfc8707_2_resource_may_repeat_and_must_be_absolute(t: &Target) -> Outcome {
    let two = t.jwt_for("read", &[JWT_API, "urn:example:other"]).await?;
    check!(
        part(&two, 1)?["aud"] == serde_json::json!([JWT_API, "urn:example:other"]),
        "aud of two: {}",
        part(&two, 1)?
    );
    check!(t.standalone("/api/read", &two).await?.status == StatusCode::OK, "one of two audiences is enough");
    for bad in ["/relative", "https://api.example/#fragment"] {
        let r = t.token(&[("grant_type", "client_credentials"), ("resource", bad)], Some(SVC)).await?;
        expect_error(&r, StatusCode::BAD_REQUEST, "invalid_target")?;
    }
    Ok(())
}

async fn rfc8707_2_2_the_code_grant_carries_the_resource(t: &Target) -> Outcome {
    let q = [
        ("response_type", "code"),
        ("client_id", WEB.0),
        ("redirect_uri", WEB_REDIRECT),
        ("scope", "read"),
        ("state", "st-r"),
        ("resource", JWT_API),
        ("resource", "urn:example:other"),
    ];
    let (_, location) = t.authorize(&q, "allow").await?;
    let location = location.ok_or("no Location")?;
    let code = params(location.query().unwrap_or(""))("code").ok_or_else(|| format!("no code: {location}"))?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", WEB_REDIRECT),
        ("resource", JWT_API),
    ];
    let r = t.token(&form, Some(WEB)).await?;
    check!(r.status == StatusCode::OK, "redeem: {} {}", r.status, r.body);
    let jwt = r.str("access_token");
    check!(part(&jwt, 1)?["aud"] == JWT_API && part(&jwt, 1)?["sub"] == "alice", "narrowed: {}", part(&jwt, 1)?);
    let api = t.standalone("/api/read", &jwt).await?;
    check!(api.status == StatusCode::OK && api.body["sub"] == "alice", "the API: {} {}", api.status, api.body);
    // The refresh token keeps both; a resource outside them is invalid_target.
    let refresh = r.str("refresh_token");
    let bad = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str()), ("resource", "urn:example:third")];
    expect_error(&t.token(&bad, Some(WEB)).await?, StatusCode::BAD_REQUEST, "invalid_target")?;
    let ok = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str()), ("resource", "urn:example:other")];
    let refreshed = t.token(&ok, Some(WEB)).await?;
    check!(refreshed.status == StatusCode::OK, "refresh: {} {}", refreshed.status, refreshed.body);
    check!(part(&refreshed.str("access_token"), 1)?["aud"] == "urn:example:other", "refreshed audience");
    Ok(())
}

async fn rfc7009_2_a_revoked_jwt_is_refused_by_the_provider_at_once(t: &Target) -> Outcome {
    let jwt = t.jwt_for("read", &[JWT_API]).await?;
    let own = t.jwt_for("read", &[]).await?;
    check!(t.api("/api/read", &own).await?.status == StatusCode::OK, "live before the revocation");
    for token in [&jwt, &own] {
        let r = t.form("/revoke", &[("token", token.as_str())], Some(SVC)).await?;
        check!(r.status == StatusCode::OK, "revoke: {}", r.status);
    }
    invalid_token(&t.api("/api/read", &own).await?)?;
    let info = t.form("/introspect", &[("token", jwt.as_str())], Some(SVC)).await?;
    check!(info.body == serde_json::json!({"active": false}), "introspection after revocation: {}", info.body);
    // The API that stands alone never asks: it keeps the token until it expires (hence their 5 minutes).
    let api = t.standalone("/api/read", &jwt).await?;
    check!(api.status == StatusCode::OK, "the API checks with the JWKS alone: {}", api.status);
    Ok(())
}

async fn rfc6749_4_1_2_a_replayed_code_revokes_its_jwt(t: &Target) -> Outcome {
    let code = t.web_code(false).await?;
    let first = t.redeem(&code, None).await?;
    check!(first.status == StatusCode::OK, "redeem: {} {}", first.status, first.body);
    let jwt = first.str("access_token");
    check!(t.api("/api/read", &jwt).await?.status == StatusCode::OK, "live before the replay");
    let replay = t.redeem(&code, None).await?;
    expect_error(&replay, StatusCode::BAD_REQUEST, "invalid_grant")?;
    invalid_token(&t.api("/api/read", &jwt).await?)
}

async fn rfc7662_2_1_a_resource_server_introspects_tokens_for_it(t: &Target) -> Outcome {
    let for_api = t.jwt_for("read", &[JWT_API]).await?;
    let elsewhere = t.jwt_for("read", &["https://elsewhere.example"]).await?;
    let seen = t.form("/introspect", &[("token", for_api.as_str())], Some(RS)).await?;
    check!(seen.body["active"] == true && seen.body["client_id"] == SVC.0, "for the API: {}", seen.body);
    check!(seen.body["aud"] == JWT_API && seen.body["jti"].is_string(), "for the API: {}", seen.body);
    let unseen = t.form("/introspect", &[("token", elsewhere.as_str())], Some(RS)).await?;
    check!(unseen.body == serde_json::json!({"active": false}), "another API's token: {}", unseen.body);
    let legacy = t.form("/introspect", &[("token", for_api.as_str())], Some(LEGACY)).await?;
    check!(
        legacy.body == serde_json::json!({"active": false}),
        "a client that is not a resource server: {}",
        legacy.body
    );
    Ok(())
}

/// The JWT table, by name.
pub(super) const SCENARIOS: &[(&str, Run)] = table![
    rfc9068_2_1_client_credentials_get_an_at_jwt_for_the_resource,
    rfc9068_4_the_api_refuses_another_audience,
    rfc9068_4_the_api_checks_scope,
    rfc9068_4_forged_tokens_are_refused,
    rfc8707_2_resource_may_repeat_and_must_be_absolute,
    rfc8707_2_2_the_code_grant_carries_the_resource,
    rfc7009_2_a_revoked_jwt_is_refused_by_the_provider_at_once,
    rfc6749_4_1_2_a_replayed_code_revokes_its_jwt,
    rfc7662_2_1_a_resource_server_introspects_tokens_for_it,
];
