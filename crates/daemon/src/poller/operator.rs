//! Operator requests from the control socket: resume or skip a plugin stopped by stopOnError,
//! pause or unpause one. Each is logged on the engine logger with the requester's uid,
//! counted in telemetry, and answered.

use super::Poller;
use crate::control::{Action, Refusal, Reply, Request};
use crate::watch::PluginState;
use crate::worker::Control;

impl Poller {
    pub(super) fn operator(&mut self, request: Request) {
        let reply = self.act(&request);
        // The requester may have gone; the action stands either way.
        let _ = request.reply.send(reply);
    }

    fn act(&mut self, request: &Request) -> Reply {
        let idx = self.find(&request.plugin, request.collection.as_deref())?;
        let (action, uid) = (request.action, request.uid);
        let slot = &mut self.slots[idx];
        let refuse = |state: PluginState| Refusal::NotApplicable {
            plugin: request.plugin.clone(),
            state: state.as_str().to_owned(),
            verb: action.verb().to_owned(),
        };
        let shown = slot.shown_state();
        let done = match action {
            Action::Resume | Action::Skip => {
                let Some(event_id) = slot
                    .stopped_at
                    .filter(|_| slot.state == PluginState::Failed)
                else {
                    return Err(refuse(shown));
                };
                slot.state = PluginState::Active;
                slot.stopped_at = None;
                let epoch = slot.restart_dispatch();
                if action == Action::Resume {
                    slot.order(Control::Restart { epoch });
                    tracing::info!(
                        logger = "engine",
                        "Operator (uid {uid}) resumed plugin {}: it retries event {event_id}",
                        slot.key
                    );
                    format!("resumed {}: retrying event {event_id}", slot.key)
                } else {
                    slot.order(Control::Skip { epoch });
                    tracing::warn!(
                        logger = "engine",
                        "Operator (uid {uid}) skipped event {event_id} of plugin {}: the plugin never runs it",
                        slot.key
                    );
                    format!("skipped event {event_id} of {}; it runs again", slot.key)
                }
            }
            Action::Pause => {
                if shown != PluginState::Active {
                    return Err(refuse(shown));
                }
                slot.paused = true;
                let epoch = slot.restart_dispatch();
                slot.order(Control::Restart { epoch });
                tracing::info!(
                    logger = "engine",
                    "Operator (uid {uid}) paused plugin {} at event {}",
                    slot.key,
                    slot.sent_upto
                );
                format!("paused {}; its cursor stays", slot.key)
            }
            Action::Unpause => {
                if !slot.paused {
                    return Err(refuse(shown));
                }
                slot.paused = false;
                let epoch = slot.restart_dispatch();
                slot.order(Control::Restart { epoch });
                tracing::info!(
                    logger = "engine",
                    "Operator (uid {uid}) unpaused plugin {}: it continues after event {}",
                    slot.key,
                    slot.sent_upto
                );
                format!("unpaused {}", slot.key)
            }
        };
        self.dirty = true;
        Ok(done)
    }

    /// The slot of `plugin` (in `collection` when given).
    fn find(&self, plugin: &str, collection: Option<&str>) -> Result<usize, Refusal> {
        let matches: Vec<usize> = (0..self.slots.len())
            .filter(|&idx| {
                let key = &self.slots[idx].key;
                key.plugin == plugin && collection.is_none_or(|wanted| key.collection == wanted)
            })
            .collect();
        match matches.as_slice() {
            [] => Err(Refusal::UnknownPlugin(plugin.to_owned())),
            [idx] => Ok(*idx),
            _ => Err(Refusal::Ambiguous(plugin.to_owned())),
        }
    }
}
