//! Opt-in per-plugin filters users asked upstream for: limit to or ignore projects, and skip
//! events made by the daemon's own scripts (loop prevention).

use std::collections::BTreeSet;

use sgevents_plugin_api::Event;

/// Filters applied before matchEvents: the folder's filters as configured (the one
/// definition, `sgevents_config::PluginFilters`) and the ApiUser ids `skip_own_events` stands
/// for, looked up at start. The default lets every event through, as upstream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginFilters {
    /// As configured: projects to limit to or ignore, and whether to skip the daemon's own events.
    pub settings: sgevents_config::PluginFilters,
    /// The daemon's own script users (used when `settings.skip_own_events`).
    pub own_users: BTreeSet<i64>,
}

impl PluginFilters {
    /// Whether the plugin should see `event` at all.
    pub fn accepts(&self, event: &Event) -> bool {
        let settings = &self.settings;
        // Most plugins limit no projects: then the event's project is never looked up.
        let by_project =
            !settings.limit_to_projects.is_empty() || !settings.ignore_projects.is_empty();
        let project = if by_project { event.project_id() } else { None };
        if !settings.limit_to_projects.is_empty()
            && !project.is_some_and(|id| settings.limit_to_projects.contains(&id))
        {
            return false;
        }
        if project.is_some_and(|id| settings.ignore_projects.contains(&id)) {
            return false;
        }
        if !settings.skip_own_events {
            return true;
        }
        let is_own = |user: Option<(&str, i64)>| {
            user.is_some_and(|(kind, id)| kind == "ApiUser" && self.own_users.contains(&id))
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

        let with = |settings: sgevents_config::PluginFilters| PluginFilters {
            settings,
            own_users: [5].into(),
        };
        let limited = with(sgevents_config::PluginFilters {
            limit_to_projects: vec![70],
            ..Default::default()
        });
        assert!(limited.accepts(&event(Some(70), ("HumanUser", 1))));
        assert!(!limited.accepts(&event(Some(71), ("HumanUser", 1))));
        assert!(!limited.accepts(&event(None, ("HumanUser", 1))));

        let ignoring = with(sgevents_config::PluginFilters {
            ignore_projects: vec![71],
            ..Default::default()
        });
        assert!(ignoring.accepts(&event(Some(70), ("HumanUser", 1))));
        assert!(!ignoring.accepts(&event(Some(71), ("HumanUser", 1))));

        assert!(
            limited.accepts(&event(Some(70), ("ApiUser", 5))),
            "not skipping own"
        );
        let own = with(sgevents_config::PluginFilters {
            skip_own_events: true,
            ..Default::default()
        });
        assert!(!own.accepts(&event(None, ("ApiUser", 5))));
        assert!(own.accepts(&event(None, ("HumanUser", 5))));
    }
}
