//! An event's row as pickle, written from the keys and values of one walk over the site's
//! JSON text ([`RowSink`]), so the daemon reads a row once and never into maps: datetimes
//! as `date(seconds)` calls (the rules are [`super::classify`]'s), and the rare conversions
//! left to the runner noted in [`Extras`].

use sgevents_api::{Event, EventError, PathStep, RowSink};

use super::{DateKind, Extras, classify, pickle};

/// The shared part of an entry being written: the row, then its extras.
#[derive(Default)]
pub(crate) struct PickleRow<'t> {
    out: Vec<u8>,
    /// Where each open list or dict began.
    starts: Vec<usize>,
    extras: Extras<'t>,
    /// Whether the top-level object being written has `link_type` `local` (the last one
    /// given, as `Map::get` reads it).
    local_link: bool,
}

impl<'t> PickleRow<'t> {
    pub(crate) fn with_capacity(bytes: usize) -> PickleRow<'t> {
        PickleRow {
            out: Vec::with_capacity(bytes),
            ..PickleRow::default()
        }
    }

    /// The row, then its extras: `None`, or a dict of the runner's conversions.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.extras.write(&mut self.out);
        self.out
    }

    /// A value lands at `path`: a top-level object's `link_type` other than the string
    /// `local` makes it no local link.
    fn land(&mut self, path: &[PathStep<'t>]) {
        if let [_, PathStep::Key(key)] = path
            && key == "link_type"
        {
            self.local_link = false;
        }
    }
}

impl<'t> RowSink<'t> for PickleRow<'t> {
    fn open_map(&mut self, path: &[PathStep<'t>]) {
        self.land(path);
        if path.len() == 1 {
            self.local_link = false;
        }
        self.starts.push(pickle::open_dict(&mut self.out));
    }

    fn key(&mut self, key: &str) {
        pickle::text(&mut self.out, key);
    }

    fn close_map(&mut self, path: &[PathStep<'t>]) {
        if let Some(start) = self.starts.pop() {
            pickle::close_dict(&mut self.out, start);
        }
        if let [PathStep::Key(key)] = path
            && self.local_link
        {
            self.extras.local_links.push(key.clone());
        }
    }

    fn open_list(&mut self, path: &[PathStep<'t>]) {
        self.land(path);
        self.starts.push(pickle::open_list(&mut self.out));
    }

    fn close_list(&mut self, _path: &[PathStep<'t>]) {
        if let Some(start) = self.starts.pop() {
            pickle::close_list(&mut self.out, start);
        }
    }

    fn null(&mut self, path: &[PathStep<'t>]) {
        self.land(path);
        pickle::none(&mut self.out);
    }

    fn boolean(&mut self, path: &[PathStep<'t>], flag: bool) {
        self.land(path);
        pickle::boolean(&mut self.out, flag);
    }

    fn int(&mut self, path: &[PathStep<'t>], int: i64) {
        self.land(path);
        pickle::int(&mut self.out, int);
    }

    fn big_int(&mut self, path: &[PathStep<'t>], int: u64) {
        self.land(path);
        pickle::big_int(&mut self.out, int);
    }

    fn float(&mut self, path: &[PathStep<'t>], float: f64) {
        self.land(path);
        // What json.loads gives for the shortest text of this double.
        pickle::float(&mut self.out, float);
    }

    fn text(&mut self, path: &[PathStep<'t>], text: &str) {
        match classify(text) {
            DateKind::Date(seconds) => pickle::date(&mut self.out, seconds),
            DateKind::Maybe => {
                self.extras.maybe_dates.push(path.to_vec());
                pickle::text(&mut self.out, text);
            }
            DateKind::No => pickle::text(&mut self.out, text),
        }
        match path {
            // Only a top-level string is unescaped by the client.
            [PathStep::Key(key)] if text.contains("&lt;") => self.extras.unescape.push(key.clone()),
            [_, PathStep::Key(key)] if key == "link_type" => self.local_link = text == "local",
            _ => {}
        }
    }
}

/// Reads events for hosts of Python plugins: each row is read once, its fields for the
/// daemon and its pickle for the plugin processes in the same pass
/// ([`Event::from_text_with`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct PickledEvents;

impl sgevents_api::EventReader for PickledEvents {
    fn read(&self, text: &str) -> Result<Event, EventError> {
        let mut row = PickleRow::with_capacity(text.len() / 2 + 64);
        let event = Event::from_text_with(text, &mut row)?;
        event.set_wire_bytes(row.finish().into_boxed_slice());
        Ok(event)
    }
}
