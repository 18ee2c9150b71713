//! The two sides of the core against each other: what the server writes, the client reads.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_executor::block_on;
use oauth2_core::client::{BearerChallenge, parse_challenges};
use oauth2_core::grant::GrantType;
use oauth2_core::server::{AuthorizationServer, MemoryStore, RegisteredClient, ServerConfig};
use oauth2_core::{Client, Scope};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

#[test]
fn rfc6750_3_the_servers_challenges_parse_with_the_clients_parser() {
    let config = ServerConfig::new("https://as.example").realm("my \"realm\"");
    let s = AuthorizationServer::new(config, MemoryStore::new(), Mutex::new(ChaCha20Rng::seed_from_u64(1)));
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", http::HeaderValue::from_static("Bearer nope"));
    let e = block_on(s.resource_server().check_headers(&s, &headers, &Scope::empty(), now())).unwrap_err();
    let value = e.www_authenticate().unwrap();
    let c = value.to_str().unwrap();
    assert!(c.starts_with("Bearer realm=\"my \\\"realm\\\"\""), "{c}");
    let parsed = parse_challenges(c).unwrap();
    assert_eq!(parsed[0].param("realm"), Some("my \"realm\""));
    let response = e.into_response();
    assert!(BearerChallenge::from_response(&response).is_some_and(|b| b.is_invalid_token()));
}

#[test]
fn rfc6749_4_4_a_client_credentials_round_trip_through_both_sides() {
    let store = MemoryStore::new();
    store.add_client(
        RegisteredClient::confidential("svc", "s3 cret+").grant_types([GrantType::ClientCredentials]).scopes("read"),
    );
    let s = AuthorizationServer::new(
        ServerConfig::new("https://as.example"),
        store,
        Mutex::new(ChaCha20Rng::seed_from_u64(2)),
    );
    let client = Client::builder("svc").secret("s3 cret+").token_endpoint("https://as.example/token").build().unwrap();
    let request = client.client_credentials_request("read").unwrap();
    let response = block_on(s.token(request, now()));
    let token = client.parse_token_response(response, now()).unwrap();
    assert_eq!(token.scope, Some(Scope::parse("read")));
    assert_eq!(token.expires_at, Some(now() + Duration::from_secs(3600)));
}
