//! A throw-away PostgreSQL for tests: a cluster made with `initdb` in a temporary folder, started on a free port
//! of 127.0.0.1 with `fsync=off` and `max_connections=200`, and a fresh database per test. No test depends on a
//! server someone started by hand. [`Cluster::durable`] keeps PostgreSQL's defaults instead (`fsync=on`,
//! `synchronous_commit=on`): what the benchmarks measure.
//!
//! [`database`] hands out databases on one cluster per test binary; the cluster is stopped, and its folder
//! removed, when the binary exits (statics are never dropped, so a watcher process waits on a pipe that closes
//! with the binary). A test that stops and restarts its server makes a [`Cluster`] of its own.
//!
//! PostgreSQL refuses to run as root: as root, the folder is given to Debian's `postgres` user and `initdb` and
//! `postgres` run with its uid and gid, so the PID held is the server's own. The binaries are found on `PATH` or
//! under `/usr/lib/postgresql/*/bin` (`.ci/run` installs Debian's `postgresql` where they are missing).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The folder of PostgreSQL's programs: where `initdb` is on `PATH`, else the newest `/usr/lib/postgresql/*/bin`.
fn bin_dir() -> Result<PathBuf, String> {
    let complete = |d: &Path| ["initdb", "postgres", "pg_isready", "createdb"].iter().all(|p| d.join(p).is_file());
    // Where `initdb` on PATH really lives: Debian links single programs into /usr/local/bin or /usr/bin, and the
    // rest stay in the versioned folder.
    if let Some(dir) = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .filter_map(|d| std::fs::canonicalize(d.join("initdb")).ok())
        .filter_map(|initdb| initdb.parent().map(Path::to_path_buf))
        .find(|d| complete(d))
    {
        return Ok(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "no PostgreSQL: install Debian's postgresql (initdb not on PATH nor under /usr/lib/postgresql)")?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|d| complete(d))
        .collect();
    versions.sort_by_key(|d| d.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()).unwrap_or(0));
    versions.pop().ok_or_else(|| "no PostgreSQL under /usr/lib/postgresql".into())
}

/// The uid and gid to run PostgreSQL as: `postgres`'s when we are root, none otherwise.
fn run_as() -> Result<Option<(u32, u32)>, String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().next());
    if uid != Some("0") {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| format!("/etc/passwd: {e}"))?;
    let entry = passwd
        .lines()
        .find(|l| l.starts_with("postgres:"))
        .ok_or("running as root, and there is no postgres user to run PostgreSQL as")?;
    let fields: Vec<&str> = entry.split(':').collect();
    let id = |i: usize| fields.get(i).and_then(|f| f.parse::<u32>().ok()).ok_or("a malformed postgres entry");
    Ok(Some((id(2)?, id(3)?)))
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// A PostgreSQL cluster of this test run's own. Dropping it stops the server and removes its folder.
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    user: Option<(u32, u32)>,
    durable: bool,
    server: Mutex<Option<Child>>,
    _watcher: Option<ChildStdin>,
}

static NEXT_DATABASE: AtomicU64 = AtomicU64::new(0);

impl Cluster {
    /// Makes and starts a cluster that does not wait for the disk (`fsync=off`): for tests.
    pub fn new() -> Result<Self, String> {
        Self::make(false)
    }

    /// Makes and starts a cluster whose commits survive a power cut (`fsync=on`, `synchronous_commit=on`,
    /// `full_page_writes=on`, PostgreSQL's defaults): for measurements.
    pub fn durable() -> Result<Self, String> {
        Self::make(true)
    }

    fn make(durable: bool) -> Result<Self, String> {
        let bin = bin_dir()?;
        let user = run_as()?;
        let unique = format!("oauth2-pg-{}-{}", std::process::id(), NEXT_DATABASE.fetch_add(1, Ordering::Relaxed));
        let dir = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", dir.display()))?;
        }
        let cluster = Self { bin, dir, port: free_port()?, user, durable, server: Mutex::new(None), _watcher: None };
        let initdb = cluster
            .command("initdb")
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "-D"])
            .arg(cluster.dir.join("data"))
            .stdout(Stdio::null())
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !initdb.status.success() {
            return Err(format!("initdb failed: {}", String::from_utf8_lossy(&initdb.stderr)));
        }
        cluster.start()?;
        Ok(cluster)
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.env("LC_ALL", "C").current_dir(&self.dir);
        if let Some((uid, gid)) = self.user {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    /// Starts the server (again, after [`stop`](Self::stop)) on the same port and data, and waits until it
    /// accepts connections.
    pub fn start(&self) -> Result<(), String> {
        let mut server = self.server.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if server.is_some() {
            return Ok(());
        }
        let log = std::fs::File::create(self.dir.join("postgres.log")).map_err(|e| format!("postgres.log: {e}"))?;
        let mut postgres = self.command("postgres");
        postgres
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string(), "-c", "listen_addresses=127.0.0.1", "-k"])
            .arg(&self.dir)
            .args(["-c", "max_connections=200"]);
        if !self.durable {
            postgres.args(["-c", "fsync=off", "-c", "full_page_writes=off"]);
        }
        let child = postgres.stdout(Stdio::null()).stderr(log).spawn().map_err(|e| format!("postgres: {e}"))?;
        *server = Some(child);
        drop(server);
        let started = Instant::now();
        loop {
            let probe = self
                .command("pg_isready")
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres"])
                .output();
            let said = match probe {
                Ok(out) if out.status.success() => return Ok(()),
                Ok(out) => format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
                Err(e) => e.to_string(),
            };
            if started.elapsed() > Duration::from_secs(30) {
                let log = std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(10).collect();
                return Err(format!(
                    "PostgreSQL did not accept connections on port {} within 30 s (pg_isready: {said}); its log ends:\n{}",
                    self.port,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s), keeping its data: the database is "down".
    pub fn stop(&self) {
        let child = self.server.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(mut child) = child {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The server's PID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.server.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref().map(Child::id)
    }

    /// The cluster's folder (its data directory is `data` inside it): on the disk whose speed it depends on.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs one of PostgreSQL's programs (`pg_test_fsync`, `psql`, ...) from the cluster's installation, with the
    /// cluster's user, and returns its standard output.
    pub fn program(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let out = self.command(program).args(args).output().map_err(|e| format!("{program}: {e}"))?;
        if !out.status.success() {
            return Err(format!("{program} failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a fresh database and returns its URL (`postgres://postgres@127.0.0.1:PORT/NAME`).
    pub fn create_database(&self) -> Result<String, String> {
        let name = format!("test_{}_{}", std::process::id(), NEXT_DATABASE.fetch_add(1, Ordering::Relaxed));
        let created = self
            .command("createdb")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", &name])
            .output()
            .map_err(|e| format!("createdb: {e}"))?;
        if !created.status.success() {
            return Err(format!("createdb failed: {}", String::from_utf8_lossy(&created.stderr)));
        }
        Ok(self.url(&name))
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Has a watcher process stop the server and remove the folder once this process exits (for a cluster kept in
    /// a static, which is never dropped): it waits for the end of a pipe whose write end only this process holds.
    fn watch_for_exit(&mut self) -> Result<(), String> {
        let pid = self.pid().ok_or("the server is not running")?;
        let script = "cat >/dev/null; kill -TERM \"$1\" 2>/dev/null; \
                      i=0; while kill -0 \"$1\" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; \
                      kill -KILL \"$1\" 2>/dev/null; rm -rf \"$2\"";
        let mut watcher = Command::new("/bin/sh")
            .args(["-c", script, "pg-watch", &pid.to_string()])
            .arg(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("watcher: {e}"))?;
        self._watcher = watcher.stdin.take();
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh database on this test binary's cluster (started on first use), as a URL. Panics, saying why, when
/// PostgreSQL cannot be started: a test that needs it must fail, not skip.
pub fn database() -> String {
    static SHARED: OnceLock<Result<Cluster, String>> = OnceLock::new();
    let cluster = SHARED.get_or_init(|| {
        let mut cluster = Cluster::new()?;
        cluster.watch_for_exit()?;
        Ok(cluster)
    });
    match cluster {
        Ok(cluster) => cluster.create_database().unwrap_or_else(|e| panic!("{e}")),
        Err(e) => panic!("cannot start a throw-away PostgreSQL: {e}"),
    }
}
