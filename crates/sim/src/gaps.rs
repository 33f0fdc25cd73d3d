//! The gap profile: which write transactions commit their event rows late or never.

use std::str::FromStr;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::SimError;

/// How long a late transaction's event rows stay invisible.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Delay {
    /// Always the same delay.
    Fixed {
        /// Delay in milliseconds.
        ms: u64,
    },
    /// Uniformly distributed between two bounds.
    Uniform {
        /// Lower bound in milliseconds.
        min_ms: u64,
        /// Upper bound in milliseconds.
        max_ms: u64,
    },
    /// Exponentially distributed (long tail), capped.
    Exponential {
        /// Mean delay in milliseconds.
        mean_ms: u64,
        /// Cap in milliseconds.
        max_ms: u64,
    },
}

/// Which share of write transactions commit their EventLogEntry rows late, how late, and
/// which share never commits them (their ids stay a permanent gap). Decisions are drawn from
/// a generator seeded by `--seed`, so a run is reproducible for the same sequence of writes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapProfile {
    /// Fraction (0..=1) of transactions whose rows become visible late.
    #[serde(default)]
    pub late: f64,
    /// Fraction (0..=1) of transactions whose rows are never committed.
    #[serde(default)]
    pub never: f64,
    /// Delay distribution of late rows.
    #[serde(default = "default_delay")]
    pub delay: Delay,
}

fn default_delay() -> Delay {
    Delay::Uniform {
        min_ms: 500,
        max_ms: 5_000,
    }
}

impl Default for GapProfile {
    fn default() -> Self {
        Self {
            late: 0.0,
            never: 0.0,
            delay: default_delay(),
        }
    }
}

impl GapProfile {
    /// A busy site as measured: about a third of recent ids still uncommitted, gaps that close
    /// within seconds to a minute, and a few that never close.
    pub fn realistic() -> Self {
        Self {
            late: 0.3,
            never: 0.01,
            delay: Delay::Exponential {
                mean_ms: 3_000,
                max_ms: 60_000,
            },
        }
    }

    /// Checks the fractions.
    ///
    /// # Errors
    /// A fraction outside 0..=1, or `late + never` above 1.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |setting: &str, message: String| SimError::Config {
            setting: setting.into(),
            message,
        };
        for (name, v) in [("gap late", self.late), ("gap never", self.never)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(name, format!("{v} is not a fraction between 0 and 1")));
            }
        }
        if self.late + self.never > 1.0 {
            return Err(bad(
                "gap late + never",
                "the two fractions add up to more than 1".into(),
            ));
        }
        Ok(())
    }
}

impl FromStr for Delay {
    type Err = SimError;

    /// `fixed:MS`, `uniform:MIN:MAX` or `exp:MEAN[:MAX]`; each number may end in `ms` or `s`.
    fn from_str(text: &str) -> Result<Self, SimError> {
        let err = || SimError::Config {
            setting: "--gap-delay".into(),
            message: format!(
                "'{text}': expected fixed:MS, uniform:MIN:MAX or exp:MEAN[:MAX] (e.g. uniform:200ms:5s)"
            ),
        };
        let parts: Vec<&str> = text.split(':').collect();
        let ms = |i: usize| parts.get(i).and_then(|p| parse_ms(p)).ok_or_else(err);
        match parts.first().copied() {
            Some("fixed") if parts.len() == 2 => Ok(Self::Fixed { ms: ms(1)? }),
            Some("uniform") if parts.len() == 3 => {
                let (min_ms, max_ms) = (ms(1)?, ms(2)?);
                if min_ms > max_ms {
                    return Err(err());
                }
                Ok(Self::Uniform { min_ms, max_ms })
            }
            Some("exp") if parts.len() == 2 => {
                let mean_ms = ms(1)?;
                Ok(Self::Exponential {
                    mean_ms,
                    max_ms: mean_ms.saturating_mul(20),
                })
            }
            Some("exp") if parts.len() == 3 => Ok(Self::Exponential {
                mean_ms: ms(1)?,
                max_ms: ms(2)?,
            }),
            _ => Err(err()),
        }
    }
}

/// Parses `250`, `250ms` or `2s` (also `1.5s`) as milliseconds.
pub(crate) fn parse_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Some(n) = text.strip_suffix("ms") {
        return n.trim().parse().ok();
    }
    if let Some(n) = text.strip_suffix('s') {
        let secs: f64 = n.trim().parse().ok()?;
        return (secs >= 0.0).then(|| (secs * 1000.0).round() as u64);
    }
    text.parse().ok()
}

/// What happens to one transaction's event rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Now,
    Late(i64),
    Never,
}

/// The profile plus its seeded generator.
pub(crate) struct Gaps {
    pub(crate) profile: GapProfile,
    rng: StdRng,
}

impl Gaps {
    pub(crate) fn new(profile: GapProfile, seed: u64) -> Self {
        Self {
            profile,
            rng: StdRng::seed_from_u64(seed ^ 0x6761_7073),
        }
    }

    pub(crate) fn decide(&mut self) -> Fate {
        let p = self.profile;
        if p.late <= 0.0 && p.never <= 0.0 {
            return Fate::Now;
        }
        let draw: f64 = self.rng.random();
        if draw < p.never {
            return Fate::Never;
        }
        if draw < p.never + p.late {
            let ms = match p.delay {
                Delay::Fixed { ms } => ms,
                Delay::Uniform { min_ms, max_ms } => self.rng.random_range(min_ms..=max_ms),
                Delay::Exponential { mean_ms, max_ms } => {
                    let u: f64 = self.rng.random_range(f64::EPSILON..1.0);
                    ((-u.ln()) * mean_ms as f64).min(max_ms as f64) as u64
                }
            };
            return Fate::Late(i64::try_from(ms).unwrap_or(i64::MAX / 2));
        }
        Fate::Now
    }
}
