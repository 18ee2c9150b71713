//! A real browser: headless Chromium driven over WebDriver (chromedriver + fantoccini) opens client-web, logs in on
//! the demo provider, consents, and lands on the profile page showing the user's name. Screenshots of the login,
//! consent and profile pages are saved under target/screenshots/.
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
async fn chromium_logs_in_through_client_web_and_sees_the_profile() {
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
    let provider =
        start(env!("CARGO_BIN_EXE_provider-axum"), &["--listen", "127.0.0.1:0", "--config", config.as_str()]).await;
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
        Ok::<_, fantoccini::error::CmdError>((consent, name, url))
    }
    .await;
    let _ = browser.close().await;
    let _ = std::fs::remove_dir_all(&profile_dir);
    let (consent, name, url) = result.expect("browser flow");
    assert!(
        consent.contains("Demo Web App") && consent.contains("See your name and username"),
        "consent page: {consent}"
    );
    assert_eq!(name, "Alice Liddell");
    assert_eq!(url.as_str(), format!("{}/profile", web.base));
    common::report(&format!("browser: logged in through client-web; screenshots in {}", screenshots.display()));
}
