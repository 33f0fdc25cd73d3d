//! Fault injection: HTTP errors, latency, dropped connections, maintenance windows and api3
//! exceptions, by rate, for the next N requests or for a time window, drawn from a seeded RNG.

use std::str::FromStr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::SimError;
use crate::gaps::parse_ms;

/// What a fault does to a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Reply with this HTTP status (500, 502, 503, 504, ...) and a short HTML body.
    Http {
        /// The status code.
        status: u16,
    },
    /// Delay the reply.
    Latency {
        /// Added delay in milliseconds.
        ms: u64,
    },
    /// Close the connection without a complete reply.
    Drop,
    /// Reply 503 with the site's maintenance page.
    Maintenance,
    /// Reply HTTP 200 with an api3 error body.
    Exception {
        /// The api3 `error_code`.
        error_code: i64,
        /// The message.
        #[serde(default = "default_message")]
        message: String,
    },
}

fn default_message() -> String {
    "Injected fault from sgevents sim".to_owned()
}

/// One fault rule. Without `rate` and `count` it hits every matching request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// What happens.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Probability (0..=1) that a matching request is hit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Hit at most this many requests, then the rule is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Active for this many milliseconds after it is installed (a maintenance window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_ms: Option<u64>,
    /// Only requests of this api3 method (`read`, `create`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

impl FaultRule {
    /// Checks ranges.
    ///
    /// # Errors
    /// A rate outside 0..=1 or an HTTP status outside 100..=599.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |message: String| SimError::Config {
            setting: "fault".into(),
            message,
        };
        if let Some(rate) = self.rate
            && !(0.0..=1.0).contains(&rate)
        {
            return Err(bad(format!(
                "rate {rate} is not a fraction between 0 and 1"
            )));
        }
        if let FaultKind::Http { status } = self.kind
            && !(100..=599).contains(&status)
        {
            return Err(bad(format!("HTTP status {status} is out of range")));
        }
        Ok(())
    }
}

impl FromStr for FaultRule {
    type Err = SimError;

    /// `KIND[=ARG][,rate=F][,count=N][,for=DURATION][,method=NAME][,message=TEXT]`, where KIND is
    /// `http=STATUS`, `latency=DURATION`, `drop`, `maintenance` or `exception=CODE`.
    fn from_str(text: &str) -> Result<Self, SimError> {
        let err = |message: String| SimError::Config {
            setting: format!("--fault {text}"),
            message,
        };
        let mut parts = text.split(',').map(str::trim);
        let head = parts.next().unwrap_or_default();
        let (kind_name, arg) = head
            .split_once('=')
            .map_or((head, None), |(k, a)| (k, Some(a)));
        let mut rule = FaultRule {
            kind: FaultKind::Drop,
            rate: None,
            count: None,
            for_ms: None,
            method: None,
        };
        let mut message = default_message();
        for part in parts {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| err(format!("'{part}' is not key=value")))?;
            match key {
                "rate" => {
                    rule.rate = Some(
                        value
                            .parse()
                            .map_err(|_| err(format!("rate '{value}' is not a number")))?,
                    )
                }
                "count" => {
                    rule.count = Some(
                        value
                            .parse()
                            .map_err(|_| err(format!("count '{value}' is not an integer")))?,
                    )
                }
                "for" => {
                    rule.for_ms =
                        Some(parse_ms(value).ok_or_else(|| {
                            err(format!("for '{value}' is not a duration like 30s"))
                        })?)
                }
                "method" => rule.method = Some(value.to_owned()),
                "message" => message = value.to_owned(),
                other => {
                    return Err(err(format!(
                        "unknown key '{other}' (use rate, count, for, method, message)"
                    )));
                }
            }
        }
        rule.kind = match (kind_name, arg) {
            ("http", Some(a)) => FaultKind::Http {
                status: a
                    .parse()
                    .map_err(|_| err(format!("'{a}' is not an HTTP status")))?,
            },
            ("latency", Some(a)) => FaultKind::Latency {
                ms: parse_ms(a).ok_or_else(|| err(format!("'{a}' is not a duration")))?,
            },
            ("drop", None) => FaultKind::Drop,
            ("maintenance", None) => FaultKind::Maintenance,
            ("exception", Some(a)) => FaultKind::Exception {
                error_code: a
                    .parse()
                    .map_err(|_| err(format!("'{a}' is not an error code")))?,
                message,
            },
            _ => {
                return Err(err(
                    "expected http=STATUS, latency=DURATION, drop, maintenance or exception=CODE first".into(),
                ));
            }
        };
        rule.validate()?;
        Ok(rule)
    }
}

/// The reply a request gets instead of the normal one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Terminal {
    Http(u16),
    Drop,
    Maintenance,
    Exception(i64, String),
}

/// What faults decided for one request.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    pub(crate) latency: Duration,
    pub(crate) terminal: Option<Terminal>,
}

struct Active {
    rule: FaultRule,
    remaining: Option<u64>,
    until: Option<Instant>,
}

/// The installed rules and their seeded generator.
pub(crate) struct Faults {
    rules: Vec<Active>,
    rng: StdRng,
    pub(crate) injected: u64,
}

impl Faults {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            rules: Vec::new(),
            rng: StdRng::seed_from_u64(seed ^ 0x6661_756c),
            injected: 0,
        }
    }

    pub(crate) fn add(&mut self, rule: FaultRule) {
        let until = rule
            .for_ms
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        self.rules.push(Active {
            remaining: rule.count,
            until,
            rule,
        });
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    pub(crate) fn list(&self) -> Vec<FaultRule> {
        self.rules.iter().map(|a| a.rule.clone()).collect()
    }

    /// Decides the faults for one request of `method`.
    pub(crate) fn decide(&mut self, method: &str) -> Decision {
        let now = Instant::now();
        self.rules
            .retain(|a| a.until.is_none_or(|u| u > now) && a.remaining != Some(0));
        let mut decision = Decision::default();
        for active in &mut self.rules {
            if active.rule.method.as_deref().is_some_and(|m| m != method) {
                continue;
            }
            if decision.terminal.is_some() && !matches!(active.rule.kind, FaultKind::Latency { .. })
            {
                continue;
            }
            if let Some(rate) = active.rule.rate
                && self.rng.random::<f64>() >= rate
            {
                continue;
            }
            if let Some(n) = active.remaining.as_mut() {
                *n -= 1;
            }
            self.injected += 1;
            match &active.rule.kind {
                FaultKind::Latency { ms } => decision.latency += Duration::from_millis(*ms),
                FaultKind::Http { status } => decision.terminal = Some(Terminal::Http(*status)),
                FaultKind::Drop => decision.terminal = Some(Terminal::Drop),
                FaultKind::Maintenance => decision.terminal = Some(Terminal::Maintenance),
                FaultKind::Exception {
                    error_code,
                    message,
                } => {
                    decision.terminal = Some(Terminal::Exception(*error_code, message.clone()));
                }
            }
        }
        self.rules.retain(|a| a.remaining != Some(0));
        decision
    }
}
