//! Escort's API mounted in a team's own axum app, on the team's own tokio
//! runtime: the app keeps its routes, Escort's are under `/escort`, and the
//! tick and policy poll run as tasks beside them.
//!
//! ```sh
//! cargo run -p escort-http --example mount -- ./escort-data 127.0.0.1:3000
//! curl http://127.0.0.1:3000/escort/healthz
//! ```
//!
//! Unlike `escort serve`, nothing here bounds connections or header and
//! idle times: that is the app's own server's job (a reverse proxy or
//! hyper's settings). The router still bounds each body and its time.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use escort_http::Background;
use escort_service::{ServeConfig, Service};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data = args.next().map_or_else(|| PathBuf::from("escort-data"), PathBuf::from);
    let address: SocketAddr = args.next().as_deref().unwrap_or("127.0.0.1:3000").parse()?;

    let config = ServeConfig {
        data,
        ..ServeConfig::default()
    };
    // Opening reads the database and loads the policies: blocking work, off the reactor.
    let opened = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || -> Result<_, escort_service::ServiceError> {
            let service = Arc::new(Service::open(&config)?);
            let (access, created) = service.establish_access(&config)?;
            Ok((service, access, created))
        })
        .await??
    };
    let (service, access, created) = opened;
    if let Some(created) = created {
        println!("access tokens written to {}", created.path.display());
    }

    let _background = Background::spawn(&service, &config);
    let app = Router::new()
        .route("/", get(|| async { "our own service" }))
        .nest("/escort", escort_http::router(service, access, &config));
    let listener = tokio::net::TcpListener::bind(address).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(escort_http::shutdown_signal())
        .await?;
    Ok(())
}
