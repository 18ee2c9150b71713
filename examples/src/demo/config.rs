//! The demo provider's configuration (design.md §4): clients and users from TOML, or built-in demo data.

use std::sync::Arc;

use oauth2_core::Scope;
use oauth2_core::grant::GrantType;
use oauth2_core::server::{AuthorizationServer, OsTokenGenerator, RegisteredClient, ServerConfig};

use super::store::DemoStore;
use serde::Deserialize;

/// A client entry of the TOML file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The client id.
    pub id: String,
    /// The secret; absent for a public client.
    pub secret: Option<String>,
    /// Registered redirect URIs.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`, `password`, `implicit`,
    /// `urn:ietf:params:oauth:grant-type:device_code`. Default: the code grant with refresh, or none for a resource
    /// server.
    pub grant_types: Option<Vec<String>>,
    /// Scopes the client may ask for.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// A display name for the consent page.
    pub name: Option<String>,
    /// How its id_tokens are signed: `RS256` (the default), `ES256` or `EdDSA`.
    pub id_token_signed_response_alg: Option<String>,
    /// The resources (RFC 8707 absolute URIs) it may ask tokens for; absent: any. For a resource server, its own
    /// identifiers too.
    #[serde(default)]
    pub resources: Vec<String>,
    /// A resource server: may introspect the tokens whose audience is the issuer or names it (its id or one of its
    /// `resources`). Needs a secret.
    #[serde(default)]
    pub resource_server: bool,
    /// Its authorization requests must be pushed to `/par` first (RFC 9126 §6).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// Its token requests must carry a DPoP proof (RFC 9449 §5.2): its access tokens are all DPoP-bound.
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
}

/// The command line's settings of the authorization server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// What access tokens are.
    pub access_tokens: oauth2_core::server::AccessTokenFormat,
    /// The device grant's polling interval (RFC 8628 §3.2).
    pub device_interval: std::time::Duration,
    /// How long device codes are good.
    pub device_code_lifetime: std::time::Duration,
    /// Every client must push its authorization requests (RFC 9126 §5, `--require-par`).
    pub require_par: bool,
    /// The secret of the server's DPoP nonces (RFC 9449 §8, `--dpop-nonce`), shared by the instances; `None`: no
    /// nonces.
    pub dpop_nonce_secret: Option<[u8; 32]>,
}

impl ClientConfig {
    /// Its grants: as listed, else the code grant with refresh, or none for a resource server.
    pub fn grant_names(&self) -> Vec<String> {
        match &self.grant_types {
            Some(g) => g.clone(),
            None if self.resource_server => Vec::new(),
            None => default_grants(),
        }
    }
}

/// An RFC 8707 resource: an absolute URI, no fragment, no space.
fn is_resource_uri(text: &str) -> bool {
    !text.contains(['#', ' ']) && url::Url::parse(text).is_ok()
}

fn default_grants() -> Vec<String> {
    vec!["authorization_code".into(), "refresh_token".into()]
}

/// A user entry of the TOML file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The login name, and `sub` at `/userinfo`.
    pub username: String,
    /// The password (plain text: this is demo data).
    pub password: String,
    /// The display name, `name` at `/userinfo`.
    pub name: String,
    /// An email address, `email` at `/userinfo` when the `email` scope was granted.
    pub email: Option<String>,
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    /// Registered clients.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    /// Users who can log in.
    #[serde(default)]
    pub users: Vec<UserConfig>,
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    /// The TOML is malformed or has unknown keys.
    #[error("invalid configuration: {0}")]
    Parse(#[from] toml::de::Error),
    /// A grant type name is unknown.
    #[error("client {client}: unknown grant type {grant:?}")]
    UnknownGrant {
        /// The client.
        client: String,
        /// The name given.
        grant: String,
    },
    /// A client entry that cannot work as written.
    #[error("client {client}: {reason}")]
    Invalid {
        /// The client.
        client: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl DemoConfig {
    /// Reads and checks a TOML file.
    pub fn load(path: &str) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_owned(), e))?;
        let config: Self = toml::from_str(&text)?;
        config.registered()?;
        Ok(config)
    }

    /// The built-in demo data: a web app (for `client-web` on 127.0.0.1:3000), a native CLI app, a TV app (the
    /// device grant), a backend service, and two users.
    pub fn builtin() -> Self {
        let text = r#"
            [[clients]]
            id = "demo-web"
            name = "Demo Web App"
            secret = "demo-web-secret"
            redirect_uris = ["http://127.0.0.1:3000/callback"]
            grant_types = ["authorization_code", "refresh_token", "password"]
            scopes = ["openid", "profile", "email", "read"]

            [[clients]]
            id = "demo-cli"
            name = "oauth2-cli"
            redirect_uris = ["http://127.0.0.1/callback"]
            grant_types = ["authorization_code", "refresh_token"]
            scopes = ["openid", "profile", "email", "read"]

            [[clients]]
            id = "demo-tv"
            name = "Demo TV"
            grant_types = ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
            scopes = ["openid", "profile", "read"]

            [[clients]]
            id = "demo-service"
            name = "Demo Service"
            secret = "demo-service-secret"
            grant_types = ["client_credentials"]
            scopes = ["read"]

            [[users]]
            username = "alice"
            password = "alice-password"
            name = "Alice Liddell"
            email = "alice@example.com"

            [[users]]
            username = "bob"
            password = "bob-password"
            name = "Bob Builder"
        "#;
        toml::from_str(text).unwrap_or(Self { clients: Vec::new(), users: Vec::new() })
    }

    /// The clients as registrations. A public client whose redirect URIs are all loopback is a native app
    /// (RFC 8252 §7.3), so its port may vary; a confidential client's redirect URIs always match exactly
    /// (design.md §3: native apps cannot keep a secret, so a client with one is not a native app).
    pub fn registered(&self) -> Result<Vec<RegisteredClient>, ConfigError> {
        let mut seen = std::collections::HashSet::new();
        self.clients
            .iter()
            .map(|c| {
                let invalid = |reason| ConfigError::Invalid { client: c.id.clone(), reason };
                if c.id.is_empty() {
                    return Err(invalid("the id is empty"));
                }
                if !seen.insert(c.id.as_str()) {
                    return Err(invalid("the id is registered twice"));
                }
                if c.secret.as_deref() == Some("") {
                    return Err(invalid("the secret is empty; leave `secret` out for a public client"));
                }
                let grant_names = c.grant_names();
                if grant_names.is_empty() && !c.resource_server {
                    return Err(invalid("`grant_types` is empty"));
                }
                if c.resource_server && c.secret.is_none() {
                    return Err(invalid("a resource server needs a secret to introspect (RFC 7662 §2.1)"));
                }
                if c.resources.iter().any(|r| !is_resource_uri(r)) {
                    return Err(invalid("a resource is an absolute URI without a fragment (RFC 8707 §2)"));
                }
                let grants = grant_names
                    .iter()
                    .map(|g| {
                        GrantType::parse(g)
                            .ok_or_else(|| ConfigError::UnknownGrant { client: c.id.clone(), grant: g.clone() })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if c.secret.is_none() && grants.contains(&GrantType::ClientCredentials) {
                    return Err(invalid(
                        "client_credentials needs a secret (RFC 6749 §4.4: confidential clients only)",
                    ));
                }
                let mut client = match &c.secret {
                    Some(s) => RegisteredClient::confidential(&c.id, s),
                    None => RegisteredClient::public(&c.id),
                }
                .redirect_uris(c.redirect_uris.clone())
                .grant_types(grants)
                .scopes(Scope::from(c.scopes.clone()));
                if let Some(n) = &c.name {
                    client = client.name(n);
                }
                client = client
                    .resources(c.resources.clone())
                    .resource_server(c.resource_server)
                    .require_pushed_authorization_requests(c.require_pushed_authorization_requests)
                    .dpop_bound_access_tokens(c.dpop_bound_access_tokens);
                if let Some(alg) = &c.id_token_signed_response_alg {
                    if alg.parse::<oauth2_core::jose::Algorithm>().is_err() {
                        return Err(invalid("`id_token_signed_response_alg` is not RS256, ES256 or EdDSA"));
                    }
                    client = client.id_token_signed_response_alg(alg);
                }
                let loopback = |u: &String| {
                    url::Url::parse(u).is_ok_and(|u| u.scheme() == "http" && oauth2_core::security::is_loopback(&u))
                };
                client.native =
                    c.secret.is_none() && !c.redirect_uris.is_empty() && c.redirect_uris.iter().all(loopback);
                Ok(client)
            })
            .collect()
    }

    /// Every scope of every client, for the metadata's `scopes_supported`.
    pub fn all_scopes(&self) -> Scope {
        self.clients.iter().flat_map(|c| c.scopes.iter().cloned()).collect()
    }

    /// The authorization server for this configuration and issuer, over `store` (whose client registry
    /// [`DemoStore::sync_clients`] has made these clients).
    pub fn server(
        &self,
        issuer: &str,
        store: DemoStore,
        sealer: Option<oauth2_core::jose::KeySealer>,
        options: &ServerOptions,
    ) -> Result<Arc<AuthorizationServer<DemoStore>>, ConfigError> {
        // design.md §4: the demo offers the device grant (RFC 8628) with its pages at /device, and PAR (RFC 9126).
        let mut config = ServerConfig::new(issuer)
            .device_grant(options.device_interval, options.device_code_lifetime)
            .require_pushed_authorization_requests(options.require_par);
        config.access_tokens = options.access_tokens;
        for client in self.registered()? {
            // The implicit grant is legacy and off by default (RFC 9700 §2.1.2); a client registered for it turns
            // it on.
            if client.allows(GrantType::Implicit) && !config.grant_types.contains(&GrantType::Implicit) {
                config.grant_types.push(GrantType::Implicit);
            }
        }
        config.scopes_supported = Some(self.all_scopes());
        let users = self.users.clone();
        let mut server =
            AuthorizationServer::new(config, store, OsTokenGenerator).with_password_verifier(move |u, p| {
                users
                    .iter()
                    .find(|x| {
                        x.username == u
                            && bool::from(subtle::ConstantTimeEq::ct_eq(x.password.as_bytes(), p.as_bytes()))
                    })
                    .map(|x| x.username.clone())
            });
        // design.md §4: `sub` and `name` (and `preferred_username`) for every user token, `email` when the user
        // has one and `email` was granted.
        let users = self.users.clone();
        server = server.with_userinfo(&["name", "preferred_username", "email"], move |grant| {
            let mut claims = serde_json::Map::new();
            let user = grant.subject.as_deref().and_then(|sub| users.iter().find(|u| u.username == sub));
            claims.insert("name".into(), user.map(|u| u.name.clone()).into());
            if let Some(user) = user {
                claims.insert("preferred_username".into(), user.username.clone().into());
                if let Some(email) = user.email.as_ref().filter(|_| grant.scope.contains("email")) {
                    claims.insert("email".into(), email.clone().into());
                }
            }
            claims
        });
        if let Some(sealer) = sealer {
            server = server.with_key_sealer(sealer);
        }
        if let Some(secret) = &options.dpop_nonce_secret {
            server = server.with_dpop_nonces(secret);
        }
        Ok(Arc::new(server))
    }

    /// A readable summary for the terminal.
    pub fn describe(&self) -> String {
        let mut out = String::from("Clients:\n");
        for c in &self.clients {
            out.push_str(&format!(
                "  {:<14} secret: {:<22} grants: {}\n  {:<14} scopes: {}  redirect: {}\n",
                c.id,
                c.secret.as_deref().unwrap_or("(public)"),
                c.grant_names().join(", "),
                "",
                c.scopes.join(" "),
                if c.redirect_uris.is_empty() { "-".to_owned() } else { c.redirect_uris.join(" ") },
            ));
        }
        out.push_str("Users:\n");
        for u in &self.users {
            out.push_str(&format!("  {:<14} password: {:<16} name: {}\n", u.username, u.password, u.name));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Vec<RegisteredClient>, ConfigError> {
        toml::from_str::<DemoConfig>(text).map_err(ConfigError::from)?.registered()
    }

    #[test]
    fn rfc9126_6_require_pushed_authorization_requests_is_read_per_client() {
        let clients = load(
            r#"
            [[clients]]
            id = "strict"
            secret = "s"
            redirect_uris = ["https://app.example/cb"]
            require_pushed_authorization_requests = true

            [[clients]]
            id = "plain"
            secret = "s"
            redirect_uris = ["https://app.example/cb"]
            "#,
        )
        .unwrap();
        assert!(clients[0].require_pushed_authorization_requests);
        assert!(!clients[1].require_pushed_authorization_requests, "optional: off by default");
    }

    #[test]
    fn rfc7662_2_1_a_resource_server_entry_gets_no_grant_unless_it_lists_one() {
        let clients = load(
            r#"
            [[clients]]
            id = "api"
            secret = "api-secret"
            resource_server = true
            resources = ["https://api.example"]

            [[clients]]
            id = "svc"
            secret = "s"
            grant_types = ["client_credentials"]
            resources = ["https://api.example", "urn:example:billing"]
            "#,
        )
        .unwrap();
        assert!(clients[0].resource_server && clients[0].grant_types.is_empty());
        assert_eq!(clients[0].resources, ["https://api.example"]);
        assert!(!clients[1].resource_server);
        assert_eq!(clients[1].resources, ["https://api.example", "urn:example:billing"]);
    }

    #[test]
    fn the_design_md_example_loads_with_its_defaults() {
        let clients = load(
            r#"
            [[clients]]
            id = "web"
            secret = "s3cret"
            redirect_uris = ["http://127.0.0.1:3000/callback"]
            grant_types = ["authorization_code", "refresh_token"]
            scopes = ["profile", "read"]

            [[clients]]
            id = "cli"
            redirect_uris = ["http://127.0.0.1/callback"]

            [[users]]
            username = "alice"
            password = "alice-password"
            name = "Alice Liddell"
            "#,
        )
        .unwrap();
        assert!(clients[0].is_confidential() && !clients[0].native, "a client with a secret matches exactly");
        assert!(!clients[1].is_confidential() && clients[1].native, "a public loopback client is a native app");
        assert!(clients[1].allows(GrantType::AuthorizationCode) && clients[1].allows(GrantType::RefreshToken));
    }

    #[test]
    fn entries_that_cannot_work_are_refused_at_start() {
        let cases = [
            (
                r#"[[clients]]
id = "a"
secret = """#,
                "secret is empty",
            ),
            ("[[clients]]\nid = \"a\"\n[[clients]]\nid = \"a\"", "registered twice"),
            ("[[clients]]\nid = \"a\"\ngrant_types = []", "grant_types"),
            ("[[clients]]\nid = \"a\"\ngrant_types = [\"client_credentials\"]", "needs a secret"),
            ("[[clients]]\nid = \"a\"\ngrant_types = [\"device_code\"]", "unknown grant type"),
            ("[[clients]]\nid = \"a\"\nresource_server = true", "needs a secret"),
            ("[[clients]]\nid = \"a\"\nresources = [\"/relative\"]", "absolute URI"),
            ("[[clients]]\nid = \"a\"\nresources = [\"https://api.example#f\"]", "absolute URI"),
            ("[[clients]]\nid = \"a\"\ngrant_type = [\"password\"]", "unknown field"),
        ];
        for (text, expected) in cases {
            let text = text.replace("\\n", "\n");
            let err = load(&text).expect_err(&text).to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
