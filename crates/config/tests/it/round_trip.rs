//! INI -> TOML -> Settings gives the same settings as INI -> Settings.

use sgevents_config::{load_with_env, read_ini, to_toml};

use crate::fixtures::{Fixture, UPSTREAM_INI, site_env};

#[test]
fn ini_to_toml_round_trip_keeps_every_setting() {
    let fx = Fixture::new();
    let extra = UPSTREAM_INI
        .replace(
            "timing_log: off",
            "timing_log: on\ndispatch: sequential\nhttp: 127.0.0.1:9090",
        )
        .replace(
            "proxy_server:",
            "proxy_server: proxy.example.com:3128\ntimeout_secs: 30",
        )
        .replace(
            "[plugins]\n",
            "[plugins]\nlimit_to_projects: 1, 2\nskip_own_events: yes\nrun_ahead: on\n",
        );
    let ini = fx.write("shotgunEventDaemon.conf", &extra);
    let env = site_env();
    let from_ini = load_with_env(&ini, &env).unwrap();

    let toml_text = to_toml(&read_ini(&ini, &env).unwrap()).unwrap();
    // Secrets referenced through the environment stay references.
    assert!(
        toml_text.contains("script_key_env = \"SG_ED_API_KEY\""),
        "{toml_text}"
    );
    assert!(
        toml_text.contains("password_env = \"SG_ED_EMAIL_PASSWORD\""),
        "{toml_text}"
    );
    assert!(!toml_text.contains("0123456789abcdef"), "{toml_text}");
    let toml_path = fx.write("converted.toml", &toml_text);
    let from_toml = load_with_env(&toml_path, &env).unwrap();

    assert_eq!(from_toml.daemon, from_ini.daemon);
    assert_eq!(from_toml.site, from_ini.site);
    assert_eq!(from_toml.plugins, from_ini.plugins);
    assert_eq!(from_toml.emails, from_ini.emails);
    assert!(from_ini.daemon.log.timing);
    assert_eq!(from_ini.plugins[1].filters.limit_to_projects, vec![1, 2]);
    assert!(from_ini.plugins[1].filters.skip_own_events);
    assert!(from_ini.plugins[1].run_ahead);
    assert!(toml_text.contains("run_ahead = true"), "{toml_text}");
}
