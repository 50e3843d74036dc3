//! `seed <captures dir> <corpus dir>`: write every target's seeds (see
//! `etcd_v2_fuzz::seed`) into `<corpus dir>/<target>/`. `scripts/fuzz.sh` runs
//! it with the captures in `tests/fixtures/captures`.

use std::path::{Path, PathBuf};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(captures), Some(corpus)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: seed <captures dir> <corpus dir>");
        std::process::exit(2);
    };
    let corpus = PathBuf::from(corpus);
    let seeds = etcd_v2_fuzz::seed::seeds(Path::new(captures));
    for s in &seeds {
        let dir = corpus.join(s.target);
        let path = dir.join(&s.name);
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &s.bytes))
        {
            eprintln!("{}: {e}", path.display());
            std::process::exit(1);
        }
    }
    println!("seeded {} with {} inputs", corpus.display(), seeds.len());
}
