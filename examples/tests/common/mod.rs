//! Helpers shared by the example end-to-end tests: starting the example binaries, a config file, and a
//! cookie-keeping "browser" that fills the demo provider's login and consent forms.
// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running example binary, killed on drop.
pub(crate) struct Running {
    pub(crate) child: Child,
    pub(crate) base: String,
}

/// Starts `bin` and waits for its "listening on http://..." line.
pub(crate) async fn start(bin: &str, args: &[&str]) -> Running {
    start_logging(bin, args, None).await
}

/// [`start`], with the program's stderr (its log) appended to `log` when given.
pub(crate) async fn start_logging(bin: &str, args: &[&str], log: Option<&std::path::Path>) -> Running {
    let stderr = match log {
        Some(path) => Stdio::from(std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap()),
        None => Stdio::inherit(),
    };
    let mut child = Command::new(bin)
        .args(args)
        // The providers' default database goes under the test's own folder, not the user's data directory.
        .env("XDG_DATA_HOME", env!("CARGO_TARGET_TMPDIR"))
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start {bin}: {e}"));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("{bin} exited before listening")
    })
    .await
    .expect("listening line");
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Running { child, base }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A config like the built-in one, with demo-web's redirect URI on `web_port`.
pub(crate) fn config_file(web_port: u16) -> TempFile {
    let text = format!(
        r#"
[[clients]]
id = "demo-web"
name = "Demo Web App"
secret = "demo-web-secret"
redirect_uris = ["http://127.0.0.1:{web_port}/callback"]
grant_types = ["authorization_code", "refresh_token", "password"]
scopes = ["profile", "read"]

[[clients]]
id = "demo-cli"
redirect_uris = ["http://127.0.0.1/callback"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["profile", "read"]

[[clients]]
id = "demo-strict"
redirect_uris = ["http://127.0.0.1/callback"]
grant_types = ["authorization_code"]
scopes = ["profile", "read"]
require_pushed_authorization_requests = true

[[clients]]
id = "demo-service"
secret = "demo-service-secret"
grant_types = ["client_credentials"]
scopes = ["read"]

[[clients]]
id = "demo-dpop"
secret = "demo-dpop-secret"
grant_types = ["client_credentials"]
scopes = ["read"]
dpop_bound_access_tokens = true

[[clients]]
id = "demo-tv"
name = "Demo TV"
grant_types = ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
scopes = ["profile", "read"]

[[users]]
username = "alice"
password = "alice-password"
name = "Alice Liddell"
"#
    );
    TempFile::with_contents("e2e.toml", &text)
}

/// A unique file under target/'s test directory, removed on drop.
pub(crate) struct TempFile(pub(crate) std::path::PathBuf);

impl TempFile {
    pub(crate) fn with_contents(name: &str, text: &str) -> Self {
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let path = dir.join(format!("{}-{}-{name}", std::process::id(), free_port()));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }

    pub(crate) fn as_str(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A "browser": cookies, no automatic redirects, and form filling for the demo's login and consent pages.
pub(crate) struct Browser(pub(crate) reqwest::Client);

pub(crate) fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in page: {html}")) + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

impl Browser {
    pub(crate) fn new() -> Self {
        Self(reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap())
    }

    pub(crate) fn location(r: &reqwest::Response) -> String {
        r.headers()
            .get("location")
            .unwrap_or_else(|| panic!("no Location ({})", r.status()))
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// Opens an authorization URL, signs in as alice, allows, and returns where the provider redirects.
    pub(crate) async fn approve(&self, authorize_url: &str) -> String {
        let login = self.0.get(authorize_url).send().await.unwrap();
        assert_eq!(login.status(), 200, "authorize should show the login page");
        let provider = url::Url::parse(authorize_url).unwrap();
        self.log_in_and_allow(&provider.origin().ascii_serialization(), &login.text().await.unwrap()).await
    }

    /// Fills the login page `html` of the provider at `origin` as alice, allows, and returns where the provider
    /// redirects.
    pub(crate) async fn log_in_and_allow(&self, origin: &str, html: &str) -> String {
        assert!(html.contains("name=\"username\"") && html.contains("name=\"password\""), "login form: {html}");
        let form = [
            ("username", "alice".to_owned()),
            ("password", "alice-password".to_owned()),
            ("csrf", hidden(html, "csrf")),
            ("request", hidden(html, "request")),
        ];
        let consent = self.0.post(format!("{origin}/login")).form(&form).send().await.unwrap();
        assert_eq!(consent.status(), 200);
        let html = consent.text().await.unwrap();
        assert!(
            html.contains("name=\"decision\" value=\"allow\"") && html.contains("name=\"decision\" value=\"deny\"")
        );
        let form =
            [("decision", "allow".to_owned()), ("csrf", hidden(&html, "csrf")), ("request", hidden(&html, "request"))];
        let done = self.0.post(format!("{origin}/consent")).form(&form).send().await.unwrap();
        assert_eq!(done.status(), 302, "consent should redirect back to the client");
        Self::location(&done)
    }
}

/// What the device page answered to a code.
pub(crate) struct DevicePage {
    pub(crate) status: u16,
    pub(crate) html: String,
}

impl Browser {
    /// Opens `GET /device?user_code=...` (as `verification_uri_complete` says) and submits the form.
    pub(crate) async fn enter_device_code(&self, base: &str, user_code: &str) -> DevicePage {
        let url = url::Url::parse_with_params(&format!("{base}/device"), [("user_code", user_code)]).unwrap();
        let page = self.0.get(url).send().await.unwrap();
        assert_eq!(page.status(), 200, "the device page");
        let html = page.text().await.unwrap();
        assert!(html.contains("name=\"user_code\""), "the user code form: {html}");
        let form = [("user_code", hidden_value(&html, "user_code")), ("csrf", hidden(&html, "csrf"))];
        let answer = self.0.post(format!("{base}/device")).form(&form).send().await.unwrap();
        DevicePage { status: answer.status().as_u16(), html: answer.text().await.unwrap() }
    }

    /// Enters `user_code` on the device page, signs in as alice and answers `decision` (`allow` or `deny`);
    /// returns the last page.
    pub(crate) async fn answer_device(&self, base: &str, user_code: &str, decision: &str) -> String {
        let login = self.enter_device_code(base, user_code).await;
        assert_eq!(login.status, 200, "a right code leads to the login form: {}", login.html);
        let html = login.html;
        assert!(html.contains("name=\"username\"") && html.contains("name=\"password\""), "login form: {html}");
        let form = [
            ("username", "alice".to_owned()),
            ("password", "alice-password".to_owned()),
            ("csrf", hidden(&html, "csrf")),
            ("request", hidden(&html, "request")),
        ];
        let consent = self.0.post(format!("{base}/login")).form(&form).send().await.unwrap();
        assert_eq!(consent.status(), 200);
        let html = consent.text().await.unwrap();
        assert!(html.contains("Demo TV") && html.contains(user_code), "consent names the device and its code: {html}");
        let form =
            [("decision", decision.to_owned()), ("csrf", hidden(&html, "csrf")), ("request", hidden(&html, "request"))];
        let done = self.0.post(format!("{base}/consent")).form(&form).send().await.unwrap();
        assert_eq!(done.status(), 200, "the last page");
        done.text().await.unwrap()
    }
}

/// The `value` of the input named `name`, wherever its attributes put it.
pub(crate) fn hidden_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in page: {html}"));
    let tag = &html[start..html[start..].find('>').map_or(html.len(), |e| start + e)];
    tag.split("value=\"").nth(1).and_then(|v| v.split('"').next()).unwrap_or_default().to_owned()
}

/// Prints a line the test harness does not capture (it captures `print!` and `eprint!` only), so skips and the
/// matrix's results show in `cargo xtask test` output even when the test passes.
pub(crate) fn report(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

pub(crate) async fn userinfo(base: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new().get(format!("{base}/userinfo")).bearer_auth(token).send().await.unwrap()
}
