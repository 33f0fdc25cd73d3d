//! Benchmark: `--prefill 1000000`, writing a million events of history in-process.

use std::time::Instant;

fn main() {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start a runtime: {e}");
            return;
        }
    };
    runtime.block_on(async {
        let n_events: u64 = std::env::var("SIM_PREFILL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let t0 = Instant::now();
        let sim = match sgevents_sim::spawn(sgevents_sim::SimConfig {
            prefill: n_events,
            ..Default::default()
        })
        .await
        {
            Ok(sim) => sim,
            Err(e) => {
                eprintln!("cannot start the sim: {e}");
                return;
            }
        };
        let elapsed = t0.elapsed();
        println!(
            "prefill {n_events} events: {elapsed:?} (latest event id {:?})",
            sim.latest_event_id()
        );
        sim.shutdown().await;
    });
}
