//! The live page, its JSON API and the Prometheus metrics of a running context (the `ui`
//! feature; `StreamingContextBuilder::ui`). One thread runs a single-threaded tokio runtime
//! serving HTTP/1.1 (hyper, routed by axum): many connections cost no threads, and nothing a
//! client sends reaches the engine except through the read-only model (`model`), which a bus
//! listener keeps. Routes:
//!
//! | path | what |
//! |---|---|
//! | `/` | the page (charts by Chart.js, shipped inside the crate; it polls the API) |
//! | `/api/v1/streaming/statistics` | the whole job |
//! | `/api/v1/streaming/batches` | active and retained completed batches, newest first |
//! | `/api/v1/streaming/batches/{time}` | one batch (time in ms) with its output operations |
//! | `/api/v1/streaming/batches/{time}/operations` | its output operations |
//! | `/api/v1/streaming/receivers` | receivers, their rates and last errors |
//! | `/api/v1/streaming/progress` | the recent `StreamingProgress` reports |
//! | `/api/v1/streaming/status` | the `StreamingStatus` |
//! | `/api/v1/streaming/lag` | per Kafka partition: latest, processed, lag |
//! | `/metrics` | Prometheus text |
//!
//! Anything else is a 404, a method other than GET or HEAD a 405, a batch time that is not
//! a number a 400.

mod api;
mod lag;
mod metrics;
mod model;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub(crate) use model::UiModel;

use crate::error::{Error, Result};

const PAGE: &str = include_str!("page.html");
const CHART_JS: &str = include_str!("assets/chart.umd.min.js");

/// A running UI server: its address, and how to stop it.
pub(crate) struct UiServer {
    pub(crate) url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl UiServer {
    /// Binds `addr` and serves `model` on a thread of its own.
    pub(crate) fn start(addr: SocketAddr, model: Arc<UiModel>) -> Result<UiServer> {
        let what = format!("UI address {addr}");
        let listener = std::net::TcpListener::bind(addr).map_err(|e| Error::io(&what, e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io(&what, e))?;
        let bound = listener.local_addr().map_err(|e| Error::io(&what, e))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|e| Error::io(&what, e))?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = router(model);
        let thread = std::thread::Builder::new()
            .name("streaming-ui".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            log::error!("the UI cannot listen: {e}");
                            return;
                        }
                    };
                    // The server runs as a task; when the stop arrives the runtime is
                    // dropped with it, connections and all (idle or hostile clients
                    // cannot hold the stop up).
                    tokio::spawn(async move {
                        if let Err(e) = axum::serve(listener, app).await {
                            log::error!("the UI stopped serving: {e}");
                        }
                    });
                    let _ = rx.await;
                });
            })
            .map_err(|e| Error::io("UI thread", e))?;
        let url = format!("http://{bound}/");
        log::info!("streaming UI at {url}");
        Ok(UiServer {
            url,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// Stops serving and waits for the server's thread.
    pub(crate) fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::warn!("the UI thread panicked");
            }
        }
    }
}

impl Drop for UiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

type Model = State<Arc<UiModel>>;

fn router(model: Arc<UiModel>) -> Router {
    let api =
        |f: fn(&UiModel) -> serde_json::Value| move |State(m): Model| async move { json(f(&m)) };
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/static/chart.umd.min.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    CHART_JS,
                )
            }),
        )
        .route("/api/v1/streaming/statistics", get(api(api::statistics)))
        .route("/api/v1/streaming/batches", get(api(api::batches)))
        .route(
            "/api/v1/streaming/batches/{time}",
            get(|State(m): Model, Path(t): Path<u64>| async move {
                found(api::batch(&m, t), t)
            }),
        )
        .route(
            "/api/v1/streaming/batches/{time}/operations",
            get(|State(m): Model, Path(t): Path<u64>| async move {
                found(api::operations(&m, t), t)
            }),
        )
        .route("/api/v1/streaming/receivers", get(api(api::receivers)))
        .route("/api/v1/streaming/progress", get(api(api::progress)))
        .route("/api/v1/streaming/status", get(api(api::status)))
        .route("/api/v1/streaming/lag", get(api(api::lag)))
        .route(
            "/metrics",
            get(|State(m): Model| async move {
                let stuck = m.read(|r| r.stuck.is_some());
                (
                    [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
                    m.metrics.encode(m.dropped_events(), stuck),
                )
            }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(model)
}

fn json(v: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn found(v: Option<serde_json::Value>, time: u64) -> Response {
    match v {
        Some(v) => json(v),
        None => (
            StatusCode::NOT_FOUND,
            format!("no batch at {time} ms among the retained ones\n"),
        )
            .into_response(),
    }
}
