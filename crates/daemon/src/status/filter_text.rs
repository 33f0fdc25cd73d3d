//! `matchEvents` rendered as text, close to the Python literal a plugin author wrote.

use sgevents_plugin_api::MatchEvents;

/// `matchEvents` as text: `all events`, or a dict such as
/// `{"Shotgun_Shot_Change": ["sg_status_list"], "Shotgun_Task_New": None}`.
///
/// The plugin-api crate does not export the attribute filter type, so each value is read
/// from its `Debug` form: `Any` is `None`, `OneOf([..])` the list, `Substring(..)` the string.
pub fn match_events_text(filter: &MatchEvents) -> String {
    let MatchEvents::Types(types) = filter else {
        return "all events".to_owned();
    };
    let entries: Vec<String> = types
        .iter()
        .map(|(event_type, attributes)| {
            let debug = format!("{attributes:?}");
            let value = if debug == "Any" {
                "None".to_owned()
            } else if let Some(list) = unwrap_variant(&debug, "OneOf") {
                list.to_owned()
            } else if let Some(text) = unwrap_variant(&debug, "Substring") {
                text.to_owned()
            } else {
                debug
            };
            format!("{event_type:?}: {value}")
        })
        .collect();
    format!("{{{}}}", entries.join(", "))
}

fn unwrap_variant<'a>(debug: &'a str, variant: &str) -> Option<&'a str> {
    debug
        .strip_prefix(variant)?
        .strip_prefix('(')?
        .strip_suffix(')')
}
