//! The api3 JSON-RPC client: one POST per call to `/api3/json`, auth, error mapping, paging.

mod read;
#[cfg(test)]
mod tests;
mod transport;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use reqwest::Url;
use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};

use crate::config::{endpoint_url, proxy_url, redact_userinfo};
use crate::{ClientConfig, ClientError, ClientStats, Event, EventReader};

/// The page size `shotgun_api3` uses when the site does not announce `api_max_entities_per_page`.
pub const DEFAULT_RECORDS_PER_PAGE: usize = 500;

/// A connection to one site. Cheap to clone: clones share the connection pool and counters.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// What makes events of the rows event reads return (`Event::from_text` without one).
    reader: Option<Arc<dyn EventReader>>,
}

struct Inner {
    http: reqwest::Client,
    endpoint: Url,
    script_name: String,
    script_key: String,
    session_uuid: Option<String>,
    records_per_page: AtomicUsize,
    server_time: Mutex<Option<Timestamp>>,
    stats: Mutex<ClientStats>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("script_name", &self.inner.script_name)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds a client. No request is sent until the first call.
    ///
    /// Proxies come only from `config.proxy`: the `HTTP(S)_PROXY` environment variables are ignored,
    /// as `shotgun_api3` ignores them.
    ///
    /// # Errors
    /// [`ClientError::Config`] for an unusable URL, proxy or credentials.
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        let endpoint = endpoint_url(&config.base_url)?;
        if config.script_name.trim().is_empty() {
            return Err(ClientError::Config {
                field: "name",
                message: "the script name is empty; set it to the Script entity's name".to_owned(),
            });
        }
        if config.script_key.is_empty() {
            return Err(ClientError::Config {
                field: "key",
                message: "the script key is empty; set it to the Script's application key"
                    .to_owned(),
            });
        }
        let mut user_agent = format!("sgevents/{}", env!("CARGO_PKG_VERSION"));
        if let Some(extra) = config.user_agent.as_deref().filter(|s| !s.is_empty()) {
            user_agent.push_str("; ");
            user_agent.push_str(extra);
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(user_agent)
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if let Some(proxy) = config.proxy.as_deref() {
            let url = proxy_url(proxy)?;
            let proxy = reqwest::Proxy::all(url.as_str()).map_err(|err| ClientError::Config {
                field: "proxy_server",
                message: format!(
                    "`{}` is not usable as a proxy: {}",
                    redact_userinfo(url.as_str()),
                    err.without_url()
                ),
            })?;
            builder = builder.proxy(proxy);
        }
        let http = builder.build().map_err(|err| ClientError::Config {
            field: "server",
            message: format!("cannot set up the HTTP client: {}", err.without_url()),
        })?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                endpoint,
                script_name: config.script_name,
                script_key: config.script_key,
                session_uuid: config.session_uuid,
                records_per_page: AtomicUsize::new(DEFAULT_RECORDS_PER_PAGE),
                server_time: Mutex::new(None),
                stats: Mutex::new(ClientStats::default()),
            }),
            reader: None,
        })
    }

    /// This client, making the events its event reads return with `reader` (the plugin host's
    /// reader also writes each row's pickle in the same pass).
    #[must_use]
    pub fn with_event_reader(mut self, reader: Arc<dyn EventReader>) -> Client {
        self.reader = Some(reader);
        self
    }

    /// The api3 endpoint this client posts to.
    pub fn endpoint(&self) -> &str {
        self.inner.endpoint.as_str()
    }

    /// The script (ApiUser) this client authenticates as.
    pub fn script_name(&self) -> &str {
        &self.inner.script_name
    }

    /// Calls one api3 method once, with the script's auth params, and returns the reply's `results`
    /// (or the whole reply when it has no `results` key). `payload` is left out when it is `None`,
    /// `null`, `{}` or `[]`, as `shotgun_api3` does. There is no retry here: see [`crate::with_retry`].
    ///
    /// # Errors
    /// Any [`ClientError`]; see its variants.
    pub async fn call(&self, method: &str, payload: Option<Value>) -> Result<Value, ClientError> {
        self.call_with(method, payload, transport::decode).await
    }

    /// As [`Client::call`], the reply's body read by `decoder`.
    async fn call_with<T>(
        &self,
        method: &str,
        payload: Option<Value>,
        decoder: impl FnOnce(&str, &HeaderMap, &[u8]) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let mut params = vec![Value::Object(self.auth_params())];
        if let Some(payload) = payload.filter(is_truthy) {
            params.push(payload);
        }
        self.rpc_with(method, params, decoder).await
    }

    /// The site's unauthenticated `info` reply (version, page size, ...). Also adopts the site's
    /// `api_max_entities_per_page` as this client's page size.
    ///
    /// # Errors
    /// Any [`ClientError`]; [`ClientError::BadReply`] when the reply has no version list.
    pub async fn info(&self) -> Result<Value, ClientError> {
        let info = self.rpc("info", Vec::new()).await?;
        let version_ok = info
            .get("version")
            .and_then(Value::as_array)
            .is_some_and(|parts| parts.len() >= 3 && parts[..3].iter().all(Value::is_i64));
        if !version_ok {
            return Err(ClientError::BadReply {
                method: "info".to_owned(),
                detail: format!(
                    "the reply has no `version` list of integers; is {} a Flow Production Tracking site?",
                    self.inner.endpoint
                ),
            });
        }
        if let Some(per_page) = info
            .get("api_max_entities_per_page")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
        {
            self.inner
                .records_per_page
                .store(per_page, Ordering::Relaxed);
        }
        Ok(info)
    }

    /// Up to `limit` events with `id > after_id`, in id order, with [`crate::EVENT_FIELDS`].
    /// `limit == 0` returns nothing without asking the site.
    ///
    /// # Errors
    /// Any [`ClientError`]; [`ClientError::BadReply`] names the row id and field of a malformed
    /// event, and also covers rows out of order or not after `after_id`.
    pub async fn events_after(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<Event>, ClientError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let filters = read::and_filter(vec![read::condition(
            "id",
            "greater_than",
            json!([after_id]),
        )]);
        let events = self.find_events(filters, limit).await?;
        let mut previous = after_id;
        for event in &events {
            if event.id <= previous {
                return Err(ClientError::BadReply {
                    method: "read".to_owned(),
                    detail: format!(
                        "EventLogEntry {} came after id {previous}: rows must have ids above {after_id} in ascending order",
                        event.id
                    ),
                });
            }
            previous = event.id;
        }
        Ok(events)
    }

    /// The events with the given ids that exist now, in id order. Ids that do not exist (yet) are
    /// simply absent. Large id lists are split into several requests.
    ///
    /// # Errors
    /// Any [`ClientError`]; [`ClientError::BadReply`] also when the site returns an id not asked for.
    pub async fn events_by_id(&self, ids: &[i64]) -> Result<Vec<Event>, ClientError> {
        let mut wanted = ids.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let mut events = Vec::with_capacity(wanted.len());
        let chunk_size = self.records_per_page().max(1);
        for chunk in wanted.chunks(chunk_size) {
            let filters = read::and_filter(vec![read::condition("id", "in", json!(chunk))]);
            for event in self.find_events(filters, chunk.len()).await? {
                if chunk.binary_search(&event.id).is_err() {
                    return Err(ClientError::BadReply {
                        method: "read".to_owned(),
                        detail: format!(
                            "asked for EventLogEntry ids {chunk:?} but got id {}",
                            event.id
                        ),
                    });
                }
                events.push(event);
            }
        }
        events.sort_by_key(|event| event.id);
        events.dedup_by_key(|event| event.id);
        Ok(events)
    }

    /// The id of the newest EventLogEntry, or `None` on a site with no events.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn latest_event_id(&self) -> Result<Option<i64>, ClientError> {
        let rows = self
            .find(
                "EventLogEntry",
                read::and_filter(Vec::new()),
                &["id"],
                "desc",
                1,
            )
            .await?;
        match rows.first() {
            None => Ok(None),
            Some(row) => row
                .get("id")
                .and_then(Value::as_i64)
                .map(Some)
                .ok_or_else(|| ClientError::BadReply {
                    method: "read".to_owned(),
                    detail: format!("the newest EventLogEntry row has no integer `id`: {row}"),
                }),
        }
    }

    /// The site's clock as of the last reply, from its HTTP `Date` header (second resolution).
    pub fn server_time(&self) -> Option<Timestamp> {
        *lock(&self.inner.server_time)
    }

    /// The request counters so far.
    pub fn stats(&self) -> ClientStats {
        lock(&self.inner.stats).clone()
    }

    /// The page size used for reads: the site's `api_max_entities_per_page` once [`Client::info`]
    /// has run, else 500.
    pub fn records_per_page(&self) -> usize {
        self.inner.records_per_page.load(Ordering::Relaxed)
    }

    fn auth_params(&self) -> Map<String, Value> {
        let mut auth = Map::new();
        auth.insert("script_name".into(), self.inner.script_name.clone().into());
        auth.insert("script_key".into(), self.inner.script_key.clone().into());
        if let Some(uuid) = &self.inner.session_uuid {
            auth.insert("session_uuid".into(), uuid.clone().into());
        }
        auth
    }
}

/// Python truthiness of a JSON value, as `shotgun_api3` applies it to payloads and `exception`.
pub(crate) fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Locks a mutex that only holds plain data; a panic elsewhere cannot leave it inconsistent.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
