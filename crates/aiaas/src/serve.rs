//! `aiaas serve`: open the store, start the job workers and the HTTP API, optionally set up the
//! demo, and shut down gracefully on Ctrl-C or SIGTERM (running jobs checkpoint first).

use crate::cli::{PreloadArg, ServeArgs, ServeRole};
use aiaas_api::AppState;
use aiaas_serve::{PoolConfig, Preload};
use aiaas_service::{AdminKey, Platform, ServiceConfig, Store, StoreConfig};
use anyhow::Context;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::TcpListener;

pub fn run(args: ServeArgs, threads: Option<usize>) -> anyhow::Result<()> {
    init_logging();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(serve(args, threads))
}

/// Logs go to standard error, filtered by `AIAAS_LOG` (default `info`), in colour only on a
/// terminal.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AIAAS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only for a person at a terminal: a log file or a pipe gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
}

async fn serve(args: ServeArgs, threads: Option<usize>) -> anyhow::Result<()> {
    let store_config = StoreConfig {
        data_dir: args.data_dir.clone(),
        database_url: args.database_url.clone(),
        store_url: args.store_url.clone(),
    };
    anyhow::ensure!(
        args.rate_limit > 0.0 && args.rate_limit <= aiaas_service::MAX_RATE_LIMIT,
        "--rate-limit must be above 0 and at most {} requests per second",
        aiaas_service::MAX_RATE_LIMIT
    );
    let auth = aiaas_api::AuthConfig {
        enabled: !args.no_auth,
        public_metrics: args.public_metrics,
        rate_limit: args.rate_limit,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some(aiaas_api::Tls::from_pem_files(cert, key).map_err(anyhow::Error::msg)?)
        }
        _ => None,
    };
    let upload_limit = args
        .max_upload_mb
        .checked_mul(1 << 20)
        .context("--max-upload-mb is too large")?;
    // Several processes need a database they can share; a SQLite file has one server.
    let shared = store_config.shared_database();
    anyhow::ensure!(
        shared || args.role == ServeRole::All,
        "--role {:?} runs beside other processes on one database: give a PostgreSQL \
         --database-url (postgres://...); with SQLite one process does everything (--role all)",
        args.role
    );
    let serves_api = args.role != ServeRole::Worker;
    let config = ServiceConfig {
        workers: match args.role {
            ServeRole::Api => 0,
            _ => args.workers,
        },
        background: args.role != ServeRole::Api,
        lease_s: args.lease_s,
        train_threads: threads.unwrap_or(0),
        checkpoint_every: args.checkpoint_every,
        max_dataset_bytes: upload_limit,
        max_archive_bytes: upload_limit,
        prediction_sample: args.prediction_sample,
        prediction_retention_days: args.prediction_retention_days,
        prediction_keep: args.prediction_keep,
        audit_retention_days: args.audit_retention_days,
        ..ServiceConfig::default()
    };
    // One field a setting, as a person reads them (where the data lives: "store opened").
    tracing::info!(
        role = ?args.role,
        addr = %args.addr,
        grpc_addr = %args.grpc_addr,
        data_dir = %args.data_dir.display(),
        workers = config.workers,
        threads = threads.unwrap_or(0),
        checkpoint_every = config.checkpoint_every,
        max_upload_mb = args.max_upload_mb,
        max_loaded_mb = args.max_loaded_mb,
        prediction_sample = config.prediction_sample,
        prediction_retention_days = config.prediction_retention_days,
        prediction_keep = config.prediction_keep,
        audit_retention_days = config.audit_retention_days,
        tls = tls.is_some(),
        auth = auth.enabled,
        rate_limit = auth.rate_limit,
        "configuration"
    );
    // Bind first: a second server started by mistake must fail before it touches the jobs.
    let listener = TcpListener::bind(&args.addr)
        .await
        .with_context(|| format!("listening on {}", args.addr))?;
    let grpc = match args.grpc_addr.as_str() {
        _ if !serves_api => None,
        "" => None,
        addr => Some(TcpListener::bind(addr).await.with_context(|| {
            format!("listening for gRPC on {addr} (--grpc-addr; empty turns gRPC off)")
        })?),
    };
    let _lock = match shared {
        false => Some(lock_data_dir(&args.data_dir)?),
        true => None,
    };
    let store = Store::open(&store_config)
        .await
        .with_context(|| format!("opening the store in {}", args.data_dir.display()))?;
    let platform = Platform::start(store, config).await?;
    for import in &args.imports {
        import_at_start(&platform, import).await?;
    }
    if auth.enabled {
        match platform
            .ensure_admin_key(&args.data_dir, args.admin_key.as_deref())
            .await?
        {
            AdminKey::Created { secret, path } => eprintln!(
                "created the first admin API key; it is shown only here and kept in {} \
                 (readable by you alone):\n  {secret}",
                path.display()
            ),
            AdminKey::Given => eprintln!("the admin key given (AIAAS_ADMIN_KEY) is the first key"),
            AdminKey::Existing => {}
        }
    } else {
        tracing::warn!("--no-auth: every call is allowed without an API key");
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base = format!("{scheme}://{}", listener.local_addr()?);
    // One write, so that a reader that takes only the first line still finds both there.
    let grpc_line = match &grpc {
        Some(grpc) => format!("aiaas gRPC listening on {}\n", grpc.local_addr()?),
        None => String::new(),
    };
    print!("aiaas listening on {base}\n{grpc_line}");

    // Before the pool, so its first loads are counted; /metrics renders what it records.
    let metrics =
        aiaas_api::metrics::install_recorder().context("installing the metrics recorder")?;
    // Serving: the aliased models load in the background; /v2/health/ready says when.
    let pool_config = PoolConfig {
        max_loaded_bytes: usize::try_from(args.max_loaded_mb)
            .ok()
            .and_then(|mb| mb.checked_mul(1 << 20))
            .context("--max-loaded-mb is too large")?,
        compute_threads: threads.unwrap_or(0),
        preload: match args.preload {
            PreloadArg::Pinned => Preload::Pinned,
            PreloadArg::Aliased => Preload::Aliased,
        },
        ..PoolConfig::default()
    };
    let pool = aiaas_api::model_pool(&platform, pool_config);
    let ready = Arc::new(AtomicBool::new(false));
    {
        // Ready once the demo (if asked for) has trained its models and the hot set (pinned
        // versions, or every aliased one with --preload aliased) is loaded: said once, when
        // it is true.
        let (platform, pool, ready) = (platform.clone(), pool.clone(), ready.clone());
        let demo = args.demo.then(|| {
            (
                base.clone(),
                args.data_dir.join(aiaas_service::ADMIN_KEY_FILE),
            )
        });
        tokio::spawn(async move {
            let mut demo_models = None;
            if demo.is_some() {
                match platform.demo().await {
                    Ok(models) => demo_models = Some(models),
                    Err(e) => tracing::error!(error = %e, "the demo setup failed"),
                }
            }
            // A worker serves no model: it is ready as soon as it runs.
            if serves_api {
                match pool.preload().await {
                    Ok(versions) => tracing::info!(versions, "ready"),
                    Err(e) => tracing::error!(error = %e, "could not load every registered model"),
                }
            }
            ready.store(true, Ordering::SeqCst);
            if let (Some((base, key_file)), Some(models)) = (demo, demo_models) {
                print_demo(&base, &models, &key_file);
            }
        });
    }
    let log_pool = pool.clone();
    let state = AppState {
        platform: platform.clone(),
        pool,
        ready,
        metrics: Some(metrics),
        auth,
        serves_api,
    };
    let stopping = platform.clone();
    let limits = aiaas_api::ServerLimits {
        max_connections: args.max_connections as usize,
        header_timeout: std::time::Duration::from_secs(args.header_timeout_s),
        body_timeout: std::time::Duration::from_secs(args.body_timeout_s),
        shutdown_timeout: std::time::Duration::from_secs(args.shutdown_timeout_s),
    };
    aiaas_api::serve(listener, grpc, state, limits, tls, async move {
        shutdown_signal().await;
        tracing::info!("shutting down: running jobs checkpoint, then open requests finish");
        stopping.shutdown().await;
    })
    .await
    .context("serving HTTP and gRPC")?;
    // Every request has been answered: write what the prediction log still holds.
    if let Some(log) = log_pool.log() {
        log.close(std::time::Duration::from_secs(5)).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// `--import NAME=PATH`: the model in PATH (a file, or a directory holding one) becomes NAME's
/// champion, unless NAME has a champion already (a restart on the same database).
async fn import_at_start(platform: &Platform, import: &str) -> anyhow::Result<()> {
    let (name, path) = import
        .split_once('=')
        .with_context(|| format!("--import {import:?}: give NAME=PATH"))?;
    let name = aiaas_types::ModelName::new(name)
        .map_err(|e| anyhow::anyhow!("--import {import:?}: {e}"))?;
    let champion = aiaas_types::AliasName::new("champion").expect("a valid alias");
    if let Ok(model) = platform.model(&name).await
        && model.aliases.contains_key(&champion)
    {
        tracing::info!(model = %name, "--import: the model has a champion already");
        return Ok(());
    }
    let file = model_file(std::path::Path::new(path))?;
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let record = platform
        .import_version(bytes.into(), &name, None)
        .await
        .with_context(|| format!("--import {import:?}: importing {}", file.display()))?;
    let version = record.summary.version;
    platform.set_alias(&name, &champion, version).await?;
    // Pinned: the server is ready only once it is loaded, and it is never unloaded.
    platform
        .set_tag(&name, version, aiaas_types::PINNED_TAG, "true")
        .await?;
    tracing::info!(model = %name, %version, file = %file.display(), "imported, made champion and pinned");
    Ok(())
}

/// `path` if it is a file; the one file in it (hidden ones aside) if it is a directory.
fn model_file(path: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))? {
        let entry = entry?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && entry.path().is_file() {
            files.push(entry.path());
        }
    }
    match files.as_slice() {
        [one] => Ok(one.clone()),
        _ => anyhow::bail!(
            "{} holds {} files; give the model's file (an archive or an .onnx file)",
            path.display(),
            files.len()
        ),
    }
}

fn print_demo(base: &str, models: &[aiaas_service::DemoModel], key_file: &std::path::Path) {
    println!("demo ready:");
    for m in models {
        println!(
            "  model {} version {} (alias champion): {base}/v2/models/{}",
            m.name, m.version, m.name
        );
    }
    println!("  dashboard:     {base}/ (sign in with the API key)");
    println!("  API reference: {base}/docs");
    println!("  models:        {base}/api/v1/models");
    println!("  datasets:      {base}/api/v1/datasets");
    println!("  jobs:          {base}/api/v1/jobs");
    println!(
        "calls need an API key; in another terminal:\n  export AIAAS_API_KEY=$(cat {})",
        key_file.display()
    );
    // The first model's (iris's) first row: the request the README shows.
    let example = models.first().map(|m| (m, m.example()));
    if let Some((m, example)) = example.filter(|(_, e)| !e.is_empty()) {
        // Written by hand: f32's shortest form (5.1, not 5.099999904632568), fields in the
        // order the README shows.
        let data: Vec<String> = example.iter().map(f32::to_string).collect();
        let request = format!(
            r#"{{"inputs": [{{"name": "input", "shape": [1, {}], "datatype": "FP32", "data": [{}]}}]}}"#,
            example.len(),
            data.join(", ")
        );
        println!(
            "  curl -H \"Authorization: Bearer $AIAAS_API_KEY\" -H 'Content-Type: application/json' \\\n       {base}/v2/models/{}/infer \\\n       -d '{request}'",
            m.name
        );
    }
}

/// Hold an exclusive lock on the data directory for the life of the server: jobs found
/// `running` at start-up are taken to be orphans of a dead process, which is only true if no
/// other server uses the same directory.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("aiaas.lock");
    let file =
        std::fs::File::create(&path).with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another aiaas server is using {}; stop it or pass another --data-dir",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
