//! Every built-in log driver passes the log conformance suite, found the
//! way every caller finds it: through the registry, by name.

use berth_runtime::logdriver::builtin_registry;

#[tokio::test]
async fn every_builtin_log_driver_passes_the_suite() {
    let r = builtin_registry();
    let names = r.builtin_names();
    assert_eq!(names, vec!["json-file", "none"]);
    for name in names {
        let d = r.get(&name).await.unwrap();
        assert_eq!(d.name(), name);
        berth_testkit::suites::log::run(d).await;
    }
}
