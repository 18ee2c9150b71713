//! `cargo xtask bench`: the server benchmarks of BENCHMARKS.md.
//!
//! Workloads, each against the same framework's bare handler (W0) measured in the same run:
//! - W0: `GET /w0`, a handler returning constant JSON;
//! - W1: `POST /token`, client credentials with Basic auth, a fresh opaque token per request;
//! - W2: `GET /w2`, a Bearer-protected resource.
//!
//! The server is pinned to core 0 and wrk to core 1 (`taskset`, where available), 32 keep-alive connections, one
//! wrk thread; each figure is the median of the runs by req/s. The server is restarted per workload so its peak RSS
//! belongs to that workload.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{cargo, root, run as run_step};

/// `bench:bench-secret`, base64 (the bench server's client).
const BASIC: &str = "YmVuY2g6YmVuY2gtc2VjcmV0";

struct Sample {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

struct Row {
    framework: &'static str,
    workload: &'static str,
    sample: Sample,
    peak_rss_mib: f64,
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn ensure_wrk() -> Result<(), String> {
    if have("wrk") {
        return Ok(());
    }
    eprintln!("==> installing wrk (apt-get)");
    let ok = Command::new("sh")
        .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk"])
        .status()
        .is_ok_and(|s| s.success());
    if ok && have("wrk") { Ok(()) } else { Err("wrk is not installed and apt-get could not install it".into()) }
}

fn pinned(core: u32, program: &Path) -> Command {
    if have("taskset") {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(core.to_string()).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Starts the bench server and returns it with its base URL.
fn start_server(bin: &Path, framework: &str) -> Result<(std::process::Child, String), String> {
    let mut child = pinned(0, bin)
        .args(["--framework", framework, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start bench-server: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
    let base = line.split("listening on ").nth(1).map(|s| s.trim().to_owned()).ok_or(format!("bad line {line:?}"))?;
    Ok((child, base))
}

/// The server's peak resident set (VmHWM), in MiB. taskset execs the server, so the PID is the server's.
fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// A fresh access token for W2, from the server's token endpoint (plain HTTP/1.1 over std).
fn access_token(base: &str) -> Result<String, String> {
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let body = "grant_type=client_credentials";
    let request = format!(
        "POST /token HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {BASIC}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    let start = response.find("\"access_token\":\"").ok_or(format!("no token in {response}"))? + 16;
    Ok(response[start..].split('"').next().unwrap_or_default().to_owned())
}

fn lua(workload: &str, token: &str) -> String {
    match workload {
        "W1" => format!(
            "wrk.method = \"POST\"\nwrk.body = \"grant_type=client_credentials\"\n\
             wrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n\
             wrk.headers[\"Authorization\"] = \"Basic {BASIC}\"\n"
        ),
        "W2" => format!("wrk.headers[\"Authorization\"] = \"Bearer {token}\"\n"),
        _ => String::new(),
    }
}

fn duration_ms(s: &str) -> f64 {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => n,
    }
}

fn wrk(url: &str, script: &Path, seconds: u32) -> Result<Sample, String> {
    let wrk_path = which("wrk").ok_or("wrk not found")?;
    let out = pinned(1, &wrk_path)
        .args(["-t1", "-c32", &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .map_err(|e| format!("wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_owned)
    };
    if text.contains("Non-2xx") {
        return Err(format!("non-2xx responses from {url}:\n{text}"));
    }
    Ok(Sample {
        rps: field("Requests/sec:").and_then(|v| v.parse().ok()).ok_or(format!("no req/s in {text}"))?,
        p50_ms: field("50%").map(|v| duration_ms(&v)).unwrap_or(f64::NAN),
        p99_ms: field("99%").map(|v| duration_ms(&v)).unwrap_or(f64::NAN),
    })
}

fn which(cmd: &str) -> Option<PathBuf> {
    let out = Command::new("sh").args(["-c", &format!("command -v {cmd}")]).output().ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!p.is_empty()).then(|| PathBuf::from(p))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cpu}, {cores} cores")
}

/// `cargo xtask bench [--quick]`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let (runs, seconds) = if quick { (1, 3) } else { (3, 10) };
    ensure_wrk()?;
    run_step(
        "build the bench binaries (release)",
        cargo(&[
            "build",
            "--release",
            "--package",
            "oauth2-examples",
            "--bin",
            "bench-server",
            "--bin",
            "bench-memory",
        ]),
    )?;
    let release = target_dir().join("release");
    let scripts = target_dir().join("bench");
    std::fs::create_dir_all(&scripts).map_err(|e| e.to_string())?;

    let mut rows = Vec::new();
    for framework in ["axum", "actix"] {
        for (workload, path) in [("W0", "/w0"), ("W1", "/token"), ("W2", "/w2")] {
            let (mut server, base) = start_server(&release.join("bench-server"), framework)?;
            let token = if workload == "W2" { access_token(&base)? } else { String::new() };
            let script = scripts.join(format!("{workload}.lua"));
            std::fs::write(&script, lua(workload, &token)).map_err(|e| e.to_string())?;
            let mut samples = Vec::new();
            for i in 0..runs {
                eprintln!("==> {framework} {workload} run {}/{runs} ({seconds} s)", i + 1);
                samples.push(wrk(&format!("{base}{path}"), &script, seconds)?);
            }
            let peak_rss_mib = peak_rss_mib(server.id());
            let _ = server.kill();
            let _ = server.wait();
            samples.sort_by(|a, b| a.rps.total_cmp(&b.rps));
            let sample = samples.swap_remove(samples.len() / 2);
            rows.push(Row { framework, workload, sample, peak_rss_mib });
        }
    }

    eprintln!("==> bytes per live token at 1 M tokens");
    let memory = Command::new(release.join("bench-memory")).arg("1000000").output().map_err(|e| e.to_string())?;
    let memory = String::from_utf8_lossy(&memory.stdout).trim().to_owned();

    let mut table = String::from(
        "| framework | workload | req/s | ratio to W0 | p50 | p99 | peak RSS |\n|---|---|---|---|---|---|---|\n",
    );
    for row in &rows {
        let w0 = rows.iter().find(|r| r.framework == row.framework && r.workload == "W0").map(|r| r.sample.rps);
        table.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} ms | {:.2} ms | {:.1} MiB |\n",
            row.framework,
            row.workload,
            row.sample.rps,
            w0.map(|w| row.sample.rps / w).unwrap_or(f64::NAN),
            row.sample.p50_ms,
            row.sample.p99_ms,
            row.peak_rss_mib
        ));
    }
    let command = if quick { "cargo xtask bench --quick" } else { "cargo xtask bench" };
    let report = format!(
        "## Run\n\nMachine: {}. Command: `{command}` (wrk, 1 thread, 32 keep-alive connections, {seconds} s, median of \
         {runs}; server on core 0, wrk on core 1).\n\n{table}\nMemory (`bench-memory 1000000`): {memory}\n",
        machine()
    );
    println!("{report}");
    let path = root().join("BENCHMARKS.md");
    let head = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| s.split("\n## Run\n").next().map(str::to_owned))
        .unwrap_or_else(|| "# Benchmarks\n".into());
    std::fs::write(&path, format!("{}\n{report}", head.trim_end())).map_err(|e| e.to_string())?;
    eprintln!("==> wrote {}", path.display());
    Ok(())
}
