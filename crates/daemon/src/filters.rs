//! Opt-in per-plugin filters users asked upstream for: limit to or ignore projects, and skip
//! events made by the daemon's own scripts (loop prevention).

use std::collections::BTreeSet;

use sgevents_plugin_api::Event;

/// Filters applied before matchEvents. The default lets every event through, as upstream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginFilters {
    /// When not empty, only events of these project ids reach the plugin.
    pub limit_to_projects: BTreeSet<i64>,
    /// Events of these project ids never reach the plugin.
    pub ignore_projects: BTreeSet<i64>,
    /// Skip events whose user (or sudo's real user) is one of these ApiUser ids.
    pub skip_api_users: BTreeSet<i64>,
}

impl PluginFilters {
    /// Whether the plugin should see `event` at all.
    pub fn accepts(&self, event: &Event) -> bool {
        let project = event.project_id();
        if !self.limit_to_projects.is_empty()
            && !project.is_some_and(|id| self.limit_to_projects.contains(&id))
        {
            return false;
        }
        if project.is_some_and(|id| self.ignore_projects.contains(&id)) {
            return false;
        }
        let is_own = |user: Option<(&str, i64)>| {
            user.is_some_and(|(kind, id)| kind == "ApiUser" && self.skip_api_users.contains(&id))
        };
        !(is_own(event.user()) || is_own(event.sudo_actual_user()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(project: Option<i64>, user: (&str, i64)) -> Event {
        Event::from_json(json!({
            "id": 1, "event_type": "Shotgun_Shot_New", "created_at": "2026-11-22T10:00:00Z",
            "project": project.map(|id| json!({"type": "Project", "id": id})),
            "user": {"type": user.0, "id": user.1},
        }))
        .unwrap()
    }

    #[test]
    fn project_and_own_script_filters() {
        let all = PluginFilters::default();
        assert!(all.accepts(&event(None, ("HumanUser", 1))));

        let limited = PluginFilters {
            limit_to_projects: [70].into(),
            ..PluginFilters::default()
        };
        assert!(limited.accepts(&event(Some(70), ("HumanUser", 1))));
        assert!(!limited.accepts(&event(Some(71), ("HumanUser", 1))));
        assert!(!limited.accepts(&event(None, ("HumanUser", 1))));

        let ignoring = PluginFilters {
            ignore_projects: [71].into(),
            ..PluginFilters::default()
        };
        assert!(ignoring.accepts(&event(Some(70), ("HumanUser", 1))));
        assert!(!ignoring.accepts(&event(Some(71), ("HumanUser", 1))));

        let own = PluginFilters {
            skip_api_users: [5].into(),
            ..PluginFilters::default()
        };
        assert!(!own.accepts(&event(None, ("ApiUser", 5))));
        assert!(own.accepts(&event(None, ("HumanUser", 5))));
    }
}
