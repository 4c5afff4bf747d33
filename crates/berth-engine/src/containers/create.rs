//! `POST /containers/create`.

use super::Containers;
use berth_api::version::ApiVersion;
use berth_core::containers::{new_id, random_name, validate_name, ContainerRecord};
use berth_runtime::spec::{self, ImageRuntimeConfig};
use berth_types::container::{
    ContainerConfig, ContainerCreateRequest, ContainerCreateResponse, ContainerState, HostConfig,
};
use berth_types::{Error, ErrorKind, Result};

impl Containers {
    pub async fn create(
        &self,
        name: Option<String>,
        req: ContainerCreateRequest,
        _version: ApiVersion,
    ) -> Result<ContainerCreateResponse> {
        let ContainerCreateRequest {
            mut config,
            host_config: mut hc,
            mut networking_config,
        } = req;
        check_image_reference(&config.image)?;
        let image = self.images.get(&config.image).map_err(|e| {
            let e: Error = e.into();
            if e.kind == ErrorKind::NotFound {
                Error::not_found(format!("No such image: {}", config.image))
            } else {
                e
            }
        })?;
        let runtime = {
            let reg = self.runtimes.read().unwrap();
            reg.get(&hc.runtime)?.name.clone()
        };
        hc.runtime = runtime.clone();
        check_restart_policy(&hc)?;
        self.check_network(&mut hc, &mut networking_config).await?;
        check_mounts_and_security(&hc)?;
        let argv = command_of(&mut config, &image)?;

        let id = new_id();
        let generated = name.is_none();
        let name = match name {
            Some(n) => validate_name(&n)?,
            None => loop {
                let n = format!("/{}", random_name());
                if self.store.get(&n).is_err() {
                    break n;
                }
            },
        };
        let nanos = super::now_nanos();
        let rec = ContainerRecord {
            id: id.clone(),
            name,
            created: berth_types::timestamp::format_nanos(nanos),
            created_nanos: nanos as i64,
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            image_ref: config.image.clone(),
            config,
            host_config: hc,
            image_id: image.id.clone(),
            state: ContainerState::default(),
            restart_count: 0,
            runtime,
            mounts: Vec::new(),
            manually_stopped: false,
            has_been_started: false,
            started_nanos: 0,
            networking: networking_config,
            left_mode_network: false,
        };
        let rec = self.persist(rec, generated).await?;
        self.emit(&rec, "create", &[]);
        Ok(ContainerCreateResponse {
            id,
            warnings: Vec::new(),
        })
    }

    /// The writable layer, the volumes (and their references to this
    /// container), then the record in the store; undone on failure.
    async fn persist(&self, mut rec: ContainerRecord, generated: bool) -> Result<ContainerRecord> {
        let id = rec.id.clone();
        // The writable layer exists from create on, as in dockerd.
        self.images.prepare_rootfs(&rec.image_id, &id)?;
        // So do the volumes, and their references to this container.
        rec.mounts = match self
            .create_volumes(&id, &rec.config, &rec.host_config)
            .await
        {
            Ok(m) => m,
            Err(e) => {
                let _ = self.images.cleanup(&id);
                return Err(e);
            }
        };
        // A generated name another create took in the meantime is
        // generated again, with a numeric suffix as dockerd's retries have.
        let inserted = if generated {
            let first = rec.name.clone();
            self.store.insert_generated(rec.clone(), |n| match n {
                0 => first.clone(),
                n => format!("/{}{n}", random_name()),
            })
        } else {
            self.store.insert(rec.clone())
        };
        match inserted {
            Ok(shared) => rec = shared.lock().unwrap().clone(),
            Err(e) => {
                self.release_volumes(&id, true).await;
                let _ = self.images.cleanup(&id);
                return Err(e);
            }
        }
        Ok(rec)
    }
}

/// dockerd parses the image of a create as a reference (a name, or a full
/// image id) before it looks it up: a malformed one is a 400 in dockerd's
/// words, never the 404 of a missing image (which makes the CLI pull).
fn check_image_reference(image: &str) -> Result<()> {
    if image.is_empty() || berth_image::Reference::parse(image).is_ok() {
        return Ok(());
    }
    if berth_image::Reference::parse(&image.to_ascii_lowercase()).is_ok() {
        return Err(Error::invalid(
            "invalid reference format: repository name must be lowercase",
        ));
    }
    Err(Error::invalid("invalid reference format"))
}

/// dockerd's checks of `RestartPolicy` (and of `--rm` with it).
fn check_restart_policy(hc: &HostConfig) -> Result<()> {
    if hc.auto_remove && !matches!(hc.restart_policy.name.as_str(), "" | "no") {
        return Err(Error::invalid(
            "conflicting options: cannot specify both --restart and --rm",
        ));
    }
    match hc.restart_policy.name.as_str() {
        "" | "no" | "always" | "unless-stopped" => {
            if hc.restart_policy.maximum_retry_count != 0 {
                return Err(Error::invalid(
                    "invalid restart policy: maximum retry count can only be used with 'on-failure'",
                ));
            }
        }
        "on-failure" => {
            if hc.restart_policy.maximum_retry_count < 0 {
                return Err(Error::invalid(
                    "invalid restart policy: maximum retry count cannot be negative",
                ));
            }
        }
        other => {
            return Err(Error::invalid(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure' or 'unless-stopped'"
            )))
        }
    }
    Ok(())
}

/// Mount specifications, security options and capabilities are checked at
/// create, so a bad one is a 400 then rather than a failure at start.
fn check_mounts_and_security(hc: &HostConfig) -> Result<()> {
    spec::resolve_mounts(hc, |name, _dest| {
        berth_core::containers::validate_name(name).map_err(|_| {
            berth_runtime::RuntimeError::InvalidParameter(format!(
                "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
            ))
        })?;
        Ok(std::path::PathBuf::from("/"))
    })?;
    if let Some(opts) = &hc.security_opt {
        spec::parse_security_opts(opts)?;
    }
    spec::capabilities(
        hc.privileged,
        hc.cap_add.as_deref().unwrap_or(&[]),
        hc.cap_drop.as_deref().unwrap_or(&[]),
    )?;

    Ok(())
}

/// The image's defaults merged into `config`, and the command it runs.
fn command_of(config: &mut ContainerConfig, image: &berth_image::Image) -> Result<Vec<String>> {
    let image_cfg: ImageRuntimeConfig = image
        .config
        .config
        .as_ref()
        .and_then(|c| serde_json::to_value(c).ok())
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    spec::merge_image_config(config, &image_cfg);
    let argv = spec::argv(config).map_err(|_| Error::invalid("No command specified"))?;
    if argv.is_empty() {
        return Err(Error::invalid("No command specified"));
    }

    Ok(argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_image_references_are_dockerds_400() {
        for ok in [
            "busybox",
            "busybox:LATEST",
            "localhost:5000/a/b:1",
            "UPPER/case",
            "4cf8a7",
        ] {
            assert!(check_image_reference(ok).is_ok(), "{ok}");
        }
        let e = check_image_reference("UPPER/Case").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidParameter);
        assert_eq!(
            e.message,
            "invalid reference format: repository name must be lowercase"
        );
        for bad in ["a::b", ":tag", "busybox@sha256:abc", "a b"] {
            let e = check_image_reference(bad).unwrap_err();
            assert_eq!(e.message, "invalid reference format", "{bad}");
        }
    }

    #[test]
    fn restart_policies_as_dockerd() {
        let hc = |json: &str| -> HostConfig { serde_json::from_str(json).unwrap() };
        for ok in [
            r#"{}"#,
            r#"{"RestartPolicy":{"Name":"always"}}"#,
            r#"{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}"#,
            r#"{"AutoRemove":true,"RestartPolicy":{"Name":"no"}}"#,
        ] {
            assert!(check_restart_policy(&hc(ok)).is_ok(), "{ok}");
        }
        for (bad, msg) in [
            (
                r#"{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}"#,
                "conflicting options: cannot specify both --restart and --rm",
            ),
            (
                r#"{"RestartPolicy":{"Name":"always","MaximumRetryCount":1}}"#,
                "invalid restart policy: maximum retry count can only be used with 'on-failure'",
            ),
            (
                r#"{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":-1}}"#,
                "invalid restart policy: maximum retry count cannot be negative",
            ),
        ] {
            let e = check_restart_policy(&hc(bad)).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidParameter);
            assert_eq!(e.message, msg);
        }
        let e = check_restart_policy(&hc(r#"{"RestartPolicy":{"Name":"sometimes"}}"#)).unwrap_err();
        assert!(
            e.message.contains("unknown policy 'sometimes'"),
            "{}",
            e.message
        );
    }
}
