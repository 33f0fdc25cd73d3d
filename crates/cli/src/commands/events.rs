//! `sgevents events`: the site's EventLogEntry rows in an id range, as plugins receive them.

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use sgevents_api::{Client, Event};
use sgevents_config::Settings;

/// Events asked for per read.
const PAGE: usize = 500;

/// Arguments of `sgevents events`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The daemon's config file (default: upstream's search order), for the site.
    #[arg(long, env = "SGEVENTS_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) range: Range,
    /// Only events whose type matches this pattern (`*` any run, `?` one character), e.g.
    /// `Shotgun_Shot_*`.
    #[arg(long = "type", value_name = "GLOB")]
    pub(crate) event_type: Option<String>,
    /// One JSON object per line, exactly as a plugin's callback receives the event.
    #[arg(long)]
    pub(crate) json: bool,
}

/// An inclusive range of event ids.
#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct Range {
    /// The first event id (inclusive).
    #[arg(long, value_name = "ID", value_parser = clap::value_parser!(i64).range(1..))]
    pub(crate) from: i64,
    /// The last event id (inclusive); default: the site's latest event when the command starts.
    #[arg(long, value_name = "ID", value_parser = clap::value_parser!(i64).range(1..))]
    pub(crate) to: Option<i64>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = load_settings(args.config.as_ref())?;
    let runtime = super::run::runtime()?;
    runtime.block_on(async {
        let client = sgevents_daemon::setup::client(&settings)?;
        let mut out = std::io::stdout().lock();
        let mut count = 0_u64;
        each_event(&client, args.range, |event| {
            if args
                .event_type
                .as_deref()
                .is_some_and(|glob| !glob_match(glob, &event.event_type))
            {
                return Ok(());
            }
            count += 1;
            let line = if args.json {
                serde_json::to_string(&event.raw())?
            } else {
                describe(event)
            };
            use std::io::Write as _;
            writeln!(out, "{line}").context("writing to stdout")?;
            Ok(())
        })
        .await?;
        if !args.json {
            eprintln!("{count} event(s)");
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The settings of `config` (or of the config upstream's search order finds).
pub(crate) fn load_settings(config: Option<&PathBuf>) -> anyhow::Result<Settings> {
    let path = sgevents_config::find_config(config.map(PathBuf::as_path))?;
    Ok(sgevents_config::load(&path)?)
}

/// Calls `each` with every event of `range` on the site, in id order. Without `range.to`, the
/// range ends at the latest event when this starts, so a busy site does not make it endless.
///
/// # Errors
/// A bad range, the site's error, or the first error of `each`.
pub(crate) async fn each_event(
    client: &Client,
    range: Range,
    mut each: impl FnMut(&Event) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let to = match range.to {
        Some(to) => to,
        None => match client
            .latest_event_id()
            .await
            .with_context(|| format!("asking {} for its latest event", client.endpoint()))?
        {
            Some(latest) => latest,
            None => return Ok(()),
        },
    };
    if to < range.from {
        if range.to.is_some() {
            bail!("--to {to} is before --from {}", range.from);
        }
        return Ok(());
    }
    let mut after = range.from - 1;
    while after < to {
        let events = client
            .events_after(after, PAGE)
            .await
            .with_context(|| format!("reading events after {after} from {}", client.endpoint()))?;
        let Some(last) = events.last() else {
            break;
        };
        after = last.id;
        for event in events.iter().filter(|event| event.id <= to) {
            each(event)?;
        }
    }
    Ok(())
}

/// One line for a person: id, time, type, attribute, entity and user.
fn describe(event: &Event) -> String {
    let link = |field: &str| {
        event.raw().get(field).and_then(|value| {
            let kind = value.get("type")?.as_str()?;
            let id = value.get("id")?.as_i64()?;
            Some(match value.get("name").and_then(|name| name.as_str()) {
                Some(name) => format!("{kind} {id} ({name})"),
                None => format!("{kind} {id}"),
            })
        })
    };
    let mut line = format!("{}  {}  {}", event.id, event.created_at, event.event_type);
    if let Some(attribute) = &event.attribute_name {
        line.push_str(&format!(" [{attribute}]"));
    }
    if let Some(entity) = link("entity") {
        line.push_str(&format!("  {entity}"));
    }
    if let Some(user) = link("user") {
        line.push_str(&format!("  by {user}"));
    }
    line
}

/// Whether `text` matches `glob`, where `*` is any run of characters and `?` one character.
/// Written by hand: event types are ASCII words, and a glob crate's path semantics (`/`,
/// `**`, classes) do not apply to them.
pub(crate) fn glob_match(glob: &str, text: &str) -> bool {
    let glob: Vec<char> = glob.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // Classic two-pointer match with backtracking to the last `*`.
    let (mut g, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match glob.get(g) {
            Some('*') => {
                star = Some((g, t));
                g += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                g += 1;
                t += 1;
            }
            _ => match star {
                Some((star_g, star_t)) => {
                    g = star_g + 1;
                    t = star_t + 1;
                    star = Some((star_g, star_t + 1));
                }
                None => return false,
            },
        }
    }
    glob[g..].iter().all(|&c| c == '*')
}
