//! `--kubeconfig`: the stored and expected storage versions against the (test) API server's
//! discovery storageVersionHash.

use crate::harness::apiserver::{ApiServer, Resource};
use crate::harness::cli::atrest;
use crate::harness::etcd::Etcd;
use crate::harness::golden::payload;

fn resource(group: &str, version: &str, plural: &str, kind: &str, storage: &str) -> Resource {
    Resource {
        group: group.into(),
        version: version.into(),
        resource: plural.into(),
        kind: kind.into(),
        namespaced: true,
        storage_version: storage.into(),
    }
}

#[test]
fn storage_versions_against_discovery() {
    let etcd = Etcd::start();
    etcd.put_all(&[
        (
            "/registry/horizontalpodautoscalers/team/old",
            payload("autoscaling.v1.HorizontalPodAutoscaler.pb"),
        ),
        (
            "/registry/horizontalpodautoscalers/team/new",
            payload("autoscaling.v2.HorizontalPodAutoscaler.pb"),
        ),
        ("/registry/configmaps/team/cm", payload("core.v1.ConfigMap.pb")),
    ]);
    let server = ApiServer::start(
        vec![
            resource(
                "autoscaling",
                "v2",
                "horizontalpodautoscalers",
                "HorizontalPodAutoscaler",
                "v2",
            ),
            resource(
                "autoscaling",
                "v1",
                "horizontalpodautoscalers",
                "HorizontalPodAutoscaler",
                "v2",
            ),
            resource("", "v1", "configmaps", "ConfigMap", "v1"),
        ],
        "s3cret-token",
    );
    let scan = |extra: &[String]| {
        let mut a = vec![
            "scan".to_owned(),
            format!("--endpoints={}", etcd.endpoint),
            "--kube-version=1.25".into(),
        ];
        a.extend_from_slice(extra);
        atrest(&a)
    };
    let kc = format!("--kubeconfig={}", server.kubeconfig().display());
    let run = scan(&["-o=json".into(), kc.clone()]);
    assert!(run.code <= 1, "{}", run.stderr);
    let doc = run.json();
    let list = doc["summary"]["discovery"]["resources"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", doc["summary"]));
    let hpa = list.iter().find(|c| c["resource"] == "horizontalpodautoscalers").unwrap();
    // At 1.25 our table expects autoscaling/v1, but this server stores v2: the table disagrees,
    // and the v1 objects are not what the server writes.
    assert_eq!(hpa["tableAgrees"], false, "{hpa}");
    let matches: Vec<(String, bool)> = hpa["stored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (s["apiVersion"].as_str().unwrap().to_owned(), s["matchesServer"].as_bool().unwrap())
        })
        .collect();
    assert_eq!(
        matches,
        [("autoscaling/v1".to_owned(), false), ("autoscaling/v2".to_owned(), true)]
    );
    let cm = list.iter().find(|c| c["resource"] == "configmaps").unwrap();
    assert_eq!(cm["tableAgrees"], true);
    let table = scan(&["-o=table".into(), kc]);
    assert!(table.stdout.contains("DISCOVERY: 2 resources compared"), "{}", table.stdout);
    assert!(
        table.stdout.contains("1 HorizontalPodAutoscaler stored as autoscaling/v1"),
        "{}",
        table.stdout
    );

    // A kubeconfig the server refuses: the scan still runs, and says why there is no check.
    let wrong = server.kubeconfig().with_file_name("wrong.kubeconfig");
    let text =
        std::fs::read_to_string(server.kubeconfig()).unwrap().replace("s3cret-token", "nope");
    std::fs::write(&wrong, text).unwrap();
    let refused = scan(&["-o=json".into(), format!("--kubeconfig={}", wrong.display())]);
    assert!(refused.code <= 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("no discovery cross-check"), "{}", refused.stderr);
    assert!(refused.json()["summary"]["discovery"]["error"].is_string());
}
