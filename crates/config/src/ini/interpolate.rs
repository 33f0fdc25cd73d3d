//! `%(name)s` interpolation with CPython `BasicInterpolation` rules.

use super::{Environment, IniFile};

/// Python's `MAX_INTERPOLATION_DEPTH`.
const MAX_DEPTH: usize = 10;

/// Why a value could not be interpolated. Messages never include the value itself, which
/// may be a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolationError {
    /// `%(name)s` names no option of the section, `[DEFAULT]` or the environment.
    #[error(
        "`%({reference})s` refers to nothing: set `{reference}` in this section or [DEFAULT], or export the environment variable {reference}"
    )]
    Missing {
        /// The name inside `%(...)s`, as written.
        reference: String,
    },
    /// A `%` that is not `%%` or a complete `%(name)s`.
    #[error("a `%` must be written `%%` or start a `%(name)s` reference ({detail})")]
    Syntax {
        /// What was found instead.
        detail: String,
    },
    /// References nest deeper than Python allows (probably a loop).
    #[error(
        "references nest more than 10 levels deep (is there a loop such as a = %(b)s, b = %(a)s?)"
    )]
    Depth,
}

/// Interpolates `raw` as a value of `section`.
pub(super) fn interpolate(
    file: &IniFile,
    section: &str,
    raw: &str,
    env: &Environment,
) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(raw.len());
    expand(file, section, raw, env, 1, &mut out)?;
    Ok(out)
}

fn expand(
    file: &IniFile,
    section: &str,
    mut rest: &str,
    env: &Environment,
    depth: usize,
    out: &mut String,
) -> Result<(), InterpolationError> {
    if depth > MAX_DEPTH {
        return Err(InterpolationError::Depth);
    }
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("%%") {
            out.push('%');
            rest = after;
        } else if let Some(after) = rest.strip_prefix("%(") {
            let Some(close) = after.find(')').filter(|&c| c > 0) else {
                return Err(bad_reference(rest));
            };
            let Some(after_ref) = after[close + 1..].strip_prefix('s') else {
                return Err(bad_reference(rest));
            };
            let reference = &after[..close];
            rest = after_ref;
            match file.raw(section, reference) {
                Some(option) if option.value.contains('%') => {
                    expand(file, section, &option.value, env, depth + 1, out)?;
                }
                Some(option) => out.push_str(&option.value),
                // Environment values are used literally: upstream would interpolate them too
                // and fail on any `%` inside, which an environment variable should not cause.
                None => match env.var_ignore_case(reference) {
                    Some(value) => out.push_str(value),
                    None => {
                        return Err(InterpolationError::Missing {
                            reference: reference.to_owned(),
                        });
                    }
                },
            }
        } else {
            let found: String = rest.chars().take(2).collect();
            return Err(InterpolationError::Syntax {
                detail: format!("found `{found}`"),
            });
        }
    }
    out.push_str(rest);
    Ok(())
}

fn bad_reference(rest: &str) -> InterpolationError {
    let shown: String = rest.chars().take_while(|&c| c != ')').take(40).collect();
    InterpolationError::Syntax {
        detail: format!("unfinished reference `{shown}`; write it as %(name)s"),
    }
}
