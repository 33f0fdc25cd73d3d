//! Events that left the stream before a plugin ran them: the stream drops events older than
//! `stream_max_age_days`, and a plugin further behind than that would skip them without a
//! word. Each delivery that jumps over stream messages the plugin never finished is checked
//! against the stream's first message; a loss is logged as an ERROR naming the plugin and
//! the ids it missed. While a plugin is idle its record is moved up to the stream's end, so
//! events it was never meant to get are not taken for losses.

use std::time::Duration;

use sgevents_cluster::feed::{Delivery, Feed};

use super::{Held, PluginTask};

/// An idle plugin's record is moved up to the stream's end at most this often.
pub(super) const MARK_EVERY: Duration = Duration::from_secs(10);

/// Node and server clocks may differ by this much.
const CLOCK_SLACK_SECS: i64 = 3600;

fn unix_now() -> i64 {
    jiff::Timestamp::now().as_second()
}

impl PluginTask {
    /// Before `delivery` runs: when messages between the last one finished and it may have
    /// aged out, asks the stream, and logs an ERROR when they did.
    pub(super) async fn check_aged(&self, held: &mut Held, delivery: &Delivery) {
        let after = held.record.sequence;
        let floor = held.floor.replace(delivery.published);
        // A plugin new to the cluster starts after the poller's position: older ones are
        // not its own.
        if after == 0 || delivery.sequence <= after + 1 {
            return;
        }
        let max_age = self.stream.cluster().settings().stream_max_age;
        let max_age_secs = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
        // Everything after the last finished message was stored after `floor`: while that is
        // well within the age limit, nothing of it can have aged out.
        if floor.is_some_and(|floor| unix_now() - floor < max_age_secs - CLOCK_SLACK_SECS) {
            return;
        }
        let extent = match self.stream.extent().await {
            Ok(extent) => extent,
            Err(err) => {
                tracing::warn!(logger = "engine", plugin = %self.key, "{err}; cannot tell whether events aged out of the stream before it ran them");
                return;
            }
        };
        if extent.first <= after + 1 {
            return;
        }
        let last = held.record.last_id.unwrap_or_default();
        tracing::error!(
            logger = "engine",
            plugin = %self.key,
            "Plugin {} missed events: stream messages {} to {} were dropped from the stream (stream_max_age_days is {}) before it ran them. It had finished event {last}; the first id it missed is the first of its events after {last}, and it goes on with event {}. Run the missed ones with `sgevents replay` if they matter.",
            self.key,
            after + 1,
            extent.first - 1,
            max_age.as_secs() / 86_400,
            delivery.id
        );
    }

    /// While idle, at most every [`MARK_EVERY`]: when the feed has nothing waiting or in
    /// flight, every message stored so far is handled or not for this plugin, so its record
    /// moves up to the stream's last message.
    pub(super) async fn mark_idle(&self, feed: &Feed, held: &mut Held) {
        if tokio::time::Instant::now() < held.next_mark {
            return;
        }
        held.next_mark = tokio::time::Instant::now() + MARK_EVERY;
        let before = unix_now();
        let Ok(extent) = self.stream.extent().await else {
            return;
        };
        if extent.last <= held.record.sequence || !feed.drained().await.unwrap_or(false) {
            return;
        }
        held.record.sequence = extent.last;
        held.floor = Some(before);
        self.write(held).await;
    }
}
