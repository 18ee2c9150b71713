//! Memory per live token in the in-memory store (a benchmark for `cargo xtask bench`, not a test): stores N
//! client-credentials-style tokens (one grant each, as W1 creates them) and reports the resident-set growth per
//! token. `bench-memory [N]` (default 1 000 000).

use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use oauth2_core::Scope;
use oauth2_core::secret::SecretHash;
use oauth2_core::server::{Grant, GrantId, GrantStore, MemoryStore, OsTokenGenerator, TokenGenerator, TokenRecord};

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let tokens = OsTokenGenerator;
    let store = MemoryStore::new();
    let now = SystemTime::now();
    let scope = Scope::parse("read");
    let before = resident_bytes();
    for _ in 0..n {
        let mut id = [0u8; 16];
        tokens.fill_bytes(&mut id);
        let grant = Grant {
            id: GrantId::from_bytes(id),
            client_id: "bench".into(),
            subject: None,
            scope: scope.clone(),
            auth_time: None,
            resources: Vec::new(),
            jkt: None,
        };
        let record = TokenRecord { grant, issued_at: now, expires_at: now + Duration::from_secs(3600) };
        // The in-memory store answers on the first poll.
        let stored = store.store_tokens((SecretHash::of(&tokens.generate()), record), None).now_or_never();
        assert!(matches!(stored, Some(Ok(true))), "the store refused a token");
    }
    let after = resident_bytes();
    let per = (after.saturating_sub(before)) as f64 / n as f64;
    println!("tokens={n} resident_growth_bytes={} bytes_per_token={per:.0}", after.saturating_sub(before));
}
