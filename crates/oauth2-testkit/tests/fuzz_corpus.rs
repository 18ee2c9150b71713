//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/`) through the fuzz targets' bodies: every input a
//! fuzzing run kept is a regression test, run by `cargo test` on the stable toolchain.

use std::path::PathBuf;

#[test]
fn every_corpus_input_runs_without_a_panic() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut total = 0;
    for (name, target) in oauth2_testkit::fuzz::TARGETS {
        let dir = root.join(name);
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "no corpus for the target {name} in {}", dir.display());
        for input in &inputs {
            let data = std::fs::read(input).unwrap();
            if std::panic::catch_unwind(|| target(&data)).is_err() {
                panic!("{name}: {} makes the target panic", input.display());
            }
        }
        eprintln!("fuzz corpus [{name}]: {} inputs replayed", inputs.len());
        total += inputs.len();
    }
    assert!(total > 0);
}
