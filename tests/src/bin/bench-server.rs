//! The server the benchmarks talk to, in its own process so that only the client's memory
//! is measured. An organization named `total-N` has N synthetic invitations; creates answer
//! 201 with a `Location` after `--delay-ms`. Prints its URL, then serves until killed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

#[derive(Clone)]
struct Config {
    delay: Duration,
    created: std::sync::Arc<AtomicU64>,
}

#[derive(serde::Deserialize)]
struct Paging {
    first: Option<u64>,
    max: Option<u64>,
}

fn total_of(org_id: &str) -> u64 {
    org_id.strip_prefix("total-").and_then(|n| n.parse().ok()).unwrap_or(0)
}

async fn list(
    Path((_realm, org)): Path<(String, String)>,
    Query(paging): Query<Paging>,
) -> Response {
    let body = invitations_tests::page_body(
        paging.first.unwrap_or(0),
        paging.max.unwrap_or(100),
        total_of(&org),
        &org,
    );
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn count(Path((_realm, org)): Path<(String, String)>) -> Response {
    axum::Json(total_of(&org)).into_response()
}

async fn create(
    State(config): State<Config>,
    Path((realm, org)): Path<(String, String)>,
) -> Response {
    tokio::time::sleep(config.delay).await;
    let n = config.created.fetch_add(1, Ordering::Relaxed);
    let location = format!("http://127.0.0.1/realms/{realm}/orgs/{org}/invitations/created-{n}");
    (StatusCode::CREATED, [(header::LOCATION, location)]).into_response()
}

#[tokio::main]
async fn main() {
    let mut delay_ms = 0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--delay-ms" {
            delay_ms = args.next().and_then(|v| v.parse().ok()).expect("--delay-ms N");
        }
    }
    let config = Config { delay: Duration::from_millis(delay_ms), created: Default::default() };
    let app = Router::new()
        .route("/realms/{realm}/orgs/{org}/invitations", get(list).post(create))
        .route("/realms/{realm}/orgs/{org}/invitations/count", get(count))
        .with_state(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    println!("http://{}", listener.local_addr().expect("address"));
    axum::serve(listener, app).await.expect("serve");
}
