//! A real browser: headless Chromium driven over WebDriver (chromedriver + fantoccini) opens client-web, logs in on
//! the demo provider (which requires pushed authorization requests, RFC 9126, so the browser carries only a
//! `request_uri`), consents, and lands on the profile page showing the user's name. Screenshots of the login,
//! consent and profile pages are saved under target/screenshots/. Then the device grant: `oauth2-cli device` prints
//! a code, the browser opens the verification URI it printed, logs in and allows, and the CLI prints the token.
//!
//! Skipped, with the reason printed, only where Chromium or chromedriver is not installed (.ci/run installs
//! Debian's `chromium` and `chromium-driver`).

mod common;

use std::time::Duration;

use common::{config_file, free_port, start};
use fantoccini::{ClientBuilder, Locator};

fn installed(paths: &[&str]) -> Option<String> {
    paths.iter().find(|p| std::path::Path::new(p).exists()).map(|p| (*p).to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_logs_in_through_client_web_and_signs_a_device_in() {
    let (Some(chromium), Some(driver)) = (
        installed(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]),
        installed(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]),
    ) else {
        // .ci/run sets this once it has installed both: there, a missing browser is a failure, not a skip.
        assert!(
            std::env::var_os("OAUTH2_REQUIRE_BROWSER").is_none(),
            "OAUTH2_REQUIRE_BROWSER is set but Chromium or chromedriver is missing"
        );
        common::report(
            "SKIPPED browser test: Chromium or chromedriver is not installed (apt-get install chromium chromium-driver)",
        );
        return;
    };
    let screenshots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();

    let web_port = free_port();
    let config = config_file(web_port);
    let provider = start(
        env!("CARGO_BIN_EXE_provider-axum"),
        // RFC 9126 §5: every authorization request must be pushed, so client-web's login is a PAR login.
        &["--listen", "127.0.0.1:0", "--config", config.as_str(), "--device-interval", "1", "--require-par"],
    )
    .await;
    let web = start(
        env!("CARGO_BIN_EXE_client-web"),
        &["--listen", &format!("127.0.0.1:{web_port}"), "--issuer", &provider.base],
    )
    .await;

    let driver_port = free_port();
    let _driver = tokio::process::Command::new(&driver)
        .arg(format!("--port={driver_port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", driver_port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let profile_dir = std::env::temp_dir().join(format!("oauth2-chromium-{}", std::process::id()));
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=900,760", format!("--user-data-dir={}", profile_dir.display()),
            ]
        }),
    );
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("WebDriver session");

    let result = async {
        browser.goto(&web.base).await?;
        browser.find(Locator::LinkText("Log in with the demo provider")).await?.click().await?;
        // The provider's login page: labelled inputs, filled as a person would.
        browser.wait().for_element(Locator::Id("username")).await?.send_keys("alice").await?;
        let login_url = browser.current_url().await?;
        browser.find(Locator::Id("password")).await?.send_keys("alice-password").await?;
        std::fs::write(screenshots.join("login.png"), browser.screenshot().await?).ok();
        browser.find(Locator::Css("button[type=submit]")).await?.click().await?;
        // Consent names the client and the scopes in plain words.
        let allow = browser.wait().for_element(Locator::Css("button[name=decision][value=allow]")).await?;
        let consent = browser.source().await?;
        std::fs::write(screenshots.join("consent.png"), browser.screenshot().await?).ok();
        allow.click().await?;
        let name = browser.wait().for_element(Locator::Id("name")).await?.text().await?;
        let url = browser.current_url().await?;
        std::fs::write(screenshots.join("profile.png"), browser.screenshot().await?).ok();
        Ok::<_, fantoccini::error::CmdError>((consent, name, url, login_url))
    }
    .await;
    // The device grant (RFC 8628): the CLI prints the code, the browser enters it, logs in and allows, the CLI
    // prints the token.
    let mut cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_oauth2-cli"))
        .args(["device", "--issuer", &provider.base, "--client-id", "demo-tv", "--scope", "read", "--no-browser"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start oauth2-cli");
    let device = async {
        use tokio::io::AsyncBufReadExt;
        let mut stderr = tokio::io::BufReader::new(cli.stderr.take().unwrap()).lines();
        let (mut code, mut complete) = (None, None);
        while let Some(line) = stderr.next_line().await.unwrap() {
            if let Some(c) = line.split("enter the code ").nth(1) {
                code = Some(c.trim().to_owned());
            }
            if let Some(url) = line.strip_prefix("or open ") {
                complete = Some(url.trim().to_owned());
                break;
            }
        }
        let (code, complete) = (code.expect("a user code"), complete.expect("verification_uri_complete"));
        browser.goto(&complete).await?;
        let typed = browser.wait().for_element(Locator::Id("user_code")).await?.prop("value").await?;
        std::fs::write(screenshots.join("device.png"), browser.screenshot().await?).ok();
        browser.find(Locator::Css("button[type=submit]")).await?.click().await?;
        browser.wait().for_element(Locator::Id("username")).await?.send_keys("alice").await?;
        browser.find(Locator::Id("password")).await?.send_keys("alice-password").await?;
        browser.find(Locator::Css("button[type=submit]")).await?.click().await?;
        let allow = browser.wait().for_element(Locator::Css("button[name=decision][value=allow]")).await?;
        let consent = browser.source().await?;
        allow.click().await?;
        // The consent page has a `main p` too: waiting for that alone could find the page being left and read a
        // stale element. Wait for a page that is not the consent page.
        let done =
            browser.wait().for_element(Locator::XPath("//main[not(h1='Allow access?')]/p")).await?.text().await?;
        std::fs::write(screenshots.join("device-done.png"), browser.screenshot().await?).ok();
        Ok::<_, fantoccini::error::CmdError>((code, typed, consent, done))
    }
    .await;
    let _ = browser.close().await;
    let _ = std::fs::remove_dir_all(&profile_dir);
    let (code, typed, device_consent, done) = device.expect("browser device flow");
    assert_eq!(typed.as_deref(), Some(code.as_str()), "the page is filled in from verification_uri_complete");
    assert!(device_consent.contains("Demo TV") && device_consent.contains(&code), "device consent: {device_consent}");
    assert_eq!(done, "You may continue on your device now.");
    let out =
        tokio::time::timeout(Duration::from_secs(30), cli.wait_with_output()).await.expect("the CLI ends").unwrap();
    assert!(out.status.success(), "oauth2-cli device failed");
    let token: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the token response on stdout");
    assert!(token["access_token"].is_string(), "{token}");
    let (consent, name, url, login_url) = result.expect("browser flow");
    let sent: Vec<String> = login_url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(
        sent,
        ["client_id", "request_uri"],
        "the browser carried only the pushed request's reference: {login_url}"
    );
    assert!(
        consent.contains("Demo Web App") && consent.contains("See your name and username"),
        "consent page: {consent}"
    );
    assert_eq!(name, "Alice Liddell");
    assert_eq!(url.as_str(), format!("{}/profile", web.base));
    common::report(&format!(
        "browser: logged in through client-web (a pushed request), and signed a device in for oauth2-cli; screenshots in {}",
        screenshots.display()
    ));
}
