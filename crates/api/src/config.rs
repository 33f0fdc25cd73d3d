//! Connection settings for the site client: site URL, script credentials, proxy and timeouts.

use std::fmt;
use std::time::Duration;

use reqwest::Url;

use crate::ClientError;

/// Everything the client needs to reach one site.
///
/// `Debug` never prints `script_key` or a proxy password.
#[derive(Clone)]
pub struct ClientConfig {
    /// The site URL, for example `https://studio.shotgrid.autodesk.com`. A path prefix is kept.
    pub base_url: String,
    /// The Script (ApiUser) name.
    pub script_name: String,
    /// The Script's application key. A secret: never logged.
    pub script_key: String,
    /// An HTTP proxy in upstream's form `[user:pass@]host[:port]` (port defaults to 8080, as
    /// `shotgun_api3` does) or as a URL with an `http://` or `https://` scheme.
    pub proxy: Option<String>,
    /// The limit for one whole request, connection included.
    pub timeout: Duration,
    /// Extra text appended to the `user-agent` header.
    pub user_agent: Option<String>,
    /// Stamped on the EventLogEntry rows of writes made with this client.
    pub session_uuid: Option<String>,
}

impl ClientConfig {
    /// A config with the default timeout (60 s, as upstream's socket timeout) and no proxy.
    pub fn new(base_url: &str, script_name: &str, script_key: &str) -> ClientConfig {
        ClientConfig {
            base_url: base_url.to_owned(),
            script_name: script_name.to_owned(),
            script_key: script_key.to_owned(),
            proxy: None,
            timeout: Duration::from_secs(60),
            user_agent: None,
            session_uuid: None,
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("script_name", &self.script_name)
            .field("script_key", &"<redacted>")
            .field("proxy", &self.proxy.as_deref().map(redact_userinfo))
            .field("timeout", &self.timeout)
            .field("user_agent", &self.user_agent)
            .field("session_uuid", &self.session_uuid)
            .finish()
    }
}

/// The api3 endpoint for a site URL: `<scheme>://<host>[:port][/prefix]/api3/json`.
///
/// # Errors
/// [`ClientError::Config`] when the URL does not parse or its scheme is not http or https.
pub fn endpoint_url(base_url: &str) -> Result<Url, ClientError> {
    let bad = |message: String| ClientError::Config {
        field: "base_url",
        message,
    };
    let trimmed = base_url.trim();
    let mut url = Url::parse(trimmed).map_err(|err| {
        bad(format!(
            "`{}` is not a URL ({err}); give the site address, for example https://mystudio.shotgrid.autodesk.com",
            redact_userinfo(trimmed)
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!(
            "scheme `{}` is not supported; use http:// or https://",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("the URL has no host name".to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "credentials inside the site URL are not supported; remove `user:pass@`".to_owned(),
        ));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{path}/api3/json"));
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// Turns a configured proxy into a URL reqwest accepts.
///
/// Upstream's form `user:pass@host:port` has no scheme, so `http://` is added, and a missing port
/// becomes 8080, as in `shotgun_api3`.
///
/// # Errors
/// [`ClientError::Config`] naming the problem; the message never contains the proxy password.
pub fn proxy_url(proxy: &str) -> Result<Url, ClientError> {
    let bad = |message: String| ClientError::Config {
        field: "proxy_server",
        message,
    };
    let proxy = proxy.trim();
    if proxy.is_empty() {
        return Err(bad(
            "the proxy is empty; remove the setting or give host:port".to_owned(),
        ));
    }
    let has_scheme = proxy.contains("://");
    let text = if has_scheme {
        proxy.to_owned()
    } else {
        format!("http://{proxy}")
    };
    let mut url = Url::parse(&text).map_err(|err| {
        bad(format!(
            "`{}` is not a proxy address ({err}); use [user:pass@]host[:port]",
            redact_userinfo(proxy)
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!(
            "proxy scheme `{}` is not supported; use an http:// or https:// proxy",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad(format!(
            "`{}` has no host name",
            redact_userinfo(proxy)
        )));
    }
    if url.path() != "/" && !url.path().is_empty() {
        return Err(bad(format!(
            "`{}` has a path; a proxy is only [user:pass@]host[:port]",
            redact_userinfo(proxy)
        )));
    }
    if !has_scheme && url.port().is_none() && url.set_port(Some(8080)).is_err() {
        return Err(bad("cannot set the default proxy port 8080".to_owned()));
    }
    Ok(url)
}

/// Replaces any `user:pass@` part of an address with `***@`, for messages and logs.
pub fn redact_userinfo(text: &str) -> String {
    let (scheme, rest) = match text.find("://") {
        Some(idx) => text.split_at(idx + 3),
        None => ("", text),
    };
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
        None => text.to_owned(),
    }
}
