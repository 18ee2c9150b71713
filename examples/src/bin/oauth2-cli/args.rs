//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A "curl for OAuth 2.0": discover an authorization server, get tokens with any grant, refresh, revoke and
/// introspect them. Successful commands print the server's JSON on stdout; failures print
/// `error: <code>: <description>` on stderr and exit 1 (usage errors exit 2).
#[derive(Debug, Parser)]
#[command(name = "oauth2-cli", version, after_help = EXAMPLES)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

const EXAMPLES: &str = "\
Examples:
  oauth2-cli discover --issuer https://as.example
  oauth2-cli authorize --issuer https://as.example --client-id cli --scope \"read profile\"
  oauth2-cli device --issuer https://as.example --client-id tv --scope read
  oauth2-cli client-credentials --issuer https://as.example --client-id svc --client-secret s3cret
  oauth2-cli refresh --token-url https://as.example/token --client-id cli --refresh-token \"$RT\"
  oauth2-cli authorize --issuer https://as.example --client-id cli --dpop-key key.jwk
  oauth2-cli userinfo --issuer https://as.example --token \"$AT\" --dpop-key key.jwk
  oauth2-cli revoke --issuer https://as.example --client-id cli --token \"$AT\"";

/// Where the authorization server is. `--issuer` reads its metadata (RFC 8414, then OpenID discovery); explicit
/// URLs override what the metadata says.
#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// The authorization server's issuer URL; its endpoints come from its metadata.
    #[arg(long, global = true, value_name = "URL", allow_hyphen_values = true)]
    pub(crate) issuer: Option<String>,
    /// The authorization endpoint (for `authorize`).
    #[arg(long, global = true, value_name = "URL", allow_hyphen_values = true)]
    pub(crate) auth_url: Option<String>,
    /// The token endpoint.
    #[arg(long, global = true, value_name = "URL", allow_hyphen_values = true)]
    pub(crate) token_url: Option<String>,
    /// The revocation endpoint (RFC 7009).
    #[arg(long, global = true, value_name = "URL", allow_hyphen_values = true)]
    pub(crate) revocation_url: Option<String>,
    /// The introspection endpoint (RFC 7662).
    #[arg(long, global = true, value_name = "URL", allow_hyphen_values = true)]
    pub(crate) introspection_url: Option<String>,
    /// Allow plain-http endpoints on hosts other than loopback (tokens then travel unencrypted).
    #[arg(long, global = true)]
    pub(crate) allow_insecure_http: bool,
    /// Accept token responses that bend RFC 6749 (string expires_in, form-encoded bodies, ...).
    #[arg(long, global = true)]
    pub(crate) lenient: bool,
    /// Bind the tokens to a fresh ES256 key with DPoP proofs (RFC 9449), the server's nonces included; `userinfo`
    /// then presents the token under the DPoP scheme.
    #[arg(long, global = true)]
    pub(crate) dpop: bool,
    /// As --dpop, with the key kept in FILE as a private JWK: read when FILE exists, else made and written (mode
    /// 0600), so later runs (refresh, userinfo) prove the same key. A FILE others may read is used with a warning.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) dpop_key: Option<std::path::PathBuf>,
}

/// Who the client is.
#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// The client identifier.
    #[arg(long, global = true, value_name = "ID", allow_hyphen_values = true)]
    pub(crate) client_id: Option<String>,
    /// The client secret. Without one the client is public and sends only client_id.
    #[arg(long, global = true, value_name = "SECRET", allow_hyphen_values = true)]
    pub(crate) client_secret: Option<String>,
    /// How to send the secret: HTTP Basic (default) or in the form body.
    #[arg(long, global = true, value_enum)]
    pub(crate) auth: Option<AuthMethod>,
    /// The scope to ask for, space-separated, e.g. "read profile".
    #[arg(long, global = true, value_name = "SCOPE", allow_hyphen_values = true)]
    pub(crate) scope: Option<String>,
}

/// Client authentication method.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum AuthMethod {
    /// client_secret_basic: id and secret in an Authorization: Basic header.
    Basic,
    /// client_secret_post: id and secret in the request body.
    Post,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print the authorization server's metadata (needs --issuer).
    Discover,
    /// Log in through the browser: authorization code grant with PKCE and a loopback redirect.
    ///
    /// Listens on http://127.0.0.1:PORT/callback, prints the URL to open on stderr (and opens a browser unless
    /// --no-browser), checks the returned state, redeems the code and prints the token response.
    Authorize {
        /// The loopback port to listen on (default: any free port). Register http://127.0.0.1:PORT/callback.
        #[arg(long, value_name = "PORT")]
        redirect_port: Option<u16>,
        /// Do not open a browser; just print the URL.
        #[arg(long)]
        no_browser: bool,
        /// How long to wait for the browser to come back, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 300)]
        timeout: u64,
        /// Push the request to the server first (RFC 9126; needs --issuer): the browser gets only a request_uri.
        /// Done unasked when the server's metadata requires it.
        #[arg(long)]
        par: bool,
    },
    /// Sign in on another device: the device authorization grant (RFC 8628; needs --issuer).
    ///
    /// Prints the verification URI and the user code on stderr (and opens the URI with the code in it unless
    /// --no-browser), polls the token endpoint at the server's interval (5 s slower after each slow_down) and
    /// prints the token response.
    Device {
        /// Do not open a browser; just print the URI and the code.
        #[arg(long)]
        no_browser: bool,
    },
    /// Get a token for the client itself (client credentials grant).
    ClientCredentials,
    /// Get a token with a username and password (resource owner password grant; legacy).
    Password {
        /// The resource owner's username.
        #[arg(long, allow_hyphen_values = true)]
        username: String,
        /// The resource owner's password.
        #[arg(long, allow_hyphen_values = true)]
        password: String,
    },
    /// Exchange a refresh token for a new access token.
    Refresh {
        /// The refresh token.
        #[arg(long, value_name = "TOKEN", allow_hyphen_values = true)]
        refresh_token: String,
    },
    /// Revoke a token (RFC 7009). Prints nothing on success.
    Revoke {
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Ask whether a token is active (RFC 7662).
    Introspect {
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Print what the OpenID Connect UserInfo endpoint says about the token's user (needs --issuer).
    Userinfo {
        /// The access token.
        #[arg(long, value_name = "TOKEN", allow_hyphen_values = true)]
        token: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    /// The token.
    #[arg(long, value_name = "TOKEN", allow_hyphen_values = true)]
    pub(crate) token: String,
    /// What kind of token it is.
    #[arg(long, value_enum)]
    pub(crate) token_type_hint: Option<Hint>,
}

/// `token_type_hint` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Hint {
    /// An access token.
    #[value(name = "access_token")]
    AccessToken,
    /// A refresh token.
    #[value(name = "refresh_token")]
    RefreshToken,
}
