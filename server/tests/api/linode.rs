//! The Linode API client against the local double, a real HTTP server;
//! every answer the double gave is then checked against the official
//! OpenAPI description (`../shared/linode-api/openapi-subset.yaml`), so
//! the double cannot drift from the contract the client is written to.

use std::time::{Duration, Instant};

use domain::linode::{EventAction, EventStatus, InstanceStatus, LinodeApi, LinodeError, LinodeToken, RetryPolicy};
use serde_json::Value;
use server::linode_double::{Fault, LinodeDouble, Served};

const TOKEN_LEN: usize = 64;

pub(crate) fn new_token() -> String {
    (0..TOKEN_LEN / 32)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect()
}

struct Account {
    double: LinodeDouble,
    api: LinodeApi,
    token: LinodeToken,
}

/// A double with `instances` Linodes (ids 1000…), a token with every
/// scope, and a client with quick retries.
async fn account(instances: i64, action_time: Duration) -> Account {
    let double = LinodeDouble::new(action_time);
    for n in 0..instances {
        double.add_instance(1000 + n, &format!("ocpizza-{n:03}"), "running");
    }
    let token = new_token();
    double.add_token(&token, "*");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = double.serve(listener);
    let api = LinodeApi::new(&base, Duration::from_secs(2), Duration::from_secs(5))
        .unwrap()
        .with_retry(quick(4));
    Account {
        double,
        api,
        token: LinodeToken::parse(&token).unwrap(),
    }
}

fn quick(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        first_backoff: Duration::from_millis(20),
        longest_wait: Duration::from_secs(5),
    }
}

/// Follows the newest `action` event on `id` to its end; the percents seen.
async fn followed(account: &Account, id: i64, action: EventAction, since: time::OffsetDateTime) -> Vec<i64> {
    let event = account
        .api
        .latest_event(&account.token, id, &action, since)
        .await
        .unwrap()
        .expect("the action's event");
    let mut percents = Vec::new();
    for _ in 0..200 {
        let now = account.api.event(&account.token, event.id).await.unwrap();
        percents.push(now.percent_complete.unwrap());
        if now.status.ended() {
            assert_eq!(now.status, EventStatus::Finished);
            return percents;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    panic!("the event did not end: {percents:?}");
}

#[tokio::test]
async fn the_client_pages_powers_and_follows_events_and_the_double_keeps_to_the_contract() {
    let account = account(260, Duration::from_millis(400)).await;
    let check = account.api.check_token(&account.token).await.unwrap();
    assert_eq!(check.scopes, "*");

    // Every page read: 260 instances at 100 a page.
    let instances = account.api.instances(&account.token).await.unwrap();
    assert_eq!(instances.len(), 260);
    assert_eq!(instances[259].label, "ocpizza-259");
    let first = account.api.instance(&account.token, 1000).await.unwrap();
    assert_eq!(
        (first.status, first.region.as_str()),
        (InstanceStatus::Running, "fr-par")
    );

    // Shut down, boot, reboot: each followed through its event.
    let since = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    account.api.shutdown(&account.token, 1000).await.unwrap();
    assert_eq!(
        account.api.instance(&account.token, 1000).await.unwrap().status,
        InstanceStatus::ShuttingDown
    );
    let percents = followed(&account, 1000, EventAction::LinodeShutdown, since).await;
    assert!(
        percents.first() < Some(&100) && percents.last() == Some(&100),
        "{percents:?}"
    );
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "{percents:?}");
    assert_eq!(
        account.api.instance(&account.token, 1000).await.unwrap().status,
        InstanceStatus::Offline
    );
    account.api.boot(&account.token, 1000).await.unwrap();
    followed(&account, 1000, EventAction::LinodeBoot, since).await;
    account.api.reboot(&account.token, 1000).await.unwrap();
    assert_eq!(
        account.api.instance(&account.token, 1000).await.unwrap().status,
        InstanceStatus::Rebooting
    );
    followed(&account, 1000, EventAction::LinodeReboot, since).await;
    assert_eq!(
        account.api.instance(&account.token, 1000).await.unwrap().status,
        InstanceStatus::Running
    );

    // A second action while one runs: the API says "Linode busy.", which
    // passes; without retries it is the API's own message.
    account.api.reboot(&account.token, 1001).await.unwrap();
    let impatient = account.api.clone().with_retry(quick(0));
    let busy = impatient.boot(&account.token, 1001).await.unwrap_err();
    assert_eq!(
        busy.to_string(),
        "the Linode API still answered 400 after 1 attempts: Linode busy."
    );
    let patient = account.api.clone().with_retry(RetryPolicy {
        max_retries: 6,
        first_backoff: Duration::from_millis(100),
        longest_wait: Duration::from_secs(5),
    });
    patient
        .boot(&account.token, 1001)
        .await
        .expect("tried again until the reboot ended");

    // An instance not on the account.
    let missing = account.api.instance(&account.token, 99).await.unwrap_err();
    assert_eq!(missing, LinodeError::NotFound { what: "instance" });
    assert_eq!(
        account.api.boot(&account.token, 99).await.unwrap_err().to_string(),
        "the Linode API knows no such instance on this account"
    );

    // A page size the API refuses, asked for by hand.
    let refused = reqwest::Client::new()
        .get(format!("{}linode/instances?page_size=7", account.api.base_url()))
        .bearer_auth(account.token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);

    every_answer_keeps_to_the_contract(&account.double.served(), 8);
}

#[tokio::test]
async fn a_refused_token_and_a_missing_scope_are_named() {
    let account = account(1, Duration::from_millis(100)).await;
    let unknown = LinodeToken::parse(&new_token()).unwrap();
    assert_eq!(
        account.api.check_token(&unknown).await.unwrap_err(),
        LinodeError::TokenRefused
    );
    let read_only = new_token();
    account
        .double
        .add_token(&read_only, "linodes:read_only events:read_only");
    let read_only = LinodeToken::parse(&read_only).unwrap();
    let refused = account.api.check_token(&read_only).await.unwrap_err();
    assert_eq!(
        refused,
        LinodeError::MissingScope {
            needed: "linodes:read_write".into()
        }
    );
    assert_eq!(refused.to_string(), "the token lacks the scope linodes:read_write");
    // The API itself refuses the action, naming the scope it wants.
    assert_eq!(
        account.api.boot(&read_only, 1000).await.unwrap_err(),
        LinodeError::MissingScope {
            needed: "linodes:read_write".into()
        }
    );
    let no_events = new_token();
    account.double.add_token(&no_events, "linodes:read_write");
    assert_eq!(
        account
            .api
            .check_token(&LinodeToken::parse(&no_events).unwrap())
            .await
            .unwrap_err(),
        LinodeError::MissingScope {
            needed: "events:read_only".into()
        }
    );
    every_answer_keeps_to_the_contract(&account.double.served(), 4);
}

#[tokio::test]
async fn retries_honour_retry_after_and_stop_at_the_limit_with_the_api_message() {
    let account = account(1, Duration::from_millis(100)).await;
    account
        .double
        .inject(&[Fault::TooManyRequests { retry_after: 1 }, Fault::ServerError]);
    let started = Instant::now();
    let instance = account.api.instance(&account.token, 1000).await.unwrap();
    assert_eq!(instance.id, 1000);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured: {:?}",
        started.elapsed()
    );
    assert_eq!(account.double.calls(), 3);

    let limited = account.api.clone().with_retry(quick(2));
    account.double.inject(&[Fault::ServerError; 3]);
    let gave_up = limited.instance(&account.token, 1000).await.unwrap_err();
    assert_eq!(
        gave_up,
        LinodeError::GaveUp {
            status: 500,
            reasons: vec!["Please try again".into()],
            attempts: 3
        }
    );
    assert_eq!(account.double.calls(), 6);
    every_answer_keeps_to_the_contract(&account.double.served(), 5);
}

#[tokio::test]
async fn a_slow_answer_times_out_and_a_dropped_connection_is_read_again_but_never_sent_again() {
    let double = LinodeDouble::new(Duration::from_millis(100));
    double.add_instance(1000, "ocpizza-prod", "running");
    let token = new_token();
    double.add_token(&token, "*");
    let token = LinodeToken::parse(&token).unwrap();
    let base = double.serve(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    let api = LinodeApi::new(&base, Duration::from_secs(1), Duration::from_millis(300))
        .unwrap()
        .with_retry(quick(0));

    double.inject(&[Fault::Slow(Duration::from_secs(2))]);
    assert_eq!(api.instance(&token, 1000).await.unwrap_err(), LinodeError::TimedOut);

    // A read cut short is read again.
    let api = api.with_retry(quick(2));
    double.inject(&[Fault::DropConnection]);
    assert_eq!(api.instance(&token, 1000).await.unwrap().id, 1000);
    // A power action whose connection dropped may have reached the API:
    // it is not sent twice; the error says what happened.
    double.inject(&[Fault::DropConnection]);
    let dropped = api.shutdown(&token, 1000).await.unwrap_err();
    assert!(matches!(dropped, LinodeError::Unreachable(_)), "{dropped:?}");
    assert_eq!(
        double.status_of(1000),
        Some("running"),
        "nothing was done twice, or at all"
    );
    assert!(!format!("{dropped:?} {dropped}").contains(token.expose()));

    // Nothing listens: unreachable, quickly, with the reason.
    let nobody = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gone = LinodeApi::new(
        &format!("http://{nobody}/v4/"),
        Duration::from_secs(1),
        Duration::from_secs(1),
    )
    .unwrap()
    .with_retry(quick(1));
    assert!(matches!(
        gone.instance(&token, 1000).await.unwrap_err(),
        LinodeError::Unreachable(_)
    ));
    every_answer_keeps_to_the_contract(&double.served(), 1);
}

#[test]
fn the_contract_check_refuses_an_answer_that_strays() {
    let stray = |body: Value| {
        let served = [Served {
            operation: "get-linode-instance",
            status: 200,
            body,
        }];
        std::panic::catch_unwind(|| every_answer_keeps_to_the_contract(&served, 1)).is_err()
    };
    assert!(stray(serde_json::json!({"id": "1000"})), "a string for an integer");
    assert!(
        stray(serde_json::json!({"id": 1000, "colour": "red"})),
        "a field the contract lacks"
    );
    assert!(
        stray(serde_json::json!({"status": "sleeping"})),
        "a state outside the enum"
    );
    assert!(
        !stray(serde_json::json!({"id": 1000, "ipv6": null})),
        "nullable admits null"
    );
    // The live API's empty snapshot slot is admitted, and nothing more.
    let backups = |body: Value| {
        let served = [Served {
            operation: "get-backups",
            status: 200,
            body,
        }];
        std::panic::catch_unwind(|| every_answer_keeps_to_the_contract(&served, 1)).is_err()
    };
    assert!(!backups(
        serde_json::json!({"automatic": [], "snapshot": {"current": null, "in_progress": null}})
    ));
    // The live API's stats come wrapped in `data`; anything else strays.
    let stats = |body: Value| {
        let served = [Served {
            operation: "get-linode-stats",
            status: 200,
            body,
        }];
        std::panic::catch_unwind(|| every_answer_keeps_to_the_contract(&served, 1)).is_err()
    };
    assert!(!stats(
        serde_json::json!({"title": "t", "data": {"cpu": [[1521483600000_i64, 0.42]]}})
    ));
    assert!(
        stats(serde_json::json!({"title": "t", "cpu": [[1521483600000_i64, 0.42]]})),
        "unwrapped"
    );
    assert!(
        stats(serde_json::json!({"title": "t", "data": {"cpu": [["noon", 0.42]]}})),
        "a time as text"
    );
    assert!(backups(
        serde_json::json!({"automatic": null, "snapshot": {"current": null}})
    ));
}

/// Checks each answer against its operation's schema in the OpenAPI file
/// (the `200` response, or `default` for an error), and that there were at
/// least `at_least` of them.
pub(crate) fn every_answer_keeps_to_the_contract(served: &[Served], at_least: usize) {
    assert!(served.len() >= at_least, "{} answers", served.len());
    let spec = openapi();
    for answer in served {
        let operation = operation(&spec, answer.operation);
        let response = if answer.status == 200 { "200" } else { "default" };
        let mut written = operation["responses"][response]["content"]["application/json"]["schema"].clone();
        if response == "200" {
            as_the_live_api_answers(answer.operation, &mut written);
        }
        let schema = json_schema(&written);
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(false)
            .build(&schema)
            .unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&answer.body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{} {} strays from the contract: {errors:?}\n{}",
            answer.operation,
            answer.status,
            answer.body
        );
    }
}

/// Where the README of `../shared/linode-api` records that the live API
/// answers otherwise than the file says, the double answers as the live API
/// does, and the check reads the file so corrected (and nowhere else):
/// "`snapshot.current` and `snapshot.in_progress` are `null` when there is
/// no snapshot"; "stats are wrapped": `{"title", "data": {cpu, io, netv4,
/// netv6}}` where the file puts them at the top level.
fn as_the_live_api_answers(operation: &str, schema: &mut Value) {
    match operation {
        "get-backups" => {
            for slot in ["current", "in_progress"] {
                schema["properties"]["snapshot"]["properties"][slot]["nullable"] = Value::Bool(true);
            }
        }
        "get-linode-stats" => {
            let mut data = schema.clone();
            let title = data["properties"]
                .as_object_mut()
                .and_then(|properties| properties.remove("title"))
                .expect("the file's stats have a title");
            *schema = serde_json::json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["title", "data"],
                "properties": {"title": title, "data": data},
            });
        }
        _ => {}
    }
}

fn openapi() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/linode-api/openapi-subset.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e} (../shared beside the clone)"));
    serde_norway::from_str(&text).unwrap()
}

fn operation(spec: &Value, id: &str) -> Value {
    spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|methods| methods.as_object().unwrap().values())
        .find(|op| op["operationId"] == id)
        .unwrap_or_else(|| panic!("no operation {id} in the OpenAPI file"))
        .clone()
}

/// OpenAPI 3.0's schema dialect read as JSON Schema: `nullable: true`
/// admits `null`.
fn json_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(fields) => {
            let mut out: serde_json::Map<String, Value> =
                fields.iter().map(|(k, v)| (k.clone(), json_schema(v))).collect();
            if fields.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::String(kind)) = fields.get("type") {
                    out.insert("type".into(), serde_json::json!([kind, "null"]));
                }
                if let Some(Value::Array(words)) = fields.get("enum") {
                    let mut words = words.clone();
                    words.push(Value::Null);
                    out.insert("enum".into(), Value::Array(words));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(json_schema).collect()),
        other => other.clone(),
    }
}
