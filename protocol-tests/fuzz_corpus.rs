//! Replays the fuzz inputs on stable Rust: the generated seeds, the committed seeds and
//! regressions under `fuzz/seeds/<target>/`, and a local `fuzz/corpus/<target>/` if a
//! fuzzing run left one. Each input goes through the same entry point as its fuzz target.

use std::path::Path;

use kmirror::testkit::fuzz;

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn generated_seeds_pass_every_target() {
    let seeds = fuzz::seeds();
    assert!(seeds.len() >= 10);
    for (target, _, data) in &seeds {
        fuzz::run(target, data);
    }
    // `KMIRROR_WRITE_SEEDS=1 cargo test --features testkit fuzz_corpus` refreshes the
    // committed seed files from these.
    if std::env::var_os("KMIRROR_WRITE_SEEDS").is_some() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        for (target, name, data) in seeds {
            std::fs::create_dir_all(root.join(target)).unwrap();
            std::fs::write(root.join(target).join(name), data).unwrap();
        }
    }
}

#[test]
fn committed_seeds_and_local_corpus_replay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for target in fuzz::TARGETS {
        let seeds = files(&root.join("seeds").join(target));
        assert!(!seeds.is_empty(), "no committed seeds for fuzz target {target}");
        for file in seeds.iter().chain(&files(&root.join("corpus").join(target))) {
            let data = std::fs::read(file).unwrap();
            fuzz::run(target, &data);
            replayed += 1;
        }
    }
    assert!(replayed >= fuzz::TARGETS.len());
}
