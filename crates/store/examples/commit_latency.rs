//! Measures `Store::save` commit latency for 1 and for 10 cursors per transaction.
//!
//! Run: `cargo run -p sgevents-store --example commit_latency [--release] [-- ROUNDS [DIR]]`.
//! DIR defaults to the system temp directory; use the disk the daemon's state will live on.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use sgevents_store::{Cursor, PluginKey, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let dir = match args.next() {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let path = dir.path().join("bench.sqlite");
    let mut store = Store::open(&path)?;
    println!("database: {} ({rounds} commits per case)", path.display());
    for n_cursors in [1_usize, 10] {
        let keys: Vec<PluginKey> = (0..n_cursors)
            .map(|i| PluginKey::new("/opt/shotgunEvents/plugins", format!("plugin{i}")))
            .collect();
        let deadline = Timestamp::now();
        let mut samples = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let id = i64::try_from(round)? + 1000;
            let updates: Vec<(PluginKey, Cursor)> = keys
                .iter()
                .map(|key| {
                    let mut cursor = Cursor::at(id);
                    cursor.backlog.insert(id - 3, deadline);
                    (key.clone(), cursor)
                })
                .collect();
            let started = Instant::now();
            store.save(&updates)?;
            samples.push(started.elapsed());
        }
        report(n_cursors, &mut samples);
    }
    Ok(())
}

fn report(n_cursors: usize, samples: &mut [Duration]) {
    samples.sort_unstable();
    let pick = |q: f64| {
        let idx = ((samples.len() - 1) as f64 * q).round() as usize;
        samples[idx]
    };
    let total: Duration = samples.iter().sum();
    let mean = total / u32::try_from(samples.len()).unwrap_or(u32::MAX);
    println!(
        "save of {n_cursors:>2} cursor(s): mean {:>7.1} us  p50 {:>7.1} us  p99 {:>7.1} us  max {:>7.1} us",
        us(mean),
        us(pick(0.5)),
        us(pick(0.99)),
        us(pick(1.0)),
    );
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
