//! `cargo xtask demo`, the README's first command: it serves the demo on 127.0.0.1:9000 and :3000, refuses to start
//! when a port is taken, and a SIGTERM to it alone (as `timeout` or a supervising program sends) stops both servers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn the_demo_serves_both_apps_and_stops_on_sigterm() {
    assert!(!listening(9000) && !listening(3000), "ports 9000 and 3000 must be free for this test");
    let mut demo = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("demo")
        // The demo's default SQLite file goes under the test's folder, not the user's data directory.
        .env("XDG_DATA_HOME", env!("CARGO_TARGET_TMPDIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xtask runs");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !(listening(9000) && listening(3000)) {
        assert!(demo.try_wait().expect("wait").is_none(), "the demo stopped before serving");
        assert!(Instant::now() < deadline, "the demo did not start in 5 minutes");
        std::thread::sleep(Duration::from_millis(200));
    }
    let home = get(3000, "/").expect("client-web answers");
    assert!(home.contains("Log in with the demo provider"), "{home}");
    let metadata = get(9000, "/.well-known/oauth-authorization-server").expect("the provider answers");
    assert!(metadata.contains(r#""issuer":"http://127.0.0.1:9000""#), "{metadata}");

    // A second demo while the first holds the ports refuses, rather than passing the first one's answers off as its own.
    let second = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("demo").output().expect("xtask runs");
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("127.0.0.1:9000 is in use"));

    let term = Command::new("kill").args(["-TERM", &demo.id().to_string()]).status().expect("kill runs");
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = demo.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the demo did not stop within 20 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "a requested stop is a clean exit: {status}");
    assert!(!listening(9000) && !listening(3000), "both servers stopped with it");
}
