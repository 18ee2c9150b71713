//! Project automation, run as `cargo xtask <command>` (the alias is in `.cargo/config.toml`).
//!
//! - `test`: everything CI checks: the static checks of `lint`, then every test of every crate (unit, integration,
//!   doc tests), and `oauth2-core` again without default features.
//! - `lint`: `cargo fmt --check`, clippy with `-D warnings` per package, rustdoc with `-D warnings`, and the rule that
//!   no I/O runtime or HTTP stack appears anywhere in `oauth2-core`'s dependency tree.
//! - `demo [--framework axum|actix]`: the demo provider on 127.0.0.1:9000 and the demo web client on
//!   127.0.0.1:3000, until Ctrl-C.
//! - `fuzz [--seconds N]`: each cargo-fuzz target of `fuzz/` for N seconds (default 60), corpus minimized.
//! - `bench [--quick]`: W0/W1/W2 (and W1's shape without OAuth) on both adapters and on oxide-auth, with wrk
//!   (installed with apt-get if missing), servers and load generator pinned to different cores, median of 3
//!   interleaved runs of 10 s; bytes per live token at 1 M tokens; memory over a 60 s run; the core's criterion
//!   micro-benchmarks. Prints a Markdown report and writes it to BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod bench;
mod rules;

/// The workspace's packages, each linted on its own so one package's features cannot hide another's warnings.
const PACKAGES: [&str; 8] = [
    "oauth2-core",
    "oauth2-reqwest",
    "oauth2-axum",
    "oauth2-actix",
    "oauth2-sqlx",
    "oauth2-testkit",
    "oauth2-examples",
    "xtask",
];

/// Crate families that must never be in `oauth2-core`'s dependency tree: the core is sans-IO (design.md §2). A
/// crate is refused when its name is one of these or starts with one and a dash (`tokio-util`, `axum-core`,
/// `hyper-util`, `actix-http` ...).
const FORBIDDEN_IN_CORE: [&str; 8] = ["tokio", "hyper", "reqwest", "axum", "actix", "async-std", "smol", "mio"];

fn forbidden_in_core(name: &str) -> bool {
    FORBIDDEN_IN_CORE.iter().any(|f| name == *f || name.strip_prefix(f).is_some_and(|rest| rest.starts_with('-')))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => lint().and_then(|()| test()),
        Some("lint") => lint(),
        Some("demo") => demo(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz") => fuzz(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <test|lint|demo|bench>");
            eprintln!("  demo   run the demo provider and web client on loopback (--framework axum|actix)");
            eprintln!("  bench  measure W0/W1/W2 on both adapters and token memory; writes BENCHMARKS.md (--quick)");
            eprintln!(
                "  fuzz   run each cargo-fuzz target N seconds (--seconds N, default 60) and minimize the corpus"
            );
            eprintln!("  test   static checks, then every test of every crate");
            eprintln!("  lint   fmt, clippy -D warnings, rustdoc, and the core's dependency rule");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => {
            eprintln!("xtask: all steps passed");
            ExitCode::SUCCESS
        }
        Err(step) => {
            eprintln!("xtask: FAILED: {step}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

fn cargo(args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(args).current_dir(root());
    cmd
}

fn run(description: &str, mut cmd: Command) -> Result<(), String> {
    eprintln!("\n==> {description}");
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{description} ({s})")),
        Err(e) => Err(format!("{description}: cannot run: {e}")),
    }
}

fn lint() -> Result<(), String> {
    run("cargo fmt --check", cargo(&["fmt", "--all", "--", "--check"]))?;
    for package in PACKAGES {
        run(
            &format!("clippy {package}"),
            cargo(&["clippy", "--package", package, "--all-targets", "--", "-D", "warnings"]),
        )?;
    }
    run(
        "clippy oauth2-core --no-default-features",
        cargo(&[
            "clippy",
            "--package",
            "oauth2-core",
            "--no-default-features",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    let mut doc = cargo(&["doc", "--workspace", "--no-deps"]);
    doc.env("RUSTDOCFLAGS", "-D warnings");
    run("rustdoc -D warnings", doc)?;
    core_dependency_rule()?;
    source_rules()?;
    unused_dependencies()?;
    rust_version_rule()?;
    feature_sets()
}

/// The library crates, whose normal dependencies must all be used (`unused_crate_dependencies` on their lib
/// targets only: test and example targets share dev-dependencies, where the lint would only be noise).
const LIBRARIES: [&str; 6] =
    ["oauth2-core", "oauth2-reqwest", "oauth2-axum", "oauth2-actix", "oauth2-sqlx", "oauth2-testkit"];

fn unused_dependencies() -> Result<(), String> {
    for package in LIBRARIES {
        let args = ["clippy", "--package", package, "--lib", "--", "-D", "unused_crate_dependencies", "-D", "warnings"];
        run(&format!("no unused dependency in {package}"), cargo(&args))?;
    }
    Ok(())
}

/// `cargo metadata` of the locked workspace, as JSON.
fn metadata() -> Result<serde_json::Value, String> {
    let output = cargo(&["metadata", "--format-version", "1", "--locked"])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("cargo metadata: {e}"))
}

/// `1.89` or `1.89.0` as a comparable triple.
fn version_triple(v: &str) -> Option<(u64, u64, u64)> {
    let mut parts = v.split('.');
    let mut next = || parts.next().map(str::parse::<u64>);
    let major = next()?.ok()?;
    let minor = next().unwrap_or(Ok(0)).ok()?;
    let patch = next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, patch))
}

/// Fails when a locked dependency declares a `rust-version` above the workspace's: the declared MSRV would be a
/// lie (clippy's `incompatible_msrv` covers our own use of the standard library, this covers the lock).
fn rust_version_rule() -> Result<(), String> {
    eprintln!("\n==> rust-version: no locked dependency needs a newer Rust than the workspace declares");
    let meta = metadata()?;
    let ours = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "oauth2-core")
        .and_then(|p| p["rust_version"].as_str())
        .ok_or("oauth2-core declares no rust-version")?
        .to_owned();
    let limit = version_triple(&ours).ok_or_else(|| format!("unreadable rust-version {ours}"))?;
    let above: Vec<String> = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let rv = p["rust_version"].as_str()?;
            (version_triple(rv)? > limit).then(|| format!("{} {} needs Rust {rv}", p["name"], p["version"]))
        })
        .collect();
    if above.is_empty() {
        eprintln!("ok: every locked package fits rust-version {ours}");
        Ok(())
    } else {
        Err(format!("rust-version {ours} is not honest:\n  {}", above.join("\n  ")))
    }
}

/// Every combination of the features of the crates users pick features of, checked with clippy: a feature that
/// only compiles beside another is found here, not by a user.
fn feature_sets() -> Result<(), String> {
    let meta = metadata()?;
    for package in ["oauth2-core", "oauth2-reqwest", "oauth2-sqlx"] {
        let features: Vec<String> = meta["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == package)
            .and_then(|p| p["features"].as_object())
            .map(|f| f.keys().filter(|k| *k != "default").cloned().collect())
            .unwrap_or_default();
        for mask in 0..(1u32 << features.len()) {
            let chosen: Vec<&str> =
                features.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, f)| f.as_str()).collect();
            let list = chosen.join(",");
            let mut args = vec!["clippy", "--package", package, "--lib", "--no-default-features"];
            if !chosen.is_empty() {
                args.extend(["--features", list.as_str()]);
            }
            args.extend(["--", "-D", "warnings"]);
            run(&format!("{package} with features [{list}]"), cargo(&args))?;
        }
    }
    Ok(())
}

/// The rules of [`rules`]: the core's modules depend one way, and the RFC map covers every RFC-named test.
fn source_rules() -> Result<(), String> {
    let core = root().join("crates/oauth2-core/src");
    eprintln!("\n==> oauth2-core modules depend one way (shared <- client, resource <- server)");
    let files = rules::one_way_modules(&core)?;
    eprintln!("ok: {files} files");
    eprintln!("\n==> every RFC-named test's section is in oauth2-core's map");
    let tests = rules::rfc_map(&core.join("lib.rs"), &[root().join("crates"), root().join("examples")])?;
    eprintln!("ok: {tests} tests");
    Ok(())
}

/// Fails if a forbidden crate is anywhere in oauth2-core's normal or build dependency tree, with any feature set.
fn core_dependency_rule() -> Result<(), String> {
    eprintln!("\n==> oauth2-core dependency rule (no runtime, no HTTP stack)");
    let output =
        cargo(&["tree", "--package", "oauth2-core", "--all-features", "--edges", "normal,build", "--prefix", "none"])
            .output()
            .map_err(|e| format!("cargo tree: {e}"))?;
    if !output.status.success() {
        return Err(format!("cargo tree failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    let found: Vec<&str> =
        tree.lines().filter_map(|line| line.split_whitespace().next()).filter(|name| forbidden_in_core(name)).collect();
    if found.is_empty() {
        eprintln!("ok: {} crates in the tree, none of {:?}", tree.lines().count(), FORBIDDEN_IN_CORE);
        Ok(())
    } else {
        Err(format!("oauth2-core depends on {found:?}; the core must stay sans-IO"))
    }
}

fn test() -> Result<(), String> {
    let mut all = cargo(&["test", "--workspace"]);
    // The demo providers the tests start take their first RS256 key from here (the RFC 7515 key) instead of making
    // an RSA key at each start.
    all.env("OAUTH2_DEMO_RS256_KEY", root().join("crates/oauth2-core/src/jose/vectors/rfc7515_a2_rsa.pk8"));
    run("tests: every crate, every target, doc tests", all)?;
    run(
        "tests: oauth2-core --no-default-features",
        cargo(&["test", "--package", "oauth2-core", "--no-default-features", "--lib", "--tests"]),
    )
}

/// The fuzz targets of `fuzz/fuzz_targets`, by file name.
fn fuzz_targets() -> Result<Vec<String>, String> {
    let dir = root().join("fuzz/fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".rs").map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

/// `cargo xtask fuzz [--seconds N]`: every target for N seconds with cargo-fuzz (installed if missing), on the
/// stable toolchain (`--sanitizer none`), with allocations over 64 MiB treated as crashes; then each corpus is
/// minimized (`cargo fuzz cmin`) so what is checked in stays small. Prints the executions per target; fails on a
/// crash (the input is in `fuzz/artifacts/`).
fn fuzz(args: &[String]) -> Result<(), String> {
    let seconds: u64 = match args {
        [] => 60,
        [flag, n] if flag == "--seconds" => n.parse().map_err(|_| format!("--seconds takes a number, not {n}"))?,
        _ => return Err("usage: cargo xtask fuzz [--seconds N]".into()),
    };
    let has_fuzz = cargo(&["fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    if !has_fuzz {
        run("install cargo-fuzz", cargo(&["install", "cargo-fuzz", "--locked"]))?;
    }
    let dir = root().join("fuzz");
    let mut summary = Vec::new();
    for target in fuzz_targets()? {
        eprintln!("\n==> fuzz {target} for {seconds} s");
        let mut cmd = cargo(&["fuzz", "run", &target, "--sanitizer", "none", "--"]);
        cmd.args([format!("-max_total_time={seconds}"), "-malloc_limit_mb=64".into(), "-print_final_stats=1".into()]);
        cmd.current_dir(&dir);
        let output = cmd.output().map_err(|e| format!("cargo fuzz: {e}"))?;
        let log = String::from_utf8_lossy(&output.stderr);
        let runs = log
            .lines()
            .filter_map(|l| l.strip_prefix("Done ")?.split_whitespace().next()?.parse::<u64>().ok())
            .next_back();
        if !output.status.success() {
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            return Err(format!("fuzz target {target} crashed (the input is under fuzz/artifacts/{target})"));
        }
        let mut cmin = cargo(&["fuzz", "cmin", &target, "--sanitizer", "none"]);
        cmin.current_dir(&dir).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        run(&format!("minimize the corpus of {target}"), cmin)?;
        let kept = std::fs::read_dir(dir.join("corpus").join(&target)).map(Iterator::count).unwrap_or(0);
        summary
            .push(format!("{target}: {} executions in {seconds} s, no crash; corpus {kept} inputs", runs.unwrap_or(0)));
    }
    eprintln!("\n{}", summary.join("\n"));
    Ok(())
}

fn wait_for_port(port: u16, child: &mut std::process::Child, what: &str) -> Result<(), String> {
    for _ in 0..150 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{what} exited ({status}); is port {port} already in use?"));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(format!("{what} did not start listening on 127.0.0.1:{port}"))
}

/// Stops a child: SIGINT first (the demo servers stop on it), then a kill after 5 s.
fn stop(child: &mut std::process::Child) {
    if child.try_wait().ok().flatten().is_some() {
        return;
    }
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    for _ in 0..50 {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Fails if something already listens on `port` (a demo left running, say): its answers would pass for ours.
fn port_free(port: u16) -> Result<(), String> {
    std::net::TcpListener::bind(("127.0.0.1", port))
        .map(drop)
        .map_err(|e| format!("127.0.0.1:{port} is in use ({e}); is a demo already running?"))
}

/// Starts the demo provider and web client, prints where to go, and waits. Ctrl-C, SIGINT or SIGTERM (to this
/// process alone or its whole group) stops both servers before it returns (SIGINT to each, then a kill after 5 s);
/// if either stops by itself, the other is stopped and the demo fails.
fn demo(args: &[String]) -> Result<(), String> {
    let framework = match args {
        [] => "axum",
        [flag, fw] if flag == "--framework" && (fw == "axum" || fw == "actix") => fw.as_str(),
        _ => return Err("usage: cargo xtask demo [--framework axum|actix]".into()),
    };
    run("build the demo", cargo(&["build", "--package", "oauth2-examples", "--bins"]))?;
    port_free(9000)?;
    port_free(3000)?;
    let stopping = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stopping.clone();
    ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::SeqCst))
        .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let bin = |name: &str| target.join("debug").join(name);
    let provider_name = format!("provider-{framework}");
    let mut provider = Command::new(bin(&provider_name))
        .args(["--listen", "127.0.0.1:9000"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {provider_name}: {e}"))?;
    if let Err(e) = wait_for_port(9000, &mut provider, &provider_name) {
        stop(&mut provider);
        return Err(e);
    }
    let mut client = match Command::new(bin("client-web"))
        .args(["--listen", "127.0.0.1:3000", "--issuer", "http://127.0.0.1:9000"])
        .stdout(std::process::Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            stop(&mut provider);
            return Err(format!("cannot start client-web: {e}"));
        }
    };
    if let Err(e) = wait_for_port(3000, &mut client, "client-web") {
        stop(&mut client);
        stop(&mut provider);
        return Err(e);
    }
    eprintln!(
        "\n  The OAuth demo is running ({provider_name} on http://127.0.0.1:9000, client-web on http://127.0.0.1:3000).\n\n  \
         Open  http://127.0.0.1:3000  and click \"Log in with the demo provider\".\n  \
         Sign in as  alice / alice-password  (or bob / bob-password), allow access, and see your profile.\n\n  \
         Press Ctrl-C to stop.\n"
    );
    let stop_requested = || stopping.load(std::sync::atomic::Ordering::SeqCst);
    let outcome = loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if stop_requested() {
            break Ok(());
        }
        let exited = match (provider.try_wait(), client.try_wait()) {
            (Ok(Some(status)), _) => Some(format!("{provider_name} stopped by itself ({status})")),
            (_, Ok(Some(status))) => Some(format!("client-web stopped by itself ({status})")),
            _ => None,
        };
        if let Some(why) = exited {
            // A Ctrl-C reaches the children too, and one may exit before our handler has run: give it a moment.
            std::thread::sleep(std::time::Duration::from_millis(500));
            break if stop_requested() { Ok(()) } else { Err(why) };
        }
    };
    eprintln!("\n  Stopping the demo ...");
    stop(&mut client);
    stop(&mut provider);
    outcome
}

#[cfg(test)]
mod tests {
    use super::forbidden_in_core;

    #[test]
    fn the_core_rule_catches_whole_crate_families() {
        for name in ["tokio", "tokio-util", "axum-core", "hyper-util", "actix-http", "actix-web", "reqwest", "mio"] {
            assert!(forbidden_in_core(name), "{name}");
        }
        for name in ["http", "url", "serde", "tokio_like", "hyperloglog", "axumx"] {
            assert!(!forbidden_in_core(name), "{name}");
        }
    }
}
