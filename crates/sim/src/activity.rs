//! Synthetic studio activity: shots, tasks, status changes, versions and notes, used live
//! (`--activity R`) and to prefill history (`--prefill N`).

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::db::{Db, Link};
use crate::error::ApiError;
use crate::events::Actor;
use crate::site::{Site, writes_from_object};
use crate::{time, write};

const SHOT_FLOW: &[&str] = &["wtg", "rdy", "ip", "cmpt", "fin"];
const VERSION_FLOW: &[&str] = &["rev", "vwd", "apr", "rej"];

/// Every this many actions, a shot goes on hold (or comes off it), so a demo shows holds
/// within its first minute or two.
const HOLD_EVERY: u64 = 24;

/// A seeded generator of plausible writes.
pub(crate) struct Studio {
    rng: StdRng,
    /// Actions taken so far.
    acts: u64,
    /// The Task an artist is working through to final: most Task updates go to it, as in a
    /// studio where work on a task continues until it is done (and so tasks do finish).
    focus: Option<i64>,
    /// Whether the focused Task went back from review once already.
    sent_back: bool,
}

impl Studio {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            acts: 0,
            focus: None,
            sent_back: false,
        }
    }

    /// Performs one action inside the caller's transaction; returns how many events it logged.
    pub(crate) fn act(&mut self, db: &mut Db, now: i64) -> Result<u64, ApiError> {
        let before = db.next_event_id;
        let Some(actor) = self.artist(db) else {
            return Ok(0);
        };
        self.acts += 1;
        if self.acts % HOLD_EVERY == HOLD_EVERY / 3 {
            self.toggle_hold(db, &actor, now)?;
            return Ok(u64::try_from(db.next_event_id - before).unwrap_or(0));
        }
        let roll = self.rng.random_range(0..100);
        match roll {
            0..10 => self.create_shot(db, &actor, now)?,
            10..15 => self.create_asset(db, &actor, now)?,
            15..25 => self.create_task(db, &actor, now)?,
            25..58 => self.work_on_task(db, &actor, now)?,
            58..66 => self.advance(db, &actor, "Shot", SHOT_FLOW, now)?,
            66..78 => self.create_version(db, &actor, now)?,
            78..86 => self.advance(db, &actor, "Version", VERSION_FLOW, now)?,
            86..93 => self.create_note(db, &actor, now)?,
            93..98 => self.assign(db, &actor, now)?,
            _ => self.retire_or_revive(db, &actor, now)?,
        }
        Ok(u64::try_from(db.next_event_id - before).unwrap_or(0))
    }

    fn artist(&mut self, db: &mut Db) -> Option<Actor> {
        let id = self.pick(db, "HumanUser")?;
        let ty = db.intern("HumanUser");
        Some(Actor {
            user: Link { ty, id },
            sudo_actual: None,
            session_uuid: None,
            log_events: true,
        })
    }

    /// A random live record of a type.
    fn pick(&mut self, db: &Db, ty: &str) -> Option<i64> {
        let table = db.tables.get(ty)?;
        let last = *table.keys().next_back()?;
        for _ in 0..8 {
            let id = self.rng.random_range(1..=last);
            if table.get(&id).is_some_and(|e| !e.retired) {
                return Some(id);
            }
        }
        table
            .iter()
            .rev()
            .find(|(_, e)| !e.retired)
            .map(|(id, _)| *id)
    }

    fn project(&mut self, db: &Db) -> Value {
        self.pick(db, "Project")
            .map_or(Value::Null, |id| json!({"type": "Project", "id": id}))
    }

    fn create(
        db: &mut Db,
        actor: &Actor,
        ty: &str,
        fields: Value,
        now: i64,
    ) -> Result<Option<i64>, ApiError> {
        crate::seed::create_fitted(db, actor, ty, fields, now)
    }

    fn update(
        db: &mut Db,
        actor: &Actor,
        ty: &str,
        id: i64,
        fields: Value,
        now: i64,
    ) -> Result<(), ApiError> {
        write::update(
            db,
            actor,
            "update",
            ty,
            id,
            &writes_from_object(&fields)?,
            now,
        )
        .map(|_| ())
    }

    fn create_shot(&mut self, db: &mut Db, actor: &Actor, now: i64) -> Result<(), ApiError> {
        let project = self.project(db);
        let n_seq = db.tables.get("Sequence").map_or(0, |t| t.len());
        let seq = if n_seq == 0 || self.rng.random_range(0..20) == 0 {
            let code = format!("SEQ{:03}", (n_seq + 1) * 10);
            Self::create(
                db,
                actor,
                "Sequence",
                json!({"code": code, "project": project}),
                now,
            )?
        } else {
            self.pick(db, "Sequence")
        };
        let seq_code = seq
            .and_then(|id| db.display_name("Sequence", id))
            .unwrap_or_else(|| "SEQ".into());
        let n = db.next_ids.get("Shot").copied().unwrap_or(1);
        let cut_in = 1001;
        let cut_out = cut_in + self.rng.random_range(24..240);
        Self::create(
            db,
            actor,
            "Shot",
            json!({"code": format!("{seq_code}_{:04}", n * 10), "project": project,
                   "sg_sequence": seq.map(|id| json!({"type": "Sequence", "id": id})),
                   "sg_cut_in": cut_in, "sg_cut_out": cut_out, "sg_cut_duration": cut_out - cut_in + 1,
                   "description": "Created by the studio activity generator"}),
            now,
        )?;
        Ok(())
    }

    fn create_asset(&mut self, db: &mut Db, actor: &Actor, now: i64) -> Result<(), ApiError> {
        const KINDS: &[&str] = &["Character", "Environment", "Prop", "Vehicle"];
        const NAMES: &[&str] = &[
            "hero", "robot", "forest", "car", "lamp", "dragon", "city", "boat",
        ];
        let project = self.project(db);
        let kind = KINDS[self.rng.random_range(0..KINDS.len())];
        let name = NAMES[self.rng.random_range(0..NAMES.len())];
        let n = db.next_ids.get("Asset").copied().unwrap_or(1);
        Self::create(
            db,
            actor,
            "Asset",
            json!({"code": format!("{name}{n:03}"), "sg_asset_type": kind, "project": project}),
            now,
        )?;
        Ok(())
    }

    fn create_task(&mut self, db: &mut Db, actor: &Actor, now: i64) -> Result<(), ApiError> {
        self.create_task_of(db, actor, now, None)
    }

    /// A new Task on a random shot or asset; `step_code` (e.g. `"Layout"`) puts it on a shot
    /// with that pipeline step when the site has one.
    fn create_task_of(
        &mut self,
        db: &mut Db,
        actor: &Actor,
        now: i64,
        step_code: Option<&str>,
    ) -> Result<(), ApiError> {
        let on_shot = step_code.is_some() || self.rng.random_range(0..3) != 0;
        let ty = if on_shot { "Shot" } else { "Asset" };
        let Some(target) = self.pick(db, ty) else {
            return self.create_shot(db, actor, now);
        };
        let steps: Vec<(i64, String)> = db
            .tables
            .get("Step")
            .map(|t| {
                t.iter()
                    .filter(|(_, e)| {
                        !e.retired
                            && e.fields.get("entity_type").and_then(Value::as_str) == Some(ty)
                    })
                    .map(|(id, e)| {
                        (
                            *id,
                            e.fields
                                .get("code")
                                .and_then(Value::as_str)
                                .unwrap_or("Task")
                                .to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let preferred: Vec<(i64, String)> = steps
            .iter()
            .filter(|(_, code)| step_code.is_some_and(|wanted| code == wanted))
            .cloned()
            .collect();
        let steps = if preferred.is_empty() {
            steps
        } else {
            preferred
        };
        let (step, content) = if steps.is_empty() {
            (Value::Null, "Work".to_owned())
        } else {
            let (id, code) = &steps[self.rng.random_range(0..steps.len())];
            (json!({"type": "Step", "id": id}), code.clone())
        };
        let project = db
            .project_of(ty, target)
            .map_or(Value::Null, |p| json!({"type": "Project", "id": p}));
        let assignee = self
            .pick(db, "HumanUser")
            .map(|id| json!([{"type": "HumanUser", "id": id}]));
        let due = time::utc_date(now + self.rng.random_range(3..60) * 86_400).to_string();
        Self::create(
            db,
            actor,
            "Task",
            json!({"content": content, "entity": {"type": ty, "id": target}, "step": step, "project": project,
                   "task_assignees": assignee, "due_date": due, "est_in_mins": self.rng.random_range(1..40) * 60}),
            now,
        )?;
        Ok(())
    }

    fn advance(
        &mut self,
        db: &mut Db,
        actor: &Actor,
        ty: &str,
        flow: &[&str],
        now: i64,
    ) -> Result<(), ApiError> {
        let Some(id) = self.pick(db, ty) else {
            return self.create_task(db, actor, now);
        };
        let current = db
            .get(ty, id)
            .and_then(|e| e.fields.get("sg_status_list"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let pos = flow.iter().position(|s| *s == current);
        let next = match pos {
            Some(p) if p + 1 < flow.len() => flow[p + 1],
            _ => flow[self.rng.random_range(0..flow.len())],
        };
        let valid = db
            .schema
            .entity(ty)
            .and_then(|d| d.field("sg_status_list"))
            .is_some_and(|f| f.valid_values.iter().any(|v| v == next));
        if valid && next != current {
            Self::update(db, actor, ty, id, json!({"sg_status_list": next}), now)?;
        }
        Ok(())
    }

    /// Moves the focused Task one step along its flow; picks a new focus (a layout task when
    /// there is one not yet final) once it is final or gone.
    fn work_on_task(&mut self, db: &mut Db, actor: &Actor, now: i64) -> Result<(), ApiError> {
        let status = |db: &Db, id: i64| {
            db.get("Task", id).filter(|task| !task.retired).map(|task| {
                task.fields
                    .get("sg_status_list")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            })
        };
        let focus = self
            .focus
            .filter(|id| status(db, *id).is_some_and(|s| s != "fin"))
            .or_else(|| self.new_focus(db));
        if focus != self.focus {
            self.sent_back = false;
        }
        self.focus = focus;
        let Some(id) = focus else {
            // Nothing open to work on: a shot needs its layout first.
            return self.create_task_of(db, actor, now, Some("Layout"));
        };
        let current = status(db, id).unwrap_or_default();
        // A review sends the work back once in a while, else it is final.
        let next = match current.as_str() {
            "wtg" => "rdy",
            "rdy" => "ip",
            "ip" => "rev",
            "rev" if !self.sent_back && self.rng.random_range(0..4) == 0 => {
                self.sent_back = true;
                "ip"
            }
            "rev" => "fin",
            _ => "ip",
        };
        let valid = db
            .schema
            .entity("Task")
            .and_then(|d| d.field("sg_status_list"))
            .is_some_and(|f| f.valid_values.iter().any(|v| v == next));
        if valid && next != current {
            Self::update(db, actor, "Task", id, json!({"sg_status_list": next}), now)?;
        }
        Ok(())
    }

    /// A Task not yet final: a layout one when there is one (a shot's layout comes first),
    /// else, half of the time, none (so a new layout is started), else any.
    fn new_focus(&mut self, db: &Db) -> Option<i64> {
        let open: Vec<(i64, bool)> = db
            .tables
            .get("Task")?
            .iter()
            .filter(|(_, task)| {
                !task.retired
                    && task.fields.get("sg_status_list").and_then(Value::as_str) != Some("fin")
            })
            .map(|(id, task)| {
                let content = task.fields.get("content").and_then(Value::as_str);
                let layout = content.is_some_and(|c| c.to_lowercase().contains("layout"));
                (*id, layout)
            })
            .collect();
        let layouts: Vec<i64> = open.iter().filter(|(_, l)| *l).map(|(id, _)| *id).collect();
        if layouts.is_empty() && self.rng.random_range(0..2) == 0 {
            // Start a layout instead: `work_on_task` creates one when there is no focus.
            return None;
        }
        let pool: Vec<i64> = if !layouts.is_empty() {
            layouts
        } else {
            open.iter().map(|(id, _)| *id).collect()
        };
        (!pool.is_empty()).then(|| pool[self.rng.random_range(0..pool.len())])
    }

    /// Puts a shot on hold, or takes one off hold (back to in progress).
    fn toggle_hold(&mut self, db: &mut Db, actor: &Actor, now: i64) -> Result<(), ApiError> {
        let on_hold = db.tables.get("Shot").and_then(|shots| {
            shots
                .iter()
                .find(|(_, shot)| {
                    !shot.retired
                        && shot.fields.get("sg_status_list").and_then(Value::as_str) == Some("hld")
                })
                .map(|(id, _)| *id)
        });
        let (id, status) = match on_hold {
            Some(id) if self.rng.random_range(0..2) == 0 => (id, "ip"),
            _ => match self.pick(db, "Shot") {
                Some(id) => (id, "hld"),
                None => return self.create_shot(db, actor, now),
            },
        };
        let valid = db
            .schema
            .entity("Shot")
            .and_then(|d| d.field("sg_status_list"))
            .is_some_and(|f| f.valid_values.iter().any(|v| v == status));
        if valid {
            Self::update(
                db,
                actor,
                "Shot",
                id,
                json!({"sg_status_list": status}),
                now,
            )?;
        }
        Ok(())
    }

    fn create_version(&mut self, db: &mut Db, actor: &Actor, now: i64) -> Result<(), ApiError> {
        let Some(task) = self.pick(db, "Task") else {
            return self.create_task(db, actor, now);
        };
        let fields = db
            .get("Task", task)
            .map(|e| e.fields.clone())
            .unwrap_or_default();
        let entity = fields.get("entity").cloned().unwrap_or(Value::Null);
        let entity_name = crate::value::link_of(&entity)
            .and_then(|(t, i)| db.display_name(t, i))
            .unwrap_or_else(|| "shot".into());
        let step = db
            .display_name("Task", task)
            .unwrap_or_default()
            .to_lowercase();
        let n = db.next_ids.get("Version").copied().unwrap_or(1);
        let code = format!("{entity_name}_{step}_v{:03}", n % 1000);
        Self::create(
            db,
            actor,
            "Version",
            json!({"code": code, "entity": entity, "sg_task": {"type": "Task", "id": task}, "project": fields.get("project"),
                   "user": {"type": &*actor.user.ty, "id": actor.user.id},
                   "sg_path_to_movie": format!("/mnt/projects/demo/{code}.mov"),
                   "sg_first_frame": 1001, "sg_last_frame": 1001 + self.rng.random_range(24..200)}),
            now,
        )?;
        Ok(())
    }

    fn create_note(&mut self, db: &mut Db, actor: &Actor, now: i64) -> Result<(), ApiError> {
        const REMARKS: &[&str] = &[
            "Looks great",
            "Please fix the flicker",
            "More contrast on the key light",
            "Timing feels slow",
            "Approved for comp",
        ];
        let Some(version) = self.pick(db, "Version") else {
            return self.create_version(db, actor, now);
        };
        let name = db.display_name("Version", version).unwrap_or_default();
        let project = db
            .project_of("Version", version)
            .map_or(Value::Null, |p| json!({"type": "Project", "id": p}));
        let to = self
            .pick(db, "HumanUser")
            .map(|id| json!([{"type": "HumanUser", "id": id}]));
        let remark = REMARKS[self.rng.random_range(0..REMARKS.len())];
        Self::create(
            db,
            actor,
            "Note",
            json!({"subject": format!("Note on {name}"), "content": remark, "project": project,
                   "note_links": [{"type": "Version", "id": version}], "addressings_to": to,
                   "user": {"type": &*actor.user.ty, "id": actor.user.id}}),
            now,
        )?;
        Ok(())
    }

    fn assign(&mut self, db: &mut Db, actor: &Actor, now: i64) -> Result<(), ApiError> {
        let (Some(task), Some(user)) = (self.pick(db, "Task"), self.pick(db, "HumanUser")) else {
            return Ok(());
        };
        let fields = vec![write::FieldWrite {
            name: "task_assignees".into(),
            value: json!([{"type": "HumanUser", "id": user}]),
            mode: write::Mode::Add,
        }];
        write::update(db, actor, "update", "Task", task, &fields, now).map(|_| ())
    }

    fn retire_or_revive(&mut self, db: &mut Db, actor: &Actor, now: i64) -> Result<(), ApiError> {
        let retired = db
            .tables
            .get("Version")
            .and_then(|t| t.iter().find(|(_, e)| e.retired).map(|(id, _)| *id));
        match retired {
            Some(id) if self.rng.random_range(0..2) == 0 => {
                write::revive(db, actor, "revive", "Version", id, now).map(|_| ())
            }
            _ => match self.pick(db, "Version") {
                Some(id) => write::delete(db, actor, "delete", "Version", id, now).map(|_| ()),
                None => Ok(()),
            },
        }
    }
}

/// Writes about `n_events` events of back-dated history directly (no HTTP), densely committed.
pub(crate) fn prefill(site: &Site, n_events: u64, seed: u64) -> Result<(), ApiError> {
    let mut studio = Studio::new(seed ^ 0x7072_6566 ^ n_events);
    let now = time::now_secs();
    let start = now - i64::try_from(n_events / 2).unwrap_or(0);
    let mut db = site.lock();
    let saved = std::mem::take(&mut db.gaps.profile);
    let mut produced = 0u64;
    let mut result = Ok(());
    while produced < n_events && result.is_ok() {
        db.begin();
        let mut in_batch = 0u64;
        let outcome = loop {
            if produced >= n_events || in_batch >= 20_000 {
                break Ok(());
            }
            let at = start + i64::try_from(produced / 2).unwrap_or(0);
            match studio.act(&mut db, at) {
                Ok(0) => {
                    if db.tables.get("HumanUser").is_none_or(|t| t.is_empty()) {
                        break Err(ApiError::crud(
                            "cannot prefill: the site has no HumanUser to act as",
                        ));
                    }
                }
                Ok(n) => {
                    produced += n;
                    in_batch += n;
                }
                Err(e) => break Err(e),
            }
        };
        result = match outcome {
            Ok(()) => db.commit(time::now_millis()),
            Err(e) => {
                db.rollback();
                Err(e)
            }
        };
    }
    db.gaps.profile = saved;
    result
}

/// Drives activity at about `rate` events per second until `stop` fires.
pub(crate) async fn worker(
    site: Arc<Site>,
    rate: f64,
    seed: u64,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut studio = Studio::new(seed ^ 0x6163_7469);
    loop {
        let produced = match site.transaction(|db, now| studio.act(db, now)) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "Activity write failed");
                1
            }
        };
        let pause = Duration::from_secs_f64(produced.max(1) as f64 / rate.max(0.001));
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    // Test code may unwrap: a failure is a test failure.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::SimConfig;

    fn status(db: &Db, ty: &str, id: i64) -> Option<String> {
        db.get(ty, id)?
            .fields
            .get("sg_status_list")?
            .as_str()
            .map(str::to_owned)
    }

    /// Events (from a fresh site) until a shot is on hold and until a layout Task is final.
    fn events_until_hold_and_final_layout(seed: u64) -> (Option<i64>, Option<i64>) {
        let site = Site::open(&SimConfig {
            seed,
            ..SimConfig::default()
        })
        .unwrap();
        let start = site.lock().next_event_id;
        let mut studio = Studio::new(seed);
        let (mut hold, mut layout_final) = (None, None);
        for _ in 0..2_000 {
            site.transaction(|db, now| studio.act(db, now)).unwrap();
            let db = site.lock();
            let produced = db.next_event_id - start;
            let ids = |ty: &str| -> Vec<i64> {
                db.tables
                    .get(ty)
                    .map(|table| table.keys().copied().collect())
                    .unwrap_or_default()
            };
            if hold.is_none()
                && ids("Shot")
                    .iter()
                    .any(|id| status(&db, "Shot", *id).as_deref() == Some("hld"))
            {
                hold = Some(produced);
            }
            if layout_final.is_none()
                && ids("Task").iter().any(|id| {
                    let layout = db
                        .get("Task", *id)
                        .and_then(|task| task.fields.get("content")?.as_str().map(str::to_owned))
                        .is_some_and(|content| content.to_lowercase().contains("layout"));
                    layout && status(&db, "Task", *id).as_deref() == Some("fin")
                })
            {
                layout_final = Some(produced);
            }
            if hold.is_some() && layout_final.is_some() {
                break;
            }
        }
        (hold, layout_final)
    }

    /// The demo (seed 0) runs 2 events a second and must show every example plugin within two
    /// minutes: a shot on hold and a layout made final within 200 events. Other seeds get
    /// there too, within 400.
    #[test]
    fn shots_go_on_hold_and_layouts_get_final_early() {
        for seed in 0..12 {
            let (hold, layout_final) = events_until_hold_and_final_layout(seed);
            let limit = if seed == 0 { 200 } else { 400 };
            let hold = hold.unwrap_or(i64::MAX);
            let layout_final = layout_final.unwrap_or(i64::MAX);
            assert!(hold <= limit, "seed {seed}: first hold after {hold} events");
            assert!(
                layout_final <= limit,
                "seed {seed}: first final layout after {layout_final} events"
            );
        }
    }
}
