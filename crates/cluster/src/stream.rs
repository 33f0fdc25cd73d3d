//! The cluster's event stream: every EventLogEntry row once, under a subject that carries its
//! event type, with the event id as the message id so that the server drops a second publish
//! of the same event (by an old and a new leader) within the duplicate window. Events older
//! than the settings' `stream_max_age` are dropped by the server.

use std::time::Duration;

use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream;
use bytes::Bytes;

use crate::{Cluster, ClusterError};

/// How long the server remembers message ids: longer than any takeover.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(2 * 60 * 60);

/// The header field the event id also travels in, for consumers that want it without decoding.
pub const EVENT_ID_HEADER: &str = "Sgevents-Event-Id";

/// What the server said about one publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The stream's sequence number of the message.
    pub sequence: u64,
    /// True when the server already had this event id and stored nothing.
    pub duplicate: bool,
}

/// An event sent to the stream, its confirmation still to come.
pub struct Sending {
    ack: PublishAckFuture,
}

impl Sending {
    /// Waits until the server has stored the event (or recognised it).
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when the server did not confirm; publishing the same event
    /// again is always safe.
    pub async fn confirmed(self) -> Result<Published, ClusterError> {
        let ack = self
            .ack
            .await
            .map_err(|err| ClusterError::js("confirm an event", err))?;
        Ok(Published {
            sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }
}

/// What the stream holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// How long the server keeps an event.
    pub max_age: Duration,
    /// The sequence of the oldest message kept.
    pub first: u64,
    /// The sequence of the newest message.
    pub last: u64,
}

/// A node's handle on the event stream.
#[derive(Clone)]
pub struct EventStream {
    cluster: Cluster,
    stream: stream::Stream,
}

impl EventStream {
    /// Opens (creating when needed) the stream with `replicas` copies; an existing stream
    /// whose age limit differs from the settings' `stream_max_age` is updated to it.
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when it cannot be created, opened or updated.
    pub async fn open(cluster: &Cluster, replicas: usize) -> Result<EventStream, ClusterError> {
        let names = cluster.names();
        let max_age = cluster.settings().stream_max_age;
        let mut stream = cluster
            .jetstream()
            .get_or_create_stream(stream::Config {
                name: names.stream(),
                description: Some("sgevents: the site's EventLogEntry rows".to_owned()),
                subjects: vec![names.all_events()],
                storage: stream::StorageType::File,
                num_replicas: replicas.max(1),
                // The server refuses a window longer than the age limit.
                duplicate_window: DUPLICATE_WINDOW.min(max_age),
                retention: stream::RetentionPolicy::Limits,
                max_age,
                ..Default::default()
            })
            .await
            .map_err(|err| ClusterError::js("open the event stream", err))?;
        let config = stream
            .info()
            .await
            .map_err(|err| ClusterError::js("read the stream's info", err))?
            .config
            .clone();
        if config.max_age != max_age {
            tracing::info!(
                "The event stream keeps events {:?} now (was {:?})",
                max_age,
                config.max_age
            );
            cluster
                .jetstream()
                .update_stream(stream::Config {
                    max_age,
                    duplicate_window: DUPLICATE_WINDOW.min(max_age),
                    ..config
                })
                .await
                .map_err(|err| ClusterError::js("set the event stream's age limit", err))?;
            stream = cluster
                .jetstream()
                .get_stream(names.stream())
                .await
                .map_err(|err| ClusterError::js("open the event stream", err))?;
        }
        Ok(EventStream {
            cluster: cluster.clone(),
            stream,
        })
    }

    /// Publishes one event and waits until the server has stored it (or recognised it).
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when the server did not confirm; publishing the same event
    /// again is always safe.
    pub async fn publish(
        &self,
        id: i64,
        event_type: &str,
        row: Bytes,
    ) -> Result<Published, ClusterError> {
        self.send(id, event_type, row).await?.confirmed().await
    }

    /// Sends one event without waiting for the server: [`Sending::confirmed`] waits. Events
    /// sent on one node are stored in the order they were sent.
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when it cannot be sent; publishing the same event again is
    /// always safe.
    pub async fn send(
        &self,
        id: i64,
        event_type: &str,
        row: Bytes,
    ) -> Result<Sending, ClusterError> {
        let id_text = id.to_string();
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(EVENT_ID_HEADER, id_text.as_str());
        // `headers` replaces the whole map, so it goes before `message_id`, which adds to it.
        let message = PublishMessage::build()
            .payload(row)
            .headers(headers)
            .message_id(&id_text);
        let ack = self
            .cluster
            .jetstream()
            .send_publish(self.cluster.names().event_subject(event_type), message)
            .await
            .map_err(|err| ClusterError::js("publish an event", err))?;
        Ok(Sending { ack })
    }

    /// The cluster this stream belongs to.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    pub(crate) fn handle(&self) -> &stream::Stream {
        &self.stream
    }

    /// The stream's age limit and the sequences of its first and last messages (the first is
    /// above 1 once old events were dropped).
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when the server cannot be asked.
    pub async fn extent(&self) -> Result<Extent, ClusterError> {
        let info = self
            .stream
            .get_info()
            .await
            .map_err(|err| ClusterError::js("read the stream's info", err))?;
        Ok(Extent {
            max_age: info.config.max_age,
            first: info.state.first_sequence,
            last: info.state.last_sequence,
        })
    }

    /// How many events the stream holds.
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when the server cannot be asked.
    pub async fn stored(&self) -> Result<u64, ClusterError> {
        let info = self
            .stream
            .get_info()
            .await
            .map_err(|err| ClusterError::js("read the stream's info", err))?;
        Ok(info.state.messages)
    }
}
