//! The names a cluster's parts go by in NATS, derived from the cluster's `name`.

/// Why a cluster name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty, too long, or with characters NATS does not allow in stream and bucket names.
    #[error(
        "cluster name `{0}` is not usable: use 1 to 32 letters, digits, `-` or `_` (it names NATS streams and buckets)"
    )]
    Invalid(String),
}

/// The stream, bucket and subject names of one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    name: String,
}

impl Names {
    /// Checks `name` and derives the names from it.
    ///
    /// # Errors
    /// [`NameError::Invalid`] for a name NATS cannot carry.
    pub fn new(name: &str) -> Result<Names, NameError> {
        let ok = !name.is_empty()
            && name.len() <= 32
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(NameError::Invalid(name.to_owned()));
        }
        Ok(Names {
            name: name.to_owned(),
        })
    }

    /// The stream of events: `SGEVENTS_<name>`.
    pub fn stream(&self) -> String {
        format!("SGEVENTS_{}", self.name)
    }

    /// The bucket holding the poller's lease.
    pub fn lease_bucket(&self) -> String {
        format!("sgevents_{}_lease", self.name)
    }

    /// The bucket listing live nodes.
    pub fn members_bucket(&self) -> String {
        format!("sgevents_{}_nodes", self.name)
    }

    /// The bucket holding positions and plugin state.
    pub fn state_bucket(&self) -> String {
        format!("sgevents_{}_state", self.name)
    }

    /// Every event subject of the cluster: `sgevents.<name>.event.>`.
    pub fn all_events(&self) -> String {
        format!("sgevents.{}.event.>", self.name)
    }

    /// The subject of events of one type. Characters a subject token cannot hold become `_`,
    /// so two types may share a subject; consumers still apply the plugin's own filter.
    pub fn event_subject(&self, event_type: &str) -> String {
        let token: String = event_type
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let token = if token.is_empty() {
            "_".to_owned()
        } else {
            token
        };
        format!("sgevents.{}.event.{token}", self.name)
    }
}

/// `text` as a key-value key: characters a key cannot hold become `_`, and a hash of the
/// original keeps two texts that differ only there apart.
pub(crate) fn kv_key(text: &str) -> String {
    format!(
        "{}-{:08x}",
        token(text),
        crate::place::stable_hash(text) as u32
    )
}

/// `text` with every character outside `[A-Za-z0-9_-]` replaced by `_` (never empty).
pub(crate) fn token(text: &str) -> String {
    let token: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if token.is_empty() {
        "_".to_owned()
    } else {
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_cluster_name() -> Result<(), NameError> {
        let names = Names::new("studio")?;
        assert_eq!(names.stream(), "SGEVENTS_studio");
        assert_eq!(names.lease_bucket(), "sgevents_studio_lease");
        assert_eq!(
            names.event_subject("Shotgun_Shot_Change"),
            "sgevents.studio.event.Shotgun_Shot_Change"
        );
        assert_eq!(
            names.event_subject("odd.type *"),
            "sgevents.studio.event.odd_type__"
        );
        assert_eq!(names.event_subject(""), "sgevents.studio.event._");
        Ok(())
    }

    #[test]
    fn keys_keep_apart_names_that_differ_only_in_odd_characters() {
        assert_ne!(kv_key("/plugins/a b"), kv_key("/plugins/a_b"));
        assert!(kv_key("/plugins/a b").starts_with("_plugins_a_b-"));
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", "a.b", "has space", "x>", &"n".repeat(33)] {
            assert_eq!(
                Names::new(bad),
                Err(NameError::Invalid(bad.to_owned())),
                "{bad}"
            );
        }
    }
}
