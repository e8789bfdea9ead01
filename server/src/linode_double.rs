//! A local double of the Linode API v4: a real HTTP server on a loopback
//! port, speaking the contract of `../shared/linode-api/openapi-subset.yaml`
//! (the tests validate every answer it gives against that file). It keeps
//! instances whose state moves as the real ones do (`booting` → `running`),
//! events whose percent progresses with time, tokens with their scopes,
//! the rate-limit headers, and faults injected on demand: 429 with
//! `Retry-After`, 500, a slow answer, a connection dropped. Its graphs
//! draw a pizzeria's day.
//!
//! The demo talks to it while no token is stored (labelled "Linode
//! simulé": [`simulator`]); with a token the console talks to the
//! configured API and never to it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

/// Something the double does instead of answering, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After` (seconds) and the window spent.
    TooManyRequests { retry_after: u64 },
    /// 500 with the API's error envelope.
    ServerError,
    /// The answer comes after this long.
    Slow(Duration),
    /// The connection is closed without an answer.
    DropConnection,
}

/// How many answers the double keeps for [`LinodeDouble::served`] (a test's
/// worth; the demo's double runs for days).
const SERVED_KEPT: usize = 10_000;

/// Another event runs on the instance: the API answers `Linode busy.`.
#[derive(Debug)]
struct Busy;

/// An answer the double gave: which operation, its status, its body.
#[derive(Debug, Clone)]
pub struct Served {
    pub operation: &'static str,
    pub status: u16,
    pub body: Value,
}

#[derive(Debug)]
struct Instance {
    id: i64,
    label: String,
    status: &'static str,
    region: String,
    plan: String,
    ipv4: String,
    created: OffsetDateTime,
    backups_enabled: bool,
    /// Whether the API has graphs for it (a new instance has none for its
    /// first minutes).
    graphs: bool,
}

/// A backup of an instance: automatic, or the one snapshot slot (a new
/// snapshot replaces the current one once it succeeds).
#[derive(Debug)]
struct Backup {
    id: i64,
    instance: i64,
    kind: &'static str,
    label: Option<String>,
    status: &'static str,
    created: OffsetDateTime,
    finished: Option<OffsetDateTime>,
}

#[derive(Debug)]
struct Event {
    id: i64,
    action: &'static str,
    instance: i64,
    label: String,
    created: OffsetDateTime,
    started: std::time::Instant,
    /// The instance's state once the event is over.
    then: &'static str,
    /// The snapshot this event takes, made the current one when it ends.
    snapshot: Option<i64>,
    done: bool,
}

#[derive(Debug, Default)]
struct World {
    tokens: HashMap<String, String>,
    instances: Vec<Instance>,
    backups: Vec<Backup>,
    next_backup: i64,
    events: Vec<Event>,
    next_event: i64,
    faults: VecDeque<Fault>,
    served: Vec<Served>,
    calls: u64,
}

/// The double's state, shared with whoever started it.
#[derive(Clone)]
pub struct LinodeDouble {
    world: Arc<Mutex<World>>,
    /// How long a power action takes, start to finish.
    action_time: Duration,
    /// The rate-limit window the headers advertise.
    limit: u64,
}

impl LinodeDouble {
    /// An empty account whose actions take `action_time`.
    pub fn new(action_time: Duration) -> Self {
        Self {
            world: Arc::new(Mutex::new(World {
                next_event: 1000,
                ..World::default()
            })),
            action_time,
            limit: 800,
        }
    }

    /// Accepts `token` with `scopes` (`*` for every scope).
    pub fn add_token(&self, token: &str, scopes: &str) {
        self.world().tokens.insert(token.to_owned(), scopes.to_owned());
    }

    pub fn add_instance(&self, id: i64, label: &str, status: &'static str) {
        let mut world = self.world();
        let n = world.instances.len() + 7;
        world.instances.push(Instance {
            id,
            label: label.to_owned(),
            status,
            region: "fr-par".into(),
            plan: "g6-standard-2".into(),
            ipv4: format!("192.0.2.{n}"),
            created: OffsetDateTime::now_utc() - time::Duration::days(400),
            backups_enabled: false,
            graphs: true,
        });
    }

    /// Instance `id` has no graphs yet, as a new instance in its first
    /// minutes: its stats are answered `Stats are unavailable at this time.`
    pub fn without_graphs(&self, id: i64) {
        if let Some(instance) = self.world().instances.iter_mut().find(|i| i.id == id) {
            instance.graphs = false;
        }
    }

    /// Turns the Backup service on for instance `id`, with the three
    /// automatic backups the service keeps (under a day, under a week,
    /// about two weeks old).
    pub fn with_automatic_backups(&self, id: i64) {
        let mut world = self.world();
        if let Some(instance) = world.instances.iter_mut().find(|i| i.id == id) {
            instance.backups_enabled = true;
        }
        for days in [1, 6, 13] {
            let created = OffsetDateTime::now_utc() - time::Duration::hours(days * 24 - 3);
            world.next_backup += 1;
            let backup = Backup {
                id: world.next_backup,
                instance: id,
                kind: "auto",
                label: None,
                status: "successful",
                created,
                finished: Some(created + time::Duration::minutes(12)),
            };
            world.backups.push(backup);
        }
    }

    /// The next answers are these faults, in order.
    pub fn inject(&self, faults: &[Fault]) {
        self.world().faults.extend(faults.iter().copied());
    }

    /// Every answer given so far.
    pub fn served(&self) -> Vec<Served> {
        self.world().served.clone()
    }

    /// How many requests reached the double.
    pub fn calls(&self) -> u64 {
        self.world().calls
    }

    /// An instance's state now.
    pub fn status_of(&self, id: i64) -> Option<&'static str> {
        let mut world = self.world();
        self.settle(&mut world);
        world.instances.iter().find(|i| i.id == id).map(|i| i.status)
    }

    /// Serves on `listener` until the process ends; returns the base URL
    /// (`http://127.0.0.1:PORT/v4/`).
    pub fn serve(&self, listener: tokio::net::TcpListener) -> String {
        let address = listener.local_addr().expect("a bound listener");
        let app = self.router();
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "the Linode double stopped");
            }
        });
        format!("http://{address}/v4/")
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/v4/linode/instances", get(list_instances))
            .route("/v4/linode/instances/{id}", get(view_instance))
            .route(
                "/v4/linode/instances/{id}/backups",
                get(list_backups).post(take_snapshot),
            )
            .route("/v4/linode/instances/{id}/backups/enable", post(enable_backups))
            .route("/v4/linode/instances/{id}/backups/{backup}", get(view_backup))
            .route(
                "/v4/linode/instances/{id}/backups/{backup}/restore",
                post(restore_backup),
            )
            .route("/v4/linode/instances/{id}/stats", get(stats))
            .route("/v4/linode/instances/{id}/{verb}", post(power))
            .route("/v4/account/events", get(list_events))
            .route("/v4/account/events/{id}", get(view_event))
            .with_state(self.clone())
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Ends the events whose time is up, moving their instance's state.
    fn settle(&self, world: &mut World) {
        let World {
            events,
            instances,
            backups,
            ..
        } = world;
        for event in events.iter_mut().filter(|e| !e.done) {
            if event.started.elapsed() >= self.action_time {
                event.done = true;
                if let Some(instance) = instances.iter_mut().find(|i| i.id == event.instance) {
                    instance.status = event.then;
                }
                if let Some(taken) = event.snapshot {
                    // The single slot: the previous snapshot goes.
                    backups.retain(|b| !(b.instance == event.instance && b.kind == "snapshot" && b.id != taken));
                    if let Some(backup) = backups.iter_mut().find(|b| b.id == taken) {
                        backup.status = "successful";
                        backup.finished = Some(OffsetDateTime::now_utc());
                    }
                }
            }
        }
    }

    /// Starts an event on an instance; `Err(Busy)` while another runs on
    /// it (the caller answers `Linode busy.` once the world is unlocked).
    fn start_event(
        &self,
        world: &mut World,
        id: i64,
        action: &'static str,
        (during, then): (Option<&'static str>, Option<&'static str>),
        snapshot: Option<i64>,
    ) -> Result<(), Busy> {
        if world.events.iter().any(|e| e.instance == id && !e.done) {
            return Err(Busy);
        }
        let instance = world
            .instances
            .iter_mut()
            .find(|i| i.id == id)
            .expect("a known instance");
        let then = then.unwrap_or(instance.status);
        if let Some(during) = during {
            instance.status = during;
        }
        let label = instance.label.clone();
        world.next_event += 1;
        let event = Event {
            id: world.next_event,
            action,
            instance: id,
            label,
            created: OffsetDateTime::now_utc(),
            started: std::time::Instant::now(),
            then,
            snapshot,
            done: false,
        };
        world.events.push(event);
        Ok(())
    }

    /// The answer to an action that starts an event: `body`, or `Linode
    /// busy.` (called with the world unlocked: answering records it).
    fn started(&self, operation: &'static str, started: Result<(), Busy>, body: Value) -> Response {
        match started {
            Ok(()) => self.ok(operation, body, None),
            Err(Busy) => self.error(operation, StatusCode::BAD_REQUEST, "Linode busy.", None),
        }
    }

    fn percent(&self, event: &Event) -> i64 {
        if event.done {
            return 100;
        }
        let fraction = event.started.elapsed().as_secs_f64() / self.action_time.as_secs_f64();
        (fraction * 100.0).clamp(1.0, 99.0) as i64
    }

    /// Checks the token and the scope, plays a pending fault, counts the
    /// call. `Err` is the answer to give instead.
    async fn admit(&self, headers: &HeaderMap, operation: &'static str, scope: &str) -> Result<(), Response> {
        let fault = {
            let mut world = self.world();
            world.calls += 1;
            world.faults.pop_front()
        };
        match fault {
            Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
            Some(Fault::DropConnection) => {
                // Unwinding out of the handler makes hyper close the
                // connection without a byte of answer (no panic message:
                // `resume_unwind` skips the hook).
                std::panic::resume_unwind(Box::new("the double drops the connection"));
            }
            Some(Fault::TooManyRequests { retry_after }) => {
                let mut response = self.error(operation, StatusCode::TOO_MANY_REQUESTS, "Too many requests", None);
                let reset = epoch_now() + retry_after;
                let headers = response.headers_mut();
                headers.insert("retry-after", HeaderValue::from(retry_after));
                headers.insert("x-ratelimit-remaining", HeaderValue::from(0));
                headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
                return Err(response);
            }
            Some(Fault::ServerError) => {
                return Err(self.error(operation, StatusCode::INTERNAL_SERVER_ERROR, "Please try again", None));
            }
            None => {}
        }
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let scopes = token.and_then(|t| self.world().tokens.get(t).cloned());
        let Some(scopes) = scopes else {
            return Err(self.error(operation, StatusCode::UNAUTHORIZED, "Invalid Token", None));
        };
        let (area, level) = scope.split_once(':').unwrap_or((scope, ""));
        let granted = scopes.split(' ').any(|s| {
            s == "*" || s == scope || (level == "read_only" && s.split_once(':') == Some((area, "read_write")))
        });
        if !granted {
            let mut response = self.error(
                operation,
                StatusCode::UNAUTHORIZED,
                "Your OAuth token is not authorized to use this endpoint.",
                None,
            );
            *response.status_mut() = StatusCode::FORBIDDEN;
            response.headers_mut().insert(
                "x-accepted-oauth-scopes",
                HeaderValue::from_str(scope).expect("a header"),
            );
            return Err(response);
        }
        Ok(())
    }

    /// An answer with the headers the live API sends, recorded.
    fn answer(&self, operation: &'static str, status: StatusCode, body: Value) -> Response {
        let mut world = self.world();
        if world.served.len() < SERVED_KEPT {
            world.served.push(Served {
                operation,
                status: status.as_u16(),
                body: body.clone(),
            });
        }
        drop(world);
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(self.limit - 1));
        headers.insert("x-ratelimit-reset", HeaderValue::from(epoch_now() + 120));
        headers.insert("x-spec-version", HeaderValue::from_static("4.189.0"));
        response
    }

    fn error(&self, operation: &'static str, status: StatusCode, reason: &str, field: Option<&str>) -> Response {
        let error = match field {
            Some(field) => json!({"reason": reason, "field": field}),
            None => json!({"reason": reason}),
        };
        self.answer(operation, status, json!({"errors": [error]}))
    }

    fn ok(&self, operation: &'static str, body: Value, scopes: Option<&str>) -> Response {
        let mut response = self.answer(operation, StatusCode::OK, body);
        if let Some(scopes) = scopes {
            response
                .headers_mut()
                .insert("x-oauth-scopes", HeaderValue::from_str(scopes).expect("a header"));
        }
        response
    }

    fn scopes_of(&self, headers: &HeaderMap) -> Option<String> {
        let token = headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")?;
        self.world().tokens.get(token).cloned()
    }
}

fn epoch_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The API's times: UTC, no zone.
fn api_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

fn instance_json(instance: &Instance) -> Value {
    let created = api_time(instance.created);
    json!({
        "id": instance.id,
        "label": instance.label,
        "status": instance.status,
        "region": instance.region,
        "type": instance.plan,
        "image": "linode/debian12",
        "ipv4": [instance.ipv4],
        "ipv6": "2001:db8::f03c:91ff:fe24:3a2f/128",
        "created": created,
        "updated": created,
        "group": "",
        "tags": ["ocpizza"],
        "hypervisor": "kvm",
        "watchdog_enabled": true,
        "host_uuid": "3a3ddd59d9a78bb8de041391075df44de62bfec8",
        "has_user_data": false,
        "capabilities": [],
        "lke_cluster_id": null,
        "placement_group": null,
        "specs": {"disk": 81920, "memory": 4096, "vcpus": 2, "gpus": 0, "transfer": 4000},
        "alerts": {"cpu": 180, "io": 10000, "network_in": 10, "network_out": 10, "transfer_quota": 80},
        "backups": {
            "enabled": instance.backups_enabled,
            "available": instance.backups_enabled,
            "schedule": {"day": "Scheduling", "window": "Scheduling"}
        },
    })
}

#[derive(Deserialize)]
struct Paging {
    page: Option<String>,
    page_size: Option<String>,
}

/// The requested page (`page` ≥ 1, `page_size` 25–500), or the field
/// refused and why (the API answers 400).
fn paging(query: &Paging) -> Result<(usize, usize), (&'static str, &'static str)> {
    let page = match query.page.as_deref().map(str::parse::<usize>) {
        None => 1,
        Some(Ok(page)) if page >= 1 => page,
        _ => return Err(("page", "Must be an integer of at least 1")),
    };
    let size = match query.page_size.as_deref().map(str::parse::<usize>) {
        None => 100,
        Some(Ok(size)) if (25..=500).contains(&size) => size,
        _ => return Err(("page_size", "Must be 25-500")),
    };
    Ok((page, size))
}

fn page_of(items: Vec<Value>, page: usize, size: usize) -> Value {
    let results = items.len();
    let pages = results.div_ceil(size).max(1);
    let data: Vec<Value> = items.into_iter().skip((page - 1) * size).take(size).collect();
    json!({"data": data, "page": page, "pages": pages, "results": results})
}

async fn list_instances(
    State(double): State<LinodeDouble>,
    headers: HeaderMap,
    Query(query): Query<Paging>,
) -> Response {
    const OPERATION: &str = "get-linode-instances";
    if let Err(refused) = double.admit(&headers, OPERATION, "linodes:read_only").await {
        return refused;
    }
    let (page, size) = match paging(&query) {
        Ok(paging) => paging,
        Err((field, reason)) => return double.error(OPERATION, StatusCode::BAD_REQUEST, reason, Some(field)),
    };
    let items = {
        let mut world = double.world();
        double.settle(&mut world);
        world.instances.iter().map(instance_json).collect()
    };
    let scopes = double.scopes_of(&headers);
    double.ok(OPERATION, page_of(items, page, size), scopes.as_deref())
}

async fn view_instance(State(double): State<LinodeDouble>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    one(
        &double,
        &headers,
        "get-linode-instance",
        "linodes:read_only",
        &id,
        |world, id| world.instances.iter().find(|i| i.id == id).map(instance_json),
    )
    .await
}

/// One object by its id: the token checked, the world settled, 404 when
/// `find` has none.
async fn one(
    double: &LinodeDouble,
    headers: &HeaderMap,
    operation: &'static str,
    scope: &str,
    id: &str,
    find: impl FnOnce(&World, i64) -> Option<Value>,
) -> Response {
    if let Err(refused) = double.admit(headers, operation, scope).await {
        return refused;
    }
    let found = {
        let mut world = double.world();
        double.settle(&mut world);
        id.parse::<i64>().ok().and_then(|id| find(&world, id))
    };
    match found {
        Some(object) => double.ok(operation, object, None),
        None => double.error(operation, StatusCode::NOT_FOUND, "Not found", None),
    }
}

async fn power(
    State(double): State<LinodeDouble>,
    headers: HeaderMap,
    Path((id, verb)): Path<(String, String)>,
) -> Response {
    let (operation, action, during, then) = match verb.as_str() {
        "boot" => ("post-boot-linode-instance", "linode_boot", "booting", "running"),
        "reboot" => ("post-reboot-linode-instance", "linode_reboot", "rebooting", "running"),
        "shutdown" => (
            "post-shutdown-linode-instance",
            "linode_shutdown",
            "shutting_down",
            "offline",
        ),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"errors": [{"reason": "Not found"}]})),
            )
                .into_response()
        }
    };
    if let Err(refused) = double.admit(&headers, operation, "linodes:read_write").await {
        return refused;
    }
    let mut world = double.world();
    double.settle(&mut world);
    let Some(id) = id
        .parse::<i64>()
        .ok()
        .filter(|id| world.instances.iter().any(|i| i.id == *id))
    else {
        drop(world);
        return double.error(operation, StatusCode::NOT_FOUND, "Not found", None);
    };
    // Booting a running Linode, or shutting down an offline one, changes
    // nothing but still answers {} and logs an event, as the API does.
    let started = double.start_event(&mut world, id, action, (Some(during), Some(then)), None);
    drop(world);
    double.started(operation, started, json!({}))
}

fn backup_json(backup: &Backup) -> Value {
    let mut json = json!({
        "id": backup.id,
        "type": backup.kind,
        "status": backup.status,
        "label": backup.label,
        "available": backup.status == "successful",
        "created": api_time(backup.created),
        "updated": api_time(backup.finished.unwrap_or(backup.created)),
        "configs": ["My Debian 12 Disk Profile"],
        "disks": [
            {"label": "Debian 12 Disk", "size": 81408, "filesystem": "ext4"},
            {"label": "512 MB Swap Image", "size": 512, "filesystem": "swap"},
        ],
    });
    // `finished` is a date-time in the contract: absent until it is one.
    if let Some(finished) = backup.finished {
        json["finished"] = Value::from(api_time(finished));
    }
    json
}

/// The instance `id` names, settled, or the answer to give instead (401,
/// 403, a fault, 404).
async fn instance_for(
    double: &LinodeDouble,
    headers: &HeaderMap,
    operation: &'static str,
    scope: &str,
    id: &str,
) -> Result<i64, Response> {
    double.admit(headers, operation, scope).await?;
    let mut world = double.world();
    double.settle(&mut world);
    let known = id
        .parse::<i64>()
        .ok()
        .filter(|id| world.instances.iter().any(|i| i.id == *id));
    drop(world);
    known.ok_or_else(|| double.error(operation, StatusCode::NOT_FOUND, "Not found", None))
}

async fn list_backups(State(double): State<LinodeDouble>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    const OPERATION: &str = "get-backups";
    let id = match instance_for(&double, &headers, OPERATION, "linodes:read_only", &id).await {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let world = double.world();
    let backups = &world.backups;
    let of_instance = |kind: &'static str| backups.iter().filter(move |b| b.instance == id && b.kind == kind);
    let automatic: Vec<Value> = of_instance("auto").map(backup_json).collect();
    let current = of_instance("snapshot")
        .find(|b| b.status == "successful")
        .map(backup_json);
    let in_progress = of_instance("snapshot")
        .find(|b| b.status != "successful")
        .map(backup_json);
    drop(world);
    let body = json!({"automatic": automatic, "snapshot": {"current": current, "in_progress": in_progress}});
    double.ok(OPERATION, body, None)
}

async fn stats(State(double): State<LinodeDouble>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    const OPERATION: &str = "get-linode-stats";
    let id = match instance_for(&double, &headers, OPERATION, "linodes:read_only", &id).await {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let instance = {
        let world = double.world();
        world
            .instances
            .iter()
            .find(|i| i.id == id)
            .map(|i| (i.label.clone(), i.graphs))
    };
    match instance {
        Some((label, true)) => double.ok(OPERATION, stats_json(id, &label, OffsetDateTime::now_utc()), None),
        _ => double.error(
            OPERATION,
            StatusCode::BAD_REQUEST,
            "Stats are unavailable at this time.",
            None,
        ),
    }
}

/// The last 24 h of 5-minute averages ending at `now`, wrapped in `data`
/// as the live API sends them: a pizzeria's day (quiet at night, busy at
/// lunch and at dinner) with a little noise, the same for the same times.
fn stats_json(id: i64, label: &str, now: OffsetDateTime) -> Value {
    const STEP_MS: i64 = 300_000;
    let end = (now.unix_timestamp() * 1000) / STEP_MS * STEP_MS;
    let bell = |hour: f64, peak: f64, width: f64| (-((hour - peak) / width).powi(2) / 2.0).exp();
    // Each reading from the time's load (0–1.4) and noise (0–1).
    let series = |reading: &dyn Fn(f64, f64) -> f64| -> Value {
        (0..288)
            .rev()
            .map(|step| {
                let at = end - step * STEP_MS;
                let hour = (at % 86_400_000) as f64 / 3_600_000.0;
                let load = 0.08 + 0.5 * bell(hour, 12.5, 1.2) + 0.8 * bell(hour, 20.0, 1.5);
                let noise = (((at / STEP_MS + id) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f64
                    / (1u64 << 24) as f64;
                json!([at, (reading(load, noise) * 100.0).round() / 100.0])
            })
            .collect()
    };
    let incoming = |load: f64, noise: f64| 40_000.0 + 900_000.0 * load * (0.9 + 0.2 * noise);
    let none = series(&|_, _| 0.0);
    json!({
        "title": format!("linode.com - {label} (linode{id}) - day (5 min avg)"),
        "data": {
            "cpu": series(&|load, noise| 100.0 * (0.45 * load + 0.04 * noise)),
            "io": {"io": series(&|load, noise| 2.0 + 40.0 * load + 3.0 * noise), "swap": none},
            "netv4": {
                "in": series(&incoming),
                "out": series(&|load, noise| 3.0 * incoming(load, noise)),
                "private_in": none,
                "private_out": none,
            },
            "netv6": {
                "in": series(&|load, noise| 0.05 * incoming(load, noise)),
                "out": series(&|load, noise| 0.15 * incoming(load, noise)),
                "private_in": none,
                "private_out": none,
            },
        },
    })
}

async fn view_backup(
    State(double): State<LinodeDouble>,
    headers: HeaderMap,
    Path((id, backup)): Path<(String, String)>,
) -> Response {
    one(
        &double,
        &headers,
        "get-backup",
        "linodes:read_only",
        &backup,
        |world, backup| {
            let instance = id.parse::<i64>().ok()?;
            world
                .backups
                .iter()
                .find(|b| b.id == backup && b.instance == instance)
                .map(backup_json)
        },
    )
    .await
}

#[derive(Deserialize)]
struct SnapshotRequest {
    label: Option<String>,
}

async fn take_snapshot(
    State(double): State<LinodeDouble>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<SnapshotRequest>>,
) -> Response {
    const OPERATION: &str = "post-snapshot";
    let id = match instance_for(&double, &headers, OPERATION, "linodes:read_write", &id).await {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let label = body.and_then(|Json(b)| b.label).unwrap_or_default();
    if label.is_empty() || label.chars().count() > 255 {
        return double.error(
            OPERATION,
            StatusCode::BAD_REQUEST,
            "Length must be 1-255 characters",
            Some("label"),
        );
    }
    let mut world = double.world();
    if !world.instances.iter().any(|i| i.id == id && i.backups_enabled) {
        drop(world);
        return double.error(
            OPERATION,
            StatusCode::BAD_REQUEST,
            "Backups are not enabled for this Linode.",
            None,
        );
    }
    let backup_id = world.next_backup + 1;
    if let Err(busy) = double.start_event(&mut world, id, "linode_snapshot", (None, None), Some(backup_id)) {
        drop(world);
        return double.started(OPERATION, Err(busy), Value::Null);
    }
    world.next_backup = backup_id;
    let backup = Backup {
        id: backup_id,
        instance: id,
        kind: "snapshot",
        label: Some(label),
        status: "pending",
        created: OffsetDateTime::now_utc(),
        finished: None,
    };
    let body = backup_json(&backup);
    world.backups.push(backup);
    drop(world);
    double.ok(OPERATION, body, None)
}

async fn enable_backups(State(double): State<LinodeDouble>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    const OPERATION: &str = "post-enable-backups";
    let id = match instance_for(&double, &headers, OPERATION, "linodes:read_write", &id).await {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let mut world = double.world();
    let started = double.start_event(&mut world, id, "backups_enable", (None, None), None);
    if started.is_ok() {
        if let Some(instance) = world.instances.iter_mut().find(|i| i.id == id) {
            instance.backups_enabled = true;
        }
    }
    drop(world);
    double.started(OPERATION, started, json!({}))
}

#[derive(Deserialize)]
struct RestoreRequest {
    linode_id: Option<i64>,
}

async fn restore_backup(
    State(double): State<LinodeDouble>,
    headers: HeaderMap,
    Path((id, backup)): Path<(String, String)>,
    body: Option<Json<RestoreRequest>>,
) -> Response {
    const OPERATION: &str = "post-restore-backup";
    let id = match instance_for(&double, &headers, OPERATION, "linodes:read_write", &id).await {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let Some(target) = body.and_then(|Json(b)| b.linode_id) else {
        return double.error(
            OPERATION,
            StatusCode::BAD_REQUEST,
            "linode_id is required",
            Some("linode_id"),
        );
    };
    let mut world = double.world();
    let restorable = backup.parse::<i64>().ok().is_some_and(|backup| {
        world
            .backups
            .iter()
            .any(|b| b.id == backup && b.instance == id && b.status == "successful")
    });
    if !restorable {
        drop(world);
        return double.error(OPERATION, StatusCode::NOT_FOUND, "Not found", None);
    }
    if world.instances.iter().any(|i| i.id == target && i.status != "offline") {
        drop(world);
        return double.error(
            OPERATION,
            StatusCode::BAD_REQUEST,
            "Linode must be shut down to restore a backup onto it.",
            Some("linode_id"),
        );
    }
    let started = double.start_event(
        &mut world,
        target,
        "backups_restore",
        (Some("restoring"), Some("offline")),
        None,
    );
    drop(world);
    double.started(OPERATION, started, json!({}))
}

fn event_json(double: &LinodeDouble, event: &Event) -> Value {
    let percent = double.percent(event);
    json!({
        "id": event.id,
        "action": event.action,
        "status": if event.done { "finished" } else { "started" },
        "percent_complete": percent,
        "created": api_time(event.created),
        "duration": event.started.elapsed().as_secs_f64().min(double.action_time.as_secs_f64()),
        "time_remaining": null,
        "message": null,
        "username": "ocpizza-console",
        "read": false,
        "seen": false,
        "entity": {
            "id": event.instance,
            "type": "linode",
            "label": event.label,
            "url": format!("/v4/linode/instances/{}", event.instance),
        },
    })
}

/// The events `X-Filter` keeps: `entity.id`, `action`, `created.+gte`
/// (newest first when `+order` is `desc`).
fn filtered(double: &LinodeDouble, world: &World, filter: Option<&Value>) -> Vec<Value> {
    let wanted = |event: &Event| {
        let Some(filter) = filter else { return true };
        let id_matches = filter
            .get("entity.id")
            .is_none_or(|id| id.as_i64() == Some(event.instance));
        let action_matches = filter.get("action").is_none_or(|a| a.as_str() == Some(event.action));
        let since_matches = filter
            .get("created")
            .and_then(|c| c.get("+gte"))
            .and_then(Value::as_str)
            .is_none_or(|since| api_time(event.created).as_str() >= since);
        id_matches && action_matches && since_matches
    };
    let mut events: Vec<&Event> = world.events.iter().filter(|e| wanted(e)).collect();
    if filter.and_then(|f| f.get("+order")).and_then(Value::as_str) == Some("desc") {
        events.reverse();
    }
    events.into_iter().map(|e| event_json(double, e)).collect()
}

async fn list_events(State(double): State<LinodeDouble>, headers: HeaderMap, Query(query): Query<Paging>) -> Response {
    const OPERATION: &str = "get-events";
    if let Err(refused) = double.admit(&headers, OPERATION, "events:read_only").await {
        return refused;
    }
    let (page, size) = match paging(&query) {
        Ok(paging) => paging,
        Err((field, reason)) => return double.error(OPERATION, StatusCode::BAD_REQUEST, reason, Some(field)),
    };
    let filter = match headers
        .get("x-filter")
        .map(|v| serde_json::from_slice::<Value>(v.as_bytes()))
    {
        None => None,
        Some(Ok(filter)) if filter.is_object() => Some(filter),
        Some(_) => return double.error(OPERATION, StatusCode::BAD_REQUEST, "Invalid JSON", Some("X-Filter")),
    };
    let items = {
        let mut world = double.world();
        double.settle(&mut world);
        filtered(&double, &world, filter.as_ref())
    };
    double.ok(OPERATION, page_of(items, page, size), None)
}

async fn view_event(State(double): State<LinodeDouble>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    one(&double, &headers, "get-event", "events:read_only", &id, |world, id| {
        world.events.iter().find(|e| e.id == id).map(|e| event_json(&double, e))
    })
    .await
}

/// The demo account: the production server (its Backup service on) and
/// the staging one, and `token` accepted with every scope.
fn demo_account(token: &str) -> LinodeDouble {
    let double = LinodeDouble::new(Duration::from_secs(6));
    double.add_token(token, "*");
    double.add_instance(24_681_357, "ocpizza-prod", "running");
    double.with_automatic_backups(24_681_357);
    double.add_instance(24_681_358, "ocpizza-staging", "offline");
    double
}

/// A token of the API's shape (64 hex digits), made up now.
fn new_token() -> String {
    (0..64)
        .map(|_| char::from(b"0123456789abcdef"[rand::random::<u8>() as usize % 16]))
        .collect()
}

/// The demo's Linode: a double on a loopback port with the instances of a
/// small account (the production server, the staging one), whose token is
/// made up at start and never leaves the process.
pub async fn simulator() -> std::io::Result<domain::linode::Simulator> {
    let token = new_token();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = demo_account(&token).serve(listener);
    let api = domain::linode::LinodeApi::new(&base, Duration::from_secs(2), Duration::from_secs(10))
        .map_err(std::io::Error::other)?;
    let token = domain::linode::LinodeToken::parse(&token).map_err(std::io::Error::other)?;
    Ok(domain::linode::Simulator { api, token })
}

/// The demo account's double on its own, on `listener` (a loopback port),
/// until the process ends: what the browser tests enter a real token for
/// (`ocpizza-console linode-double`). The token it accepts, made up now, is
/// written to `token_file` (mode 0600), never printed.
pub async fn serve_alone(listener: tokio::net::TcpListener, token_file: &std::path::Path) -> std::io::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let token = new_token();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(token_file)?;
    file.write_all(token.as_bytes())?;
    Ok(demo_account(&token).serve(listener))
}
