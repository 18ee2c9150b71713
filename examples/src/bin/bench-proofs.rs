//! Pre-signed DPoP proofs for the benchmarks (`cargo xtask bench`): wrk sends the same request again and again, and a
//! proof is good once, so each request takes the next line of a file this program writes. Not a demo.
//!
//! `bench-proofs --key FILE --method POST --url http://127.0.0.1:PORT/token --count 100000 --out proofs.txt`
//! writes one proof per line, each with its own `jti` and the current `iat`; `--token T` adds the `ath` of an
//! access token (a resource request). The key (ES256) is read from FILE, or made and written there.

use std::io::Write;

use clap::Parser;
use oauth2_core::dpop::DpopKey;
use oauth2_core::jose::Algorithm;
use oauth2_core::random::OsRng;

#[derive(Parser)]
struct Args {
    /// The private JWK of the key: read, or made and written when missing.
    #[arg(long)]
    key: std::path::PathBuf,
    /// The request's method.
    #[arg(long)]
    method: String,
    /// The request's URL.
    #[arg(long)]
    url: String,
    /// The access token a resource request presents (its hash goes in `ath`).
    #[arg(long)]
    token: Option<String>,
    /// How many proofs.
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Where to write them, one per line.
    #[arg(long)]
    out: std::path::PathBuf,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let key = match std::fs::read_to_string(&args.key) {
        Ok(json) => DpopKey::from_private_jwk(&json).map_err(|e| e.to_string())?,
        Err(_) => {
            let key = DpopKey::generate(Algorithm::Es256, &mut OsRng).map_err(|e| e.to_string())?;
            let jwk = key.to_private_jwk().map_err(|e| e.to_string())?;
            std::fs::write(&args.key, jwk.secret()).map_err(|e| e.to_string())?;
            key
        }
    };
    let file = std::fs::File::create(&args.out).map_err(|e| e.to_string())?;
    let mut out = std::io::BufWriter::new(file);
    let now = std::time::SystemTime::now();
    for _ in 0..args.count {
        let proof = key
            .proof(&args.method, &args.url, args.token.as_deref(), None, now, &mut OsRng)
            .map_err(|e| e.to_string())?;
        writeln!(out, "{proof}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}
