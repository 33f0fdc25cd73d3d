//! Daemon configuration: upstream's INI file and our native TOML, validated into [`Settings`].
pub mod ini;
