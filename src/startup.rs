//! Building and running the server: storage, bootstrap, keys, mail worker, router, listener and
//! shutdown.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::clock::{Clock, SystemClock};
use crate::config::ServeConfig;
use crate::http::{router, AppState, HttpSettings};
use crate::mail::{spawn_mail_worker, Mailer, MailWorker};
use crate::service::sessions::load_keys;
use crate::service::tokens::{bootstrap, Bootstrap};
use crate::storage::{redact_url, Store};

/// A server bound to its port, ready to run.
pub struct Application {
    listener: TcpListener,
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

        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}; choose another address with --listen or HUB_LISTEN", config.listen))?;
        let bound = listener.local_addr()?;
        let state = AppState {
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
        };
        Ok(Application {
            listener,
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

    /// Serves until `shutdown` completes, lets in-flight requests finish, then stops the mail
    /// worker after the mail it is sending.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let address = self.listener.local_addr()?;
        tracing::info!(%address, "hub listening");
        let store = self.state.store.clone();
        let statistics = crate::storage::statistics::spawn_refresh(store.clone());
        let pruning = spawn_rate_limit_pruning(self.state.rate_limits.clone());
        let app = router(self.state).into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("server failed")?;
        if let Some(worker) = self.mail_worker {
            worker.shutdown().await;
        }
        statistics.abort();
        pruning.abort();
        store.close().await;
        tracing::info!("hub stopped");
        Ok(())
    }
}

fn describe_mail(mail: &crate::mail::MailTransportConfig) -> String {
    match mail {
        crate::mail::MailTransportConfig::Outbox { dir, .. } => format!("outbox folder {}", dir.display()),
        crate::mail::MailTransportConfig::Smtp(smtp) => format!("SMTP {}:{}", smtp.host, smtp.port),
    }
}

/// Completes on SIGINT or SIGTERM.
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
