//! The API core against a real berthd: ping, version, info, versioned paths,
//! errors; with raw HTTP, the docker CLI and bollard.

use berth_testkit::TestDaemon;
use std::sync::OnceLock;

fn daemon() -> &'static TestDaemon {
    static D: OnceLock<TestDaemon> = OnceLock::new();
    D.get_or_init(|| TestDaemon::start(env!("CARGO_BIN_EXE_berthd"), &[]))
}

#[test]
fn ping_get_and_head_carry_dockerd_headers() {
    let d = daemon();
    for method in ["GET", "HEAD"] {
        let r = berth_testkit::request(&d.socket, method, "/_ping", &[], b"").unwrap();
        assert_eq!(r.status, 200, "{method}");
        assert_eq!(r.header("Api-Version"), Some("1.50"));
        assert_eq!(r.header("Ostype"), Some("linux"));
        assert_eq!(r.header("Docker-Experimental"), Some("false"));
        assert!(r.header("Builder-Version").is_some());
        assert_eq!(r.header("Pragma"), Some("no-cache"));
        assert!(r.header("Cache-Control").unwrap().contains("no-cache"));
        if method == "GET" {
            assert_eq!(r.text(), "OK");
        } else {
            assert!(r.body.is_empty());
        }
    }
}

#[test]
fn version_has_components_with_api_range() {
    let d = daemon();
    let v = d.get("/version").json();
    let engine = &v["Components"][0];
    assert_eq!(engine["Name"], "Engine");
    assert_eq!(engine["Details"]["ApiVersion"], "1.50");
    assert_eq!(engine["Details"]["MinAPIVersion"], "1.24");
    assert_eq!(v["ApiVersion"], "1.50");
    assert_eq!(v["Os"], "linux");
    let kernel = std::process::Command::new("uname")
        .arg("-r")
        .output()
        .unwrap();
    assert_eq!(
        v["KernelVersion"],
        String::from_utf8_lossy(&kernel.stdout).trim()
    );
}

#[test]
fn info_reports_real_host_values() {
    let d = daemon();
    let i = d.get("/info").json();
    let ncpu = std::process::Command::new("nproc").output().unwrap();
    assert_eq!(
        i["NCPU"].as_u64().unwrap().to_string(),
        String::from_utf8_lossy(&ncpu.stdout).trim()
    );
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(i["MemTotal"].as_u64().unwrap(), kb * 1024);
    assert_eq!(i["DockerRootDir"], d.data_root.display().to_string());
    let hostname = nix::unistd::gethostname().unwrap();
    assert_eq!(i["Name"], hostname.to_string_lossy().as_ref());
    assert_eq!(i["OSType"], "linux");
    assert!(i["OperatingSystem"].as_str().unwrap().len() > 3);
    // The ID is stable: it is kept in the data root.
    let id = std::fs::read_to_string(d.data_root.join("engine-id")).unwrap();
    assert_eq!(i["ID"], id.trim());
    for key in [
        "Containers",
        "ContainersRunning",
        "ContainersPaused",
        "ContainersStopped",
        "Images",
        "Driver",
        "Runtimes",
        "DefaultRuntime",
        "Plugins",
        "SecurityOptions",
        "ServerVersion",
        "KernelVersion",
    ] {
        assert!(i.get(key).is_some(), "/info lacks {key}");
    }
}

#[test]
fn every_route_works_under_a_version_prefix() {
    let d = daemon();
    for v in ["1.24", "1.41", "1.44", "1.50"] {
        for path in ["/_ping", "/version", "/info"] {
            let r = d.get(&format!("/v{v}{path}"));
            assert_eq!(r.status, 200, "/v{v}{path}: {}", r.text());
        }
    }
    let r = d.get("/v1.23/version");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"
    );
    let r = d.get("/v1.51/info");
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("too new"));
}

#[test]
fn unknown_routes_are_json_404s() {
    let d = daemon();
    for (m, p) in [
        ("GET", "/nope"),
        ("GET", "/v1.41/nope"),
        ("DELETE", "/version"),
        ("POST", "/_ping"),
        ("GET", "/"),
    ] {
        let r = berth_testkit::request(&d.socket, m, p, &[], b"").unwrap();
        assert_eq!(r.status, 404, "{m} {p}");
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.json()["message"], "page not found");
    }
}

#[test]
fn docker_cli_version_and_info() {
    let d = daemon();
    let out = d.docker_ok(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.MinAPIVersion}}",
    ]);
    assert_eq!(out.trim(), "1.50 1.24");
    let out = d.docker_ok(&[
        "info",
        "--format",
        "{{.NCPU}} {{.DockerRootDir}} {{.OSType}}",
    ]);
    let ncpu = std::thread::available_parallelism().unwrap().get();
    assert_eq!(
        out.trim(),
        format!("{ncpu} {} linux", d.data_root.display())
    );
    // An older client, pinned to API 1.41, works through the prefix.
    let o = d
        .docker_cmd(&["version", "--format", "{{.Server.Version}}"])
        .env("DOCKER_API_VERSION", "1.41")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[tokio::test]
async fn bollard_negotiates_and_reads() {
    let d = daemon();
    let client = bollard::Docker::connect_with_unix(
        &d.socket.display().to_string(),
        30,
        bollard::API_DEFAULT_VERSION,
    )
    .unwrap()
    .negotiate_version()
    .await
    .unwrap();
    let v = client.version().await.unwrap();
    assert_eq!(v.api_version.as_deref(), Some("1.50"));
    let info = client.info().await.unwrap();
    assert_eq!(
        info.docker_root_dir.as_deref(),
        Some(d.data_root.display().to_string().as_str())
    );
    assert_eq!(client.ping().await.unwrap(), "OK");
}

/// dockerd's middleware headers are on every response, not only on
/// `/_ping`: successes, errors and unknown routes alike.
#[test]
fn every_response_carries_api_version_and_server_headers() {
    let d = daemon();
    for (m, p, status) in [
        ("GET", "/version", 200),
        ("GET", "/v1.41/version", 200),
        ("GET", "/info", 200),
        ("GET", "/containers/json", 200),
        ("GET", "/containers/nosuch/json", 404),
        ("GET", "/nope", 404),
        ("GET", "/v1.23/version", 400),
    ] {
        let r = berth_testkit::request(&d.socket, m, p, &[], b"").unwrap();
        assert_eq!(r.status, status, "{m} {p}: {}", r.text());
        assert_eq!(r.header("Api-Version"), Some("1.50"), "{m} {p}");
        assert_eq!(r.header("Ostype"), Some("linux"), "{m} {p}");
        assert_eq!(r.header("Docker-Experimental"), Some("false"), "{m} {p}");
        let server = r.header("Server").unwrap_or_default();
        assert!(
            server.starts_with("Docker/") && server.ends_with(" (linux)"),
            "{m} {p}: Server {server:?}"
        );
    }
}

/// A malformed image reference in a create is dockerd's 400, never the
/// 404 of a missing image (which would make the CLI try to pull it).
#[test]
fn create_with_a_malformed_image_reference_is_a_400() {
    let d = daemon();
    for (image, message) in [
        (
            "UPPER/Case",
            "invalid reference format: repository name must be lowercase",
        ),
        ("a::b", "invalid reference format"),
        ("busybox@sha256:abc", "invalid reference format"),
        (":tag", "invalid reference format"),
    ] {
        let body = serde_json::json!({ "Image": image }).to_string();
        let r = d.post_json("/v1.41/containers/create", &body);
        assert_eq!(r.status, 400, "{image}: {}", r.text());
        assert_eq!(r.json()["message"], message, "{image}");
    }
    // A well-formed name that is not there is still the 404.
    let r = d.post_json("/containers/create", r#"{"Image":"nosuch"}"#);
    assert_eq!(r.status, 404, "{}", r.text());
}
