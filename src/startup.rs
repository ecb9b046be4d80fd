//! Building and running the server: storage, bootstrap, keys, mail worker, router, listener and
//! shutdown.

use std::future::{Future, IntoFuture};
use std::sync::Arc;

use anyhow::Context;
use std::net::SocketAddr;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use tokio::net::TcpListener;

use crate::clock::{Clock, SystemClock};
use crate::config::{ServeConfig, TlsFiles};
use crate::http::{router, AppState, HttpSettings};
use crate::mail::{spawn_mail_worker, Mailer, MailWorker};
use crate::service::sessions::load_keys;
use crate::service::tokens::{bootstrap, Bootstrap};
use crate::storage::{redact_url, Store};

/// A server bound to its port, ready to run.
pub struct Application {
    listener: TcpListener,
    /// The TLS configuration (reloadable) and the files it comes from.
    tls: Option<(RustlsConfig, TlsFiles)>,
    shutdown_timeout: Duration,
    request_log: crate::service::request_log::RequestLogSettings,
    state: AppState,
    port: u16,
    bootstrap: Bootstrap,
    mail_worker: Option<MailWorker>,
}

impl Application {
    /// Opens storage (running migrations), creates the bootstrap organization when the
    /// database is empty, starts the mail worker and binds the listener.
    pub async fn build(config: ServeConfig) -> anyhow::Result<Application> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Builds the server with another clock, for tests that move time forward.
    pub async fn build_with_clock(config: ServeConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Application> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create the data folder {}", config.data_dir.display()))?;
        let database_url = config.effective_database_url();
        let store = Store::connect(&database_url, config.max_connections).await?;
        tracing::info!(database = %redact_url(&database_url), backend = ?store.backend(), "storage ready");

        let bootstrap = bootstrap(&store, &config.bootstrap_org, config.bootstrap_token.as_deref())
            .await
            .context("cannot create the bootstrap organization")?;
        let session_keys = load_keys(&store, config.key_source())
            .await
            .context("cannot load the session signing key")?;

        let mail = config.effective_mail();
        let mailer = Mailer::new(mail.clone()).context("invalid mail configuration")?;
        let mail_worker = match &config.mail_worker {
            Some(settings) => {
                tracing::info!(transport = %describe_mail(&mail), "mail delivery configured");
                Some(spawn_mail_worker(store.clone(), Arc::new(mailer), settings.clone()))
            }
            None => {
                tracing::info!("no mail worker in this process; another instance sends the queued mail");
                None
            }
        };

        let tls = match &config.tls {
            Some(files) => Some((load_tls(files).await?, files.clone())),
            None => None,
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}; choose another address with --listen or HUB_LISTEN", config.listen))?;
        let bound = listener.local_addr()?;
        let request_log = crate::service::request_log::RequestLog::start(store.clone(), clock.clone(), &config.request_log);
        let state = AppState::new(crate::http::SharedState {
            store,
            settings: Arc::new(HttpSettings {
                public_url: config.public_url.clone(),
                max_body_bytes: config.max_body_bytes,
                max_page_size: config.max_page_size,
                session_ttl: config.session_ttl,
            }),
            clock,
            session_keys,
            public_base: config.public_base(bound),
            mail_notifier: mail_worker.as_ref().map(MailWorker::notifier),
            token_cache: Arc::new(crate::service::tokens::TokenCache::default()),
            provider_keys: Arc::new(crate::service::provider_keys::ProviderKeys::default()),
            rate_limits: Arc::new(crate::http::rate_limit::RateLimits::new(config.rate_limits)),
            request_log,
        });
        Ok(Application {
            listener,
            tls,
            shutdown_timeout: config.shutdown_timeout,
            request_log: config.request_log.clone(),
            state,
            port: bound.port(),
            bootstrap,
            mail_worker,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> &crate::storage::Store {
        &self.state.store
    }

    /// Returns the shared state, for tests and commands that call services directly.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Returns the bootstrap outcome, which contains the new token when one was generated.
    pub fn bootstrap(&self) -> &Bootstrap {
        &self.bootstrap
    }

    /// Serves until `shutdown` completes, lets in-flight requests finish (at most the shutdown
    /// timeout), then stops the mail worker after the mail it is sending.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let address = self.listener.local_addr()?;
        let store = self.state.store.clone();
        let statistics = crate::storage::statistics::spawn_refresh(store.clone());
        let pruning = spawn_rate_limit_pruning(self.state.rate_limits.clone());
        let request_log = self.state.request_log.clone();
        // The purge runs with capture off too, so entries from earlier runs still expire.
        let purge = crate::service::request_log::spawn_purge(store.clone(), self.state.clock.clone(), &self.request_log);
        let router = router(self.state);

        match self.tls {
            Some((tls, files)) => {
                tracing::info!(%address, "hub listening with TLS");
                let reload = spawn_tls_reload(tls.clone(), files);
                let handle = axum_server::Handle::new();
                let stopper = handle.clone();
                let timeout = self.shutdown_timeout;
                tokio::spawn(async move {
                    shutdown.await;
                    stopper.graceful_shutdown(Some(timeout));
                });
                let listener = self.listener.into_std()?;
                axum_server::from_tcp_rustls(listener, tls)
                    .handle(handle)
                    .serve(router.into_make_service_with_connect_info::<SocketAddr>())
                    .await
                    .context("server failed")?;
                reload.abort();
            }
            None => {
                tracing::info!(%address, "hub listening");
                serve_plain(self.listener, router, shutdown, self.shutdown_timeout).await?;
            }
        }

        if let Some(worker) = self.mail_worker {
            worker.shutdown().await;
        }
        request_log.shutdown().await;
        purge.abort();
        statistics.abort();
        pruning.abort();
        store.close().await;
        tracing::info!("hub stopped");
        Ok(())
    }
}

/// Serves plain HTTP until `shutdown`, then waits for requests in flight, giving up on them
/// after `timeout` so a stuck client cannot hold the process.
async fn serve_plain(listener: TcpListener, router: axum::Router, shutdown: impl Future<Output = ()> + Send + 'static, timeout: Duration) -> anyhow::Result<()> {
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = stopping.send(());
    };
    let server = axum::serve(listener, app).with_graceful_shutdown(signal).into_future();
    tokio::pin!(server);

    let deadline = async {
        match stopped.await {
            Ok(()) => tokio::time::sleep(timeout).await,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        result = &mut server => result.context("server failed"),
        () = deadline => {
            tracing::warn!(seconds = timeout.as_secs(), "requests still in flight after the shutdown timeout; stopping anyway");
            Ok(())
        }
    }
}

fn describe_mail(mail: &crate::mail::MailTransportConfig) -> String {
    match mail {
        crate::mail::MailTransportConfig::Outbox { dir, .. } => format!("outbox folder {}", dir.display()),
        crate::mail::MailTransportConfig::Smtp(smtp) => format!("SMTP {}:{}", smtp.host, smtp.port),
    }
}

/// Completes on SIGINT or SIGTERM.
/// Reads the certificate and key, so a bad file stops the start instead of the first handshake.
async fn load_tls(files: &TlsFiles) -> anyhow::Result<RustlsConfig> {
    // Hub uses ring, which lettre and reqwest already bring; installing it twice is harmless.
    // rustls 0.23.48 deprecates ring's provider for lacking post-quantum key exchange. The
    // alternative, aws-lc-rs, would add a second C crypto library to the build; revisit when
    // the other TLS users of Hub move.
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    RustlsConfig::from_pem_file(&files.certificate, &files.key)
        .await
        .with_context(|| {
            format!(
                "cannot use the TLS certificate {} with key {}",
                files.certificate.display(),
                files.key.display()
            )
        })
}

/// Reloads the certificate and key on SIGHUP, so a renewed certificate needs no restart. A
/// file that fails to load leaves the previous certificate in use.
fn spawn_tls_reload(tls: RustlsConfig, files: TlsFiles) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut hangups = match signal(SignalKind::hangup()) {
                Ok(hangups) => hangups,
                Err(error) => {
                    tracing::error!(%error, "cannot listen for SIGHUP; the TLS certificate reloads only on restart");
                    return;
                }
            };
            while hangups.recv().await.is_some() {
                match tls.reload_from_pem_file(&files.certificate, &files.key).await {
                    Ok(()) => tracing::info!(certificate = %files.certificate.display(), "TLS certificate reloaded"),
                    Err(error) => tracing::error!(%error, certificate = %files.certificate.display(), "cannot reload the TLS certificate; the previous one stays in use"),
                }
            }
        }
        #[cfg(not(unix))]
        let _ = (tls, files);
    })
}

/// Forgets idle per-address limiters once a minute.
fn spawn_rate_limit_pruning(limits: Arc<crate::http::rate_limit::RateLimits>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            ticks.tick().await;
            limits.prune();
        }
    })
}

pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
