//! A durable throw-away PostgreSQL for `cargo xtask bench`, which runs this program under `taskset` so that the
//! server and every backend share the CPU it picks (affinity is inherited).
//!
//! `pg-cluster [--databases N]` starts a cluster with PostgreSQL's durable defaults (`fsync=on`,
//! `synchronous_commit=on`), measures the disk under it, creates N databases (default 1), and prints, one per line:
//!
//! ```text
//! pid PID                       the postmaster, whose children are the backends
//! pg_test_fsync OPS USECS       pg_test_fsync's fdatasync figure for one 8 kB write: ops/s and µs per op
//! fsync_latency P50_US P99_US   500 writes of 8 kB, each followed by fdatasync, timed one by one
//! url postgres://...            one line per database
//! ready
//! ```
//!
//! It stops the cluster and removes its folder when its standard input closes.

use std::io::{Read, Write};
use std::time::Instant;

use oauth2_testkit::postgres::Cluster;

/// pg_test_fsync's first `fdatasync` line (`fdatasync   6212.466 ops/sec   161 usecs/op`): ops/s and µs per op.
fn fdatasync_figure(report: &str) -> Option<(f64, f64)> {
    let line = report.lines().map(str::trim).find(|l| l.starts_with("fdatasync "))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    Some((fields.get(1)?.parse().ok()?, fields.get(3)?.parse().ok()?))
}

/// Times `n` appends of 8 kB to a file in `dir`, each made durable with `fdatasync` (what a WAL commit waits for),
/// and returns the median and the 99th percentile in µs.
fn fsync_latency(dir: &std::path::Path, n: usize) -> std::io::Result<(f64, f64)> {
    let path = dir.join("fsync-latency");
    let mut file = std::fs::File::create(&path)?;
    let block = [0x5a_u8; 8192];
    let mut micros = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        micros.push(start.elapsed().as_secs_f64() * 1e6);
    }
    drop(file);
    std::fs::remove_file(&path)?;
    micros.sort_by(f64::total_cmp);
    Ok((micros[n / 2], micros[n * 99 / 100]))
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut databases = 1;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--databases" => {
                databases = args.next().and_then(|n| n.parse().ok()).ok_or("--databases takes a number")?;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let cluster = Cluster::durable()?;
    let pid = cluster.pid().ok_or("the cluster is not running")?;
    let test_file = cluster.dir().join("pg_test_fsync.out");
    let report = cluster.program("pg_test_fsync", &["-s", "1", "-f", &test_file.to_string_lossy()])?;
    let (ops, usecs) = fdatasync_figure(&report).ok_or_else(|| format!("no fdatasync line in:\n{report}"))?;
    let (p50, p99) = fsync_latency(cluster.dir(), 500).map_err(|e| format!("fsync latency: {e}"))?;
    let mut out = std::io::stdout().lock();
    let mut say = |line: String| writeln!(out, "{line}").and_then(|()| out.flush()).map_err(|e| e.to_string());
    say(format!("pid {pid}"))?;
    say(format!("pg_test_fsync {ops} {usecs}"))?;
    say(format!("fsync_latency {p50:.0} {p99:.0}"))?;
    for _ in 0..databases {
        say(format!("url {}", cluster.create_database()?))?;
    }
    say("ready".into())?;
    // Until whoever started us lets go.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(cluster);
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pg-cluster: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fdatasync_figure;

    #[test]
    fn reads_the_first_fdatasync_line_of_pg_test_fsync() {
        let report = "Compare file sync methods using one 8kB write:\n\
                      (in wal_sync_method preference order, except fdatasync is Linux's default)\n\
                      \x20       open_datasync                      6423.418 ops/sec     156 usecs/op\n\
                      \x20       fdatasync                          6212.466 ops/sec     161 usecs/op\n\
                      Compare file sync methods using two 8kB writes:\n\
                      \x20       fdatasync                          3188.282 ops/sec     313 usecs/op\n";
        assert_eq!(fdatasync_figure(report), Some((6212.466, 161.0)));
        assert_eq!(fdatasync_figure("no figures"), None);
    }
}
