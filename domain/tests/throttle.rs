//! The sign-in throttle on a real PostgreSQL: parallel guesses, the end of a
//! lock, the current-password check of "change my password", and a shared
//! address that signs in.

use domain::accounts::Operator;
use domain::audit::Provenance;
use domain::secrets::{MasterKey, SecretBox};
use domain::{Console, DomainError};
use sqlx::PgPool;

const ADMIN: &str = "marie";
const PASSWORD: &str = "a pizza oven at 450 degrees";

async fn console_with_admin(pool: &PgPool) -> (Console, Operator) {
    let console = Console::new(pool.clone(), SecretBox::new(MasterKey::generate()));
    let account = console.setup.create_admin_from_cli(ADMIN, PASSWORD).await.unwrap();
    let admin = console
        .accounts
        .operator_for_session(account.id, 0)
        .await
        .unwrap()
        .unwrap();
    (console, admin)
}

fn from(address: &str) -> Provenance {
    Provenance {
        client_address: Some(address.into()),
        request_id: None,
        token: None,
    }
}

async fn counter(pool: &PgPool, subject: &str) -> Option<(i32, bool)> {
    sqlx::query_as("SELECT failures, coalesce(locked_until > now(), false) FROM sign_in_failures WHERE subject = $1")
        .bind(subject)
        .fetch_optional(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn fifty_parallel_wrong_guesses_reach_the_password_check_at_most_five_times(pool: PgPool) {
    let (console, _) = console_with_admin(&pool).await;
    // From 50 addresses: only the account's counter holds them back.
    let guesses = (0..50).map(|i| {
        let console = console.clone();
        tokio::spawn(async move {
            console
                .sign_in(ADMIN, &format!("wrong guess {i}"), &from(&format!("192.0.2.{i}")))
                .await
        })
    });
    let answers = futures::future::join_all(guesses).await;

    let checks = console.accounts.password_checks();
    assert!((1..=5).contains(&checks), "{checks} guesses reached the password check");
    let wrong = answers
        .iter()
        .filter(|a| matches!(a.as_ref().unwrap(), Err(DomainError::BadCredentials)))
        .count();
    let throttled = answers
        .iter()
        .filter(|a| matches!(a.as_ref().unwrap(), Err(DomainError::Throttled(_))))
        .count();
    assert_eq!((wrong as u64, wrong + throttled), (checks, 50));
    assert_eq!(counter(&pool, "account:marie").await, Some((5, true)));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_longest_lock_ends_without_handing_out_fresh_guesses(pool: PgPool) {
    let (console, _) = console_with_admin(&pool).await;
    // 25 failures; the 15-minute lock they earned ended a moment ago, and
    // the last failure is older than the 15 minutes a counter lives.
    sqlx::query(
        "INSERT INTO sign_in_failures (subject, failures, last_failure_at, locked_until)
         VALUES ('account:marie', 25, now() - interval '15 minutes 1 second', now() - interval '1 second')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let guess = console.sign_in(ADMIN, "one more guess", &from("192.0.2.1")).await;
    assert!(matches!(guess, Err(DomainError::BadCredentials)), "{guess:?}");
    // Counted as the 26th, so locked for 15 minutes again, right password or not.
    assert_eq!(counter(&pool, "account:marie").await, Some((26, true)));
    let right = console.sign_in(ADMIN, PASSWORD, &from("192.0.2.2")).await;
    assert!(
        matches!(right, Err(DomainError::Throttled(wait)) if wait.as_secs() > 14 * 60),
        "{right:?}"
    );

    // Quiet for 15 minutes after its lock ended, a counter starts again.
    sqlx::query(
        "UPDATE sign_in_failures SET last_failure_at = now() - interval '31 minutes',
            locked_until = now() - interval '16 minutes' WHERE subject = 'account:marie'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let guess = console.sign_in(ADMIN, "after a quiet while", &from("192.0.2.3")).await;
    assert!(matches!(guess, Err(DomainError::BadCredentials)), "{guess:?}");
    assert_eq!(counter(&pool, "account:marie").await, Some((1, false)));
}

#[sqlx::test(migrations = "../migrations")]
async fn wrong_current_passwords_are_throttled_like_sign_ins(pool: PgPool) {
    let (console, admin) = console_with_admin(&pool).await;
    let provenance = from("192.0.2.1");
    for i in 0..5 {
        let wrong = console
            .accounts
            .change_own_password(&admin, &provenance, &format!("guess {i}"), "a brand new long password")
            .await;
        assert!(
            matches!(wrong, Err(DomainError::Invalid(ref i)) if i.field == "current_password"),
            "{wrong:?}"
        );
    }
    // The right one now waits too, and is not checked.
    let right = console
        .accounts
        .change_own_password(&admin, &provenance, PASSWORD, "a brand new long password")
        .await;
    assert!(matches!(right, Err(DomainError::Throttled(_))), "{right:?}");
    assert_eq!(console.accounts.password_checks(), 5);
    // The same counter guards the sign-in.
    let sign_in = console.sign_in(ADMIN, PASSWORD, &from("192.0.2.9")).await;
    assert!(matches!(sign_in, Err(DomainError::Throttled(_))), "{sign_in:?}");
    let denied: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'account.password_change' AND outcome = 'denied'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(denied, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn fifty_parallel_current_password_guesses_are_checked_at_most_five_times(pool: PgPool) {
    let (console, admin) = console_with_admin(&pool).await;
    let guesses = (0..50).map(|i| {
        let (console, admin) = (console.clone(), admin.clone());
        tokio::spawn(async move {
            console
                .accounts
                .change_own_password(
                    &admin,
                    &from("192.0.2.1"),
                    &format!("guess {i}"),
                    "a brand new long password",
                )
                .await
        })
    });
    futures::future::join_all(guesses).await;
    let checks = console.accounts.password_checks();
    assert!((1..=5).contains(&checks), "{checks} guesses reached the password check");
}

#[sqlx::test(migrations = "../migrations")]
async fn signing_in_gives_the_attempt_back_to_a_shared_address(pool: PgPool) {
    let (console, _) = console_with_admin(&pool).await;
    let office = from("198.51.100.7");
    for i in 0..4 {
        let _ = console.sign_in(&format!("typo{i}"), "whatever it was", &office).await;
    }
    assert_eq!(counter(&pool, "address:198.51.100.7").await, Some((4, false)));
    console.sign_in(ADMIN, PASSWORD, &office).await.unwrap();
    // Still four: the fifth attempt from the office was a right one.
    assert_eq!(counter(&pool, "address:198.51.100.7").await, Some((4, false)));
    assert_eq!(counter(&pool, "account:marie").await, None);
}
