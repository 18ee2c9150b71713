//! `cargo xtask bench`: the server benchmarks of BENCHMARKS.md.
//!
//! Workloads, each against the same framework's bare handler (W0) measured in the same run:
//! - W0: `GET /w0`, a handler returning constant JSON;
//! - W1: `POST /token`, client credentials with Basic auth, a fresh opaque token per request;
//! - W2: `GET /w2`, a Bearer-protected resource;
//! - W1-jwt, W2-jwt, W2-jwt uncached: the same on a server issuing RFC 9068 JWTs, and an API checking them alone;
//! - W1-dpop, W2-dpop: W1 and W2 with a DPoP proof (RFC 9449, ES256) on each request, which is good once: wrk takes
//!   the next of the proofs `bench-proofs` signed just before each run (a fresh `jti` each, `iat` of the run), and
//!   W2-dpop's token is bound to their key and presented under the DPoP scheme (the proofs carry its `ath`).
//!
//! Systems: our axum and actix-web adapters (`bench-server`, in-memory store), our axum adapter on SQLite and on
//! PostgreSQL (durable settings), and oxide-auth on axum as a peer (`xtask/peers/oxide-auth`, built from crates.io,
//! outside the workspace). PostgreSQL (`pg-cluster`, a throw-away cluster) runs on core 1 beside wrk, and its CPU
//! time (the postmaster and its backends) is reported per request.
//!
//! Method: servers are pinned to core 0 and wrk to core 1 (`taskset`, where available); wrk runs one thread and 32
//! keep-alive connections. Each workload has its own server process (so its peak RSS is its own), and the runs are
//! interleaved (W0, W1, W2, W0, W1, W2, ...) so that drift in the machine's speed falls on every workload alike.
//! Each figure is the median of the runs by req/s.
//!
//! Memory: `bench-memory 1000000` (bytes per live token), and a long W1 run against a server whose tokens live
//! 10 s, sampling the resident set: once tokens expire as fast as they are issued, memory must stay flat.
//!
//! Last, the core's criterion micro-benchmarks (`cargo bench -p oauth2-core`), with the `oauth2` crate's client
//! operations beside ours.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{cargo, root, run as run_step};

/// `bench:bench-secret`, base64 (the bench servers' client).
const BASIC: &str = "YmVuY2g6YmVuY2gtc2VjcmV0";

/// Every system serves these; our bench server also serves W1's shape without OAuth (`/w1-shape`), the floor W1
/// can reach on its framework.
const WORKLOADS: [(&str, &str); 3] = [("W0", "/w0"), ("W1", "/token"), ("W2", "/w2")];
const W1_SHAPE: (&str, &str) = ("W1-shape", "/w1-shape");
/// Issue 14's workloads on a server issuing JWT access tokens: W1-jwt (client credentials, one signature, nothing
/// stored), W2-jwt (an API that checks JWTs alone, with its cache of verified tokens: hits after the first request)
/// and W2-jwt uncached (the signature verified on every request).
const W1_JWT: (&str, &str) = ("W1-jwt", "/token");
const W2_JWT: (&str, &str) = ("W2-jwt", "/w2-jwt");
const W2_JWT_RAW: (&str, &str) = ("W2-jwt uncached", "/w2-jwt-raw");
/// Issue 17's workloads: W1 and W2 with a DPoP proof per request (ES256).
const W1_DPOP: (&str, &str) = ("W1-dpop", "/token");
const W2_DPOP: (&str, &str) = ("W2-dpop", "/w2");
/// Proofs signed per second of a run: above what one core can check (an ES256 verification is some 60 µs). A run
/// that used them all would resend one, which the server refuses, and the run fails as non-2xx.
const PROOFS_PER_SECOND: u64 = 20_000;

struct Sample {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Server CPU time (user + system) per request, in µs.
    cpu_us: f64,
    /// The database server's CPU time per request, in µs (NaN without one).
    db_cpu_us: f64,
}

struct Row {
    system: String,
    workload: &'static str,
    sample: Sample,
    peak_rss_mib: f64,
}

/// A server program to measure, and how to start it.
struct System {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    workloads: Vec<(&'static str, &'static str)>,
    backing: Backing,
}

/// Where a system's tokens live.
enum Backing {
    Memory,
    /// A fresh file per workload in this folder.
    Sqlite(PathBuf),
    /// A database per workload on this cluster.
    Postgres(Postgres),
}

impl Backing {
    /// The bench server's `--store` for the `index`th workload of `system`, if not the in-memory store.
    fn store(&self, system: &str, index: usize) -> Result<Option<String>, String> {
        match self {
            Self::Memory => Ok(None),
            Self::Sqlite(dir) => {
                let path = dir.join(format!("{system}-{index}.sqlite"));
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                Ok(Some(format!("sqlite:{}", path.display())))
            }
            Self::Postgres(pg) => pg.urls.get(index).cloned().map(Some).ok_or_else(|| "too few databases".into()),
        }
    }

    /// CPU time of the database server, in clock ticks (0 without one).
    fn cpu_ticks(&self) -> u64 {
        match self {
            Self::Postgres(pg) => pg.cpu_ticks(),
            _ => 0,
        }
    }
}

/// A durable throw-away PostgreSQL (`pg-cluster`, on core 1), stopped when dropped.
struct Postgres {
    child: Child,
    postmaster: u32,
    urls: Vec<String>,
    /// pg_test_fsync's fdatasync figure: ops/s and µs per op.
    pg_test_fsync: (f64, f64),
    /// Median and 99th percentile of one 8 kB write + fdatasync, in µs.
    fsync_latency: (f64, f64),
}

impl Postgres {
    fn start(program: &Path, databases: usize) -> Result<Self, String> {
        eprintln!("==> a durable PostgreSQL on core 1 (pg-cluster, with pg_test_fsync: ~15 s)");
        let mut child = pinned(1, program)
            .args(["--databases", &databases.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("start {}: {e}", program.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut pg =
            Self { child, postmaster: 0, urls: Vec::new(), pg_test_fsync: (0.0, 0.0), fsync_latency: (0.0, 0.0) };
        let pair = |rest: &str| {
            let mut it = rest.split_whitespace().map(|v| v.parse::<f64>().unwrap_or(f64::NAN));
            (it.next().unwrap_or(f64::NAN), it.next().unwrap_or(f64::NAN))
        };
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| e.to_string())?;
            let (key, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            match key {
                "pid" => pg.postmaster = rest.parse().map_err(|_| format!("pg-cluster: {line}"))?,
                "pg_test_fsync" => pg.pg_test_fsync = pair(rest),
                "fsync_latency" => pg.fsync_latency = pair(rest),
                "url" => pg.urls.push(rest.to_owned()),
                "ready" => return Ok(pg),
                _ => {}
            }
        }
        Err("pg-cluster ended before it was ready".into())
    }

    /// The postmaster's CPU time with its reaped children's, plus its live children's (the backends and workers).
    fn cpu_ticks(&self) -> u64 {
        let mut ticks = proc_stat(self.postmaster).map(|f| f.utime + f.stime + f.cutime + f.cstime).unwrap_or(0);
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else { continue };
            if let Some(f) = proc_stat(pid).filter(|f| f.ppid == self.postmaster) {
                ticks += f.utime + f.stime;
            }
        }
        ticks
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Closing its standard input stops the cluster and removes its folder.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// The fields of `/proc/PID/stat` we read.
struct ProcStat {
    ppid: u32,
    utime: u64,
    stime: u64,
    cutime: u64,
    cstime: u64,
}

fn proc_stat(pid: u32) -> Option<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3: ppid is 4, utime to cstime 14 to 17.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<u64>().ok());
    Some(ProcStat {
        ppid: u32::try_from(field(4)?).ok()?,
        utime: field(14)?,
        stime: field(15)?,
        cutime: field(16)?,
        cstime: field(17)?,
    })
}

struct Settings {
    runs: usize,
    seconds: u32,
    flat_seconds: u64,
    flat_lifetime: u64,
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

fn which(cmd: &str) -> Option<PathBuf> {
    let out = Command::new("sh").args(["-c", &format!("command -v {cmd}")]).output().ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!p.is_empty()).then(|| PathBuf::from(p))
}

fn ensure_wrk() -> Result<PathBuf, String> {
    if let Some(path) = which("wrk") {
        return Ok(path);
    }
    eprintln!("==> installing wrk (apt-get)");
    let ok = Command::new("sh")
        .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk"])
        .status()
        .is_ok_and(|s| s.success());
    match which("wrk") {
        Some(path) if ok => Ok(path),
        _ => Err("wrk is not installed and apt-get could not install it".into()),
    }
}

fn pinned(core: u32, program: &Path) -> Command {
    if which("taskset").is_some() {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(core.to_string()).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// A running server, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `system` (with `extra` arguments) on a free port, once it prints `listening on http://ADDR`.
    fn start(system: &System, extra: &[&str]) -> Result<Self, String> {
        let mut child = pinned(0, &system.program)
            .args(&system.args)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("start {}: {e}", system.program.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
        let base = line.split("listening on ").nth(1).map(|s| s.trim().to_owned());
        match base {
            Some(base) => Ok(Self { child, base }),
            None => {
                let _ = child.kill();
                Err(format!("{}: unexpected first line {line:?}", system.name))
            }
        }
    }

    /// CPU time (user + system) the server has used, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        proc_stat(self.child.id()).map(|f| f.utime + f.stime).unwrap_or(0)
    }

    /// The resident set (VmRSS) or its peak (VmHWM), in MiB. taskset execs the server, so the PID is the server's.
    fn memory_mib(&self, field: &str) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    }
}

/// A fresh access token for W2, from the server's token endpoint (plain HTTP/1.1 over std); bound to a DPoP key
/// when `proof` (of that key, for this request) is given.
fn access_token(base: &str, proof: Option<&str>) -> Result<String, String> {
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let body = "grant_type=client_credentials";
    let dpop = proof.map(|p| format!("DPoP: {p}\r\n")).unwrap_or_default();
    let request = format!(
        "POST /token HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {BASIC}\r\n{dpop}\
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

/// A DPoP workload's script: `base` (W1's request, or W2's with the token under the DPoP scheme), and each request
/// with the next proof of `proofs` (read by each wrk thread at its start).
fn dpop_lua(base: &str, proofs: &Path) -> String {
    format!(
        "{base}local proofs = {{}}\nlocal i = 0\n\
         init = function(args)\n  for line in io.lines(\"{}\") do proofs[#proofs + 1] = line end\nend\n\
         request = function()\n  i = i % #proofs + 1\n  wrk.headers[\"DPoP\"] = proofs[i]\n  return wrk.format()\nend\n",
        proofs.display()
    )
}

/// What a DPoP workload signs its proofs with, and for which request.
struct DpopRun {
    /// `bench-proofs`.
    program: PathBuf,
    key: PathBuf,
    proofs: PathBuf,
    method: &'static str,
    url: String,
    /// W2-dpop's token, for `ath`.
    token: Option<String>,
}

impl DpopRun {
    /// Signs `count` fresh proofs into the file the script reads: for the workload's request, or for `other`
    /// (method and URL) instead.
    fn sign(&self, count: u64, other: Option<(&str, &str)>) -> Result<(), String> {
        let (method, url) = other.unwrap_or((self.method, &self.url));
        let mut command = Command::new(&self.program);
        command.arg("--key").arg(&self.key).args(["--method", method, "--url", url]);
        command.arg("--count").arg(count.to_string()).arg("--out").arg(&self.proofs);
        if let Some(token) = &self.token {
            command.args(["--token", token]);
        }
        let status = command.status().map_err(|e| format!("bench-proofs: {e}"))?;
        if status.success() { Ok(()) } else { Err("bench-proofs failed".into()) }
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

/// Starts wrk against `url` for `seconds`; `finish` waits for it and reads its report.
fn spawn_wrk(wrk: &Path, url: &str, script: &Path, seconds: u64) -> Result<Child, String> {
    pinned(1, wrk)
        .args(["-t1", "-c32", &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("wrk: {e}"))
}

/// Clock ticks per second for /proc's CPU times (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// Runs wrk against `server` and reads its report, with the server's (and its database's) CPU time per request.
fn sample(
    server: &Server,
    backing: &Backing,
    wrk: &Path,
    url: &str,
    script: &Path,
    seconds: u64,
) -> Result<Sample, String> {
    let (before, db_before) = (server.cpu_ticks(), backing.cpu_ticks());
    let child = spawn_wrk(wrk, url, script, seconds)?;
    let mut sample = finish_wrk(child, url)?;
    let per_request = |ticks: u64| ticks as f64 / clock_ticks() * 1e6 / (sample.rps * seconds as f64);
    sample.cpu_us = per_request(server.cpu_ticks().saturating_sub(before));
    if matches!(backing, Backing::Postgres(_)) {
        sample.db_cpu_us = per_request(backing.cpu_ticks().saturating_sub(db_before));
    }
    Ok(sample)
}

fn finish_wrk(child: Child, url: &str) -> Result<Sample, String> {
    let out = child.wait_with_output().map_err(|e| format!("wrk: {e}"))?;
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
        cpu_us: f64::NAN,
        db_cpu_us: f64::NAN,
    })
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

/// One system's workloads, interleaved.
fn measure(system: &System, wrk: &Path, settings: &Settings, scripts: &Path) -> Result<Vec<Row>, String> {
    let mut servers = Vec::new();
    for (index, &(workload, path)) in system.workloads.iter().enumerate() {
        let store = system.backing.store(&system.name.replace([' ', '(', ')'], ""), index)?;
        let extra: Vec<&str> = store.as_deref().map(|s| vec!["--store", s]).unwrap_or_default();
        let server = Server::start(system, &extra)?;
        let name = format!("{}-{}", system.name.replace([' ', '(', ')'], ""), workload.replace(' ', "-"));
        let script = scripts.join(format!("{name}.lua"));
        let dpop = workload.ends_with("-dpop").then(|| DpopRun {
            program: system.program.with_file_name("bench-proofs"),
            key: scripts.join(format!("{name}.jwk")),
            proofs: scripts.join(format!("{name}.proofs")),
            method: if workload.starts_with("W1") { "POST" } else { "GET" },
            url: format!("{}{path}", server.base),
            token: None,
        });
        let _ = dpop.as_ref().map(|d| std::fs::remove_file(&d.key));
        let token = match (&dpop, workload.starts_with("W2")) {
            (Some(d), true) => {
                // The token is bound to the key of the proofs: one proof for the token request first.
                d.sign(1, Some(("POST", &format!("{}/token", server.base))))?;
                let proof = std::fs::read_to_string(&d.proofs).map_err(|e| e.to_string())?;
                access_token(&server.base, Some(proof.trim()))?
            }
            (None, true) => access_token(&server.base, None)?,
            _ => String::new(),
        };
        let dpop = dpop.map(|d| DpopRun { token: workload.starts_with("W2").then(|| token.clone()), ..d });
        // W1's shape and W1-jwt send exactly W1's request; the W2s, W2's.
        let kind = if workload.starts_with("W1") {
            "W1"
        } else if workload.starts_with("W2") {
            "W2"
        } else {
            workload
        };
        let text = match &dpop {
            Some(d) if kind == "W2" => {
                dpop_lua(&format!("wrk.headers[\"Authorization\"] = \"DPoP {token}\"\n"), &d.proofs)
            }
            Some(d) => dpop_lua(&lua(kind, ""), &d.proofs),
            None => lua(kind, &token),
        };
        std::fs::write(&script, text).map_err(|e| e.to_string())?;
        servers.push((workload, format!("{}{path}", server.base), script, server, dpop, Vec::new()));
    }
    for round in 1..=settings.runs {
        for (workload, url, script, server, dpop, samples) in &mut servers {
            if let Some(d) = dpop {
                eprintln!("==> {} {workload}: signing the run's proofs", system.name);
                d.sign(PROOFS_PER_SECOND * u64::from(settings.seconds), None)?;
            }
            eprintln!("==> {} {workload} run {round}/{} ({} s)", system.name, settings.runs, settings.seconds);
            samples.push(sample(server, &system.backing, wrk, url, script, u64::from(settings.seconds))?);
        }
    }
    Ok(servers
        .into_iter()
        .map(|(workload, _, _, server, _, mut samples)| {
            samples.sort_by(|a, b| a.rps.total_cmp(&b.rps));
            let sample = samples.swap_remove(samples.len() / 2);
            Row { system: system.name.clone(), workload, sample, peak_rss_mib: server.memory_mib("VmHWM:") }
        })
        .collect())
}

/// W1 against a server whose tokens live `flat_lifetime` seconds, sampling its resident set every 5 s.
fn memory_over_time(system: &System, wrk: &Path, settings: &Settings, scripts: &Path) -> Result<String, String> {
    let lifetime = settings.flat_lifetime.to_string();
    let server = Server::start(system, &["--access-token-lifetime", &lifetime])?;
    let script = scripts.join("flat-W1.lua");
    std::fs::write(&script, lua("W1", "")).map_err(|e| e.to_string())?;
    let url = format!("{}/token", server.base);
    eprintln!("==> memory under W1 for {} s, tokens living {lifetime} s", settings.flat_seconds);
    let child = spawn_wrk(wrk, &url, &script, settings.flat_seconds)?;
    let start = Instant::now();
    let mut samples = Vec::new();
    for t in (5..=settings.flat_seconds).step_by(5) {
        std::thread::sleep((start + Duration::from_secs(t)).saturating_duration_since(Instant::now()));
        samples.push((t, server.memory_mib("VmRSS:")));
    }
    let sample = finish_wrk(child, &url)?;
    let mut header = String::from("| t |");
    let mut rule = String::from("|---|");
    let mut values = String::from("| RSS |");
    for (t, mib) in &samples {
        header.push_str(&format!(" {t} s |"));
        rule.push_str("---|");
        values.push_str(&format!(" {mib:.1} MiB |"));
    }
    // The tables reach their steady size within about three lifetimes: a map holds the live tokens plus up to one
    // lifetime of expired ones between sweeps, and doubles until that fits.
    let steady_from = 3 * settings.flat_lifetime;
    let after_first = samples.iter().filter(|(t, _)| *t >= steady_from).map(|(_, m)| *m);
    let (low, high) = after_first.fold((f64::MAX, f64::MIN), |(lo, hi), m| (lo.min(m), hi.max(m)));
    Ok(format!(
        "{system} W1 for {secs} s at {rps:.0} req/s ({issued:.1} M tokens issued), access tokens living \
         {lifetime} s; resident set every 5 s:\n\n{header}\n{rule}\n{values}\n\nFrom {from} s on (three lifetimes, \
         once the tables have their steady size), the resident set stays between {low:.1} and {high:.1} MiB.\n",
        system = system.name,
        secs = settings.flat_seconds,
        rps = sample.rps,
        issued = sample.rps * settings.flat_seconds as f64 / 1e6,
        from = steady_from,
    ))
}

/// W2's target on a database when verified tokens are cached in front of it (issue 12).
const CACHED_W2: f64 = 0.8;

/// The systems on a database and their targets (issue 12): W1 and W2 as fractions of the same system's W0.
const DATABASE_TARGETS: [(&str, f64, f64); 2] = [("axum (SQLite)", 0.2, 0.4), ("axum (PostgreSQL)", 0.1, 0.2)];

/// Whether each target of issues 5 and 12 is met, from the table.
fn verdicts(rows: &[Row], bytes_per_token: Option<f64>) -> String {
    let find = |system: &str, w: &str| rows.iter().find(|r| r.system == system && r.workload == w);
    let mut out = String::from("| target | figure | met |\n|---|---|---|\n");
    let mut line = |target: String, figure: String, met: bool| {
        out.push_str(&format!("| {target} | {figure} | {} |\n", if met { "yes" } else { "**no**" }));
    };
    for system in ["axum", "actix"] {
        let (Some(w0), Some(w1), Some(w2)) = (find(system, "W0"), find(system, "W1"), find(system, "W2")) else {
            continue;
        };
        let r1 = w1.sample.rps / w0.sample.rps;
        let r2 = w2.sample.rps / w0.sample.rps;
        line(format!("{system}: W1 ≥ 0.75 × W0"), format!("{r1:.2}"), r1 >= 0.75);
        line(format!("{system}: W2 ≥ 0.95 × W0"), format!("{r2:.2}"), r2 >= 0.95);
        line(format!("{system}: W1 p99 < 2 ms"), format!("{:.2} ms", w1.sample.p99_ms), w1.sample.p99_ms < 2.0);
    }
    for (system, t1, t2) in DATABASE_TARGETS {
        let (Some(w0), Some(w1), Some(w2)) = (find(system, "W0"), find(system, "W1"), find(system, "W2")) else {
            continue;
        };
        let r1 = w1.sample.rps / w0.sample.rps;
        let r2 = w2.sample.rps / w0.sample.rps;
        line(format!("{system}: W1 ≥ {t1} × W0"), format!("{r1:.2}"), r1 >= t1);
        line(format!("{system}: W2 ≥ {t2} × W0"), format!("{r2:.2}"), r2 >= t2);
        // The stores answer Bearer checks from a cache of verified tokens, which raises the bar (issue 12).
        line(format!("{system}: W2 ≥ {CACHED_W2} × W0 (token cache)"), format!("{r2:.2}"), r2 >= CACHED_W2);
        for w in [w1, w2] {
            let p99 = w.sample.p99_ms;
            line(format!("{system}: {} p99 < 10 ms", w.workload), format!("{p99:.2} ms"), p99 < 10.0);
        }
    }
    // Issue 14: a JWT issuance (EdDSA) against the same system's W0; the API's cache hit against the opaque W2.
    if let (Some(w0), Some(w1)) = (find("axum (JWT, EdDSA)", "W0"), find("axum (JWT, EdDSA)", "W1-jwt")) {
        let r = w1.sample.rps / w0.sample.rps;
        line("axum (JWT, EdDSA): W1-jwt ≥ 0.3 × W0".into(), format!("{r:.2}"), r >= 0.3);
    }
    if let (Some(opaque), Some(hit)) = (find("axum", "W2"), find("axum (JWT, EdDSA)", "W2-jwt")) {
        let r = hit.sample.rps / opaque.sample.rps;
        line("W2-jwt (cache hit) ≥ 0.9 × W2 (opaque, axum)".into(), format!("{r:.2}"), r >= 0.9);
    }
    if let Some(b) = bytes_per_token {
        line("≤ 200 bytes per live token at 1 M".into(), format!("{b:.0} B"), b <= 200.0);
    }
    out
}

/// The database pool of the systems on a database (the demo providers' default `--db-max-connections`).
const POOL: u32 = 10;

/// The figures as a Markdown table.
fn table(rows: &[Row]) -> String {
    let mut table = String::from(
        "| system | workload | req/s | ratio to W0 | p50 | p99 | server CPU per request | database CPU per request \
         | peak RSS |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let w0 = rows.iter().find(|r| r.system == row.system && r.workload == "W0").map(|r| r.sample.rps);
        let db = if row.sample.db_cpu_us.is_nan() { "".into() } else { format!("{:.1} µs", row.sample.db_cpu_us) };
        table.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} ms | {:.2} ms | {:.1} µs | {db} | {:.1} MiB |\n",
            row.system,
            row.workload,
            row.sample.rps,
            w0.map(|w| row.sample.rps / w).unwrap_or(f64::NAN),
            row.sample.p50_ms,
            row.sample.p99_ms,
            row.sample.cpu_us,
            row.peak_rss_mib
        ));
    }
    table
}

/// The core's criterion micro-benchmarks (`crates/oauth2-core/benches/core.rs`), as a Markdown table, and each
/// figure by name (ns per iteration).
fn micro_benchmarks() -> Result<(String, Vec<(String, f64)>), String> {
    eprintln!("\n==> criterion micro-benchmarks of the core (cargo bench -p oauth2-core)");
    let out = cargo(&["bench", "--package", "oauth2-core", "--bench", "core", "--", "--output-format", "bencher"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cargo bench: {e}"))?;
    if !out.status.success() {
        return Err("cargo bench -p oauth2-core failed".into());
    }
    let mut table = String::from("| benchmark | time per iteration |\n|---|---|\n");
    let mut figures_by_name = Vec::new();
    // Lines look like: `test server/bearer validation ... bench:   234 ns/iter (+/- 12)`.
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(rest) = line.strip_prefix("test ") else { continue };
        let Some((name, figures)) = rest.split_once(" ... bench:") else { continue };
        let ns: f64 = figures.split_whitespace().next().unwrap_or("").replace(',', "").parse().unwrap_or(f64::NAN);
        let time = if ns >= 1000.0 { format!("{:.2} µs", ns / 1000.0) } else { format!("{ns:.0} ns") };
        table.push_str(&format!("| {name} | {time} |\n"));
        figures_by_name.push((name.trim().to_owned(), ns));
    }
    Ok((table, figures_by_name))
}

/// What a DPoP proof may cost beside one signature verification and one `jti` write (issue 17): parsing the proof
/// and its claims, and hashing its key's thumbprint.
const DPOP_OVERHEAD: f64 = 1.10;

/// Issue 17's target, from the micro-benchmarks: the proof check with its `jti` write against one signature
/// verification of the proof plus one `jti` write; and from the runs, the server CPU a proof adds per request.
fn dpop_verdicts(rows: &[Row], micro: &[(String, f64)]) -> String {
    let ns = |name: &str| micro.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    let mut out = String::new();
    let write = ns("dpop/jti write (MemoryStore)");
    for alg in ["ES256", "EdDSA"] {
        let check = ns(&format!("dpop/{alg} proof check and jti write (MemoryStore)"));
        let verify = ns(&format!("dpop/{alg} signature verification of a proof"));
        if let (Some(check), Some(verify), Some(write)) = (check, verify, write) {
            let ratio = check / (verify + write);
            out.push_str(&format!(
                "| DPoP {alg}: proof check + jti write ≤ {DPOP_OVERHEAD} × (one signature verification + one jti write) \
                 | {ratio:.2} ({:.1} µs against {:.1} + {:.2} µs) | {} |\n",
                check / 1000.0,
                verify / 1000.0,
                write / 1000.0,
                if ratio <= DPOP_OVERHEAD { "yes" } else { "**no**" }
            ));
        }
    }
    let find = |system: &str, w: &str| rows.iter().find(|r| r.system == system && r.workload == w);
    for system in ["axum", "axum (PostgreSQL)"] {
        for (plain, with) in [("W1", "W1-dpop"), ("W2", "W2-dpop")] {
            if let (Some(a), Some(b)) = (find(system, plain), find(system, with)) {
                let added = b.sample.cpu_us - a.sample.cpu_us;
                let db = b.sample.db_cpu_us - a.sample.db_cpu_us;
                let db = if db.is_nan() { String::new() } else { format!(", database {db:+.1} µs") };
                out.push_str(&format!(
                    "| {system}: server CPU a proof adds to {plain} (ES256; report) | {added:+.1} µs per request{db} \
                     ({:.0} against {:.0} req/s) | — |\n",
                    b.sample.rps, a.sample.rps
                ));
            }
        }
    }
    out
}

/// `cargo xtask bench [--quick] [--only NAME,...]`: `--only` measures the systems whose names contain one of the
/// words (`--only sqlite,postgres`; `=axum` for exactly that one), prints their table and leaves BENCHMARKS.md
/// alone.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .map(|i| args.get(i + 1).map(|v| v.split(',').map(str::to_lowercase).collect()).unwrap_or_default());
    let settings = if quick {
        Settings { runs: 1, seconds: 3, flat_seconds: 20, flat_lifetime: 5 }
    } else {
        Settings { runs: 3, seconds: 10, flat_seconds: 60, flat_lifetime: 10 }
    };
    let wrk = ensure_wrk()?;
    run_step(
        "build the bench binaries (release)",
        cargo(&[
            "build",
            "--release",
            "--package",
            "oauth2-examples",
            "--package",
            "oauth2-testkit",
            "--bin",
            "bench-server",
            "--bin",
            "bench-memory",
            "--bin",
            "bench-proofs",
            "--bin",
            "pg-cluster",
        ]),
    )?;
    let peers = target_dir().join("bench-peers");
    let peer_manifest = root().join("xtask/peers/oxide-auth/Cargo.toml");
    let mut peer_build = cargo(&["build", "--release", "--locked", "--manifest-path"]);
    peer_build.arg(&peer_manifest).arg("--target-dir").arg(&peers);
    run_step("build the oxide-auth peer (release, from crates.io)", peer_build)?;

    let release = target_dir().join("release");
    let scripts = target_dir().join("bench");
    std::fs::create_dir_all(&scripts).map_err(|e| e.to_string())?;
    let ours = |framework: &str| System {
        name: framework.to_owned(),
        program: release.join("bench-server"),
        args: vec!["--framework".into(), framework.into()],
        workloads: vec![WORKLOADS[0], WORKLOADS[1], WORKLOADS[2], W1_SHAPE, W1_DPOP, W2_DPOP],
        backing: Backing::Memory,
    };
    // A word names the systems that contain it; `=name` names one system exactly.
    let wanted = |name: &str| {
        let name = name.to_lowercase();
        only.as_ref().is_none_or(|words| {
            words.iter().any(|w| w.strip_prefix('=').map_or_else(|| name.contains(w.as_str()), |exact| name == exact))
        })
    };
    let on_database = |name: &str, backing: Backing, workloads: Vec<(&'static str, &'static str)>| System {
        name: name.to_owned(),
        program: release.join("bench-server"),
        args: vec!["--framework".into(), "axum".into(), "--db-max-connections".into(), POOL.to_string()],
        workloads,
        backing,
    };
    let sqlite_dir = scripts.join("sqlite");
    std::fs::create_dir_all(&sqlite_dir).map_err(|e| e.to_string())?;
    let mut actix = ours("actix");
    actix.workloads.retain(|w| !w.0.ends_with("-dpop"));
    let sqlite = on_database("axum (SQLite)", Backing::Sqlite(sqlite_dir), WORKLOADS.to_vec());
    let mut systems = vec![ours("axum"), actix, sqlite];
    if wanted("axum (PostgreSQL)") {
        let workloads = [&WORKLOADS[..], &[W1_DPOP, W2_DPOP]].concat();
        let postgres = Postgres::start(&release.join("pg-cluster"), workloads.len())?;
        systems.push(on_database("axum (PostgreSQL)", Backing::Postgres(postgres), workloads));
    }
    for (alg, workloads) in [
        ("EdDSA", vec![WORKLOADS[0], W1_JWT, W2_JWT, W2_JWT_RAW]),
        ("ES256", vec![WORKLOADS[0], W1_JWT, W2_JWT_RAW]),
        ("RS256", vec![WORKLOADS[0], W1_JWT, W2_JWT_RAW]),
    ] {
        systems.push(System {
            name: format!("axum (JWT, {alg})"),
            program: release.join("bench-server"),
            args: ["--framework", "axum", "--access-tokens", "jwt", "--access-token-alg", alg]
                .map(str::to_owned)
                .to_vec(),
            workloads,
            backing: Backing::Memory,
        });
    }
    systems.push(System {
        name: "oxide-auth (axum)".into(),
        program: peers.join("release/oxide-auth-bench"),
        args: vec!["--secrets".into(), "plain".into()],
        workloads: WORKLOADS.to_vec(),
        backing: Backing::Memory,
    });
    systems.retain(|s| wanted(&s.name));

    let mut rows = Vec::new();
    for system in &systems {
        rows.extend(measure(system, &wrk, &settings, &scripts)?);
    }
    let disk = systems.iter().find_map(|s| match &s.backing {
        Backing::Postgres(pg) => Some(format!(
            "Disk under the databases: pg_test_fsync's fdatasync of one 8 kB write {:.0} ops/s ({:.0} µs/op); \
             8 kB write + fdatasync timed one by one: p50 {:.0} µs, p99 {:.0} µs. Pool: {POOL} connections per \
             server. SQLite: WAL, `synchronous=NORMAL`; PostgreSQL 15: `fsync=on`, `synchronous_commit=on`, on core \
             1 beside wrk.\n\n",
            pg.pg_test_fsync.0, pg.pg_test_fsync.1, pg.fsync_latency.0, pg.fsync_latency.1
        )),
        _ => None,
    });
    let table = table(&rows);
    if only.is_some() {
        println!("{}{table}\n{}{}", disk.unwrap_or_default(), verdicts(&rows, None), dpop_verdicts(&rows, &[]));
        return Ok(());
    }

    eprintln!("==> bytes per live token at 1 M tokens");
    let memory = Command::new(release.join("bench-memory")).arg("1000000").output().map_err(|e| e.to_string())?;
    let memory = String::from_utf8_lossy(&memory.stdout).trim().to_owned();
    let bytes_per_token = memory
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("bytes_per_token="))
        .and_then(|v| v.parse::<f64>().ok());
    let flat = memory_over_time(&systems[0], &wrk, &settings, &scripts)?;
    let (micro, micro_figures) = micro_benchmarks()?;
    let command = if quick { "cargo xtask bench --quick" } else { "cargo xtask bench" };
    let targets = format!("{}{}", verdicts(&rows, bytes_per_token), dpop_verdicts(&rows, &micro_figures));
    let report = format!(
        "## Run\n\nMachine: {}. Command: `{command}` (wrk, 1 thread, 32 keep-alive connections, {} s per run, \
         median of {} interleaved runs; servers on core 0, wrk on core 1).\n\n{}{table}\n### Targets\n\n{}\n\
         ### Memory\n\nPer live token (`bench-memory 1000000`): {memory}\n\n{flat}\n\
         ### Core micro-benchmarks (criterion, in the same run)\n\n{micro}",
        machine(),
        settings.seconds,
        settings.runs,
        disk.unwrap_or_default(),
        targets,
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
