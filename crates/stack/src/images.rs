//! The docker runtime's images, built on this machine so that no registry is needed: a Debian base
//! made with debootstrap, then bench-server (a static binary on `scratch`), the gateway and nginx
//! from `compose/*.Containerfile`, each through the engine's build API with the context tarred in
//! memory and host networking (so apt and pip reach their registries).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bollard::query_parameters::{BuildImageOptions, CreateImageOptions};
use bollard::Docker;
use futures_util::StreamExt;

use contextforge::release::Release;
use contextforge::source::Checkout;

use crate::debian::Suite;
use crate::{infra, StackError};

pub const BENCH_SERVER: &str = "localhost/mcpbench/bench-server:latest";
pub const NGINX: &str = "localhost/mcpbench/nginx:latest";
pub const POSTGRES: &str = "localhost/mcpbench/postgres:latest";
pub const REDIS: &str = "localhost/mcpbench/redis:latest";

/// The label naming the recipe an image built here follows, and this build's recipe: an image of
/// an older recipe (a gateway image without the PostgreSQL driver) is built again, not run.
pub const RECIPE_LABEL: &str = "io.mcpbench.recipe";
pub const RECIPE: &str = "2";

/// The official image of `release` (`--gateway-image`'s default).
pub fn official_gateway(release: &Release) -> String {
    format!("ghcr.io/ibm/mcp-context-forge:{release}")
}

/// The gateway image `images build` makes of `release`, on the Debian suite with its Python.
pub fn gateway(release: &Release) -> String {
    format!("localhost/mcpbench/gateway:{release}")
}

/// The gateway image `up` makes of a checkout, one per checkout directory.
pub fn source_gateway(checkout: &Checkout) -> String {
    format!(
        "localhost/mcpbench/gateway-source:{}",
        crate::state::path_id(&checkout.dir)
    )
}

/// The images `images build` makes, by the name `--only` takes.
pub const NAMES: [&str; 5] = ["bench-server", "gateway", "nginx", "postgres", "redis"];

/// Where the host keeps its CA bundle; it goes into the gateway's build context so that pip in the
/// build trusts what the host trusts.
const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// What the gateway image installs.
#[derive(Debug, Clone)]
pub enum GatewayBuild {
    /// A release from PyPI.
    Release(Release),
    /// A checkout, its tree copied into the build (without git's and tools' own directories).
    Source(Checkout),
}

pub struct BuildOptions {
    /// The base of the gateway and nginx images; None: the Debian suite each needs, made with
    /// debootstrap when absent.
    pub base: Option<String>,
    /// The images to build (names from [`NAMES`]).
    pub only: Vec<String>,
    /// What the gateway image installs.
    pub gateway: GatewayBuild,
    /// The static bench-server binary (needed when bench-server is built).
    pub bench_server_binary: Option<PathBuf>,
    /// Scratch space for the debootstrap tree.
    pub work_dir: PathBuf,
}

/// A progress bar counting bytes (a spinner until the size is known).
pub(crate) fn byte_bar(message: String) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0).with_message(message);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} {bytes}/{total_bytes}")
            .expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Builds the requested images (and the Debian bases they need first, when absent); returns what
/// was made, one line each.
pub async fn build(options: &BuildOptions) -> Result<Vec<String>, StackError> {
    let engine = crate::docker::connect()
        .await
        .map_err(StackError::NoEngine)?;
    let mut made = Vec::new();
    for name in &options.only {
        let recipe = recipe(name, options)?;
        let base = match (&options.base, recipe.suite) {
            (Some(base), _) => base.clone(),
            (None, Some(suite)) => {
                if engine.inspect_image(&suite.base_image()).await.is_err() {
                    make_base(&engine, suite, &options.work_dir).await?;
                    made.push(format!("made {}", suite.base_image()));
                }
                suite.base_image()
            }
            // On scratch: no base.
            (None, None) => String::new(),
        };
        let mut args = recipe.args;
        args.insert("BASE".into(), base);
        args.insert("RECIPE".into(), RECIPE.into());
        let context = build_context(recipe.containerfile, &recipe.files, recipe.tree.as_deref())?;
        build_image(&engine, &recipe.tag, args, context).await?;
        made.push(format!("built {}", recipe.tag));
    }
    Ok(made)
}

/// How one image is built.
struct Recipe {
    tag: String,
    containerfile: &'static str,
    files: Vec<ContextFile>,
    /// A directory copied into the context as `source/`.
    tree: Option<PathBuf>,
    /// The Debian suite of its base (None: on scratch).
    suite: Option<Suite>,
    args: HashMap<String, String>,
}

fn recipe(name: &str, options: &BuildOptions) -> Result<Recipe, StackError> {
    let recipe = |tag: String, containerfile, files, suite| Recipe {
        tag,
        containerfile,
        files,
        tree: None,
        suite,
        args: HashMap::new(),
    };
    match name {
        "bench-server" => {
            let binary = options
                .bench_server_binary
                .as_ref()
                .expect("the bench-server binary is built before its image");
            let bytes =
                std::fs::read(binary).map_err(|e| infra(format!("{}: {e}", binary.display())))?;
            let file = ContextFile {
                name: "bench-server",
                bytes,
                mode: 0o755,
            };
            let containerfile = include_str!("../../../compose/bench-server.Containerfile");
            Ok(recipe(BENCH_SERVER.into(), containerfile, vec![file], None))
        }
        "gateway" => Ok(gateway_recipe(&options.gateway)),
        "nginx" => {
            let containerfile = include_str!("../../../compose/nginx.Containerfile");
            Ok(recipe(
                NGINX.into(),
                containerfile,
                vec![],
                Some(Suite::Bookworm),
            ))
        }
        "postgres" => Ok(server_recipe(
            POSTGRES,
            include_str!("../../../compose/postgres.Containerfile"),
            "postgres-start.sh",
            crate::services::POSTGRES_SCRIPT,
        )),
        "redis" => Ok(server_recipe(
            REDIS,
            include_str!("../../../compose/redis.Containerfile"),
            "redis-start.sh",
            crate::services::REDIS_SCRIPT,
        )),
        other => Err(StackError::Usage(format!(
            "unknown image '{other}' (known: {})",
            NAMES.join(", ")
        ))),
    }
}

/// A database or cache server from Debian's packages, started by the script the local runtime
/// runs too.
fn server_recipe(
    tag: &str,
    containerfile: &'static str,
    script_name: &'static str,
    script: &str,
) -> Recipe {
    Recipe {
        tag: tag.into(),
        containerfile,
        files: vec![ContextFile {
            name: script_name,
            bytes: script.as_bytes().to_vec(),
            mode: 0o755,
        }],
        tree: None,
        suite: Some(Suite::Bookworm),
        args: HashMap::new(),
    }
}

/// The gateway on the Debian suite with the Python it needs: `pip install` of the release, or
/// of the checkout copied in.
fn gateway_recipe(gateway: &GatewayBuild) -> Recipe {
    let (tag, package, tree, python) = match gateway {
        GatewayBuild::Release(release) => (
            self::gateway(release),
            release.pip_requirement(),
            None,
            release.minimum_python(),
        ),
        GatewayBuild::Source(checkout) => (
            source_gateway(checkout),
            SOURCE_INSIDE.to_string(),
            Some(checkout.dir.clone()),
            checkout.minimum_python,
        ),
    };
    Recipe {
        tag,
        containerfile: include_str!("../../../compose/gateway.Containerfile"),
        files: vec![ContextFile {
            name: "host-ca-certificates.crt",
            bytes: std::fs::read(HOST_CA_BUNDLE).unwrap_or_default(),
            mode: 0o644,
        }],
        tree,
        suite: Some(Suite::for_python(python)),
        args: HashMap::from([
            ("GATEWAY_PACKAGE".to_string(), package),
            (
                "POSTGRES_DRIVER".to_string(),
                contextforge::settings::POSTGRES_DRIVER.to_string(),
            ),
        ]),
    }
}

/// Where the gateway Containerfile copies a checkout.
const SOURCE_INSIDE: &str = "/src";

/// Directories of a checkout that are no part of the code: git's, tools' caches, environments.
const NOT_SOURCE: [&str; 10] = [
    ".git",
    "node_modules",
    ".venv",
    "venv",
    "__pycache__",
    "target",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
];

/// A file of a build context besides the Containerfile.
struct ContextFile {
    name: &'static str,
    bytes: Vec<u8>,
    mode: u32,
}

/// The build context: the Containerfile, its files and `source/` (the tree, or empty), tarred in
/// memory.
fn build_context(
    containerfile: &str,
    files: &[ContextFile],
    tree: Option<&Path>,
) -> Result<Vec<u8>, StackError> {
    let context_error = |e: std::io::Error| infra(format!("build context: {e}"));
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    let all = std::iter::once(("Containerfile", containerfile.as_bytes(), 0o644))
        .chain(files.iter().map(|f| (f.name, f.bytes.as_slice(), f.mode)));
    for (name, bytes, mode) in all {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes)
            .map_err(context_error)?;
    }
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o755);
    header.set_size(0);
    header.set_cksum();
    tar.append_data(&mut header, "source/", std::io::empty())
        .map_err(context_error)?;
    if let Some(tree) = tree {
        append_tree(&mut tar, tree, Path::new("source"))
            .map_err(|e| infra(format!("build context from {}: {e}", tree.display())))?;
    }
    tar.into_inner().map_err(context_error)
}

/// `dir`'s files under `name` in `tar`, without the directories in [`NOT_SOURCE`].
fn append_tree(tar: &mut tar::Builder<Vec<u8>>, dir: &Path, name: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let file_name = entry.file_name();
        if NOT_SOURCE.iter().any(|skip| file_name == *skip) {
            continue;
        }
        let inside = name.join(&file_name);
        if entry.file_type()?.is_dir() {
            append_tree(tar, &entry.path(), &inside)?;
        } else {
            tar.append_path_with_name(entry.path(), &inside)?;
        }
    }
    Ok(())
}

async fn build_image(
    engine: &Docker,
    tag: &str,
    args: HashMap<String, String>,
    context: Vec<u8>,
) -> Result<(), StackError> {
    let bar = indicatif::ProgressBar::new_spinner().with_message(format!("building {tag}"));
    bar.enable_steady_tick(Duration::from_millis(200));
    let options = BuildImageOptions {
        dockerfile: "Containerfile".into(),
        t: Some(tag.to_string()),
        rm: true,
        forcerm: true,
        networkmode: Some("host".into()),
        buildargs: Some(args),
        ..Default::default()
    };
    let mut stream = engine.build_image(options, None, Some(bollard::body_full(context.into())));
    // The last lines, for the error message when the build fails.
    let mut recent: Vec<String> = Vec::new();
    let mut failure = None;
    while let Some(info) = stream.next().await {
        match info {
            Ok(info) => {
                for line in info.stream.unwrap_or_default().lines() {
                    if line.starts_with("STEP ") || line.starts_with("Step ") {
                        bar.set_message(format!("building {tag}: {line}"));
                    }
                    recent.push(line.to_string());
                }
                if let Some(detail) = info.error_detail {
                    failure = detail.message;
                }
            }
            Err(e) => failure = Some(e.to_string()),
        }
        let excess = recent.len().saturating_sub(30);
        recent.drain(..excess);
    }
    bar.finish_and_clear();
    match failure {
        None => Ok(()),
        Some(e) => Err(infra(format!(
            "building {tag} failed: {e}; the build's last lines:\n{}",
            recent.join("\n")
        ))),
    }
}

/// Makes `suite`'s base image: `debootstrap --variant=minbase`, then the tree imported.
async fn make_base(engine: &Docker, suite: Suite, work_dir: &Path) -> Result<(), StackError> {
    let image = suite.base_image();
    let rootfs = work_dir.join(format!("debian-{}-image-rootfs", suite.name()));
    std::fs::create_dir_all(work_dir).map_err(|e| infra(format!("{}: {e}", work_dir.display())))?;
    let bar = indicatif::ProgressBar::new_spinner()
        .with_message(format!("making {image} with debootstrap (about a minute)"));
    bar.enable_steady_tick(Duration::from_millis(200));
    let tree = rootfs.clone();
    let tarball = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, StackError> {
        crate::debian::debootstrap(suite, &tree, &[])?;
        let out = Command::new("tar")
            .arg("-C")
            .arg(&tree)
            .args(["--numeric-owner", "-c", "."])
            .output()
            .map_err(|e| infra(format!("tar: {e}")))?;
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr);
            let image = suite.base_image();
            return Err(infra(format!("cannot make {image}: tar: {why}")));
        }
        Ok(out.stdout)
    })
    .await
    .expect("debootstrap task");
    bar.finish_and_clear();
    let _ = std::fs::remove_dir_all(&rootfs);
    let tarball = tarball?;
    let bar = byte_bar(format!("importing {image}"));
    bar.set_length(tarball.len() as u64);
    let mut stream = engine.create_image(
        Some(CreateImageOptions {
            from_src: Some("-".into()),
            // The repository with its tag: Podman ignores a separate `tag` on import.
            repo: Some(image.clone()),
            ..Default::default()
        }),
        Some(bollard::body_full(tarball.into())),
        None,
    );
    while let Some(info) = stream.next().await {
        info.map_err(|e| infra(format!("cannot import {image}: {e}")))?;
    }
    bar.finish_and_clear();
    Ok(())
}
