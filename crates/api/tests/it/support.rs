//! Shared helpers: a sim with one script, and a client for it.

use std::time::Duration;

use sgevents_api::{Client, ClientConfig};
use sgevents_sim::{Sim, SimConfig};

pub(crate) const SCRIPT: &str = "sgevents";
pub(crate) const KEY: &str = "k3y-that-must-not-leak";

pub(crate) async fn sim() -> Sim {
    sgevents_sim::spawn(SimConfig {
        scripts: vec![(SCRIPT.to_owned(), KEY.to_owned())],
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

pub(crate) fn config(url: &str) -> ClientConfig {
    let mut config = ClientConfig::new(url, SCRIPT, KEY);
    config.timeout = Duration::from_secs(20);
    config
}

pub(crate) fn client(url: &str) -> Client {
    Client::new(config(url)).unwrap()
}

/// Creates `n` Shots as the script; each write makes at least one event.
pub(crate) fn make_shots(sim: &Sim, n: usize) {
    for i in 0..n {
        sim.create(
            SCRIPT,
            "Shot",
            serde_json::json!({"code": format!("sh{i:04}")}),
        )
        .unwrap();
    }
}
