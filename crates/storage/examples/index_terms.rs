//! Cost of a message's full-text index terms (issue 13), what every delivery with the index on
//! pays: `search_index::terms_of` over the messages of a Maildir `cur/` (e.g. the one
//! `bench/search_load.py maildir` writes), against the parse every delivery pays anyway.
//!
//! `cargo run --release -p storage --example index_terms -- DIR [COUNT]`

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("a directory of messages");
    let count: usize = args.next().map_or(3_000, |n| n.parse().expect("a count"));
    let raws: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .expect("readable directory")
        .take(count)
        .map(|e| std::fs::read(e.expect("entry").path()).expect("readable message"))
        .collect();
    let n = raws.len().max(1) as f64;
    for _ in 0..3 {
        let start = Instant::now();
        let metas: Vec<_> = raws
            .iter()
            .map(|r| storage::meta::MessageMeta::compute(r))
            .collect();
        let parse = start.elapsed().as_secs_f64() * 1e6 / n;
        let start = Instant::now();
        let mut terms = 0;
        for (raw, meta) in raws.iter().zip(&metas) {
            let header = &raw[..(meta.root.offset_body as usize).min(raw.len())];
            terms += storage::search_index::terms_of(header, meta).map_or(0, |t| t.len());
        }
        let index = start.elapsed().as_secs_f64() * 1e6 / n;
        println!(
            "{} messages: parse {parse:.1} µs, index terms {index:.1} µs per message \
             ({:.0} terms each)",
            raws.len(),
            terms as f64 / n
        );
    }
}
