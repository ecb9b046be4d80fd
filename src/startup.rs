//! Building and running the server: storage, bootstrap, router, listener and shutdown.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::ServeConfig;
use crate::http::{router, AppState, HttpSettings};
use crate::service::tokens::{bootstrap, Bootstrap};
use crate::storage::{redact_url, Store};

/// A server bound to its port, ready to run.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    port: u16,
    bootstrap: Bootstrap,
}

impl Application {
    /// Opens storage (running migrations), creates the bootstrap organization when the
    /// database is empty, and binds the listener.
    pub async fn build(config: ServeConfig) -> anyhow::Result<Application> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create the data folder {}", config.data_dir.display()))?;
        let database_url = config.effective_database_url();
        let store = Store::connect(&database_url, config.max_connections).await?;
        tracing::info!(database = %redact_url(&database_url), backend = ?store.backend(), "storage ready");

        let bootstrap = bootstrap(&store, &config.bootstrap_org, config.bootstrap_token.as_deref())
            .await
            .context("cannot create the bootstrap organization")?;

        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}; choose another address with --listen or HUB_LISTEN", config.listen))?;
        let port = listener.local_addr()?.port();
        let state = AppState {
            store,
            settings: Arc::new(HttpSettings {
                public_url: config.public_url.clone(),
                max_body_bytes: config.max_body_bytes,
            }),
        };
        Ok(Application {
            listener,
            state,
            port,
            bootstrap,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> &crate::storage::Store {
        &self.state.store
    }

    /// What the bootstrap did; holds the new token when one was generated.
    pub fn bootstrap(&self) -> &Bootstrap {
        &self.bootstrap
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let address = self.listener.local_addr()?;
        tracing::info!(%address, "hub listening");
        let store = self.state.store.clone();
        axum::serve(self.listener, router(self.state))
            .with_graceful_shutdown(shutdown)
            .await
            .context("server failed")?;
        store.close().await;
        tracing::info!("hub stopped");
        Ok(())
    }
}

/// Completes on SIGINT or SIGTERM.
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
