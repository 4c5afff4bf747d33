//! Straight through the API with bollard, and images in use.

use super::*;

#[tokio::test]
async fn bollard_creates_starts_and_waits() {
    use bollard::query_parameters::{CreateContainerOptionsBuilder, WaitContainerOptions};
    use futures_util::StreamExt;
    let d = daemon();
    let client = bollard::Docker::connect_with_unix(
        &d.socket.display().to_string(),
        60,
        bollard::API_DEFAULT_VERSION,
    )
    .unwrap()
    .negotiate_version()
    .await
    .unwrap();
    let body = bollard::models::ContainerCreateBody {
        image: Some("busybox".into()),
        cmd: Some(vec!["sh".into(), "-c".into(), "exit 6".into()]),
        ..Default::default()
    };
    let opts = CreateContainerOptionsBuilder::default()
        .name("bollard1")
        .build();
    let created = client.create_container(Some(opts), body).await.unwrap();
    client
        .start_container(
            &created.id,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .unwrap();
    let mut w = client.wait_container(&created.id, None::<WaitContainerOptions>);
    let mut code = None;
    while let Some(r) = w.next().await {
        match r {
            Ok(r) => code = Some(r.status_code),
            Err(bollard::errors::Error::DockerContainerWaitError { code: c, .. }) => code = Some(c),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(code, Some(6));
    let i = client
        .inspect_container(
            &created.id,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .unwrap();
    assert_eq!(i.state.unwrap().exit_code, Some(6));
    client
        .remove_container(
            &created.id,
            None::<bollard::query_parameters::RemoveContainerOptions>,
        )
        .await
        .unwrap();
}

#[test]
fn image_in_use_is_a_409_and_df_counts_it() {
    let d = daemon();
    d.docker_ok(&["create", "--name", "holder", "busybox", "true"]);
    let o = d.docker(&["rmi", "busybox"]);
    assert!(!o.status.success(), "an image in use was removed");
    assert!(
        err(&o).contains("conflict") || err(&o).contains("is being used"),
        "{}",
        err(&o)
    );
    let df = d.get("/system/df").json();
    assert!(df["Images"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["RepoTags"][0] == "busybox:latest"));
    assert!(df["Containers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["Names"][0] == "/holder"));
    d.docker_ok(&["rm", "holder"]);
}
