//! A plugin's feed: a durable pull consumer of the event stream with explicit acks and one
//! message in flight, so the plugin sees its events in stream order and never two at once,
//! whichever node pulls. The server filters by event type (subjects), so most events never
//! leave NATS. One pull asks for up to [`PULL_BATCH`] events: the server hands out the next
//! one on the same pull when the previous is acked, so an event costs one message each way.

use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use bytes::Bytes;
use futures_util::StreamExt;

use crate::stream::{EVENT_ID_HEADER, EventStream};
use crate::{ClusterError, names};

/// How many events one pull asks for. With one message in flight the server sends them one
/// at a time, each after the previous one's ack, until the pull expires.
pub const PULL_BATCH: usize = 256;

/// The shortest pull asked for.
const MIN_PULL: Duration = Duration::from_millis(100);

/// What a plugin's feed takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Types {
    /// Every event (a plugin with a `'*'` event type).
    All,
    /// Only these event types.
    Only(Vec<String>),
}

/// One plugin's durable consumer.
pub struct Feed {
    consumer: PullConsumer,
    /// The pull still open on the server, and when it expires.
    pull: Option<(pull::Batch, tokio::time::Instant)>,
}

/// One event handed to this node; it stays in flight (no other is handed to anybody) until
/// [`Delivery::done`], or until `ack_wait` passes without [`Delivery::working`].
pub struct Delivery {
    /// The event id, from the message header.
    pub id: i64,
    /// The row as the leader published it.
    pub row: Bytes,
    /// How many times the server has handed this message out (more than 1: a repeat).
    pub delivered: i64,
    /// The message's sequence in the stream: rises in the order the feed hands events out.
    pub sequence: u64,
    /// When the server stored it, in seconds since 1970 (its clock).
    pub published: i64,
    message: async_nats::jetstream::Message,
}

impl Feed {
    /// Opens (creating when needed) the durable consumer for `plugin` (its key, e.g.
    /// `folder/name`). `ack_wait` is how long an event may stay in flight without a sign of
    /// life before the server hands it out again.
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when the consumer cannot be created or opened.
    pub async fn open(
        stream: &EventStream,
        plugin: &str,
        types: &Types,
        ack_wait: Duration,
    ) -> Result<Feed, ClusterError> {
        let cluster = stream.cluster();
        let names = cluster.names();
        let filter_subjects = match types {
            Types::All => vec![names.all_events()],
            Types::Only(types) => {
                let mut subjects: Vec<String> =
                    types.iter().map(|t| names.event_subject(t)).collect();
                subjects.sort();
                subjects.dedup();
                subjects
            }
        };
        let durable = format!("plugin-{}", names::kv_key(plugin));
        let config = pull::Config {
            durable_name: Some(durable.clone()),
            description: Some(format!("sgevents plugin {plugin}")),
            ack_policy: AckPolicy::Explicit,
            deliver_policy: DeliverPolicy::All,
            max_ack_pending: 1,
            ack_wait,
            filter_subjects,
            ..Default::default()
        };
        let handle = stream.handle();
        let consumer = match handle.get_consumer::<pull::Config>(&durable).await {
            Ok(existing)
                if existing.cached_info().config.filter_subjects == config.filter_subjects =>
            {
                existing
            }
            // New, or its filters changed with the plugin's file: (re)create keeps its position.
            _ => handle
                .create_consumer(config)
                .await
                .map_err(|err| ClusterError::js("create a plugin's consumer", err))?,
        };
        Ok(Feed {
            consumer,
            pull: None,
        })
    }

    /// The next event, waiting at most `wait` for one (a pull opened earlier and still open
    /// is read first); `None` when none came.
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when NATS cannot be asked, or a message carries no event id.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<Delivery>, ClusterError> {
        let until = tokio::time::Instant::now() + wait;
        let message = loop {
            let (batch, expires) = match self.pull.as_mut() {
                Some(open) => open,
                None => {
                    let expires_in = until
                        .saturating_duration_since(tokio::time::Instant::now())
                        .max(MIN_PULL);
                    let batch = self
                        .consumer
                        .fetch()
                        .max_messages(PULL_BATCH)
                        .expires(expires_in)
                        .messages()
                        .await
                        .map_err(|err| ClusterError::js("ask for a plugin's next event", err))?;
                    self.pull
                        .insert((batch, tokio::time::Instant::now() + expires_in))
                }
            };
            // A pull lost with the connection is never answered: give up on it and pull again.
            let lost = *expires + crate::ANSWER_WITHIN;
            let Ok(next) = tokio::time::timeout_at(until.min(lost), batch.next()).await else {
                if lost <= until {
                    self.pull = None;
                    return Err(ClusterError::js(
                        "ask for a plugin's next event",
                        "no answer from NATS",
                    ));
                }
                // Nothing within `wait`: the pull stays open for the next call.
                return Ok(None);
            };
            match next {
                Some(message) => break message,
                // This pull is over (expired or used up): another, for what is left of `wait`.
                None => {
                    self.pull = None;
                    if tokio::time::Instant::now() >= until {
                        return Ok(None);
                    }
                }
            }
        };
        let message = message.map_err(|err| {
            self.pull = None;
            ClusterError::js("receive a plugin's event", err)
        })?;
        let id = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(EVENT_ID_HEADER))
            .and_then(|value| value.as_str().parse::<i64>().ok())
            .ok_or_else(|| {
                ClusterError::js(
                    "read a plugin's event",
                    format!(
                        "message on {} has no {EVENT_ID_HEADER} header",
                        message.subject
                    ),
                )
            })?;
        let (delivered, sequence, published) = message
            .info()
            .map(|info| {
                (
                    info.delivered,
                    info.stream_sequence,
                    info.published.unix_timestamp(),
                )
            })
            .unwrap_or((1, 0, 0));
        Ok(Some(Delivery {
            id,
            row: message.payload.clone(),
            delivered,
            sequence,
            published,
            message,
        }))
    }
}

impl Feed {
    /// Closes the open pull, if any: waits until the server ends it (it expires within the
    /// `wait` it was opened with), then hands back what it still brought (at most one event,
    /// as one is in flight at a time), so that event goes to the next pull on any node at
    /// once instead of after `ack_wait`. Call it before handing back an event (the open pull
    /// would get it again) and when the plugin stops pulling here.
    pub async fn close(&mut self) {
        let Some((mut batch, expires)) = self.pull.take() else {
            return;
        };
        let deadline = expires.max(tokio::time::Instant::now()) + crate::ANSWER_WITHIN;
        let mut brought = Vec::new();
        while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, batch.next()).await {
            brought.push(message);
        }
        for message in brought {
            if let Err(err) = message.ack_with(AckKind::Nak(None)).await {
                tracing::warn!("Could not hand an event back: {err}; it comes back after ack_wait");
            }
        }
    }

    /// True when the server has nothing for this feed: no event waiting for it and none in
    /// flight. Every message stored before the call was then handled or is not for it.
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when NATS cannot be asked.
    pub async fn drained(&self) -> Result<bool, ClusterError> {
        let info = self
            .consumer
            .get_info()
            .await
            .map_err(|err| ClusterError::js("read a plugin's consumer", err))?;
        Ok(info.num_pending == 0 && info.num_ack_pending == 0)
    }
}

impl Delivery {
    /// Tells the server the plugin is still on this event, so it is not handed out again.
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when NATS cannot be told.
    pub async fn working(&self) -> Result<(), ClusterError> {
        self.message
            .ack_with(AckKind::Progress)
            .await
            .map_err(|err| ClusterError::js("extend an event's time in flight", err))
    }

    /// Hands the event back: the next pull (on any node) gets it again (a stopped plugin).
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when NATS cannot be told; it then comes back after
    /// `ack_wait`.
    pub async fn retry(self) -> Result<(), ClusterError> {
        self.message
            .ack_with(AckKind::Nak(None))
            .await
            .map_err(|err| ClusterError::js("hand an event back", err))
    }

    /// The plugin finished the event: the ack is sent without waiting for the server's
    /// confirmation (the server's next message on the open pull is the confirmation). An ack
    /// lost with the connection leaves the event in flight until `ack_wait`; it is then
    /// handed out again, the one event a lost connection may repeat.
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when the ack cannot be sent.
    pub async fn done(self) -> Result<(), ClusterError> {
        self.message
            .ack()
            .await
            .map_err(|err| ClusterError::js("acknowledge an event", err))
    }
}
