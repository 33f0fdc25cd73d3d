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
            "[plugins]\nlimit_to_projects: 1, 2\nskip_own_events: yes\nrun_ahead: off\n",
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
    assert!(!from_ini.plugins[1].run_ahead);
    assert!(toml_text.contains("run_ahead = false"), "{toml_text}");
}

#[test]
fn a_cluster_section_reads_the_same_from_ini_and_toml_and_rejects_a_short_lease() {
    let fx = Fixture::new();
    let ini_text = format!(
        "{UPSTREAM_INI}\n[cluster]\nnats_url: nats://a:4222, nats://b:4222\nname: studio\nnode: render-07\nlease_secs: 2\nstream_max_age_days: 30\n"
    );
    let ini = fx.write("shotgunEventDaemon.conf", &ini_text);
    let env = site_env();
    let from_ini = load_with_env(&ini, &env).unwrap();
    let cluster = from_ini.cluster.clone().unwrap();
    assert_eq!(cluster.nats_urls, ["nats://a:4222", "nats://b:4222"]);
    assert_eq!(
        (cluster.name.as_str(), cluster.node.as_deref()),
        ("studio", Some("render-07"))
    );
    assert_eq!(cluster.lease, std::time::Duration::from_secs(2));
    assert_eq!(
        cluster.stream_max_age,
        std::time::Duration::from_secs(30 * 86_400)
    );

    let toml_text = to_toml(&read_ini(&ini, &env).unwrap()).unwrap();
    let toml_path = fx.write("converted.toml", &toml_text);
    assert_eq!(
        load_with_env(&toml_path, &env).unwrap().cluster,
        Some(cluster)
    );

    let short = fx.write(
        "short.conf",
        &format!("{UPSTREAM_INI}\n[cluster]\nnats_url: nats://a:4222\nlease_secs: 1\n"),
    );
    let err = load_with_env(&short, &env).unwrap_err().to_string();
    assert!(err.contains("lease_secs"), "{err}");
    // The stream keeps a week by default; a limit of 0 days (or more than ten years) is
    // refused, naming the setting and the range.
    let default = fx.write(
        "default.conf",
        &format!("{UPSTREAM_INI}\n[cluster]\nnats_url: nats://a:4222\n"),
    );
    let cluster = load_with_env(&default, &env).unwrap().cluster.unwrap();
    assert_eq!(
        cluster.stream_max_age,
        std::time::Duration::from_secs(7 * 86_400)
    );
    for days in ["0", "3651", "-1"] {
        let bad = fx.write(
            "age.conf",
            &format!(
                "{UPSTREAM_INI}\n[cluster]\nnats_url: nats://a:4222\nstream_max_age_days: {days}\n"
            ),
        );
        let err = load_with_env(&bad, &env).unwrap_err().to_string();
        assert!(
            err.contains("stream_max_age_days") && err.contains("from 1 to 3650"),
            "{err}"
        );
    }

    let without = load_with_env(&fx.write("plain.conf", UPSTREAM_INI), &env).unwrap();
    assert_eq!(without.cluster, None);
    let no_url = fx.write(
        "nourl.conf",
        &format!("{UPSTREAM_INI}\n[cluster]\nname: x\n"),
    );
    let err = load_with_env(&no_url, &env).unwrap_err().to_string();
    assert!(err.contains("nats_url"), "{err}");
}
